/**
 * Throughput of the serial framing: `encodeFrame` then `FrameDecoder.push` of the frame (one frame
 * per push), for 64 B, 1 KiB and 4 KiB payloads of pseudo-random bytes (xorshift32, so about 1 in
 * 256 bytes is 0x00: the profile of the encrypted/compressed firmware images the framing carries).
 * Each size runs for about 1 s after a short warm-up. MB/s counts payload bytes, 1 MB = 10^6 bytes.
 *
 * Baseline: the incumbent's serial framing (mcumgr/SMP console style: base64 of payload ‖ CRC,
 * newline-terminated), encoded and decoded in the same run with Node's native base64 and the same
 * CRC. `ratio` = value / baseline (> 1: faster than base64 line framing, and 25 % smaller on the
 * wire besides). Both allocate fresh buffers per frame.
 *
 * Run directly: `npx tsx bench/framing.ts` prints one JSON line per result.
 *
 * @module
 */

import { crc32c, encodeFrame, FrameDecoder } from '@enigm/protocols/framing';
import { type BenchResult, result } from './harness.ts';

/**
 * The incumbent style of serial framing (mcumgr/SMP console framing): base64 text of payload ‖
 * CRC, terminated by a newline; the receiver splits at the newline, base64-decodes and checks the
 * CRC. Uses Node's native base64 and the same CRC-32C, so only the framing differs.
 */
function base64LineRoundTrip(payload: Uint8Array): number {
  const body = Buffer.allocUnsafe(payload.length + 4);
  body.set(payload);
  body.writeUInt32LE(crc32c(payload), payload.length);
  const line = Buffer.from(`${body.toString('base64')}\n`, 'latin1');
  const nl = line.indexOf(0x0a);
  const back = Buffer.from(line.subarray(0, nl).toString('latin1'), 'base64');
  const got = back.subarray(0, back.length - 4);
  if (crc32c(got) !== back.readUInt32LE(back.length - 4)) throw new Error('base64 baseline CRC mismatch');
  return got.length;
}

const RUN_MS = 1000;

/** Deterministic pseudo-random payload (xorshift32), so runs are comparable. */
function payloadOf(size: number, seed: number): Uint8Array {
  const p = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    p[i] = x & 0xff;
  }
  return p;
}

/** Runs `step` (which processes `bytesPerStep` payload bytes) for about `ms`; returns MB/s. */
function measure(step: () => number, bytesPerStep: number, ms: number): number {
  // Warm-up so the JIT has compiled the hot paths.
  let sink = 0;
  const warmEnd = performance.now() + Math.min(200, ms / 4);
  while (performance.now() < warmEnd) for (let k = 0; k < 16; k++) sink += step();
  let steps = 0;
  const start = performance.now();
  let now = start;
  const end = start + ms;
  while (now < end) {
    for (let k = 0; k < 64; k++) sink += step();
    steps += 64;
    now = performance.now();
  }
  if (sink === -1) console.log('unreachable');
  return (steps * bytesPerStep) / 1e6 / ((now - start) / 1000);
}

/** Measures framing encode + decode throughput for 64 B, 1 KiB and 4 KiB payloads. */
export async function benchFraming(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const [size, label] of [
    [64, '64B'],
    [1024, '1KiB'],
    [4096, '4KiB'],
  ] as const) {
    const payload = payloadOf(size, 0x9e3779b9 ^ size);
    const decoder = new FrameDecoder({ maxPayload: size });
    const framing = measure(
      () => {
        const events = decoder.push(encodeFrame(payload));
        const ev = events[0];
        if (events.length !== 1 || ev === undefined || ev.kind !== 'frame') throw new Error('framing round trip failed');
        return ev.payload.length;
      },
      size,
      RUN_MS,
    );
    const baseline = measure(() => base64LineRoundTrip(payload), size, RUN_MS);
    results.push(result(`framing.encode+decode.${label}`, framing, 'MB/s', baseline));
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchFraming()) console.log(JSON.stringify(r));
}
