/**
 * Conversion between {@link QuoteEvidence} and the file formats of tpm2-tools 5.x, so our quotes
 * can be checked with `tpm2_checkquote` and `tpm2_quote` output can be appraised here:
 * message = raw `TPMS_ATTEST`, signature = `TPMT_SIGNATURE` ("tss" format), AK public = PEM
 * SubjectPublicKeyInfo (for `-u`) or `TPM2B_PUBLIC` (from `tpm2_create -u`), PCR values = the
 * raw concatenation of the digests in selection order with the `-l bank:i,j` list.
 *
 * @module
 */

import { toHex } from '@enigm/protocols/bytes';
import type { QuoteEvidence } from '../collect/evidence.ts';
import { AttestationError } from '../errors.ts';
import { hashById } from '../hash.ts';
import { parsePublic2b } from '../structures/public.ts';
import { prepareAk } from '../verify/keys.ts';

/** The files `tpm2_checkquote` reads, as bytes/strings. */
export interface CheckquoteFiles {
  /** AK public key, PEM SPKI (`-u`). */
  readonly akPem: string;
  /** `TPMS_ATTEST` (`-m`). */
  readonly message: Uint8Array;
  /** `TPMT_SIGNATURE` (`-s`). */
  readonly signature: Uint8Array;
  /** Concatenated PCR values (`-f`). */
  readonly pcrValues: Uint8Array;
  /** PCR list, e.g. `sha256:0,1,7` (`-l`). */
  readonly pcrList: string;
  /** Hash algorithm name (`-g`). */
  readonly hashAlg: string;
}

/**
 * Converts evidence to `tpm2_checkquote` inputs; the nonce goes to `-q` as hex.
 * @throws {@link AttestationError} if the AK or bank is not supported
 */
export function toCheckquoteFiles(e: QuoteEvidence): CheckquoteFiles {
  const ak = prepareAk(e.akPublic);
  const bank = hashById(e.pcrBank);
  if (!bank) throw new AttestationError('ATTEST_UNSUPPORTED', `PCR bank 0x${e.pcrBank.toString(16)} is not supported`);
  const idx = [...e.pcrs.keys()].sort((a, b) => a - b);
  return {
    akPem: ak.key.export({ type: 'spki', format: 'pem' }) as string,
    message: e.attest,
    signature: e.signature,
    pcrValues: new Uint8Array(Buffer.concat(idx.map((i) => e.pcrs.get(i) as Uint8Array))),
    pcrList: `${bank.name}:${idx.join(',')}`,
    hashAlg: ak.signHash.name,
  };
}

/** Builds evidence from `tpm2_create -u` (TPM2B_PUBLIC), `tpm2_quote -m/-s` files and PCR values. */
export function fromTpm2Tools(files: {
  akPublic2b: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
  pcrBank: number;
  pcrs: ReadonlyMap<number, Uint8Array>;
}): QuoteEvidence {
  const { bytes } = parsePublic2b(files.akPublic2b);
  return { akPublic: bytes, attest: files.message, signature: files.signature, pcrBank: files.pcrBank, pcrs: files.pcrs };
}

/** The `-q` argument for a nonce. */
export function qualificationArg(nonce: Uint8Array): string {
  return toHex(nonce);
}
