/**
 * `TPMS_PCR_SELECTION` / `TPML_PCR_SELECTION` (TPM 2.0 Part 2 §10.6.2, §10.9.7): a hash bank and a
 * bitmap of PCR indices, PCR `i` being bit `i % 8` of byte `i / 8`.
 *
 * @module
 */
import { AttestationError } from '../errors.ts';
import type { TpmReader, TpmWriter } from './marshal.ts';

/** The PCRs selected in one bank. */
export interface PcrSelection {
  /** `TPM_ALG_ID` of the bank. */
  readonly hash: number;
  /** Selected PCR indices, ascending. */
  readonly pcrs: readonly number[];
}

/** Most banks in a `TPML_PCR_SELECTION` (`HASH_COUNT` bound used here). */
export const MAX_BANKS = 16;
/** `PCR_SELECT_MIN`: bitmap bytes for the 24 PC Client PCRs. */
export const PCR_SELECT_MIN = 3;

/**
 * Writes a `TPML_PCR_SELECTION`.
 * @throws RangeError if a PCR index is not in 0..255
 */
export function writePcrSelections(w: TpmWriter, sels: readonly PcrSelection[]): void {
  w.u32(sels.length);
  for (const s of sels) {
    const max = s.pcrs.reduce((m, p) => Math.max(m, p), 0);
    const bitmap = new Uint8Array(Math.max(PCR_SELECT_MIN, (max >> 3) + 1));
    for (const p of s.pcrs) {
      if (!Number.isInteger(p) || p < 0 || p > 255) throw new RangeError(`pcrs: ${p} is not a PCR index`);
      bitmap[p >> 3]! |= 1 << (p & 7);
    }
    w.u16(s.hash).u8(bitmap.length).bytes(bitmap);
  }
}

/**
 * Reads a `TPML_PCR_SELECTION`.
 * @throws {@link AttestationError} `TPM_MARSHAL` if truncated or over bounds
 */
export function readPcrSelections(r: TpmReader): PcrSelection[] {
  const n = r.count('TPML_PCR_SELECTION', MAX_BANKS);
  const out: PcrSelection[] = [];
  for (let i = 0; i < n; i++) {
    const hash = r.u16('TPMS_PCR_SELECTION.hash');
    const size = r.u8('sizeofSelect');
    if (size > 32) throw new AttestationError('TPM_MARSHAL', `sizeofSelect ${size} is over 32`);
    const bitmap = r.take(size, 'pcrSelect');
    const pcrs: number[] = [];
    for (let p = 0; p < size * 8; p++) if ((bitmap[p >> 3]! >> (p & 7)) & 1) pcrs.push(p);
    out.push({ hash, pcrs });
  }
  return out;
}

/** Whether two selection lists select the same PCRs per bank, in the same bank order. */
export function sameSelections(a: readonly PcrSelection[], b: readonly PcrSelection[]): boolean {
  return (
    a.length === b.length &&
    a.every((s, i) => s.hash === b[i]!.hash && s.pcrs.length === b[i]!.pcrs.length && s.pcrs.every((p, j) => p === b[i]!.pcrs[j]))
  );
}
