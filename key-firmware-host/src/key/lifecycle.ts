/**
 * The lifecycle operations as the Key facade runs them: list and unpair hosts, suspend, resume,
 * revoke, retire. Each first reads the Key's state (public `info`) and this host's pinned role,
 * and refuses locally — with the named error the Key would answer, in the Key's order (role, then
 * state) — what the ONE table forbids: the role table (`COMMAND_ACCESS`, `checkAccess`) and the
 * lifecycle table (`LIFECYCLE_OPERATION_STATES`, `lifecycleRefusal`), both of
 * `@enigm/protocols/messages`. Then it runs the request in the known-host session, where the Key
 * checks role and state again (it is the authority). The revocation list's part is here too: a
 * listed Key refused after pairing ({@link refuseListedKey}), a retired identity listed.
 * @module
 */
import {
  addRevocationEntry,
  isRevoked,
  type RevocationList,
  type RevocationSigner,
  signRevocationList,
} from '@enigm/attestation';
import { bytesEqual, fromHex, toHex } from '@enigm/protocols/bytes';
import { sha256 } from '@enigm/protocols/crypto';
import {
  type BodyOf,
  COMMAND_ACCESS,
  checkAccess,
  HOST_KEY_ID_LENGTH,
  type HostRole,
  type LifecycleRequest,
  type LifecycleState,
  lifecycleRefusal,
} from '@enigm/protocols/messages';
import type { SecureSession } from '../session/secure-session.ts';
import { KeyFacadeError } from './errors.ts';

/** What the lifecycle operations need from the facade. */
export interface LifecyclePort {
  /** The Key's public info (its lifecycle state). */
  info(): Promise<BodyOf<'info.response'>>;
  /** The known-host session, opened if needed. */
  session(): Promise<SecureSession>;
  /** This host's static public key. */
  readonly hostPublicKey: Uint8Array;
  /**
   * This host's role on the Key as pinned (opening the known-host session if none is open: the
   * handshake carries no request), or undefined if no session opens for this host (then the
   * lifecycle table alone decides, and the request itself fails with the session's error).
   */
  role(): Promise<HostRole | undefined>;
}

/** One paired host as {@link listHosts} reports it. */
export interface PairedHostEntry {
  /** Key id, hex (16 digits): the first 8 bytes of SHA-256 of its static public key. */
  keyId: string;
  role: HostRole;
  label?: string;
  /** Whether it is this host. */
  self: boolean;
  /** Its static public key, hex (64 digits): show only on request (`--show-identity`). */
  publicKey: string;
}

/**
 * The key id of a host's static public key: the first 8 bytes of its SHA-256, hex.
 * @example hostKeyIdHex(key.hostKey.publicKey) // '3f9a…' (16 hex digits)
 */
export function hostKeyIdHex(publicKey: Uint8Array): string {
  return toHex(sha256(publicKey).subarray(0, HOST_KEY_ID_LENGTH));
}

/**
 * The Key's answer to lifecycle request `op` by a host with `role` while it is in `state`, from
 * the tables alone and in the Key's order: `FORBIDDEN` (role table), else `KEY_REVOKED` /
 * `INVALID_STATE` (lifecycle table), else `FORBIDDEN` for a `self` grant naming a `target` other
 * than the host's own key id (the handler's check), else undefined (allowed).
 * @param target - for `hosts.remove`: whether the key id named is this host's own
 * @example lifecycleDecision('suspend', 'provisioning', 'dormant') === 'FORBIDDEN'
 */
export function lifecycleDecision(
  op: LifecycleRequest,
  role: HostRole,
  state: LifecycleState,
  target: 'self' | 'other' = 'self',
): 'FORBIDDEN' | 'KEY_REVOKED' | 'INVALID_STATE' | undefined {
  if (checkAccess(op, role, state) === 'FORBIDDEN') return 'FORBIDDEN';
  const refusal = lifecycleRefusal(op, state);
  if (refusal) return refusal;
  // A `self` grant is checked by the request's handler, after the state (as the Key does).
  const rule = COMMAND_ACCESS[op];
  return rule !== 'public' && rule[role] === 'self' && target === 'other' ? 'FORBIDDEN' : undefined;
}

/**
 * Refuses locally what the role and lifecycle tables forbid this host in the Key's current state
 * (see {@link lifecycleDecision}); nothing of the operation is sent.
 * @param targetKeyId - for `hosts.remove`: the key id it names
 * @throws {@link KeyFacadeError} `KEY_FORBIDDEN` (this host's role), `KEY_REVOKED` (a revoked
 *   Key), `KEY_INVALID_STATE` (any other state)
 */
export async function preflight(port: LifecyclePort, op: LifecycleRequest, targetKeyId?: Uint8Array): Promise<LifecycleState> {
  const { state } = await port.info();
  const role = await port.role();
  const target = targetKeyId && toHex(targetKeyId) !== hostKeyIdHex(port.hostPublicKey) ? 'other' : 'self';
  const refusal = role === undefined ? lifecycleRefusal(op, state) : lifecycleDecision(op, role, state, target);
  if (refusal === 'FORBIDDEN')
    throw new KeyFacadeError(
      'KEY_FORBIDDEN',
      `${op} is not allowed to this host's role (${role})${target === 'other' ? ' on another host' : ''} in state ${state} (refused before asking the Key)`,
    );
  if (refusal === 'KEY_REVOKED')
    throw new KeyFacadeError('KEY_REVOKED', `the Key is revoked: it runs nothing but retire (${op} refused before asking)`);
  if (refusal)
    throw new KeyFacadeError('KEY_INVALID_STATE', `${op} is not allowed in state ${state} (refused before asking the Key)`);
  return state;
}

/**
 * `hosts.list` (owner): every paired host with its key id, after the preflight.
 * @throws {@link KeyFacadeError} `KEY_FORBIDDEN`, `KEY_REVOKED`, `KEY_INVALID_STATE`
 */
export async function listHosts(port: LifecyclePort): Promise<PairedHostEntry[]> {
  await preflight(port, 'hosts.list');
  const { hosts } = await (await port.session()).request('hosts.list', {});
  return hosts.map((h) => ({
    keyId: hostKeyIdHex(h.publicKey),
    role: h.role,
    ...(h.label ? { label: h.label } : {}),
    self: bytesEqual(h.publicKey, port.hostPublicKey),
    publicKey: toHex(h.publicKey),
  }));
}

/** Parses a host key id (16 hex digits, or 8 bytes). */
function keyIdBytes(keyId: string | Uint8Array): Uint8Array {
  if (keyId instanceof Uint8Array) {
    if (keyId.length === HOST_KEY_ID_LENGTH) return keyId;
  } else if (/^[0-9a-fA-F]{16}$/.test(keyId)) return fromHex(keyId.toLowerCase(), 'key id');
  throw new KeyFacadeError('KEY_BAD_ARGUMENT', `a host key id is ${HOST_KEY_ID_LENGTH * 2} hex digits (see enigm key hosts)`);
}

/** What {@link unpairHost} did. */
export interface UnpairResult {
  /** The removed host's key id, hex. */
  keyId: string;
  /** The role it held. */
  role: HostRole;
  /** Paired hosts left. */
  hosts: number;
  /** Whether this host removed itself (its session no longer has a role). */
  self: boolean;
}

/**
 * `hosts.remove`: unpairs the host with `keyId` (the owner any host; another role itself only).
 * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT`, `KEY_FORBIDDEN`, `KEY_REVOKED`,
 *   `KEY_INVALID_STATE`; KeyError `KEY_REJECTED` (`HOST_NOT_FOUND`, or the Key's own refusal)
 */
export async function unpairHost(port: LifecyclePort, keyId: string | Uint8Array): Promise<UnpairResult> {
  const id = keyIdBytes(keyId);
  await preflight(port, 'hosts.remove', id);
  const r = await (await port.session()).request('hosts.remove', { keyId: id });
  return { keyId: toHex(id), role: r.role, hosts: r.hosts, self: toHex(id) === hostKeyIdHex(port.hostPublicKey) };
}

/**
 * `suspend`, `resume`, `revoke` or `retire`, after the preflight.
 * @returns the state the Key reports afterwards
 * @throws {@link KeyFacadeError} `KEY_FORBIDDEN`, `KEY_REVOKED`, `KEY_INVALID_STATE`; KeyError
 *   `KEY_REJECTED` (the Key's own refusal, should it disagree with the tables)
 */
export async function runLifecycleOp(
  port: LifecyclePort,
  op: 'suspend' | 'resume' | 'revoke' | 'retire',
): Promise<LifecycleState> {
  await preflight(port, op);
  return (await (await port.session()).request(op, {})).state;
}

/**
 * `retire` after the preflight, in the session whose authenticated peer identity it returns (the
 * identity the wipe destroys, for {@link listRetiredIdentity}).
 * @throws as {@link runLifecycleOp}
 */
export async function retireKey(port: LifecyclePort): Promise<{ state: LifecycleState; identity: Uint8Array }> {
  await preflight(port, 'retire');
  const session = await port.session();
  const identity = session.peer.identity;
  return { state: (await session.request('retire', {})).state, identity };
}

/**
 * Refuses a Key whose `identity` is on `list` (after pairing: the identity is authenticated only by
 * the pairing handshake itself, so a listed Key is reported here — its pin is written, but every
 * later session but retire is refused). Nothing is checked without a list.
 * @param identity - the Key's identity public key, hex
 * @throws {@link KeyFacadeError} `KEY_REVOKED_BY_LIST` (the Key is listed)
 */
export function refuseListedKey(list: RevocationList | undefined, identity: string): void {
  const entry = list ? isRevoked(list, { identityKey: fromHex(identity) }) : undefined;
  if (entry)
    throw new KeyFacadeError(
      'KEY_REVOKED_BY_LIST',
      `the Key ${identity} is on the revocation list (version ${list?.version}, reason ${entry.reason}): paired, but only retire is allowed`,
    );
}

/**
 * A revocation list to put a retired Key's old identity on ({@link Key.retire}): after the wipe
 * nothing the old identity signed should be trusted again, and a verifier appraising old evidence
 * with the list finds it contraindicated (`KEY_REVOKED`, reason `retired`).
 */
export interface RetireRevocation {
  /** The current list (verified by the caller). */
  list: RevocationList;
  /** The revocation-signing key. */
  signer: RevocationSigner;
  /** The new list's validity, ms (default 7 days). */
  validityMs?: number;
  /** Called with the signed new list: write it (atomically). Not called if the identity is already listed. */
  write: (bytes: Uint8Array, list: RevocationList) => void | Promise<void>;
}

/**
 * Adds `identity` (a retired Key's old identity key) to the list with reason `retired`, version + 1,
 * signed and written; a list that already names it is returned unchanged (nothing written).
 * @returns the list now in force
 * @throws AttestationError `REVOCATION_ENTRY_INVALID` (a full list, a clock before the list's issuedAt
 *   is corrected to it); the `write` callback's errors
 */
export async function listRetiredIdentity(r: RetireRevocation, identity: Uint8Array, now: number): Promise<RevocationList> {
  if (isRevoked(r.list, { identityKey: identity })) return r.list;
  const t = Math.max(now, r.list.issuedAt);
  const next = addRevocationEntry(r.list, {
    subject: { identityKey: identity },
    reason: 'retired',
    issuedAt: t,
    nextUpdate: t + (r.validityMs ?? 7 * 86_400_000),
  });
  await r.write(signRevocationList(next, r.signer), next);
  return next;
}
