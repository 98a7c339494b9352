/**
 * Key-side sessions of one link: Noise XX (first contact) and IK (known host) handshakes, and the
 * secure channels they open. Pure logic: the firmware's secure element does the DH, randomness is
 * injected, persistence goes through the firmware.
 *
 * To an unauthenticated peer every failure looks the same (`SESSION_FAILED`, fixed reason): a
 * tampered message, an unknown host, a replayed IK timestamp and a wrong static key are not told
 * apart. Limits per link: {@link MAX_PENDING} handshakes and {@link MAX_SESSIONS} sessions; the
 * oldest is dropped beyond that, so a peer cannot exhaust the Key.
 *
 * The Key's message 2 of both patterns carries its {@link IdentityBinding}: identity key, device
 * handle and the identity's signature over the static key and the handle. The handle is therefore
 * learned from inside the authenticated handshake, not from cleartext `info`. XX shows all of that
 * to whoever starts it, so the Key runs XX only while it is pairable (no host yet, or the pairing
 * window open); at other times only paired hosts (IK) learn who the Key is.
 *
 * Each session also enforces the order of its requests: the inner request id is a sequence
 * number the host increases by one per request, and a request whose id is not above the last one
 * that ran is refused with `OUT_OF_ORDER` (authenticated, and not run) — so a request held back by
 * a man in the middle and retried never runs after a later one (see docs/security.md).
 * @module
 */
import { bytesEqual, toHex } from '@enigm/protocols/bytes';
import { decode, encode } from '@enigm/protocols/cbor';
import type { BodyOf } from '@enigm/protocols/messages';
import { HandshakeState } from '@enigm/protocols/noise';
import {
  IdentityBinding,
  IkHello,
  identityBindingMessage,
  type PrologueInput,
  SecureChannel,
  sessionPrologue,
} from '@enigm/protocols/session';
import type { SessionRole } from './access.ts';
import type { SecureElement } from './secure-element.ts';
import type { Persistent } from './storage.ts';

/** Handshakes awaiting their last message, per link. */
export const MAX_PENDING = 4;
/** Open sessions per link. */
export const MAX_SESSIONS = 4;

/** Reason given for every session failure (deliberately uninformative). */
export const SESSION_FAILED_REASON = 'session failed';

/** An open session. */
export interface Session {
  readonly id: Uint8Array;
  readonly hostKey: Uint8Array;
  role: SessionRole;
  readonly channel: SecureChannel;
  /** Inner request id of the last request that ran (0: none); later ones must be above it. */
  lastInnerId: number;
}

/** What the session manager needs from the firmware. */
export interface SessionHost {
  readonly secureElement: SecureElement;
  /** The device handle (16 bytes), signed into the identity binding. */
  readonly handle: Uint8Array;
  /** Whether a new host may pair now; XX (which shows the identity to anyone) runs only then. */
  readonly pairable: boolean;
  random(n: number): Uint8Array;
  /** Paired hosts. */
  hosts(): Persistent['hosts'];
  /** Records the IK timestamp accepted from a host. */
  setLastIk(hostKey: Uint8Array, timestamp: number): void;
}

class Failed extends Error {}

/** Sessions of one link. */
export class LinkSessions {
  readonly #host: SessionHost;
  readonly #pending = new Map<string, HandshakeState>();
  readonly #sessions = new Map<string, Session>();
  #binding: Uint8Array | undefined;

  constructor(host: SessionHost) {
    this.#host = host;
  }

  /** Open sessions (for tests). */
  get size(): number {
    return this.#sessions.size;
  }

  /** Looks up an open session. */
  get(id: Uint8Array): Session | undefined {
    return this.#sessions.get(toHex(id));
  }

  /**
   * Handles `session.start`.
   * @returns the response body, or `undefined` for a failure (answer `SESSION_FAILED`)
   */
  start(body: BodyOf<'session.start'>, prologue: PrologueInput): BodyOf<'session.start.response'> | undefined {
    try {
      const hs = new HandshakeState({
        pattern: body.pattern,
        initiator: false,
        prologue: sessionPrologue(prologue),
        s: this.#host.secureElement.staticKey,
        random: (n) => this.#host.random(n),
      });
      const payload = hs.readMessage(body.message);
      const id = this.#host.random(8);
      if (body.pattern === 'XX') {
        // XX shows identity, handle and static key to whoever starts it: only while pairable.
        if (payload.length !== 0 || !this.#host.pairable) throw new Failed();
        const message = hs.writeMessage(this.#identityBinding());
        this.#bound(this.#pending, MAX_PENDING).set(toHex(id), hs);
        return { session: id, message };
      }
      // IK: the host must be paired, and its timestamp must grow (the first message is replayable).
      const rs = hs.remoteStaticKey;
      const host = rs && this.#host.hosts().find((h) => bytesEqual(h.publicKey, rs));
      if (!rs || !host) throw new Failed();
      const { timestamp } = IkHello.fromMap(decode(payload));
      if (host.lastIk !== undefined && timestamp <= host.lastIk) throw new Failed();
      const message = hs.writeMessage(this.#identityBinding());
      this.#host.setLastIk(rs, timestamp);
      this.#open(id, hs, rs, host.role);
      return { session: id, message };
    } catch {
      return undefined;
    }
  }

  /**
   * Handles `session.finish` (XX message 3).
   * @returns true if the session opened
   */
  finish(body: BodyOf<'session.finish'>): boolean {
    const key = toHex(body.session);
    const hs = this.#pending.get(key);
    this.#pending.delete(key);
    if (!hs) return false;
    try {
      hs.readMessage(body.message);
      const rs = hs.remoteStaticKey;
      if (!rs || !hs.isComplete) return false;
      const host = this.#host.hosts().find((h) => bytesEqual(h.publicKey, rs));
      this.#open(body.session, hs, rs, host?.role ?? 'unpaired');
      return true;
    } catch {
      return false;
    }
  }

  /** Ends a session (idempotent). */
  close(id: Uint8Array): void {
    const k = toHex(id);
    this.#sessions.get(k)?.channel.close();
    this.#sessions.delete(k);
  }

  /**
   * Opens a `secure` message.
   * @returns the session and the inner plaintext, or `undefined` (the session, if any, has ended)
   */
  openSecure(body: BodyOf<'secure'>): { session: Session; plaintext: Uint8Array } | undefined {
    const session = this.get(body.session);
    if (!session) return undefined;
    try {
      return { session, plaintext: session.channel.open(body.counter, body.ciphertext) };
    } catch {
      this.close(body.session);
      return undefined;
    }
  }

  /** Seals an inner response for `session`. */
  sealSecure(session: Session, plaintext: Uint8Array): BodyOf<'secure.response'> {
    const { counter, ciphertext } = session.channel.seal(plaintext);
    return { session: session.id, counter, ciphertext };
  }

  #open(id: Uint8Array, hs: HandshakeState, hostKey: Uint8Array, role: SessionRole): void {
    const { send, receive } = hs.split();
    this.#bound(this.#sessions, MAX_SESSIONS).set(toHex(id), {
      id,
      hostKey,
      role,
      channel: new SecureChannel(send, receive, id),
      lastInnerId: 0,
    });
  }

  /** The encoded identity binding (signed once per link by the secure element). */
  #identityBinding(): Uint8Array {
    const se = this.#host.secureElement;
    const handle = this.#host.handle;
    this.#binding ??= encode(
      IdentityBinding.toMap({
        identity: se.identityPublicKey,
        handle,
        signature: se.sign(identityBindingMessage(se.staticKey.publicKey, handle)),
      }),
    );
    return this.#binding;
  }

  #bound<V>(map: Map<string, V>, max: number): Map<string, V> {
    while (map.size >= max) {
      const oldest = map.keys().next().value as string;
      const s = map.get(oldest) as { channel?: SecureChannel };
      s.channel?.close();
      map.delete(oldest);
    }
    return map;
  }
}
