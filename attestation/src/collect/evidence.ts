/**
 * The evidence a collector hands to a verifier: raw TPM bytes only, nothing interpreted.
 * With a JSON form (bytes as hex) for files and the CLI.
 *
 * @module
 */

import { toHex } from '@enigm/protocols/bytes';
import { AttestationError } from '../errors.ts';

/** Raw quote evidence for one PCR bank. Every field is untrusted until the verifier checks it. */
export interface QuoteEvidence {
  /** The AK's `TPMT_PUBLIC`. */
  readonly akPublic: Uint8Array;
  /** Qualified Name of the AK's parent (the storage primary), to recompute the AK's QN. */
  readonly akParentQualifiedName?: Uint8Array;
  /** `TPMS_ATTEST` as signed by the AK. */
  readonly attest: Uint8Array;
  /** `TPMT_SIGNATURE` over `attest`. */
  readonly signature: Uint8Array;
  /** `TPM_ALG_ID` of the PCR bank. */
  readonly pcrBank: number;
  /** PCR index → value, as read after the quote. */
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
  /** The firmware event log, if collected. */
  readonly eventLog?: Uint8Array;
}

/** JSON form of {@link QuoteEvidence}. */
export interface QuoteEvidenceJson {
  akPublic: string;
  akParentQualifiedName?: string;
  attest: string;
  signature: string;
  pcrBank: number;
  pcrs: Record<string, string>;
  eventLog?: string;
}

/** Converts evidence to its JSON form. */
export function evidenceToJson(e: QuoteEvidence): QuoteEvidenceJson {
  return {
    akPublic: toHex(e.akPublic),
    ...(e.akParentQualifiedName ? { akParentQualifiedName: toHex(e.akParentQualifiedName) } : {}),
    attest: toHex(e.attest),
    signature: toHex(e.signature),
    pcrBank: e.pcrBank,
    pcrs: Object.fromEntries([...e.pcrs].map(([i, v]) => [String(i), toHex(v)])),
    ...(e.eventLog ? { eventLog: toHex(e.eventLog) } : {}),
  };
}

function hex(v: unknown, field: string): Uint8Array {
  if (typeof v !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(v))
    throw new AttestationError('POLICY_INVALID', `evidence.${field} is not hex`);
  return new Uint8Array(Buffer.from(v, 'hex'));
}

/**
 * Reads evidence from its JSON form.
 * @throws {@link AttestationError} `POLICY_INVALID` naming the bad field
 */
export function evidenceFromJson(j: unknown): QuoteEvidence {
  if (typeof j !== 'object' || j === null) throw new AttestationError('POLICY_INVALID', 'evidence is not an object');
  const o = j as Record<string, unknown>;
  if (!Number.isInteger(o.pcrBank)) throw new AttestationError('POLICY_INVALID', 'evidence.pcrBank is not an integer');
  if (typeof o.pcrs !== 'object' || o.pcrs === null)
    throw new AttestationError('POLICY_INVALID', 'evidence.pcrs is not an object');
  const pcrs = new Map<number, Uint8Array>();
  for (const [k, v] of Object.entries(o.pcrs)) {
    const i = Number(k);
    if (!Number.isInteger(i) || i < 0 || i > 31)
      throw new AttestationError('POLICY_INVALID', `evidence.pcrs key ${k} is not a PCR index`);
    pcrs.set(i, hex(v, `pcrs.${k}`));
  }
  return {
    akPublic: hex(o.akPublic, 'akPublic'),
    ...(o.akParentQualifiedName !== undefined
      ? { akParentQualifiedName: hex(o.akParentQualifiedName, 'akParentQualifiedName') }
      : {}),
    attest: hex(o.attest, 'attest'),
    signature: hex(o.signature, 'signature'),
    pcrBank: o.pcrBank as number,
    pcrs,
    ...(o.eventLog !== undefined ? { eventLog: hex(o.eventLog, 'eventLog') } : {}),
  };
}
