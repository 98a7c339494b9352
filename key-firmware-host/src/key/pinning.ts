/**
 * Known-host pinning: pairing pins a Key's identity and static key (trust on first use, checked
 * against an existing pin), and every later session is Noise IK to the pinned static key.
 * @module
 */
import { fromHex, toHex } from '@enigm/protocols/bytes';
import { HOST_ROLES, type HostRole } from '@enigm/protocols/messages';
import { KeyError } from '../client/errors.ts';
import type { KeyClient } from '../client/key-client.ts';
import type { HostKey, KnownKey, KnownKeys } from '../session/host-store.ts';
import { SecureSession } from '../session/secure-session.ts';
import { KeyFacadeError } from './errors.ts';

/** Result of {@link pairAndPin}. */
export interface PairResult {
  /** Device handle, hex. */
  handle: string;
  /** Pinned Ed25519 identity public key, hex. */
  identity: string;
  /** Pinned X25519 static public key, hex. */
  staticKey: string;
  /** Role the Key granted. */
  role: HostRole;
  /** This host's static public key (raw). */
  hostKey: Uint8Array;
  /** Where the pin was written. */
  knownPath: string;
}

/** A session opened to a pinned Key, and the pin it used. */
export interface KnownSession {
  session: SecureSession;
  pin: KnownKey;
}

/**
 * First contact (Noise XX) with the Key on `client`: verifies its identity binding, refuses a Key
 * whose identity or static key differs from an existing pin, asks to be kept with `role`, and
 * pins the Key. The pairing session is closed afterwards.
 * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT` (unknown role), `KEY_IDENTITY_MISMATCH`
 * @throws KeyError from the handshake or `pair` (e.g. `KEY_REJECTED` FORBIDDEN outside the
 *   pairing window)
 * @example
 * const r = await pairAndPin(client, { hostKey: loadOrCreateHostKey(), known: new KnownKeys() }, 'owner');
 */
export async function pairAndPin(
  client: KeyClient,
  deps: { hostKey: HostKey; known: KnownKeys },
  role: HostRole,
  label?: string,
): Promise<PairResult> {
  if (!(role in HOST_ROLES))
    throw new KeyFacadeError('KEY_BAD_ARGUMENT', `role must be one of ${Object.keys(HOST_ROLES).join(', ')}, got ${role}`);
  const info = await client.info();
  const session = await SecureSession.firstContact(client, { hostKey: deps.hostKey.staticKey });
  try {
    // The handle in the signed binding, not the cleartext info answer, names the pin.
    const handle = toHex(session.peer.handle);
    if (handle !== toHex(info.handle))
      throw new KeyFacadeError(
        'KEY_IDENTITY_MISMATCH',
        `the Key answered info with handle ${toHex(info.handle)} but its signed binding names ${handle} (possible tampering on the link)`,
      );
    const identity = toHex(session.peer.identity as Uint8Array);
    const staticKey = toHex(session.peer.staticKey);
    const pinned = deps.known.get(handle);
    if (pinned && (pinned.identity !== identity || pinned.staticKey !== staticKey))
      throw new KeyFacadeError(
        'KEY_IDENTITY_MISMATCH',
        `Key ${handle} shows identity ${identity}, but ${pinned.identity} is pinned (possible impersonation; pairing stopped)`,
      );
    const granted = await session.pair(role, label);
    deps.known.put({
      handle,
      identity,
      staticKey,
      role: granted.role,
      model: info.model,
      firstSeen: pinned?.firstSeen ?? new Date().toISOString(),
    });
    return { handle, identity, staticKey, role: granted.role, hostKey: deps.hostKey.publicKey, knownPath: deps.known.path };
  } finally {
    await session.close();
  }
}

/**
 * Opens a Noise IK session with the Key on `client`, which this host must have paired with.
 * @throws {@link KeyFacadeError} `KEY_NOT_PAIRED` (no pin for the Key's handle), `KEY_HOST_UNKNOWN`
 *   (the Key answers `SESSION_FAILED`: it no longer knows this host, e.g. after a reset)
 * @throws KeyError from the client (timeouts, a closed link)
 * @example
 * const { session, pin } = await openKnownSession(client, { hostKey, known });
 */
export async function openKnownSession(client: KeyClient, deps: { hostKey: HostKey; known: KnownKeys }): Promise<KnownSession> {
  const info = await client.info();
  const handle = toHex(info.handle);
  const pin = deps.known.get(handle);
  if (!pin)
    throw new KeyFacadeError('KEY_NOT_PAIRED', `this host has not paired with Key ${handle} (no pin in ${deps.known.path})`);
  let keyStatic: Uint8Array;
  let identity: Uint8Array;
  try {
    keyStatic = fromHex(pin.staticKey, 'pinned static key');
    identity = fromHex(pin.identity, 'pinned identity');
  } catch (e) {
    throw new KeyFacadeError(
      'KEY_BAD_ARGUMENT',
      `the pin for Key ${handle} in ${deps.known.path} is corrupt: ${(e as Error).message}`,
    );
  }
  try {
    const session = await SecureSession.reconnect(client, keyStatic, {
      hostKey: deps.hostKey.staticKey,
      identity,
      expect: { handle: info.handle },
    });
    return { session, pin };
  } catch (e) {
    if (e instanceof KeyError && e.remote?.name === 'SESSION_FAILED')
      throw new KeyFacadeError(
        'KEY_HOST_UNKNOWN',
        `Key ${handle} refused the session: it no longer knows this host (the Key was reset, or this host was removed from it), or it is not the Key pinned under this handle; pair again`,
        { cause: e },
      );
    throw e;
  }
}
