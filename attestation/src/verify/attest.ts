/**
 * Parsers of what a TPM signs and how: `TPMS_ATTEST` (TPM 2.0 Part 2 §10.12.12, with
 * `TPMS_QUOTE_INFO` for quotes) and `TPMT_SIGNATURE` (§11.3.4). Pure; parsing checks structure
 * only — the checks of meaning live in `quote.ts`.
 *
 * @module
 */
import { AttestationError } from '../errors.ts';
import { TPM_ALG, TPM_ST } from '../structures/constants.ts';
import { TpmReader } from '../structures/marshal.ts';
import { type PcrSelection, readPcrSelections } from '../structures/pcr-selection.ts';

/** `TPMS_CLOCK_INFO`. For keys outside the endorsement and platform hierarchies the TPM
 * obfuscates `resetCount` and `restartCount` with a per-key offset (Part 1 §36.6): compare them
 * only with earlier values from the same AK. */
export interface ClockInfo {
  readonly clock: bigint;
  readonly resetCount: number;
  readonly restartCount: number;
  readonly safe: boolean;
}

/** A parsed `TPMS_ATTEST`. Untrusted until its signature verifies. */
export interface Attest {
  readonly magic: number;
  readonly type: number;
  readonly qualifiedSigner: Uint8Array;
  readonly extraData: Uint8Array;
  readonly clockInfo: ClockInfo;
  readonly firmwareVersion: bigint;
  /** `TPMS_QUOTE_INFO`, when `type` is `TPM_ST_ATTEST_QUOTE`. */
  readonly quote: { readonly pcrSelect: readonly PcrSelection[]; readonly pcrDigest: Uint8Array } | undefined;
}

/**
 * Parses a `TPMS_ATTEST` (no size prefix, no trailing bytes for quotes).
 * @throws {@link AttestationError} `TPM_MARSHAL` if it does not unmarshal
 */
export function parseAttest(bytes: Uint8Array): Attest {
  const r = new TpmReader(bytes, 'TPMS_ATTEST');
  const magic = r.u32('magic');
  const type = r.u16('type');
  const qualifiedSigner = r.tpm2b('qualifiedSigner', 66);
  const extraData = r.tpm2b('extraData', 64);
  const clock = r.u64('clock');
  const resetCount = r.u32('resetCount');
  const restartCount = r.u32('restartCount');
  const safe = r.u8('safe');
  const firmwareVersion = r.u64('firmwareVersion');
  let quote: Attest['quote'];
  if (type === TPM_ST.ATTEST_QUOTE) {
    const pcrSelect = readPcrSelections(r);
    const pcrDigest = r.tpm2b('pcrDigest', 64);
    r.end();
    quote = { pcrSelect, pcrDigest };
  }
  return {
    magic,
    type,
    qualifiedSigner,
    extraData,
    clockInfo: { clock, resetCount, restartCount, safe: safe === 1 },
    firmwareVersion,
    quote,
  };
}

/** A parsed `TPMT_SIGNATURE` (RSASSA, RSAPSS or ECDSA). */
export interface Signature {
  /** `TPM_ALG_RSASSA`, `TPM_ALG_RSAPSS` or `TPM_ALG_ECDSA`. */
  readonly sigAlg: number;
  /** Hash algorithm of the scheme. */
  readonly hash: number;
  /** RSA signature bytes. */
  readonly rsa?: Uint8Array;
  /** ECDSA r and s. */
  readonly ecdsa?: { readonly r: Uint8Array; readonly s: Uint8Array };
}

/**
 * Parses a `TPMT_SIGNATURE`.
 * @throws {@link AttestationError} `TPM_MARSHAL`, or `ATTEST_UNSUPPORTED` for other schemes
 */
export function parseSignature(bytes: Uint8Array): Signature {
  const r = new TpmReader(bytes, 'TPMT_SIGNATURE');
  const sigAlg = r.u16('sigAlg');
  let sig: Signature;
  if (sigAlg === TPM_ALG.RSASSA || sigAlg === TPM_ALG.RSAPSS) sig = { sigAlg, hash: r.u16('hash'), rsa: r.tpm2b('sig', 512) };
  else if (sigAlg === TPM_ALG.ECDSA) {
    const hash = r.u16('hash');
    sig = { sigAlg, hash, ecdsa: { r: r.tpm2b('signatureR', 66), s: r.tpm2b('signatureS', 66) } };
  } else throw new AttestationError('ATTEST_UNSUPPORTED', `signature algorithm 0x${sigAlg.toString(16)} is not supported`);
  r.end();
  return sig;
}
