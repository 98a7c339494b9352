/**
 * Value model of the Enigm Key CBOR codec (RFC 8949, core deterministic encoding, §4.2.1).
 *
 * The model is deliberately small: integers (`number` when safe, `bigint` beyond 2^53-1), floats
 * (non-integral `number`, `-0`, `NaN`, `±Infinity`), text (`string`), bytes (`Uint8Array`),
 * `boolean`, `null`, arrays, {@link CborMap} (a `Map` keyed by integers or text only) and
 * {@link Tagged}. Plain objects and `undefined` have no encoding.
 *
 * @module
 */

/** A map key: an integer (`number` or `bigint`) or a text string. */
export type CborKey = number | bigint | string;

/** Any value the codec encodes and decodes. */
export type CborValue = number | bigint | string | Uint8Array | boolean | null | CborValue[] | CborMap | Tagged;

/** A CBOR map. Encoded with its keys sorted bytewise by their encodings, whatever the insertion order. */
export type CborMap = Map<CborKey, CborValue>;

/** A tagged item (major type 6): a tag number and its content. */
export class Tagged {
  /**
   * @param tag - tag number, a non-negative safe integer
   * @param value - the tagged content
   */
  constructor(
    readonly tag: number,
    readonly value: CborValue,
  ) {}
}

/** Bounds and permissions of the strict decoder. Every bound defaults to a value safe for the wire. */
export interface DecodeOptions {
  /** Max nesting levels of arrays, maps and tags (default 16); deeper is `CBOR_TOO_DEEP`. */
  maxDepth?: number;
  /** Max declared array or map length (default 65536); longer is `CBOR_TOO_LARGE`. */
  maxItems?: number;
  /** Max input length and max byte/text string length (default 1 MiB); longer is `CBOR_TOO_LARGE`. */
  maxBytes?: number;
  /** Tags allowed in the input (default none); any other tag is `CBOR_UNSUPPORTED_TAG`. */
  allowedTags?: ReadonlySet<number>;
}

/** Default {@link DecodeOptions.maxDepth}. */
export const DEFAULT_MAX_DEPTH = 16;
/** Default {@link DecodeOptions.maxItems}. */
export const DEFAULT_MAX_ITEMS = 65536;
/** Default {@link DecodeOptions.maxBytes}: 1 MiB. */
export const DEFAULT_MAX_BYTES = 1024 * 1024;
