/**
 * Verification of a revocation list: strict form, a trusted issuer, the signature, the version
 * against the highest one already seen (rollback), and freshness against the injected clock.
 * Pure: bytes, keys and a time in; a typed result out. Never throws on bad bytes.
 *
 * The checks run in this order and the first failure is the result's `code`:
 * `REVOCATION_MALFORMED` → `REVOCATION_UNTRUSTED` → `REVOCATION_SIGNATURE_INVALID` (tampered) →
 * `REVOCATION_ROLLBACK` → `REVOCATION_NOT_YET_VALID` → `REVOCATION_STALE`. A list that fails only
 * on time or version was signed by a trusted key: it is returned with the failure, for display —
 * never to be used for a decision.
 * @module
 */
import { toHex } from '@enigm/protocols/bytes';
import { verifySign1 } from '@enigm/protocols/cose';
import { AttestationError, type AttestationErrorCode } from '../errors.ts';
import { decodeRevocationList } from './codec.ts';
import { REVOCATION_MAX_BYTES, type RevocationList, revocationKeyId } from './list.ts';

/** Default tolerated clock skew for a list issued "in the future", ms (5 minutes). */
export const REVOCATION_DEFAULT_MAX_SKEW_MS = 5 * 60_000;

/** Options of {@link verifyRevocationList}. */
export interface VerifyRevocationListOptions {
  /** Ed25519 public keys (32 bytes each) of the trusted revocation-signing keys. */
  readonly trustedKeys: readonly Uint8Array[];
  /** The verification time, ms (from the caller's injected clock). */
  readonly now: number;
  /** The highest version already seen: a list below it is a rollback (equal is accepted). */
  readonly minVersion?: number;
  /** Tolerated clock skew for issuedAt, ms (default {@link REVOCATION_DEFAULT_MAX_SKEW_MS}). */
  readonly maxSkewMs?: number;
}

/** Failure codes of {@link verifyRevocationList}. */
export type RevocationFailureCode = Extract<
  AttestationErrorCode,
  | 'REVOCATION_MALFORMED'
  | 'REVOCATION_UNTRUSTED'
  | 'REVOCATION_SIGNATURE_INVALID'
  | 'REVOCATION_ROLLBACK'
  | 'REVOCATION_NOT_YET_VALID'
  | 'REVOCATION_STALE'
>;

/** Result of {@link verifyRevocationList}. */
export type RevocationVerifyResult =
  | { readonly ok: true; readonly list: RevocationList; readonly issuerKey: Uint8Array }
  | {
      readonly ok: false;
      readonly code: RevocationFailureCode;
      readonly message: string;
      /** The signed list, when the signature verified and only version or time failed. */
      readonly list?: RevocationList;
    };

/**
 * Verifies a revocation list's bytes.
 * @returns `{ ok: true, list }` or `{ ok: false, code, message }`; never throws on bad bytes
 * @throws {TypeError} if `bytes` is not a Uint8Array, a trusted key is not 32 bytes, `now` is not
 *   a finite number or `minVersion` is not a non-negative integer
 * @example
 * const r = verifyRevocationList(bytes, { trustedKeys: [revocationKey], now: clock(), minVersion: seen });
 * if (!r.ok) refuse(r.code); else if (isRevoked(r.list, { identityKey })) refuse('KEY_REVOKED');
 */
export function verifyRevocationList(bytes: Uint8Array, options: VerifyRevocationListOptions): RevocationVerifyResult {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  const { now, minVersion = 0, maxSkewMs = REVOCATION_DEFAULT_MAX_SKEW_MS } = options;
  if (!Number.isFinite(now)) throw new TypeError('now must be a finite number of ms');
  if (!Number.isSafeInteger(minVersion) || minVersion < 0) throw new TypeError('minVersion must be a non-negative integer');
  if (!Number.isFinite(maxSkewMs) || maxSkewMs < 0) throw new TypeError('maxSkewMs must be a non-negative number');
  const trusted = new Map<string, Uint8Array>();
  for (const k of options.trustedKeys) trusted.set(toHex(revocationKeyId(k)), k);

  let list: RevocationList;
  try {
    list = decodeRevocationList(bytes);
  } catch (e) {
    return { ok: false, code: 'REVOCATION_MALFORMED', message: (e as Error).message };
  }
  const issuer = toHex(list.issuer);
  const key = trusted.get(issuer);
  if (!key) return { ok: false, code: 'REVOCATION_UNTRUSTED', message: `signed by key id ${issuer}, which is not trusted` };
  try {
    verifySign1(bytes, key, { maxBytes: REVOCATION_MAX_BYTES });
  } catch {
    return { ok: false, code: 'REVOCATION_SIGNATURE_INVALID', message: `the signature does not verify under key id ${issuer}` };
  }
  if (list.version < minVersion)
    return {
      ok: false,
      code: 'REVOCATION_ROLLBACK',
      message: `version ${list.version} is below version ${minVersion} already seen`,
      list,
    };
  if (list.issuedAt > now + maxSkewMs)
    return {
      ok: false,
      code: 'REVOCATION_NOT_YET_VALID',
      message: `issued at ${new Date(list.issuedAt).toISOString()}, after now (${new Date(now).toISOString()})`,
      list,
    };
  if (now > list.nextUpdate)
    return {
      ok: false,
      code: 'REVOCATION_STALE',
      message: `stale since ${new Date(list.nextUpdate).toISOString()} (nextUpdate); a fresh list is needed`,
      list,
    };
  return { ok: true, list, issuerKey: key };
}

/**
 * Like {@link verifyRevocationList} but throws on failure.
 * @returns the verified list
 * @throws {@link AttestationError} with the failure's code
 */
export function requireRevocationList(bytes: Uint8Array, options: VerifyRevocationListOptions): RevocationList {
  const r = verifyRevocationList(bytes, options);
  if (!r.ok) throw new AttestationError(r.code, r.message);
  return r.list;
}
