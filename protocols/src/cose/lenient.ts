/**
 * A bounded decoder of well-formed CBOR in *any* serialization, for COSE messages made by other
 * implementations — the named workaround of `decodeSign1` (and so `verifySign1`), tried only after the strict
 * deterministic decoder failed for a reason of form alone.
 *
 * RFC 9052 §9 requires deterministic-style encoding only of the structures that get signed
 * (Sig_structure, built here by our own encoder), not of the messages on the wire. A foreign
 * COSE_Sign1 may use non-shortest heads, indefinite lengths, map keys in any order, or tags in
 * header values, and is still valid. Its protected header is signed as the raw bytes received,
 * so reading it leniently does not weaken the signature check.
 *
 * Accepted beyond the strict decoder: non-shortest integer, length and float heads; indefinite
 * lengths (strings, arrays, maps; string chunks must be definite and of the same type); map keys
 * in any order; any tag number up to 2^53-1. Still rejected, with the strict decoder's `CBOR_*`
 * codes: truncation, trailing bytes, reserved additional information and misplaced breaks,
 * duplicate map keys (RFC 9052 §14 forbids processing them), keys other than integers and text,
 * invalid UTF-8, simple values other than false/true/null, nesting over `maxDepth`, and
 * lengths over `maxItems`/`maxBytes` or past the input (checked before allocating).
 *
 * Reading itself (heads, arguments, floats, simple values, UTF-8, truncation) is the shared
 * `CborReader` of `../cbor/reader.ts`; this module holds only the lenient policy.
 *
 * @module
 */

import { copyBytes } from '../bytes.ts';
import type { CborKey, CborMap, CborValue } from '../cbor/index.ts';
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_ITEMS, Tagged } from '../cbor/index.ts';
import { BREAK, CborReader, decodeUtf8, reservedInfo } from '../cbor/reader.ts';
import { ProtocolError } from '../errors.ts';

/** Bounds of {@link decodeLenient}. */
export interface LenientOptions {
  /** Max nesting of arrays, maps and tags (default 16). */
  maxDepth?: number;
  /** Max items of one array or map, and chunks of one indefinite string (default 65536). */
  maxItems?: number;
  /** Max input length (default: no bound beyond the input itself). */
  maxBytes?: number;
}

/** The lenient policy over the shared {@link CborReader}. */
class Lenient {
  readonly r: CborReader;
  constructor(
    data: Uint8Array,
    readonly maxDepth: number,
    readonly maxItems: number,
  ) {
    this.r = new CborReader(data);
  }

  /** A length argument, bounded by `limit` and by the remaining input when `bytesEach` > 0. */
  length(ib: number, at: number, what: string, limit: number, bytesEach: number): number {
    const r = this.r;
    const n = r.argument(ib, at);
    if (n > limit) {
      throw new ProtocolError(
        'CBOR_TOO_LARGE',
        `${what} at offset ${at} declares ${r.argumentText(n)} items, over the limit of ${limit}`,
      );
    }
    // every item takes at least `bytesEach` bytes: refuse lengths the input cannot hold
    r.room(n * bytesEach, at, what);
    return n;
  }

  item(depth: number): CborValue | typeof BREAK {
    const r = this.r;
    const at = r.pos;
    const ib = r.initialByte('an item');
    const major = ib >>> 5;
    const ai = ib & 31;
    if (ai >= 28 && ai <= 30) throw reservedInfo(ib, at);
    switch (major) {
      case 0:
      case 1: {
        // additional information 31 (indefinite) on an integer: CBOR_RESERVED from the reader
        const n = r.argument(ib, at);
        if (major === 0) return n === Number.POSITIVE_INFINITY ? r.argumentBig(n) : n;
        if (n <= Number.MAX_SAFE_INTEGER - 1) return -1 - n;
        return -1n - r.argumentBig(n);
      }
      case 2:
      case 3: {
        const bytes = ai === 31 ? this.chunks(major, at) : this.string(ib, at);
        if (major === 2) return bytes;
        return decodeUtf8(bytes, 0, bytes.length, at);
      }
      case 4:
        return this.array(ib, at, depth);
      case 5:
        return this.map(ib, at, depth);
      case 6: {
        const tag = r.argument(ib, at);
        if (tag === Number.POSITIVE_INFINITY) {
          throw new ProtocolError('CBOR_UNSUPPORTED_TAG', `tag ${r.argumentText(tag)} at offset ${at} is over 2^53-1`);
        }
        if (depth >= this.maxDepth) throw tooDeep(this.maxDepth, at);
        return new Tagged(tag, this.value(depth + 1));
      }
      default:
        // simple values: only false, true and null, as on the wire; any float; a break
        if (ai < 20 || ai === 23 || ai === 24) throw r.unsupportedSimple(ai, at);
        return r.simple(ib, at) as boolean | null | number | typeof BREAK;
    }
  }

  value(depth: number): CborValue {
    const at = this.r.pos;
    const v = this.item(depth);
    if (v === BREAK) throw new ProtocolError('CBOR_RESERVED', `a break (0xff) outside an indefinite-length item at offset ${at}`);
    return v;
  }

  string(ib: number, at: number): Uint8Array {
    const n = this.length(ib, at, ib >>> 5 === 2 ? 'a byte string' : 'a text string', Number.MAX_SAFE_INTEGER, 1);
    const r = this.r;
    const out = copyBytes(r.data, r.pos, r.pos + n);
    r.pos += n;
    return out;
  }

  chunks(major: number, at: number): Uint8Array {
    const r = this.r;
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const cat = r.pos;
      const ib = r.chunkHead(major, at);
      if (ib < 0) break;
      if (parts.length >= this.maxItems) {
        throw new ProtocolError('CBOR_TOO_LARGE', `indefinite-length string at offset ${at} has over ${this.maxItems} chunks`);
      }
      const part = this.string(ib, cat);
      parts.push(part);
      total += part.length;
    }
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  array(ib: number, at: number, depth: number): CborValue[] {
    if (depth >= this.maxDepth) throw tooDeep(this.maxDepth, at);
    const out: CborValue[] = [];
    if ((ib & 31) === 31) {
      for (;;) {
        const v = this.item(depth + 1);
        if (v === BREAK) return out;
        if (out.length >= this.maxItems) {
          throw new ProtocolError('CBOR_TOO_LARGE', `indefinite-length array at offset ${at} has over ${this.maxItems} items`);
        }
        out.push(v);
      }
    }
    const n = this.length(ib, at, 'an array', this.maxItems, 1);
    for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
    return out;
  }

  map(ib: number, at: number, depth: number): CborMap {
    if (depth >= this.maxDepth) throw tooDeep(this.maxDepth, at);
    const r = this.r;
    const out: CborMap = new Map();
    const indefinite = (ib & 31) === 31;
    const n = indefinite ? Number.POSITIVE_INFINITY : this.length(ib, at, 'a map', this.maxItems, 2);
    for (let i = 0; i < n; i++) {
      const kat = r.pos;
      const k = this.item(depth + 1);
      if (k === BREAK) {
        if (indefinite) return out;
        throw new ProtocolError('CBOR_RESERVED', `a break (0xff) inside a definite-length map at offset ${kat}`);
      }
      if (typeof k !== 'number' && typeof k !== 'bigint' && typeof k !== 'string') {
        throw new ProtocolError('CBOR_INVALID_KEY', `map key at offset ${kat} is neither an integer nor a text string`);
      }
      if ((r.data[kat] as number) >>> 5 === 7) {
        // a float key (even 1.0) must not alias an integer label
        throw new ProtocolError('CBOR_INVALID_KEY', `map key at offset ${kat} is a float or simple value, not an integer`);
      }
      if (out.has(k)) throw new ProtocolError('CBOR_DUPLICATE_KEY', `map key ${String(k)} at offset ${kat} appears twice`);
      if (indefinite && out.size >= this.maxItems) {
        throw new ProtocolError('CBOR_TOO_LARGE', `indefinite-length map at offset ${at} has over ${this.maxItems} entries`);
      }
      out.set(k as CborKey, this.value(depth + 1));
    }
    return out;
  }
}

function tooDeep(maxDepth: number, at: number): ProtocolError {
  return new ProtocolError('CBOR_TOO_DEEP', `nesting deeper than ${maxDepth} levels at offset ${at}`);
}

/**
 * Decodes exactly one well-formed CBOR item spanning `bytes`, in any serialization (see the
 * module doc for what is accepted and what is still rejected).
 * @param bytes - untrusted input
 * @param options - bounds
 * @returns the value; byte strings are fresh copies
 * @throws {ProtocolError} with a `CBOR_*` code
 * @example
 * decodeLenient(Uint8Array.of(0x9f, 0x18, 0x01, 0xff)) // [1]: indefinite array, non-shortest 1
 */
export function decodeLenient(bytes: Uint8Array, options: LenientOptions = {}): CborValue {
  const maxBytes = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
  if (bytes.length > maxBytes) {
    throw new ProtocolError('CBOR_TOO_LARGE', `input of ${bytes.length} bytes is over the limit of ${maxBytes}`);
  }
  if (bytes.length === 0) throw new ProtocolError('CBOR_TRUNCATED', 'empty input at offset 0: one CBOR item expected');
  const d = new Lenient(bytes, options.maxDepth ?? DEFAULT_MAX_DEPTH, options.maxItems ?? DEFAULT_MAX_ITEMS);
  const v = d.value(0);
  const pos = d.r.pos;
  if (pos !== bytes.length) {
    throw new ProtocolError(
      'CBOR_TRAILING_BYTES',
      `${bytes.length - pos} trailing bytes at offset ${pos} after the top-level item`,
    );
  }
  return v;
}
