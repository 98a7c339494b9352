/**
 * The local API's wire format, for the Enigm App and `enigm posture status`: over a Unix socket,
 * frames of a 4-byte big-endian length and one strict deterministic CBOR item (at most
 * {@link API_MAX_FRAME} bytes).
 *
 * ```
 * request  = { 1: op, ? 2: nonce }         ; op 0 = status (posture + compliance), 1 = report (latest evidence),
 *                                          ; 2 = challenge (a fresh report answering nonce, 8..64 bytes)
 * response = { 1: 0, 2: body } / { 1: 1, 3: error code, 4: message }
 * ```
 * Bodies are text-keyed maps (JSON-like values; byte strings for evidence).
 * @module
 */

import type { CborValue } from '@enigm/protocols/cbor';
import { decode, encode } from '@enigm/protocols/cbor';
import { AgentError } from '../errors.ts';

/** Largest frame, bytes. */
export const API_MAX_FRAME = 256 * 1024;
/** Operations. */
export const API_OPS = { status: 0, report: 1, challenge: 2 } as const;
/** An operation name. */
export type ApiOp = keyof typeof API_OPS;

/** A JSON-like value with byte strings. */
export type ApiValue = null | boolean | number | string | Uint8Array | ApiValue[] | { [k: string]: ApiValue };

/** Plain value → CBOR (records become text-keyed maps; `undefined` fields are left out). */
export function toCborValue(v: unknown, depth = 0): CborValue {
  if (depth > 16) throw new RangeError('value nested too deep');
  if (v === null || typeof v === 'boolean' || typeof v === 'string' || v instanceof Uint8Array) return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (Array.isArray(v)) return v.map((x) => toCborValue(x, depth + 1));
  if (typeof v === 'object') {
    const m = new Map<string, CborValue>();
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined) m.set(k, toCborValue(x, depth + 1));
    return m;
  }
  return null;
}

/** CBOR → plain value (text-keyed maps become records). @throws {@link AgentError} `API_PROTOCOL` */
export function fromCborValue(v: CborValue): ApiValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'string' || v instanceof Uint8Array) return v;
  if (typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map((x) => fromCborValue(x as CborValue));
  if (v instanceof Map) {
    const o: { [k: string]: ApiValue } = {};
    for (const [k, x] of v) {
      if (typeof k !== 'string' || k === '__proto__') throw new AgentError('API_PROTOCOL', 'a body map key is not text');
      o[k] = fromCborValue(x as CborValue);
    }
    return o;
  }
  throw new AgentError('API_PROTOCOL', 'a body holds a value of an unsupported type');
}

/** Frames a CBOR item. */
export function frame(value: CborValue): Uint8Array {
  const body = encode(value);
  if (body.length > API_MAX_FRAME) throw new AgentError('API_PROTOCOL', `a frame of ${body.length} bytes is over the bound`);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** Accumulates bytes and yields whole frames' items; bounded. */
export class FrameReader {
  #buf = new Uint8Array(0);

  /**
   * Adds bytes; returns the decoded items now complete.
   * @throws {@link AgentError} `API_PROTOCOL` for an oversized, zero-length or undecodable frame
   */
  push(chunk: Uint8Array): CborValue[] {
    const b = new Uint8Array(this.#buf.length + chunk.length);
    b.set(this.#buf);
    b.set(chunk, this.#buf.length);
    this.#buf = b;
    const out: CborValue[] = [];
    while (this.#buf.length >= 4) {
      const n = new DataView(this.#buf.buffer, this.#buf.byteOffset).getUint32(0);
      if (n === 0 || n > API_MAX_FRAME) throw new AgentError('API_PROTOCOL', `a frame length of ${n} is out of bounds`);
      if (this.#buf.length < 4 + n) break;
      try {
        out.push(decode(this.#buf.subarray(4, 4 + n), { maxBytes: API_MAX_FRAME }));
      } catch (e) {
        throw new AgentError('API_PROTOCOL', `a frame does not decode (${(e as { code?: string }).code ?? 'error'})`, {
          cause: e,
        });
      }
      this.#buf = this.#buf.slice(4 + n);
    }
    return out;
  }
}
