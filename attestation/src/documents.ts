/**
 * The JSON documents of the attestation flow and their validation: the evidence document
 * (`enigm attest quote --out F`), the AK blob file (`--ak-file F`) and the appraisal policy
 * (`--policy F`). Pure: callers read and write the files; malformed content is a typed error
 * naming the field (`INPUT_MALFORMED`), never a crash. Plus {@link withTpm}, which opens a TPM
 * from its spec for one collection and always closes it.
 *
 * @module
 */
import { fromHex, toHex } from '@enigm/protocols/bytes';
import { evidenceFromJson, evidenceToJson, type QuoteEvidence, type QuoteEvidenceJson } from './collect/evidence.ts';
import { AttestationError } from './errors.ts';
import type { KeyBlob } from './tpm/client.ts';
import { TpmClient } from './tpm/client.ts';
import { openTpm } from './tpm/open.ts';
import type { AppraisalPolicy } from './verify/appraise.ts';

const bad = (what: string, why: string) => new AttestationError('INPUT_MALFORMED', `${what}: ${why}`);

/** What `enigm attest quote --out F` writes: the nonce asked with, the PCR list and the evidence. */
export interface EvidenceDocument {
  /** The nonce the quote was asked with (hex). Untrusted: a verifier uses its own. */
  readonly nonce?: string;
  /** PCR indices asked for. */
  readonly pcrs?: readonly number[];
  readonly evidence: QuoteEvidenceJson;
}

/** Makes an evidence document. */
export function evidenceDocument(evidence: QuoteEvidence, nonce: Uint8Array, pcrs: readonly number[]): EvidenceDocument {
  return { nonce: toHex(nonce), pcrs: [...pcrs], evidence: evidenceToJson(evidence) };
}

/** A parsed evidence document. */
export interface ParsedEvidenceDocument {
  readonly evidence: QuoteEvidence;
  /** The document's (untrusted) nonce. */
  readonly nonce?: Uint8Array;
  readonly pcrs?: readonly number[];
}

/**
 * Reads an evidence document (or bare evidence JSON).
 * @throws {@link AttestationError} `INPUT_MALFORMED` (document fields) or `POLICY_INVALID` (evidence fields)
 */
export function evidenceDocumentFromJson(j: unknown): ParsedEvidenceDocument {
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw bad('evidence document', 'not a JSON object');
  const o = j as Record<string, unknown>;
  const evidence = evidenceFromJson(o.evidence ?? o);
  let nonce: Uint8Array | undefined;
  if (o.nonce !== undefined) {
    if (typeof o.nonce !== 'string' || !/^([0-9a-fA-F]{2}){1,64}$/.test(o.nonce))
      throw bad('evidence document', 'nonce is not 1..64 bytes of hex');
    nonce = fromHex(o.nonce);
  }
  let pcrs: number[] | undefined;
  if (o.pcrs !== undefined && o.evidence !== undefined) {
    if (!Array.isArray(o.pcrs) || !o.pcrs.every((p) => Number.isInteger(p) && p >= 0 && p <= 23))
      throw bad('evidence document', 'pcrs is not a list of PCR indices 0..23');
    pcrs = o.pcrs as number[];
  }
  return { evidence, ...(nonce ? { nonce } : {}), ...(pcrs ? { pcrs } : {}) };
}

/** The AK blob file's JSON form (hex). */
export interface KeyBlobJson {
  private: string;
  publicArea: string;
}

/** Converts an AK blob to JSON. */
export function keyBlobToJson(blob: KeyBlob): KeyBlobJson {
  return { private: toHex(blob.private), publicArea: toHex(blob.publicArea) };
}

/**
 * Reads an AK blob file's JSON.
 * @throws {@link AttestationError} `INPUT_MALFORMED`
 */
export function keyBlobFromJson(j: unknown): KeyBlob {
  const o = (typeof j === 'object' && j !== null ? j : {}) as Record<string, unknown>;
  const field = (k: 'private' | 'publicArea') => {
    const v = o[k];
    if (typeof v !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(v)) throw bad('AK file', `${k} is not hex`);
    return fromHex(v);
  };
  return { private: field('private'), publicArea: field('publicArea') };
}

/**
 * Validates an appraisal policy's JSON: `{ akNames?: [hex], referencePcrs?: { "7": hex | [hex] },
 * requireEventLog?: bool }`.
 * @throws {@link AttestationError} `INPUT_MALFORMED` naming the field
 */
export function policyFromJson(j: unknown): AppraisalPolicy {
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw bad('policy', 'not a JSON object');
  const o = j as Record<string, unknown>;
  const isHex = (v: unknown) => typeof v === 'string' && /^(0x)?([0-9a-fA-F]{2})+$/.test(v);
  if (o.akNames !== undefined && (!Array.isArray(o.akNames) || !o.akNames.every(isHex)))
    throw bad('policy', 'akNames is not a list of hex AK Names');
  if (o.referencePcrs !== undefined) {
    if (typeof o.referencePcrs !== 'object' || o.referencePcrs === null) throw bad('policy', 'referencePcrs is not an object');
    for (const [k, v] of Object.entries(o.referencePcrs)) {
      const i = Number(k);
      if (!Number.isInteger(i) || i < 0 || i > 23) throw bad('policy', `referencePcrs key ${k} is not a PCR index 0..23`);
      if (!(isHex(v) || (Array.isArray(v) && v.every(isHex))))
        throw bad('policy', `referencePcrs.${k} is not hex or a list of hex`);
    }
  }
  if (o.requireEventLog !== undefined && typeof o.requireEventLog !== 'boolean')
    throw bad('policy', 'requireEventLog is not a boolean');
  return o as AppraisalPolicy;
}

/**
 * Opens the TPM `spec` names (`swtpm:host=H,port=P` or `device[:PATH]`), runs `fn` with a client
 * and closes the transport whatever happens.
 * @throws TypeError for a bad spec; {@link AttestationError} from the transport or `fn`
 * @example const { evidence } = await withTpm('device', (tpm) => collectQuote(tpm, { nonce }));
 */
export async function withTpm<T>(spec: string, fn: (tpm: TpmClient) => Promise<T>): Promise<T> {
  const tpm = new TpmClient(await openTpm(spec));
  try {
    return await fn(tpm);
  } finally {
    await tpm.transport.close();
  }
}
