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
 * @module
 */

import { copyBytes } from '../bytes.ts';
import type { CborKey, CborMap, CborValue } from '../cbor/index.ts';
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_ITEMS, Tagged } from '../cbor/index.ts';
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

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const BREAK = Symbol('break');
const TWO_32 = 0x1_0000_0000;

class Reader {
  pos = 0;
  constructor(
    readonly data: Uint8Array,
    readonly maxDepth: number,
    readonly maxItems: number,
  ) {}

  need(n: number, what: string, at: number): void {
    if (n > this.data.length - this.pos) {
      throw new ProtocolError(
        'CBOR_TRUNCATED',
        `input ends inside ${what} at offset ${at}: ${n} more bytes needed, ${this.data.length - this.pos} left`,
      );
    }
  }

  /** The argument of a head with additional information `ai` (< 28), as a number or bigint. */
  arg(ai: number, at: number): number | bigint {
    if (ai < 24) return ai;
    const d = this.data;
    const p = this.pos;
    switch (ai) {
      case 24:
        this.need(1, 'a head', at);
        this.pos += 1;
        return d[p] as number;
      case 25:
        this.need(2, 'a head', at);
        this.pos += 2;
        return ((d[p] as number) << 8) | (d[p + 1] as number);
      case 26:
        this.need(4, 'a head', at);
        this.pos += 4;
        return (
          (((d[p] as number) << 24) | ((d[p + 1] as number) << 16) | ((d[p + 2] as number) << 8) | (d[p + 3] as number)) >>> 0
        );
      case 27: {
        this.need(8, 'a head', at);
        this.pos += 8;
        const hi =
          (((d[p] as number) << 24) | ((d[p + 1] as number) << 16) | ((d[p + 2] as number) << 8) | (d[p + 3] as number)) >>> 0;
        const lo =
          (((d[p + 4] as number) << 24) | ((d[p + 5] as number) << 16) | ((d[p + 6] as number) << 8) | (d[p + 7] as number)) >>>
          0;
        if (hi < 0x200000) return hi * TWO_32 + lo;
        return (BigInt(hi) << 32n) | BigInt(lo);
      }
      default:
        throw new ProtocolError('CBOR_RESERVED', `reserved additional information ${ai} at offset ${at}`);
    }
  }

  /** A length argument, bounded by `limit` and by the remaining input when `bytesEach` > 0. */
  length(ai: number, at: number, what: string, limit: number, bytesEach: number): number {
    const n = this.arg(ai, at);
    if (typeof n === 'bigint' || n > limit) {
      throw new ProtocolError('CBOR_TOO_LARGE', `${what} at offset ${at} declares ${n} items, over the limit of ${limit}`);
    }
    // every item takes at least `bytesEach` bytes: refuse lengths the input cannot hold
    if (n * bytesEach > this.data.length - this.pos) this.need(n * bytesEach, what, at);
    return n;
  }

  item(depth: number): CborValue | typeof BREAK {
    const at = this.pos;
    this.need(1, 'an item', at);
    const ib = this.data[at] as number;
    this.pos += 1;
    const major = ib >>> 5;
    const ai = ib & 31;
    if (ai >= 28 && ai <= 30) throw new ProtocolError('CBOR_RESERVED', `reserved additional information ${ai} at offset ${at}`);
    switch (major) {
      case 0:
      case 1: {
        if (ai === 31) throw new ProtocolError('CBOR_RESERVED', `additional information 31 on an integer at offset ${at}`);
        const n = this.arg(ai, at);
        if (major === 0) return n;
        if (typeof n === 'number' && n <= Number.MAX_SAFE_INTEGER - 1) return -1 - n;
        return -1n - BigInt(n);
      }
      case 2:
      case 3: {
        const bytes = ai === 31 ? this.chunks(major, at) : this.string(ai, at, major);
        if (major === 2) return bytes;
        try {
          return utf8.decode(bytes);
        } catch {
          throw new ProtocolError('CBOR_INVALID_UTF8', `text string at offset ${at} is not valid UTF-8`);
        }
      }
      case 4:
        return this.array(ai, at, depth);
      case 5:
        return this.map(ai, at, depth);
      case 6: {
        if (ai === 31) throw new ProtocolError('CBOR_RESERVED', `additional information 31 on a tag at offset ${at}`);
        const tag = this.arg(ai, at);
        if (typeof tag === 'bigint' || tag > Number.MAX_SAFE_INTEGER) {
          throw new ProtocolError('CBOR_UNSUPPORTED_TAG', `tag ${tag} at offset ${at} is over 2^53-1`);
        }
        if (depth >= this.maxDepth) throw tooDeep(this.maxDepth, at);
        return new Tagged(tag, this.value(depth + 1));
      }
      default:
        return this.simple(ai, at);
    }
  }

  value(depth: number): CborValue {
    const at = this.pos;
    const v = this.item(depth);
    if (v === BREAK) throw new ProtocolError('CBOR_RESERVED', `a break (0xff) outside an indefinite-length item at offset ${at}`);
    return v;
  }

  string(ai: number, at: number, major: number): Uint8Array {
    const n = this.length(ai, at, major === 2 ? 'a byte string' : 'a text string', Number.MAX_SAFE_INTEGER, 1);
    const out = copyBytes(this.data, this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  chunks(major: number, at: number): Uint8Array {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const cat = this.pos;
      this.need(1, 'an indefinite-length string', at);
      const ib = this.data[cat] as number;
      this.pos += 1;
      if (ib === 0xff) break;
      if (ib >>> 5 !== major || (ib & 31) === 31) {
        throw new ProtocolError(
          'CBOR_RESERVED',
          `chunk at offset ${cat} of the indefinite-length string at ${at} has the wrong type`,
        );
      }
      if (parts.length >= this.maxItems) {
        throw new ProtocolError('CBOR_TOO_LARGE', `indefinite-length string at offset ${at} has over ${this.maxItems} chunks`);
      }
      const p = this.string(ib & 31, cat, major);
      parts.push(p);
      total += p.length;
    }
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  array(ai: number, at: number, depth: number): CborValue[] {
    if (depth >= this.maxDepth) throw tooDeep(this.maxDepth, at);
    const out: CborValue[] = [];
    if (ai === 31) {
      for (;;) {
        const v = this.item(depth + 1);
        if (v === BREAK) return out;
        if (out.length >= this.maxItems) {
          throw new ProtocolError('CBOR_TOO_LARGE', `indefinite-length array at offset ${at} has over ${this.maxItems} items`);
        }
        out.push(v);
      }
    }
    const n = this.length(ai, at, 'an array', this.maxItems, 1);
    for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
    return out;
  }

  map(ai: number, at: number, depth: number): CborMap {
    if (depth >= this.maxDepth) throw tooDeep(this.maxDepth, at);
    const out: CborMap = new Map();
    const indefinite = ai === 31;
    const n = indefinite ? Number.POSITIVE_INFINITY : this.length(ai, at, 'a map', this.maxItems, 2);
    for (let i = 0; i < n; i++) {
      const kat = this.pos;
      const k = this.item(depth + 1);
      if (k === BREAK) {
        if (indefinite) return out;
        throw new ProtocolError('CBOR_RESERVED', `a break (0xff) inside a definite-length map at offset ${kat}`);
      }
      if (typeof k !== 'number' && typeof k !== 'bigint' && typeof k !== 'string') {
        throw new ProtocolError('CBOR_INVALID_KEY', `map key at offset ${kat} is neither an integer nor a text string`);
      }
      if ((this.data[kat] as number) >>> 5 === 7) {
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

  simple(ai: number, at: number): CborValue | typeof BREAK {
    const d = this.data;
    switch (ai) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 25: {
        this.need(2, 'a half float', at);
        const h = ((d[this.pos] as number) << 8) | (d[this.pos + 1] as number);
        this.pos += 2;
        return halfToNumber(h);
      }
      case 26: {
        this.need(4, 'a float', at);
        const v = new DataView(d.buffer, d.byteOffset + this.pos, 4).getFloat32(0);
        this.pos += 4;
        return v;
      }
      case 27: {
        this.need(8, 'a double', at);
        const v = new DataView(d.buffer, d.byteOffset + this.pos, 8).getFloat64(0);
        this.pos += 8;
        return v;
      }
      case 31:
        return BREAK;
      default:
        throw new ProtocolError(
          'CBOR_UNSUPPORTED_SIMPLE',
          `simple value ${ai === 24 ? 'with a 1-byte argument' : ai} at offset ${at}`,
        );
    }
  }
}

function tooDeep(maxDepth: number, at: number): ProtocolError {
  return new ProtocolError('CBOR_TOO_DEEP', `nesting deeper than ${maxDepth} levels at offset ${at}`);
}

/** IEEE 754 binary16 bits to a number (RFC 8949 Appendix D). */
function halfToNumber(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  let v: number;
  if (exp === 0) v = mant * 2 ** -24;
  else if (exp === 31) v = mant === 0 ? Number.POSITIVE_INFINITY : Number.NaN;
  else v = (mant + 1024) * 2 ** (exp - 25);
  return h & 0x8000 ? -v : v;
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
  const r = new Reader(bytes, options.maxDepth ?? DEFAULT_MAX_DEPTH, options.maxItems ?? DEFAULT_MAX_ITEMS);
  const v = r.value(0);
  if (r.pos !== bytes.length) {
    throw new ProtocolError(
      'CBOR_TRAILING_BYTES',
      `${bytes.length - r.pos} trailing bytes at offset ${r.pos} after the top-level item`,
    );
  }
  return v;
}
