/**
 * The lifecycle operations as the Key facade runs them: list and unpair hosts, suspend, resume,
 * revoke, retire. Each first reads the Key's state (public `info`) and refuses locally — with the
 * named error the Key would answer — what the ONE table (`LIFECYCLE_OPERATION_STATES` and
 * `lifecycleRefusal` of `@enigm/protocols/messages`) forbids in that state; then runs the request
 * in the known-host session, where the Key checks role and state again (it is the authority).
 * @module
 */
import { bytesEqual, fromHex, toHex } from '@enigm/protocols/bytes';
import { sha256 } from '@enigm/protocols/crypto';
import {
  type BodyOf,
  HOST_KEY_ID_LENGTH,
  type HostRole,
  type LifecycleOperation,
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
 * Refuses locally what the lifecycle table forbids in the Key's current state.
 * @throws {@link KeyFacadeError} `KEY_REVOKED` (a revoked Key), `KEY_INVALID_STATE` (any other state)
 */
export async function preflight(port: LifecyclePort, op: LifecycleOperation): Promise<LifecycleState> {
  const { state } = await port.info();
  const refusal = lifecycleRefusal(op, state);
  if (refusal === 'KEY_REVOKED')
    throw new KeyFacadeError('KEY_REVOKED', `the Key is revoked: it runs nothing but retire (${op} refused before asking)`);
  if (refusal)
    throw new KeyFacadeError('KEY_INVALID_STATE', `${op} is not allowed in state ${state} (refused before asking the Key)`);
  return state;
}

/** `hosts.list` (owner): every paired host with its key id. */
export async function listHosts(port: LifecyclePort): Promise<PairedHostEntry[]> {
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
 * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT`, `KEY_REVOKED`, `KEY_INVALID_STATE`; KeyError
 *   `KEY_REJECTED` (`FORBIDDEN`, `HOST_NOT_FOUND`)
 */
export async function unpairHost(port: LifecyclePort, keyId: string | Uint8Array): Promise<UnpairResult> {
  const id = keyIdBytes(keyId);
  await preflight(port, 'hosts.remove');
  const r = await (await port.session()).request('hosts.remove', { keyId: id });
  return { keyId: toHex(id), role: r.role, hosts: r.hosts, self: toHex(id) === hostKeyIdHex(port.hostPublicKey) };
}

/**
 * `suspend`, `resume`, `revoke` or `retire`, after the preflight.
 * @returns the state the Key reports afterwards
 * @throws {@link KeyFacadeError} `KEY_REVOKED`, `KEY_INVALID_STATE`; KeyError `KEY_REJECTED`
 *   (`FORBIDDEN`, or the Key's own state refusal)
 */
export async function runLifecycleOp(
  port: LifecyclePort,
  op: 'suspend' | 'resume' | 'revoke' | 'retire',
): Promise<LifecycleState> {
  await preflight(port, op);
  return (await (await port.session()).request(op, {})).state;
}
