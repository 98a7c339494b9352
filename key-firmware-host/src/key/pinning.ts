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
import { type ExpectedKey, SecureSession } from '../session/secure-session.ts';
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

/** The Key a user names (hex): every given part must match the Key's signed binding. */
export interface NamedKey {
  /** Ed25519 identity public key, hex (64 digits). */
  identity?: string;
  /** Device handle, hex (32 digits). */
  handle?: string;
}

/** A {@link NamedKey} as bytes for the session layer. */
function expectOf(named: NamedKey | undefined): ExpectedKey | undefined {
  if (!named || (named.identity === undefined && named.handle === undefined)) return undefined;
  try {
    return {
      ...(named.identity !== undefined ? { identity: fromHex(named.identity, 'identity') } : {}),
      ...(named.handle !== undefined ? { handle: fromHex(named.handle, 'handle') } : {}),
    };
  } catch (e) {
    throw new KeyFacadeError('KEY_BAD_ARGUMENT', `the Key named is not hex: ${(e as Error).message}`);
  }
}

/** Describes a named Key for messages. */
const nameOf = (n: NamedKey | undefined) =>
  [n?.identity && `identity ${n.identity}`, n?.handle && `handle ${n.handle}`].filter(Boolean).join(', ') || 'any pinned Key';

/**
 * First contact (Noise XX) with the Key on `client`: verifies its identity binding (identity,
 * handle and static key, signed by the identity), checks it against the Key the user named
 * (`expect`), refuses a Key that conflicts with an existing pin (same identity with another static
 * key, or a pinned handle claimed by another identity), asks to be kept with `role`, and pins the
 * Key by identity. Nothing the Key says in the clear (`info`) is used. The pairing session is
 * closed afterwards.
 * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT` (unknown role), `KEY_IDENTITY_MISMATCH`,
 *   `KEY_NOT_PAIRABLE` (a paired Key outside its pairing window refuses first contact)
 * @throws KeyError from the handshake or `pair` (e.g. `KEY_REJECTED` NOT_PAIRED if the window
 *   closed meanwhile), `KEY_IDENTITY_MISMATCH` if the Key is not the one named
 * @example
 * const r = await pairAndPin(client, { hostKey: loadOrCreateHostKey(), known: new KnownKeys() }, 'owner');
 */
export async function pairAndPin(
  client: KeyClient,
  deps: { hostKey: HostKey; known: KnownKeys },
  role: HostRole,
  label?: string,
  expect?: NamedKey,
): Promise<PairResult> {
  if (!(role in HOST_ROLES))
    throw new KeyFacadeError('KEY_BAD_ARGUMENT', `role must be one of ${Object.keys(HOST_ROLES).join(', ')}, got ${role}`);
  const expected = expectOf(expect);
  let session: SecureSession;
  try {
    session = await SecureSession.firstContact(client, {
      hostKey: deps.hostKey.staticKey,
      ...(expected ? { expect: expected } : {}),
    });
  } catch (e) {
    // A paired Key runs XX only while pairable; to an unauthenticated peer every refusal looks alike.
    if (e instanceof KeyError && e.remote?.name === 'SESSION_FAILED')
      throw new KeyFacadeError(
        'KEY_NOT_PAIRABLE',
        "the Key refused first contact: it already has paired hosts and its pairing window is closed (or the link was tampered with); open the pairing window on the Key, or use this host's pin if it is paired",
        { cause: e },
      );
    throw e;
  }
  try {
    // The signed binding, never the cleartext info answer, names the Key.
    const handle = toHex(session.peer.handle);
    const identity = toHex(session.peer.identity);
    const staticKey = toHex(session.peer.staticKey);
    const conflict = deps.known.conflicts({ identity, handle, staticKey });
    if (conflict) throw new KeyFacadeError('KEY_IDENTITY_MISMATCH', `${conflict}; pairing stopped`);
    const pinned = deps.known.byIdentity(identity);
    const granted = await session.pair(role, label);
    deps.known.put({
      handle,
      identity,
      staticKey,
      role: granted.role,
      model: client.hello.model,
      firstSeen: pinned?.firstSeen ?? new Date().toISOString(),
    });
    return { handle, identity, staticKey, role: granted.role, hostKey: deps.hostKey.publicKey, knownPath: deps.known.path };
  } finally {
    await session.close();
  }
}

/**
 * Opens a Noise IK session with a Key this host has paired with. The candidates are the pins
 * matching the Key the user named (`expect`: identity and/or handle), or every pin; each is tried
 * with its own pinned static key, and the Key's signed binding must show the pinned identity and
 * handle. Nothing the Key says in the clear picks the pin, so a man in the middle cannot redirect
 * the session to another pinned Key than the one named.
 * @throws {@link KeyFacadeError} `KEY_NOT_PAIRED` (no pin matches), `KEY_HOST_UNKNOWN` (no
 *   candidate completes the handshake: the Key does not know this host, or it is not the Key
 *   named), `KEY_BAD_ARGUMENT` (a corrupt pin or a name that is not hex)
 * @throws KeyError from the client (timeouts, a closed link), `KEY_IDENTITY_MISMATCH`
 * @example
 * const { session, pin } = await openKnownSession(client, { hostKey, known }, { handle: '00ff…' });
 */
export async function openKnownSession(
  client: KeyClient,
  deps: { hostKey: HostKey; known: KnownKeys },
  expect?: NamedKey,
): Promise<KnownSession> {
  expectOf(expect); // validates the names
  const candidates = deps.known.select(expect);
  if (candidates.length === 0)
    throw new KeyFacadeError('KEY_NOT_PAIRED', `this host has not paired with ${nameOf(expect)} (no pin in ${deps.known.path})`);
  let refused: unknown;
  for (const pin of candidates) {
    let keyStatic: Uint8Array;
    let identity: Uint8Array;
    let handle: Uint8Array;
    try {
      keyStatic = fromHex(pin.staticKey, 'pinned static key');
      identity = fromHex(pin.identity, 'pinned identity');
      handle = fromHex(pin.handle, 'pinned handle');
    } catch (e) {
      throw new KeyFacadeError(
        'KEY_BAD_ARGUMENT',
        `the pin for identity ${pin.identity} in ${deps.known.path} is corrupt: ${(e as Error).message}`,
      );
    }
    try {
      const session = await SecureSession.reconnect(client, keyStatic, {
        hostKey: deps.hostKey.staticKey,
        identity,
        expect: { handle },
      });
      return { session, pin };
    } catch (e) {
      if (!(e instanceof KeyError && e.remote?.name === 'SESSION_FAILED')) throw e;
      refused = e;
    }
  }
  throw new KeyFacadeError(
    'KEY_HOST_UNKNOWN',
    `the Key refused the session with ${nameOf(expect)}: it no longer knows this host (it was reset, or this host was removed from it), or it is not the Key named; pair again`,
    { cause: refused },
  );
}
