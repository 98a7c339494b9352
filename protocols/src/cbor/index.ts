/**
 * Strict deterministic CBOR codec of the Enigm Key wire protocol (RFC 8949 §4.2.1).
 *
 * @module
 */

export { decode, decodePrefix } from './decode.ts';
export { type DiagnosticOptions, diagnosticItems, parseHex, toDiagnostic, toDiagnosticSequence } from './diagnostic.ts';
export { encode } from './encode.ts';
export type { CborKey, CborMap, CborValue, DecodeOptions } from './types.ts';
export { DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_ITEMS, Tagged } from './types.ts';
