/**
 * The revocation list: a versioned, signed list of revoked Keys, as a typed CBOR map with integer
 * keys inside a tagged COSE_Sign1 (EdDSA) by the revocation-signing key.
 *
 * | key | field | type |
 * |---|---|---|
 * | 1 | `issuer` | bytes[8]: key id of the signing key (first 8 bytes of SHA-256 of its Ed25519 public key) |
 * | 2 | `version` | uint ≥ 1: +1 with every list the issuer signs; never goes down |
 * | 3 | `issuedAt` | int: ms since the Unix epoch |
 * | 4 | `nextUpdate` | int > issuedAt: ms; after it the list is stale |
 * | 5 | `entries` | array ≤ {@link REVOCATION_MAX_ENTRIES} of entries, sorted, no duplicates |
 *
 * An entry is a map: `1` identity (bytes[32], SHA-256 of the Key's Ed25519 identity public key)
 * **or** `2` serial (bytes[1..20], a certificate serial number without leading zero bytes);
 * `3` revokedAt (int ms ≤ issuedAt); `4` reason (uint, see {@link REVOCATION_REASONS}).
 * Entries are sorted by their sort key (`i:` or `s:` and the hex of the value), so one list has
 * exactly one encoding: any changed byte is a parse or signature failure, never a silent variant.
 *
 * This module builds and changes lists in memory (pure); `codec.ts` signs and decodes them,
 * `verify.ts` verifies them.
 * @module
 */
import { bytesEqual, toHex } from '@enigm/protocols/bytes';
import { sha256 } from '@enigm/protocols/crypto';
import { defineRecord, field, type RecordValue, t } from '@enigm/protocols/messages';
import { AttestationError } from '../errors.ts';

/** Largest number of entries in one list. */
export const REVOCATION_MAX_ENTRIES = 10_000;
/** Largest encoded list accepted, bytes (10,000 identity entries take about 480 KB). */
export const REVOCATION_MAX_BYTES = 1024 * 1024;
/** Length of an issuer key id, bytes. */
export const REVOCATION_KEY_ID_LENGTH = 8;
/** Longest certificate serial number, bytes (RFC 5280 §4.1.2.2). */
export const REVOCATION_MAX_SERIAL_BYTES = 20;
/** Latest time a list may carry, ms (the largest valid JavaScript Date). */
export const REVOCATION_MAX_TIME = 8_640_000_000_000_000;

/** Why a Key was revoked; the number is the wire value. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  'key-compromise': 1,
  replaced: 2,
  retired: 3,
  lost: 4,
  'ca-compromise': 5,
} as const;

/** A revocation reason name. */
export type RevocationReason = keyof typeof REVOCATION_REASONS;

const time = () => t.int(0, REVOCATION_MAX_TIME);

/** The declared entry record. */
export const RevocationEntryType = defineRecord('revocation.entry', {
  identity: field(1, t.bytes(32, 32), true, "SHA-256 of the Key's Ed25519 identity public key"),
  serial: field(2, t.bytes(1, REVOCATION_MAX_SERIAL_BYTES), true, 'certificate serial number, no leading zero bytes'),
  revokedAt: field(3, time(), false, 'ms since the Unix epoch'),
  reason: field(4, t.enumOf<RevocationReason>('reason', REVOCATION_REASONS), false, 'revocation reason'),
});

/** The declared list record. */
export const RevocationListType = defineRecord('revocation.list', {
  issuer: field(1, t.bytes(REVOCATION_KEY_ID_LENGTH, REVOCATION_KEY_ID_LENGTH), false, "signing key's key id"),
  version: field(2, t.uint(Number.MAX_SAFE_INTEGER), false, 'monotonic version, 1 first'),
  issuedAt: field(3, time(), false, 'ms since the Unix epoch'),
  nextUpdate: field(4, time(), false, 'ms since the Unix epoch; stale after it'),
  entries: field(5, t.array(t.record(RevocationEntryType), REVOCATION_MAX_ENTRIES), false, 'sorted entries'),
});

/** One revoked Key: by identity-key hash or by certificate serial. */
export type RevocationEntry = RecordValue<typeof RevocationEntryType.schema>;
/** A revocation list (unsigned content). */
export type RevocationList = RecordValue<typeof RevocationListType.schema>;

/** What a list is asked to revoke: an identity public key (hashed here), its hash, or a serial. */
export type RevocationSubject =
  | { readonly identityKey: Uint8Array }
  | { readonly identityHash: Uint8Array }
  | { readonly serial: Uint8Array };

/**
 * The key id of an Ed25519 public key: the first 8 bytes of its SHA-256 (as in the audit log).
 * @throws {TypeError} if `publicKey` is not 32 bytes
 */
export function revocationKeyId(publicKey: Uint8Array): Uint8Array {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32)
    throw new TypeError('a revocation key must be a 32-byte Ed25519 public key');
  return sha256(publicKey).slice(0, REVOCATION_KEY_ID_LENGTH);
}

/**
 * A certificate serial in its canonical form: leading zero bytes removed (DER's sign byte).
 * @throws {@link AttestationError} `REVOCATION_ENTRY_INVALID` for an empty, zero or over-long serial
 */
export function canonicalSerial(serial: Uint8Array): Uint8Array {
  if (!(serial instanceof Uint8Array)) throw new TypeError('a serial must be a Uint8Array');
  let i = 0;
  while (i < serial.length && serial[i] === 0) i++;
  const s = serial.slice(i);
  if (s.length === 0) throw new AttestationError('REVOCATION_ENTRY_INVALID', 'a certificate serial of zero (or empty)');
  if (s.length > REVOCATION_MAX_SERIAL_BYTES)
    throw new AttestationError(
      'REVOCATION_ENTRY_INVALID',
      `a certificate serial of ${s.length} bytes (at most ${REVOCATION_MAX_SERIAL_BYTES})`,
    );
  return s;
}

/** The sort key of an entry: `i:` or `s:` and the value's hex. */
export function revocationEntryKey(e: Pick<RevocationEntry, 'identity' | 'serial'>): string {
  return e.identity ? `i:${toHex(e.identity)}` : `s:${toHex(e.serial ?? new Uint8Array(0))}`;
}

function subjectFields(subject: RevocationSubject): Pick<RevocationEntry, 'identity' | 'serial'> {
  if ('identityKey' in subject) {
    if (!(subject.identityKey instanceof Uint8Array) || subject.identityKey.length !== 32)
      throw new AttestationError('REVOCATION_ENTRY_INVALID', 'an identity key must be a 32-byte Ed25519 public key');
    return { identity: sha256(subject.identityKey) };
  }
  if ('identityHash' in subject) {
    if (!(subject.identityHash instanceof Uint8Array) || subject.identityHash.length !== 32)
      throw new AttestationError('REVOCATION_ENTRY_INVALID', 'an identity hash must be 32 bytes (SHA-256)');
    return { identity: Uint8Array.from(subject.identityHash) };
  }
  if ('serial' in subject) return { serial: canonicalSerial(subject.serial) };
  throw new TypeError('a revocation subject is { identityKey }, { identityHash } or { serial }');
}

/**
 * Checks a list's rules beyond field types: times, version, entries (one subject each, canonical
 * serial, revokedAt ≤ issuedAt, sorted, unique).
 * @returns why the list breaks a rule, or `undefined`
 */
export function revocationListProblem(list: RevocationList): string | undefined {
  if (list.version < 1) return 'version 0 (versions start at 1)';
  if (list.nextUpdate <= list.issuedAt) return 'nextUpdate is not after issuedAt';
  if (list.entries.length > REVOCATION_MAX_ENTRIES) return `more than ${REVOCATION_MAX_ENTRIES} entries`;
  let prev = '';
  for (let i = 0; i < list.entries.length; i++) {
    const e = list.entries[i] as RevocationEntry;
    if ((e.identity === undefined) === (e.serial === undefined)) return `entry ${i}: needs exactly one of identity and serial`;
    if (e.serial !== undefined && (e.serial[0] === 0 || e.serial.length === 0))
      return `entry ${i}: a serial with a leading zero byte`;
    if (e.revokedAt > list.issuedAt) return `entry ${i}: revokedAt is after issuedAt`;
    const key = revocationEntryKey(e);
    if (i > 0 && key <= prev) return `entry ${i}: ${key === prev ? 'a duplicate' : 'out of order'}`;
    prev = key;
  }
  return undefined;
}

/** Parameters of {@link createRevocationList}. */
export interface CreateRevocationListOptions {
  /** The revocation-signing key's 32-byte Ed25519 public key (only its key id is recorded). */
  readonly issuerPublicKey: Uint8Array;
  /** The version (default 1). */
  readonly version?: number;
  /** Issue time, ms (from the caller's injected clock). */
  readonly issuedAt: number;
  /** When the list goes stale, ms; after `issuedAt`. */
  readonly nextUpdate: number;
  /** Revoked Keys (any order; sorted here). */
  readonly entries?: readonly {
    readonly subject: RevocationSubject;
    readonly revokedAt: number;
    readonly reason: RevocationReason;
  }[];
}

function checkTime(v: number, name: string): void {
  if (!Number.isSafeInteger(v) || v < 0 || v > REVOCATION_MAX_TIME)
    throw new AttestationError('REVOCATION_ENTRY_INVALID', `${name} must be ms since the epoch, got ${v}`);
}

/**
 * Builds a list, its entries sorted and checked.
 * @throws {@link AttestationError} `REVOCATION_ENTRY_INVALID` for a bad time, version, subject,
 *   reason, a duplicate entry, too many entries, or nextUpdate not after issuedAt
 * @example
 * const list = createRevocationList({ issuerPublicKey, issuedAt: now, nextUpdate: now + 7 * 86_400_000 });
 */
export function createRevocationList(options: CreateRevocationListOptions): RevocationList {
  const { version = 1, issuedAt, nextUpdate } = options;
  if (!Number.isSafeInteger(version) || version < 1)
    throw new AttestationError('REVOCATION_ENTRY_INVALID', `version must be a positive integer, got ${version}`);
  checkTime(issuedAt, 'issuedAt');
  checkTime(nextUpdate, 'nextUpdate');
  const entries: RevocationEntry[] = (options.entries ?? []).map((e) => {
    checkTime(e.revokedAt, 'revokedAt');
    if (!Object.hasOwn(REVOCATION_REASONS, e.reason))
      throw new AttestationError('REVOCATION_ENTRY_INVALID', `unknown reason ${JSON.stringify(e.reason)}`);
    return { ...subjectFields(e.subject), revokedAt: e.revokedAt, reason: e.reason };
  });
  entries.sort((a, b) => (revocationEntryKey(a) < revocationEntryKey(b) ? -1 : 1));
  const list: RevocationList = { issuer: revocationKeyId(options.issuerPublicKey), version, issuedAt, nextUpdate, entries };
  const problem = revocationListProblem(list);
  if (problem) throw new AttestationError('REVOCATION_ENTRY_INVALID', `revocation list: ${problem}`);
  return list;
}

/** Parameters of {@link addRevocationEntry}. */
export interface AddRevocationOptions {
  /** What to revoke. */
  readonly subject: RevocationSubject;
  /** Why. */
  readonly reason: RevocationReason;
  /** Issue time of the new list, ms; also the entry's revokedAt unless given. */
  readonly issuedAt: number;
  /** The new list's nextUpdate, ms. */
  readonly nextUpdate: number;
  /** When the Key was revoked, ms (default `issuedAt`). */
  readonly revokedAt?: number;
}

/**
 * The next version of a list with one more entry (version + 1, new issuedAt and nextUpdate).
 * @throws {@link AttestationError} `REVOCATION_ENTRY_INVALID` if the subject is already revoked,
 *   the list is full, issuedAt goes backwards or the version would overflow
 */
export function addRevocationEntry(list: RevocationList, options: AddRevocationOptions): RevocationList {
  const fields = subjectFields(options.subject);
  const key = revocationEntryKey(fields);
  if (list.entries.some((e) => revocationEntryKey(e) === key))
    throw new AttestationError('REVOCATION_ENTRY_INVALID', 'that Key is already revoked in this list');
  if (options.issuedAt < list.issuedAt)
    throw new AttestationError('REVOCATION_ENTRY_INVALID', "issuedAt is before the current list's issuedAt (check the clock)");
  if (list.version >= Number.MAX_SAFE_INTEGER)
    throw new AttestationError('REVOCATION_ENTRY_INVALID', 'the version would overflow');
  if (list.entries.length >= REVOCATION_MAX_ENTRIES)
    throw new AttestationError('REVOCATION_ENTRY_INVALID', `the list is full (${REVOCATION_MAX_ENTRIES} entries)`);
  checkTime(options.issuedAt, 'issuedAt');
  checkTime(options.nextUpdate, 'nextUpdate');
  const revokedAt = options.revokedAt ?? options.issuedAt;
  checkTime(revokedAt, 'revokedAt');
  if (!Object.hasOwn(REVOCATION_REASONS, options.reason))
    throw new AttestationError('REVOCATION_ENTRY_INVALID', `unknown reason ${JSON.stringify(options.reason)}`);
  const entries = [...list.entries, { ...fields, revokedAt, reason: options.reason }];
  entries.sort((a, b) => (revocationEntryKey(a) < revocationEntryKey(b) ? -1 : 1));
  const next: RevocationList = {
    issuer: list.issuer,
    version: list.version + 1,
    issuedAt: options.issuedAt,
    nextUpdate: options.nextUpdate,
    entries,
  };
  const problem = revocationListProblem(next);
  if (problem) throw new AttestationError('REVOCATION_ENTRY_INVALID', `revocation list: ${problem}`);
  return next;
}

/**
 * The entry that revokes a Key, if any. Give the Key's identity public key and/or its
 * certificate serial: either one being listed revokes it.
 * @example
 * if (isRevoked(list, { identityKey })) refuse('KEY_REVOKED');
 */
export function isRevoked(
  list: RevocationList,
  key: { readonly identityKey?: Uint8Array; readonly serial?: Uint8Array },
): RevocationEntry | undefined {
  const identity = key.identityKey === undefined ? undefined : sha256(key.identityKey);
  let serial: Uint8Array | undefined;
  if (key.serial !== undefined) {
    try {
      serial = canonicalSerial(key.serial);
    } catch {
      serial = undefined; // a zero or over-long serial is never listed
    }
  }
  return list.entries.find(
    (e) =>
      (identity !== undefined && e.identity !== undefined && bytesEqual(e.identity, identity)) ||
      (serial !== undefined && e.serial !== undefined && bytesEqual(e.serial, serial)),
  );
}

/** A list as JSON (for `revocation show --json`): bytes as hex, times as ISO 8601 and ms. */
export interface RevocationListJson {
  issuer: string;
  version: number;
  issuedAt: string;
  issuedAtMs: number;
  nextUpdate: string;
  nextUpdateMs: number;
  entries: { identity?: string; serial?: string; revokedAt: string; revokedAtMs: number; reason: RevocationReason }[];
}

/** The JSON view of a list. */
export function revocationListToJson(list: RevocationList): RevocationListJson {
  return {
    issuer: toHex(list.issuer),
    version: list.version,
    issuedAt: new Date(list.issuedAt).toISOString(),
    issuedAtMs: list.issuedAt,
    nextUpdate: new Date(list.nextUpdate).toISOString(),
    nextUpdateMs: list.nextUpdate,
    entries: list.entries.map((e) => ({
      ...(e.identity ? { identity: toHex(e.identity) } : {}),
      ...(e.serial ? { serial: toHex(e.serial) } : {}),
      revokedAt: new Date(e.revokedAt).toISOString(),
      revokedAtMs: e.revokedAt,
      reason: e.reason,
    })),
  };
}
