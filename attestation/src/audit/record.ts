/**
 * The audit record: a typed CBOR map with integer keys, signed as a tagged COSE_Sign1 (EdDSA) by
 * the appending actor's Ed25519 key and hash-chained to the record before it.
 *
 * | key | field | type |
 * |---|---|---|
 * | 1 | `seq` | uint: 0 for the first record, then +1 |
 * | 2 | `time` | int: milliseconds since the Unix epoch, from the appender's injected clock |
 * | 3 | `role` | text ≤ 32: the actor's role |
 * | 4 | `actor` | bytes[8]: the actor's key id, the first 8 bytes of SHA-256 of its Ed25519 public key |
 * | 5 | `op` | text ≤ 48: the operation |
 * | 6 | `handle` | text ≤ 40, optional: the device handle (privacy-preserving, never a serial or key) |
 * | 7 | `decision` | uint: 0 allowed, 1 refused |
 * | 8 | `reason` | text ≤ 160, optional: a short human reason or error code |
 * | 9 | `prev` | bytes[32]: SHA-256 of the previous record's bytes (32 zero bytes for the first) |
 *
 * A record's bytes are the whole COSE_Sign1: protected `{1: -8, 3: "application/vnd.enigm.audit+cbor"}`,
 * an empty unprotected bucket, the payload above, the 64-byte signature. Everything is
 * deterministic CBOR, so a record that verifies has exactly one encoding: any changed byte is a
 * signature failure or a parse failure, never a silent variant.
 *
 * @module
 */
import { bytesEqual, toHex } from '@enigm/protocols/bytes';
import { decode, encode } from '@enigm/protocols/cbor';
import { decodeSign1, HEADER_CONTENT_TYPE, signSign1, verifySign1 } from '@enigm/protocols/cose';
import { ed25519PublicKey, ed25519Sign, sha256 } from '@enigm/protocols/crypto';
import { defineRecord, field, type RecordValue, t } from '@enigm/protocols/messages';
import { AttestationError } from '../errors.ts';
import { checkAuditHandle, checkAuditOp, checkAuditReason, checkAuditRole } from './validate.ts';

/** COSE content type of an audit record's payload (protected header label 3). */
export const AUDIT_CONTENT_TYPE = 'application/vnd.enigm.audit+cbor';
/** Length of an actor key id, bytes. */
export const AUDIT_KEY_ID_LENGTH = 8;
/** Largest encoded record accepted, bytes. */
export const AUDIT_MAX_RECORD_BYTES = 4096;
/** `prev` of the first record. */
export const AUDIT_GENESIS_PREV: Uint8Array = new Uint8Array(32);

/** The decision an audit record states. */
export type AuditDecision = 'allowed' | 'refused';

/** The declared record (integer keys; see the module doc). */
export const AuditRecordType = defineRecord('audit.record', {
  seq: field(1, t.uint(Number.MAX_SAFE_INTEGER), false, 'sequence number, 0 first'),
  time: field(2, t.int(0, 8_640_000_000_000_000), false, 'ms since the Unix epoch'),
  role: field(3, t.text(32), false, "actor's role"),
  actor: field(4, t.bytes(AUDIT_KEY_ID_LENGTH, AUDIT_KEY_ID_LENGTH), false, "actor's key id"),
  op: field(5, t.text(48), false, 'operation'),
  handle: field(6, t.text(40), true, 'device handle'),
  decision: field(7, t.enumOf<AuditDecision>('decision', { allowed: 0, refused: 1 }), false, 'allowed or refused'),
  reason: field(8, t.text(160), true, 'short reason'),
  prev: field(9, t.bytes(32, 32), false, "SHA-256 of the previous record's bytes"),
});

/** A decoded audit record. */
export type AuditRecord = RecordValue<typeof AuditRecordType.schema>;

/** What an actor asks to record; the log adds `seq`, `time`, `role`, `actor` and `prev`. */
export interface AuditEntry {
  /** The operation, e.g. `key.enroll`. */
  op: string;
  /** The device handle, when the operation concerns a device. */
  handle?: string;
  /** Whether the operation was allowed or refused. */
  decision: AuditDecision;
  /** A short reason (an error code, "wrong role"), checked by `checkAuditReason`. */
  reason?: string;
}

/** An appending actor: its role and its Ed25519 signing capability (the key never enters a record). */
export interface AuditSigner {
  /** The actor's role, e.g. `station`. */
  readonly role: string;
  /** The actor's 32-byte Ed25519 public key (only its key id is recorded). */
  readonly publicKey: Uint8Array;
  /** Signs the COSE Sig_structure bytes; returns the 64-byte Ed25519 signature. */
  sign(toBeSigned: Uint8Array): Uint8Array;
}

/**
 * An {@link AuditSigner} over an Ed25519 seed held in memory.
 * @param role - the actor's role (checked)
 * @param seed - the 32-byte Ed25519 private seed
 * @throws {@link AttestationError} `AUDIT_FIELD_REFUSED` for a bad role
 * @example
 * const signer = auditSignerFromSeed('station', seed);
 */
export function auditSignerFromSeed(role: string, seed: Uint8Array): AuditSigner {
  checkAuditRole(role);
  const publicKey = ed25519PublicKey(seed);
  const copy = Uint8Array.from(seed);
  return {
    role,
    publicKey,
    sign: (tbs) => ed25519Sign(copy, tbs),
  };
}

/**
 * The key id of an Ed25519 public key: the first 8 bytes of its SHA-256.
 * @example
 * toHex(auditKeyId(publicKey)) // '3f0c…' (16 hex digits)
 */
export function auditKeyId(publicKey: Uint8Array): Uint8Array {
  return sha256(publicKey).subarray(0, AUDIT_KEY_ID_LENGTH);
}

/** SHA-256 of a record's bytes: the next record's `prev`. */
export function auditRecordHash(recordBytes: Uint8Array): Uint8Array {
  return sha256(recordBytes);
}

/**
 * Checks a record's free-text fields against the rules of `validate.ts`.
 * @throws {@link AttestationError} `AUDIT_FIELD_REFUSED`
 */
export function checkAuditRecordFields(r: Pick<AuditRecord, 'role' | 'op' | 'handle' | 'reason'>): void {
  checkAuditRole(r.role);
  checkAuditOp(r.op);
  if (r.handle !== undefined) checkAuditHandle(r.handle);
  if (r.reason !== undefined) checkAuditReason(r.reason);
}

/**
 * Encodes and signs a record.
 * @returns the record's bytes (a tagged COSE_Sign1)
 * @throws {@link AttestationError} `AUDIT_FIELD_REFUSED` if a field breaks its rule, or `actor` is
 *   not the signer's key id
 */
export function signAuditRecord(record: AuditRecord, signer: AuditSigner): Uint8Array {
  checkAuditRecordFields(record);
  if (!bytesEqual(record.actor, auditKeyId(signer.publicKey))) {
    throw new AttestationError('AUDIT_FIELD_REFUSED', "audit actor: is not the signer's key id");
  }
  const bytes = signSign1({
    payload: encode(AuditRecordType.toMap(record)),
    signer: (tbs) => signer.sign(tbs),
    extraProtected: new Map([[HEADER_CONTENT_TYPE, AUDIT_CONTENT_TYPE]]),
  });
  if (bytes.length > AUDIT_MAX_RECORD_BYTES) {
    throw new AttestationError('AUDIT_FIELD_REFUSED', `audit record: ${bytes.length} bytes is over ${AUDIT_MAX_RECORD_BYTES}`);
  }
  return bytes;
}

/** Outcome of {@link decodeAuditRecord}: the record, or why the bytes are not one. */
export type DecodedAuditRecord = { ok: true; record: AuditRecord } | { ok: false; why: string };

/**
 * Decodes a record's bytes strictly (deterministic tagged COSE_Sign1, protected alg and content
 * type only, empty unprotected bucket, a valid payload whose fields follow their rules). Does not
 * check the signature (see {@link verifyAuditRecordSignature}). Never throws on bad bytes.
 */
export function decodeAuditRecord(bytes: Uint8Array): DecodedAuditRecord {
  try {
    if (bytes.length > AUDIT_MAX_RECORD_BYTES) return { ok: false, why: `record over ${AUDIT_MAX_RECORD_BYTES} bytes` };
    const s = decodeSign1(bytes, { maxBytes: AUDIT_MAX_RECORD_BYTES });
    if (s.encoding !== 'deterministic' || !s.tagged) return { ok: false, why: 'not a deterministic tagged COSE_Sign1' };
    if (s.unprotectedHeaders.size !== 0) return { ok: false, why: 'the unprotected header is not empty' };
    if (s.protectedHeaders.size !== 2 || s.protectedHeaders.get(HEADER_CONTENT_TYPE) !== AUDIT_CONTENT_TYPE) {
      return { ok: false, why: `the protected header is not {alg, content type ${AUDIT_CONTENT_TYPE}}` };
    }
    if (s.payload === null) return { ok: false, why: 'the payload is detached' };
    const parsed = AuditRecordType.tryFromMap(decode(s.payload, { maxBytes: AUDIT_MAX_RECORD_BYTES }));
    if (!parsed.ok) return { ok: false, why: parsed.why };
    checkAuditRecordFields(parsed.value);
    return { ok: true, record: parsed.value };
  } catch (e) {
    return { ok: false, why: (e as Error).message };
  }
}

/**
 * Whether a record's signature verifies under `publicKey` (strict EdDSA; see `verifySign1`).
 * Never throws on bad bytes.
 */
export function verifyAuditRecordSignature(bytes: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    verifySign1(bytes, publicKey, { maxBytes: AUDIT_MAX_RECORD_BYTES });
    return true;
  } catch {
    return false;
  }
}

/** A record as JSON for `audit show --json` and consoles: no key material, bytes as hex. */
export interface AuditRecordJson {
  seq: number;
  time: string;
  timeMs: number;
  role: string;
  actor: string;
  op: string;
  handle?: string;
  decision: AuditDecision;
  reason?: string;
  prev: string;
  hash: string;
}

/**
 * The JSON view of a record (bytes as lowercase hex, time as ISO 8601 and ms).
 * @param record - the decoded record
 * @param bytes - its bytes (for `hash`)
 */
export function auditRecordToJson(record: AuditRecord, bytes: Uint8Array): AuditRecordJson {
  return {
    seq: record.seq,
    time: new Date(record.time).toISOString(),
    timeMs: record.time,
    role: record.role,
    actor: toHex(record.actor),
    op: record.op,
    ...(record.handle === undefined ? {} : { handle: record.handle }),
    decision: record.decision,
    ...(record.reason === undefined ? {} : { reason: record.reason }),
    prev: toHex(record.prev),
    hash: toHex(auditRecordHash(bytes)),
  };
}
