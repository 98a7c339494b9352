/**
 * Codec benchmark: encode + strict decode + validate of a typical Key message (an
 * `info.response` envelope, ~90 bytes), against raw `cbor-x` encode + decode of the same message
 * as plain data, measured in the same run. Target ratio ≥ 0.5.
 * @module
 */

import { decodeMessage, encodeMessage, type Message } from '@enigm/protocols/messages';
import { decode as cborxDecode, encode as cborxEncode } from 'cbor-x';
import { type BenchResult, opsPerSecond, result } from './harness.ts';

/** The typical Key message used by the codec benchmark. */
export const TYPICAL_MESSAGE: Message<'info.response'> = {
  version: 1,
  name: 'info.response',
  id: 123456,
  body: {
    model: 'enigm-key-1',
    hardware: 'rev-b',
    firmware: '1.4.2',
    state: 'dormant',
    handle: new Uint8Array(16).map((_, i) => i * 13),
    bootCount: 42,
    uptimeMs: 8_640_000,
    batteryPct: 87,
  },
};

/** Runs the codec benchmark. */
export async function benchCodec(ms = 1500): Promise<BenchResult[]> {
  const ours = () => {
    decodeMessage(encodeMessage(TYPICAL_MESSAGE));
  };
  // The same content as cbor-x would carry it: a plain map with integer keys, no validation.
  const plain = new Map<number, unknown>([
    [1, 1],
    [2, 6],
    [3, 123456],
    [
      4,
      new Map<number, unknown>([
        [1, 'enigm-key-1'],
        [2, 'rev-b'],
        [3, '1.4.2'],
        [4, 1],
        [5, TYPICAL_MESSAGE.body.handle],
        [6, 42],
        [7, 8_640_000],
        [8, 87],
      ]),
    ],
  ]);
  const raw = () => {
    cborxDecode(cborxEncode(plain));
  };
  const size = encodeMessage(TYPICAL_MESSAGE).length;
  // Interleave to share machine noise fairly.
  const a1 = opsPerSecond(raw, ms / 2);
  const o1 = opsPerSecond(ours, ms / 2);
  const a2 = opsPerSecond(raw, ms / 2);
  const o2 = opsPerSecond(ours, ms / 2);
  return [result(`codec.encode-decode-validate.${size}B`, (o1 + o2) / 2, 'msgs/s', (a1 + a2) / 2, 0.5)];
}
