/**
 * A liberal CBOR decoder that renders any well-formed CBOR in the diagnostic notation of
 * RFC 8949 §8, for `enigm cbor decode`.
 *
 * Unlike the wire decoder (`decode.ts`), this one accepts every well-formed item: indefinite
 * lengths, non-shortest encodings, any tag, any simple value, `undefined`, duplicate and unsorted
 * map keys of any type, half/single/double floats and bignums. It still rejects malformed input
 * (RFC 8949 Appendix F) with a {@link ProtocolError}, and it is bounded: nesting is limited by
 * `maxDepth`, decoding is iterative (no recursion, so no stack overflow whatever the bound), no
 * buffer is ever sized by an untrusted length before that length is checked against the input left,
 * and every step consumes input, so it cannot hang.
 *
 * Rendering (matches the diagnostic column of RFC 8949 Appendix A, Table 6):
 * - integers in decimal, exact beyond 2^53; tag 2/3 bignums over a definite byte string of at
 *   most {@link BIGNUM_DECIMAL_MAX_BYTES} bytes as the integer they denote;
 * - floats always with a decimal point or exponent (`1.0`, `-0.0`, `1.0e+300`), `Infinity`,
 *   `-Infinity`, `NaN` (whatever the width; NaN payloads are not shown);
 * - `false`, `true`, `null`, `undefined`, `simple(N)`;
 * - byte strings `h'0102'` (lowercase), text strings in double quotes with JSON-style escapes,
 *   every non-ASCII code point as `\uXXXX` (surrogate pairs above U+FFFF);
 * - `[1, 2]`, `{1: 2}`, `[_ 1, 2]`, `{_ 1: 2}`, `[_ ]`, `{_ }`, `(_ h'01', h'02')`,
 *   `(_ "a", "b")`, and `''_` / `""_` for indefinite strings with no chunk (RFC 8949 §8.1);
 * - other tags as `N(item)`.
 *
 * Encoding indicators (`_0`…`_3`, RFC 8949 §8.1) are not emitted: a non-shortest encoding renders
 * like the shortest one, as Table 6 does for its non-preferred float rows.
 *
 * @module
 */

import { toHex } from '../bytes.ts';
import { ProtocolError } from '../errors.ts';
import { CborReader, decodeUtf8, hexByte, MAJOR_NAMES, SimpleValue } from './reader.ts';

/** Options of {@link toDiagnosticSequence} and {@link toDiagnostic}. */
export interface DiagnosticOptions {
  /**
   * Deepest nesting accepted: a top-level item is at depth 0, the elements of an array, the keys
   * and values of a map and the content of a tag are one deeper than their container. An item
   * deeper than this throws `CBOR_TOO_DEEP`. A non-negative safe integer; default 256.
   */
  maxDepth?: number;
  /**
   * Longest byte or text string (or indefinite-length chunk) shown in full, in bytes; a longer
   * one shows its first `maxStringBytes` bytes (text: as many characters) followed by `...` and
   * a comment with its size, e.g. `h'0102...' / 10485760 bytes, 2 shown /`, so a huge string
   * renders in bounded time and memory. A non-negative safe integer; default: no limit.
   */
  maxStringBytes?: number;
}

/** Default of {@link DiagnosticOptions.maxDepth}. */
const DEFAULT_MAX_DEPTH = 256;

/**
 * Largest bignum (tag 2/3) content, in bytes, rendered as a decimal integer. Longer contents are
 * rendered as `2(h'…')` / `3(h'…')` so a hostile input cannot make decimal conversion costly.
 */
const BIGNUM_DECIMAL_MAX_BYTES = 1024;

/** Longest diagnostic string produced for one top-level item (well under V8's string limit). */
const MAX_OUTPUT_CHARS = 2 ** 28;

const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Collects output pieces, bounded by {@link MAX_OUTPUT_CHARS}. */
class Output {
  private readonly parts: string[] = [];
  private length = 0;

  push(s: string): void {
    this.length += s.length;
    if (this.length > MAX_OUTPUT_CHARS) {
      throw new ProtocolError('CBOR_TOO_LARGE', `diagnostic notation of one item exceeds ${MAX_OUTPUT_CHARS} characters`);
    }
    this.parts.push(s);
  }

  toString(): string {
    return this.parts.join('');
  }
}

/** Formats a float the way RFC 8949 Table 6 does: always a decimal point or exponent. */
function formatFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Number.POSITIVE_INFINITY) return 'Infinity';
  if (x === Number.NEGATIVE_INFINITY) return '-Infinity';
  if (Object.is(x, -0)) return '-0.0';
  const s = String(x);
  const e = s.indexOf('e');
  const mantissa = e < 0 ? s : s.slice(0, e);
  if (mantissa.includes('.')) return s;
  return e < 0 ? `${s}.0` : `${mantissa}.0${s.slice(e)}`;
}

function hexOf(bytes: Uint8Array): string {
  return toHex(bytes);
}

/** The comment after a truncated string: its size and how much is shown. */
function elided(total: number, shown: number, unit: string): string {
  return `... / ${total} bytes, ${shown} ${unit} shown /`;
}

function renderBytes(bytes: Uint8Array, maxString = Number.POSITIVE_INFINITY): string {
  if (bytes.length <= maxString) return `h'${hexOf(bytes)}'`;
  return `h'${hexOf(bytes.subarray(0, maxString))}'${elided(bytes.length, maxString, 'bytes')}`;
}

/** Escapes a string JSON-style, with every non-ASCII UTF-16 code unit as `\uXXXX`. */
function quoteText(text: string): string {
  if (!/[^\u0020-\u0021\u0023-\u005b\u005d-\u007e]/.test(text)) return `"${text}"`; // printable ASCII: as is
  let s = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) s += '\\"';
    else if (c === 0x5c) s += '\\\\';
    else if (c >= 0x20 && c < 0x7f) s += text[i];
    else if (c === 0x08) s += '\\b';
    else if (c === 0x09) s += '\\t';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x0c) s += '\\f';
    else if (c === 0x0d) s += '\\r';
    else s += `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return `${s}"`;
}

function renderText(bytes: Uint8Array, start: number, maxString = Number.POSITIVE_INFINITY): string {
  const text = decodeUtf8(bytes, 0, bytes.length, start); // the whole string must be valid UTF-8
  if (bytes.length <= maxString) return quoteText(text);
  let end = Math.min(text.length, maxString);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // never split a surrogate pair
  return `${quoteText(text.slice(0, end))}${elided(bytes.length, end, 'characters')}`;
}

/** Reads the chunks of an indefinite-length byte (major 2) or text (major 3) string. */
function renderIndefiniteString(r: CborReader, major: 2 | 3, start: number, maxString: number): string {
  const kind = major === 2 ? 'byte' : 'text';
  const chunks: string[] = [];
  for (;;) {
    const chunkStart = r.pos;
    const ib = r.chunkHead(major, start);
    if (ib < 0) break;
    const data = r.take(r.argument(ib, chunkStart), chunkStart, `the ${kind} string chunk`);
    chunks.push(major === 2 ? renderBytes(data, maxString) : renderText(data, chunkStart, maxString));
  }
  if (chunks.length === 0) return major === 2 ? "''_" : '""_';
  return `(_ ${chunks.join(', ')})`;
}

/** An open container on the explicit decoding stack. */
type Frame = { kind: 'array' | 'map'; indefinite: boolean; total: number; count: number } | { kind: 'tag' };

/**
 * Tries to render tag 2/3 content as a bignum: returns the decimal text if the next item is a
 * definite byte string of at most {@link BIGNUM_DECIMAL_MAX_BYTES} bytes, else rewinds and
 * returns `undefined`.
 */
function tryBignum(r: CborReader, negative: boolean): string | undefined {
  const save = r.pos;
  if (save >= r.end) return undefined;
  const ib = r.data[save] as number;
  if (ib >> 5 !== 2 || (ib & 0x1f) >= 28) return undefined;
  r.pos++;
  const length = r.argument(ib, save);
  if (length > BIGNUM_DECIMAL_MAX_BYTES) {
    r.pos = save;
    return undefined;
  }
  const data = r.take(length, save, 'the bignum byte string');
  const n = data.length === 0 ? 0n : BigInt(`0x${hexOf(data)}`);
  return (negative ? -1n - n : n).toString();
}

/** Decodes one complete item at `r.pos` and renders it. Iterative: no recursion. */
function renderItem(r: CborReader, maxDepth: number, maxString = Number.POSITIVE_INFINITY): string {
  const out = new Output();
  const stack: Frame[] = [];
  for (;;) {
    const start = r.pos;
    const ib = r.initialByte(stack.length === 0 ? 'a CBOR item' : `the container opened before offset ${start}`);
    let top = stack.at(-1);
    let completed = true;

    if (ib === 0xff) {
      if (top === undefined || top.kind === 'tag' || !top.indefinite) {
        throw new ProtocolError('CBOR_RESERVED', `break (0xff) at offset ${start} outside an indefinite-length array or map`);
      }
      if (top.kind === 'map' && top.count % 2 === 1) {
        throw new ProtocolError('CBOR_RESERVED', `break (0xff) at offset ${start} after a map key with no value`);
      }
      out.push(top.kind === 'array' ? ']' : '}');
      stack.pop();
    } else {
      const depth = stack.length;
      if (depth > maxDepth) {
        throw new ProtocolError('CBOR_TOO_DEEP', `item at offset ${start} is nested deeper than ${maxDepth}`);
      }
      if (top !== undefined && top.kind !== 'tag' && top.count > 0) {
        out.push(top.kind === 'map' && top.count % 2 === 1 ? ': ' : ', ');
      }
      const major = ib >> 5;
      const ai = ib & 0x1f;
      if (ai === 31) {
        switch (major) {
          case 2:
          case 3:
            out.push(renderIndefiniteString(r, major, start, maxString));
            break;
          case 4:
          case 5:
            out.push(major === 4 ? '[_ ' : '{_ ');
            stack.push({ kind: major === 4 ? 'array' : 'map', indefinite: true, total: 0, count: 0 });
            completed = false;
            break;
          default:
            throw new ProtocolError(
              'CBOR_RESERVED',
              `indefinite length (additional information 31) in initial byte ${hexByte(ib)} of ${MAJOR_NAMES[major]} at offset ${start}`,
            );
        }
      } else if (major === 7) {
        out.push(renderSimpleOrFloat(r, ib, start));
      } else {
        const arg = r.argument(ib, start);
        switch (major) {
          case 0:
            out.push(r.argumentText(arg));
            break;
          case 1:
            out.push((-1n - r.argumentBig(arg)).toString());
            break;
          case 2:
            out.push(renderBytes(r.take(arg, start, 'the byte string'), maxString));
            break;
          case 3:
            out.push(renderText(r.take(arg, start, 'the text string'), start, maxString));
            break;
          case 4:
          case 5: {
            // Every element takes at least one byte: a count over what is left cannot fit.
            const items = major === 4 ? arg : arg * 2;
            r.room(items, start, `the ${MAJOR_NAMES[major]} of ${r.argumentText(arg)} ${major === 4 ? 'element(s)' : 'pair(s)'}`);
            if (items === 0) {
              out.push(major === 4 ? '[]' : '{}');
            } else {
              out.push(major === 4 ? '[' : '{');
              stack.push({
                kind: major === 4 ? 'array' : 'map',
                indefinite: false,
                total: items,
                count: 0,
              });
              completed = false;
            }
            break;
          }
          default: {
            // major 6: tag
            if (arg === 2 || arg === 3) {
              if (depth + 1 > maxDepth) {
                throw new ProtocolError(
                  'CBOR_TOO_DEEP',
                  `content of the tag at offset ${start} is nested deeper than ${maxDepth}`,
                );
              }
              const big = tryBignum(r, arg === 3);
              if (big !== undefined) {
                out.push(big);
                break;
              }
            }
            out.push(`${r.argumentText(arg)}(`);
            stack.push({ kind: 'tag' });
            completed = false;
          }
        }
      }
    }

    if (!completed) continue;
    // An item just completed: close every container it completes in turn.
    for (;;) {
      top = stack.at(-1);
      if (top === undefined) return out.toString();
      if (top.kind === 'tag') {
        out.push(')');
        stack.pop();
        continue;
      }
      top.count++;
      if (!top.indefinite && top.count === top.total) {
        out.push(top.kind === 'array' ? ']' : '}');
        stack.pop();
        continue;
      }
      break;
    }
  }
}

/** Renders a major-type-7 item other than a break: every simple value and float. */
function renderSimpleOrFloat(r: CborReader, ib: number, start: number): string {
  const v = r.simple(ib, start);
  if (typeof v === 'number') return formatFloat(v);
  if (v instanceof SimpleValue) {
    if ((ib & 0x1f) === 24 && v.value < 32) {
      throw new ProtocolError(
        'CBOR_RESERVED',
        `simple value ${v.value} at offset ${start} in two-byte form (0xf8 ${HEX_BYTE[v.value]}) is not well-formed`,
      );
    }
    return `simple(${v.value})`;
  }
  return String(v); // false, true, null, undefined (a break never reaches here)
}

function resolveMaxDepth(options: DiagnosticOptions | undefined): number {
  const maxDepth = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 0) {
    throw new RangeError(`maxDepth must be a non-negative safe integer, got ${maxDepth}`);
  }
  return maxDepth;
}

function resolveMaxString(options: DiagnosticOptions | undefined): number {
  const max = options?.maxStringBytes ?? Number.POSITIVE_INFINITY;
  if (max !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(max) || max < 0)) {
    throw new RangeError(`maxStringBytes must be a non-negative safe integer, got ${max}`);
  }
  return max;
}

/**
 * Renders the items of a CBOR sequence one at a time, like {@link toDiagnosticSequence}, so a
 * caller can print each as soon as it is rendered (and stop early). Same options and errors; an
 * error is thrown when the malformed item is reached, after the items before it were yielded.
 * @example
 * ```ts
 * for (const item of diagnosticItems(bytes, { maxStringBytes: 4096 })) console.log(item);
 * ```
 */
export function* diagnosticItems(bytes: Uint8Array, options?: DiagnosticOptions): Generator<string, void, undefined> {
  const maxDepth = resolveMaxDepth(options);
  const maxString = resolveMaxString(options);
  const r = new CborReader(bytes);
  while (r.pos < r.end) yield renderItem(r, maxDepth, maxString);
}

/**
 * Renders every item of a CBOR sequence (RFC 8742: zero or more items back to back) in RFC 8949
 * §8 diagnostic notation; one string per top-level item. Any well-formed CBOR is accepted.
 *
 * @param bytes - the encoded sequence; an empty array is the empty sequence
 * @param options - optional `maxDepth` (default 256) and `maxStringBytes` (default no limit)
 * @returns one diagnostic string per top-level item, in order
 * @throws {ProtocolError} `CBOR_TRUNCATED` if the input ends inside an item (including a length
 *   or element count larger than the bytes left); `CBOR_RESERVED` for additional information
 *   28..30, a break outside an indefinite-length array or map (or after a map key), indefinite
 *   length on an integer or tag, an indefinite-string chunk of another major type or itself
 *   indefinite, or a two-byte simple value below 32; `CBOR_INVALID_UTF8` for a text string (or
 *   text chunk) that is not valid UTF-8; `CBOR_TOO_DEEP` for nesting over `maxDepth`;
 *   `CBOR_TOO_LARGE` if one item's rendering would exceed 2^28 characters
 * @throws {RangeError} if `options.maxDepth` is not a non-negative safe integer
 * @example
 * ```ts
 * toDiagnosticSequence(parseHex('01 9f0102ff a1616101'));
 * // → ['1', '[_ 1, 2]', '{"a": 1}']
 * ```
 */
export function toDiagnosticSequence(bytes: Uint8Array, options?: DiagnosticOptions): string[] {
  return [...diagnosticItems(bytes, options)];
}

/**
 * Renders exactly one CBOR item in RFC 8949 §8 diagnostic notation. Any well-formed CBOR is
 * accepted.
 *
 * @param bytes - the encoding of a single item
 * @param options - optional `maxDepth` (default 256)
 * @returns the diagnostic notation of the item
 * @throws {ProtocolError} `CBOR_TRAILING_BYTES` if any byte follows the first complete item
 *   (whether or not those bytes are well-formed); `CBOR_TRUNCATED` for empty input; otherwise the
 *   errors of {@link toDiagnosticSequence}
 * @throws {RangeError} if `options.maxDepth` is not a non-negative safe integer
 * @example
 * ```ts
 * toDiagnostic(parseHex('c249010000000000000000')); // → '18446744073709551616'
 * toDiagnostic(parseHex('bf6346756ef563416d7421ff')); // → '{_ "Fun": true, "Amt": -2}'
 * ```
 */
export function toDiagnostic(bytes: Uint8Array, options?: DiagnosticOptions): string {
  const maxDepth = resolveMaxDepth(options);
  const r = new CborReader(bytes);
  const item = renderItem(r, maxDepth, resolveMaxString(options));
  if (r.pos < r.end) {
    throw new ProtocolError('CBOR_TRAILING_BYTES', `${r.end - r.pos} byte(s) follow the item that ends at offset ${r.pos}`);
  }
  return item;
}

/**
 * Parses hexadecimal text leniently: whitespace anywhere is ignored, an optional `0x`/`0X` prefix
 * (after any leading whitespace) is skipped, and digits may be upper or lower case.
 *
 * @param text - hex digits, e.g. `'0x a1 61 61 01'`
 * @returns the bytes; empty text (or only a prefix) gives an empty array
 * @throws {TypeError} `hex: …` naming an invalid character and its offset in `text`, or an odd
 *   number of hex digits
 * @example
 * ```ts
 * parseHex('0x83 01 02 03'); // → Uint8Array [0x83, 0x01, 0x02, 0x03]
 * parseHex('abc'); // throws TypeError('hex: odd number of hex digits (3)')
 * ```
 */
export function parseHex(text: string): Uint8Array {
  let i = 0;
  while (i < text.length && /\s/.test(text[i] as string)) i++;
  if (text[i] === '0' && (text[i + 1] === 'x' || text[i + 1] === 'X')) i += 2;
  const body = text.slice(i);
  const bad = /[^0-9a-fA-F\s]/u.exec(body); // bulk checks: linear, no per-digit allocation
  if (bad !== null) {
    const cp = bad[0].codePointAt(0) as number;
    throw new TypeError(
      `hex: invalid character ${JSON.stringify(bad[0])} (U+${cp.toString(16).toUpperCase().padStart(4, '0')}) at offset ${i + bad.index}`,
    );
  }
  const digits = /\s/.test(body) ? body.replace(/\s+/g, '') : body;
  if (digits.length % 2 !== 0) {
    throw new TypeError(`hex: odd number of hex digits (${digits.length})`);
  }
  const out = new Uint8Array(digits.length / 2);
  Buffer.from(out.buffer, out.byteOffset, out.byteLength).write(digits, 'hex');
  return out;
}
