/**
 * COSE (RFC 9052) for the suite: COSE_Sign1 with EdDSA over Ed25519.
 *
 * @module
 */

export type { LenientOptions } from './lenient.ts';
export { decodeLenient } from './lenient.ts';
export type { CoseHeaderMap, DecodeSign1Options, Sign1, SignSign1Options, VerifySign1Options } from './sign1.ts';
export {
  COSE_ALG_EDDSA,
  COSE_SIGN1_TAG,
  DEFAULT_MAX_SIGN1_BYTES,
  decodeSign1,
  HEADER_ALG,
  HEADER_CONTENT_TYPE,
  HEADER_CRIT,
  HEADER_IV,
  HEADER_KID,
  HEADER_PARTIAL_IV,
  signSign1,
  sigStructure1,
  verifySign1,
} from './sign1.ts';
