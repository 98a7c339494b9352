/**
 * A minimal DER (ITU-T X.690) encoder and reader: exactly what the Ed25519 CSR and certificate
 * code of this folder needs, no more. The reader is strict — definite lengths in shortest form,
 * no trailing bytes, bounded input — and every failure is an {@link X509Error}.
 * @module
 */
import { EnigmError } from '../errors.ts';

/** Codes of {@link X509Error}. */
export const X509_ERROR_CODES = {
  X509_MALFORMED: 'the bytes are not the DER structure expected',
  X509_UNSUPPORTED: 'a well-formed structure this code does not accept (not Ed25519, unknown version)',
  X509_BAD_SIGNATURE: 'the signature does not verify',
} as const;

/** A code of {@link X509Error}. */
export type X509ErrorCode = keyof typeof X509_ERROR_CODES;

/** The one error class of the X.509 / PKCS#10 layer. */
export class X509Error extends EnigmError<X509ErrorCode> {
  override readonly name = 'X509Error';
}

/** DER tags used here. */
export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Largest DER object accepted by {@link readDer} (a Key's certificates are a few hundred bytes). */
export const MAX_DER_BYTES = 16 * 1024;

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/** One TLV: `tag`, then the DER length, then the concatenated `content`. */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const len = content.reduce((n, c) => n + c.length, 0);
  const head = [tag, ...lengthBytes(len)];
  const out = new Uint8Array(head.length + len);
  out.set(head, 0);
  let o = head.length;
  for (const c of content) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** An OBJECT IDENTIFIER from dotted text (`2.5.4.3`). */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => Number(a));
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new RangeError(`bad OID ${dotted}`);
  const [a0 = 0, a1 = 0, ...rest] = arcs;
  const body: number[] = [];
  for (const arc of [a0 * 40 + a1, ...rest]) {
    const sept: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) sept.unshift(0x80 | (v & 0x7f));
    body.push(...sept);
  }
  return tlv(TAG.OID, Uint8Array.from(body));
}

/** A BIT STRING with no unused bits. */
export function bitString(bytes: Uint8Array): Uint8Array {
  return tlv(TAG.BIT_STRING, Uint8Array.of(0), bytes);
}

/** A small non-negative INTEGER. */
export function smallInteger(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 127) throw new RangeError('smallInteger: 0..127');
  return tlv(TAG.INTEGER, Uint8Array.of(n));
}

/** A decoded TLV: its tag, content, and the whole encoding (tag and length included). */
export interface Der {
  readonly tag: number;
  readonly content: Uint8Array;
  readonly encoded: Uint8Array;
}

const bad = (what: string): never => {
  throw new X509Error('X509_MALFORMED', what);
};

/** Reads the TLV at `offset` of `b`; its end is `offset + encoded.length`. */
function readAt(b: Uint8Array, offset: number): Der {
  if (offset + 2 > b.length) bad('truncated DER header');
  const tag = b[offset] as number;
  if ((tag & 0x1f) === 0x1f) bad('multi-byte DER tags are not used here');
  let len = b[offset + 1] as number;
  let p = offset + 2;
  if (len === 0x80) bad('indefinite length is not DER');
  if (len > 0x80) {
    const n = len & 0x7f;
    if (n > 3 || p + n > b.length) bad('DER length too long');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (b[p + i] as number);
    if (len < 0x80 || (n > 1 && b[p] === 0)) bad('DER length not in shortest form');
    p += n;
  }
  if (p + len > b.length) bad('DER content runs past the end');
  return { tag, content: b.subarray(p, p + len), encoded: b.subarray(offset, p + len) };
}

/**
 * Reads exactly one DER object filling `bytes`.
 * @throws {@link X509Error} `X509_MALFORMED`
 */
export function readDer(bytes: Uint8Array, expectTag?: number): Der {
  if (bytes.length > MAX_DER_BYTES) bad(`DER object larger than ${MAX_DER_BYTES} bytes`);
  const d = readAt(bytes, 0);
  if (d.encoded.length !== bytes.length) bad('bytes follow the DER object');
  if (expectTag !== undefined && d.tag !== expectTag)
    bad(`expected tag 0x${expectTag.toString(16)}, got 0x${d.tag.toString(16)}`);
  return d;
}

/** The children of a constructed object (SEQUENCE, SET, context tag), in order. */
export function children(d: Der): Der[] {
  if ((d.tag & 0x20) === 0) bad(`tag 0x${d.tag.toString(16)} is not constructed`);
  const out: Der[] = [];
  for (let o = 0; o < d.content.length; ) {
    const c = readAt(d.content, o);
    out.push(c);
    o += c.encoded.length;
  }
  return out;
}

/** The children of `d`, which must be a SEQUENCE of `min`..`max` elements. */
export function sequence(d: Der | undefined, what: string, min: number, max = min): Der[] {
  if (!d || d.tag !== TAG.SEQUENCE) return bad(`${what}: not a SEQUENCE`);
  const c = children(d);
  if (c.length < min || c.length > max) bad(`${what}: ${c.length} elements`);
  return c;
}

/** The dotted text of an OBJECT IDENTIFIER. */
export function readOid(d: Der | undefined): string {
  if (!d || d.tag !== TAG.OID || d.content.length === 0) return bad('not an OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let v = 0;
  for (const byte of d.content) {
    v = v * 128 + (byte & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER) bad('OID arc too large');
    if ((byte & 0x80) === 0) {
      arcs.push(v);
      v = 0;
    }
  }
  if ((d.content[d.content.length - 1] as number) & 0x80) bad('OID ends inside an arc');
  const first = arcs.shift() as number;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}

/** The bytes of a BIT STRING with no unused bits. */
export function readBitString(d: Der | undefined): Uint8Array {
  if (!d || d.tag !== TAG.BIT_STRING || d.content.length < 1 || d.content[0] !== 0) return bad('not a BIT STRING of whole bytes');
  return d.content.subarray(1);
}

/** A UTCTime (RFC 5280 §4.1.2.5.1: years 1950–2049) or GeneralizedTime, `Z` and whole seconds. */
export function readTime(d: Der | undefined): Date {
  const text = d ? new TextDecoder().decode(d.content) : '';
  const m =
    d?.tag === TAG.UTC_TIME
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : d?.tag === TAG.GENERALIZED_TIME
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
        : null;
  if (!m) return bad('not a UTCTime or GeneralizedTime in Z with seconds');
  const [, y, mo, da, h, mi, s] = m.map(Number) as number[];
  const year = d?.tag === TAG.UTC_TIME ? ((y as number) < 50 ? 2000 + (y as number) : 1900 + (y as number)) : (y as number);
  const t = Date.UTC(year, (mo as number) - 1, da, h, mi, s);
  if (Number.isNaN(t)) bad('time out of range');
  return new Date(t);
}
