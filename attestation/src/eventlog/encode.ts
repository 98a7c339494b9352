/**
 * Encoder of crypto-agile TCG event logs: the inverse of `parseEventLog` for the
 * `TCG_PCR_EVENT2` format. Used to build logs for tests, benchmarks and software-measured PCRs.
 *
 * @module
 */
import { digest, type HashAlg, hashByName } from '../hash.ts';
import { EV_NO_ACTION } from './event-types.ts';

/** An event to encode: digests are computed from `data` unless given. */
export interface EventToEncode {
  /** PCR index. */
  pcr: number;
  /** Event type (`EV_*`). */
  type: number;
  /** Event data. */
  data: Uint8Array;
  /** Explicit digests by bank name; default: H(data) for every bank of the log. */
  digests?: Partial<Record<string, Uint8Array>>;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}

/** The `TCG_EfiSpecIDEvent` data declaring `algs` (version 2.0, errata 0, UINT64 uintn). */
export function encodeSpecIdEvent(algs: readonly HashAlg[]): Uint8Array {
  return Buffer.concat([
    Buffer.from('Spec ID Event03\0', 'latin1'),
    u32(0),
    Buffer.from([0, 2, 0, 2]),
    u32(algs.length),
    ...algs.map((a) => Buffer.concat([u16(a.id), u16(a.size)])),
    Buffer.from([0]),
  ]);
}

/**
 * Encodes a crypto-agile event log with the given banks and events.
 * @throws RangeError naming an unknown bank
 * @example encodeEventLog(['sha256'], [{ pcr: 4, type: EV_EFI_ACTION, data: Buffer.from('x') }])
 */
export function encodeEventLog(banks: readonly string[], events: readonly EventToEncode[]): Uint8Array {
  const algs = banks.map((n) => {
    const a = hashByName(n);
    if (!a) throw new RangeError(`banks: unknown bank ${n}`);
    return a;
  });
  const spec = encodeSpecIdEvent(algs);
  const parts: Buffer[] = [u32(0), u32(EV_NO_ACTION), Buffer.alloc(20), u32(spec.length), Buffer.from(spec)];
  for (const e of events) {
    parts.push(u32(e.pcr), u32(e.type));
    const ds = algs.map(
      (a) => [a, e.digests?.[a.name] ?? (e.type === EV_NO_ACTION ? new Uint8Array(a.size) : digest(a, e.data))] as const,
    );
    parts.push(u32(ds.length));
    for (const [a, d] of ds) parts.push(u16(a.id), Buffer.from(d));
    parts.push(u32(e.data.length), Buffer.from(e.data));
  }
  return new Uint8Array(Buffer.concat(parts));
}
