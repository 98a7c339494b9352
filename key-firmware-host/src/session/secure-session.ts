/**
 * The host side of a Key session over a connected {@link KeyClient}.
 *
 * - {@link SecureSession.firstContact}: Noise XX. The Key's static key is not known yet; its
 *   handshake payload carries its identity key, its device handle and the identity's signature
 *   over both the static key and the handle, which is checked before anything else is sent. The
 *   caller then pins the Key by identity (see {@link KnownKeys}) and may `pair`.
 * - {@link SecureSession.reconnect}: Noise IK with the pinned static key. Its first message carries
 *   only a growing timestamp (it is replayable by design), never a command; the Key's answer
 *   carries the same signed binding, checked against the pin.
 * - `expect`: the identity and/or handle the user names; a Key whose authenticated binding shows
 *   anything else is refused with `KEY_IDENTITY_MISMATCH` before any command is sent.
 *
 * Inner requests are whole envelopes sealed by the {@link SecureChannel}. Requests are sealed in
 * the order they enter the client's window, so counters reach the Key in increasing order; a
 * retried request is sealed again with a fresh counter under the same request id, and the Key
 * answers it from its cache (re-sealed) if the first attempt had arrived. Inner request ids grow
 * by one per request and the Key never runs a request after a later one: a request held back and
 * retried behind a later one comes back `OUT_OF_ORDER` (authenticated: it did not run).
 *
 * Only authenticated answers count inside a session. A cleartext error for a session request
 * (anyone on the link can forge one) is reported as `KEY_OUTCOME_UNKNOWN`, never as the Key's
 * verdict; a cleartext `SESSION_FAILED` also ends the session here. Keepalive events are
 * cleartext too, so they extend a request's per-attempt timeout but never its hard deadline
 * ({@link SessionOptions.deadlineMs}).
 * @module
 */

import { toHex } from '@enigm/protocols/bytes';
import { decode, encode } from '@enigm/protocols/cbor';
import {
  type BodyOf,
  decodeMessage,
  encodeMessage,
  type HostRole,
  MAX_REQUEST_ID,
  RESPONSE_OF,
  type RequestName,
  type ResponseOf,
} from '@enigm/protocols/messages';
import { HandshakeState, type StaticKey } from '@enigm/protocols/noise';
import { IdentityBinding, IkHello, SecureChannel, sessionPrologue, verifyIdentityBinding } from '@enigm/protocols/session';
import { KeyError } from '../client/errors.ts';
import type { KeyClient, RequestOptions } from '../client/key-client.ts';

/** Options of a session. */
export interface SessionOptions {
  /** The host's static key (see {@link hostStaticKey}). */
  hostKey: StaticKey;
  /** Transport name bound into the prologue: must match the Key's view (`serial`, `tcp`, `mqtt`, `ble`, `memory`). */
  transport?: string;
  /** Clock for IK timestamps, ms (default Date.now). */
  now?: () => number;
  /** The Key the caller expects (named by the user, or pinned); anything else is refused. */
  expect?: ExpectedKey;
  /**
   * Hard deadline of each session request, ms (default {@link DEFAULT_SESSION_DEADLINE_MS}):
   * keepalives (cleartext, forgeable) restart the per-attempt timeout but never extend this.
   */
  deadlineMs?: number;
}

/** Default hard deadline of a session request. */
export const DEFAULT_SESSION_DEADLINE_MS = 60_000;

/** The Key a host expects: every given part must match the Key's authenticated binding. */
export interface ExpectedKey {
  /** Ed25519 identity public key. */
  identity?: Uint8Array;
  /** Device handle (16 bytes). */
  handle?: Uint8Array;
}

/** Options of one session request. */
export interface SessionRequestOptions extends RequestOptions {
  /** Hard deadline of this request, ms (default: the session's). */
  deadlineMs?: number;
}

/** What the host learned about the Key in the handshake (all of it authenticated). */
export interface PeerKey {
  /** Ed25519 identity public key, from the verified binding. */
  identity: Uint8Array;
  /** Device handle, from the verified binding (the UEID of the Key's evidence). */
  handle: Uint8Array;
  /** X25519 static public key. */
  staticKey: Uint8Array;
}

/** Transport name of a client's transport, from its description. */
export function transportName(description: string): string {
  return description.startsWith('tcp')
    ? 'tcp'
    : description.startsWith('mqtt')
      ? 'mqtt'
      : description.startsWith('memory')
        ? 'memory'
        : description.startsWith('ble:')
          ? 'ble'
          : 'serial';
}

/** An open session with a Key. */
export class SecureSession {
  readonly #client: KeyClient;
  readonly #channel: SecureChannel;
  readonly #id: Uint8Array;
  readonly #deadlineMs: number;
  #nextInnerId = 1;
  /** The Key's keys and handle, authenticated by the handshake. */
  readonly peer: PeerKey;
  /** Handshake hash (channel binding), hex-able. */
  readonly handshakeHash: Uint8Array;

  private constructor(client: KeyClient, hs: HandshakeState, id: Uint8Array, peer: PeerKey, deadlineMs: number) {
    this.#client = client;
    this.#deadlineMs = deadlineMs;
    const { send, receive } = hs.split();
    this.#channel = new SecureChannel(send, receive, id);
    this.#id = id;
    this.peer = peer;
    this.handshakeHash = hs.handshakeHash;
  }

  /**
   * First contact (Noise XX): learns and verifies the Key's identity binding (identity, handle,
   * static key), and checks it against `options.expect` before sending anything else.
   * @throws {@link KeyError} `KEY_REJECTED` (SESSION_FAILED) or `KEY_BAD_RESPONSE` if the binding
   *   or handshake does not verify (a rewritten `hello` makes it fail), `KEY_IDENTITY_MISMATCH`
   *   if the Key is not the expected one
   */
  static async firstContact(client: KeyClient, options: SessionOptions): Promise<SecureSession> {
    const hs = new HandshakeState({ pattern: 'XX', initiator: true, prologue: prologueOf(client, options), s: options.hostKey });
    const r1 = await client.request('session.start', { pattern: 'XX', message: hs.writeMessage(new Uint8Array(0)) });
    const peer = readBinding(hs, r1.message);
    checkExpected(peer, options.expect);
    const m3 = hs.writeMessage(new Uint8Array(0));
    await client.request('session.finish', { session: r1.session, message: m3 });
    return new SecureSession(client, hs, r1.session, peer, options.deadlineMs ?? DEFAULT_SESSION_DEADLINE_MS);
  }

  /**
   * Reconnect to a known Key (Noise IK with its pinned static key). The Key's answer carries its
   * signed binding; `options.identity` (the pinned identity) and `options.expect` are checked
   * against it before the session is returned.
   * @throws {@link KeyError} `KEY_REJECTED` (SESSION_FAILED) if the Key does not know this host,
   *   the static key is wrong, or the timestamp is stale; `KEY_BAD_RESPONSE` if the handshake or
   *   binding does not verify; `KEY_IDENTITY_MISMATCH` if identity or handle differ
   */
  static async reconnect(
    client: KeyClient,
    keyStatic: Uint8Array,
    options: SessionOptions & { identity?: Uint8Array },
  ): Promise<SecureSession> {
    const hs = new HandshakeState({
      pattern: 'IK',
      initiator: true,
      prologue: prologueOf(client, options),
      s: options.hostKey,
      rs: keyStatic,
    });
    const timestamp = Math.floor((options.now ?? Date.now)());
    const m1 = hs.writeMessage(encode(IkHello.toMap({ timestamp })));
    const r = await client.request('session.start', { pattern: 'IK', message: m1 });
    const peer = readBinding(hs, r.message);
    try {
      checkExpected(peer, options.expect);
      if (options.identity) checkExpected(peer, { identity: options.identity });
    } catch (e) {
      await client.request('session.close', { session: r.session }).catch(() => {}); // best effort
      throw e;
    }
    return new SecureSession(client, hs, r.session, peer, options.deadlineMs ?? DEFAULT_SESSION_DEADLINE_MS);
  }

  /** Whether the session still works. */
  get isOpen(): boolean {
    return this.#channel.isOpen;
  }

  /** Channel counters (for tests). */
  get stats(): SecureChannel['stats'] {
    return this.#channel.stats;
  }

  /**
   * Sends a request inside the session.
   * @throws {@link KeyError} `KEY_REJECTED` only for the Key's authenticated (sealed) error, e.g.
   *   FORBIDDEN or OUT_OF_ORDER (then the request did not run); `KEY_OUTCOME_UNKNOWN` for a
   *   cleartext error (forgeable; a cleartext SESSION_FAILED also ends the session);
   *   `KEY_TIMEOUT` after the hard deadline; `KEY_BAD_RESPONSE` (a response that fails
   *   authentication ends the session), and the client's errors
   */
  async request<N extends RequestName>(
    name: N,
    body: BodyOf<N>,
    options: SessionRequestOptions = {},
  ): Promise<BodyOf<ResponseOf<N>>> {
    if (this.#nextInnerId > MAX_REQUEST_ID) {
      this.#channel.close(); // inner ids are the Key's ordering: they never wrap
      throw new KeyError('KEY_CLOSED', 'the session has used every request id; open a new one');
    }
    const innerId = this.#nextInnerId++;
    const inner = encodeMessage({ version: this.#client.link.version, name, id: innerId, body });
    // Seal and hand to the client in the same tick: the client's window is FIFO, so counters leave in
    // order. A retry is sealed again with the next counter (never the same nonce twice, and never a
    // counter below one the Key has seen); under the same request id the Key answers it from its
    // cache if the first attempt had arrived.
    const seal = () => ({ session: this.#id, ...this.#channel.seal(inner) });
    const { deadlineMs = this.#deadlineMs, ...clientOptions } = options;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), deadlineMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
    let res: BodyOf<'secure.response'>;
    try {
      res = await this.#client.request('secure', seal(), { ...clientOptions, signal, idempotent: true, refresh: seal });
    } catch (e) {
      throw this.#unauthenticated(name, e, deadline.signal.aborted && !options.signal?.aborted, deadlineMs);
    } finally {
      clearTimeout(timer);
    }
    let plain: Uint8Array;
    try {
      plain = this.#channel.open(res.counter, res.ciphertext);
    } catch (e) {
      throw new KeyError('KEY_BAD_RESPONSE', `session response rejected: ${(e as Error).message}`, { cause: e });
    }
    const m = decodeMessage(plain);
    if (m.id !== innerId) throw new KeyError('KEY_BAD_RESPONSE', `inner response id ${m.id} does not match ${innerId}`);
    if (m.name === 'error') {
      const b = m.body as BodyOf<'error'>;
      throw new KeyError('KEY_REJECTED', `Key rejected ${name}: ${b.name} (${b.code}): ${b.reason}`, { remote: b });
    }
    if (m.name !== RESPONSE_OF[name]) throw new KeyError('KEY_BAD_RESPONSE', `Key answered ${name} with ${m.name}`);
    return m.body as BodyOf<ResponseOf<N>>;
  }

  /** Maps a failure of the outer `secure` exchange: nothing in it is authenticated. */
  #unauthenticated(name: string, e: unknown, deadlineHit: boolean, deadlineMs: number): unknown {
    if (deadlineHit)
      return new KeyError(
        'KEY_TIMEOUT',
        `${name}: no authenticated answer within the hard deadline of ${deadlineMs} ms (keepalives do not extend it); outcome unknown`,
        { cause: e },
      );
    if (!(e instanceof KeyError) || e.code !== 'KEY_REJECTED' || !e.remote) return e;
    if (e.remote.name === 'SESSION_FAILED') this.#channel.close();
    return new KeyError(
      'KEY_OUTCOME_UNKNOWN',
      `${name}: outcome unknown — a cleartext ${e.remote.name} (${e.remote.code}: ${e.remote.reason}) answered this session ` +
        `request; only sealed answers count, so it may or may not have run${e.remote.name === 'SESSION_FAILED' ? '; the session has ended' : ''}`,
      { cause: e },
    );
  }

  /** Asks to be kept as a paired host with `role`. */
  pair(role: HostRole, label?: string): Promise<BodyOf<'pair.response'>> {
    return this.request('pair', { role, ...(label ? { label } : {}) });
  }

  /** Ends the session on both sides (best effort on the Key's side). */
  async close(): Promise<void> {
    if (!this.#channel.isOpen) return;
    this.#channel.close();
    await this.#client.request('session.close', { session: this.#id }).catch(() => {});
  }
}

function prologueOf(client: KeyClient, options: SessionOptions): Uint8Array {
  return sessionPrologue({
    hello: client.helloRequest,
    helloResponse: client.hello,
    transport: options.transport ?? transportName(client.transportDescription),
  });
}

/** Reads the Key's message 2 and verifies its identity binding against the handshake's static key. */
function readBinding(hs: HandshakeState, message: Uint8Array): PeerKey {
  try {
    const binding = IdentityBinding.fromMap(decode(hs.readMessage(message)));
    const staticKey = hs.remoteStaticKey as Uint8Array;
    verifyIdentityBinding(binding, staticKey);
    return { identity: binding.identity, handle: binding.handle, staticKey };
  } catch (e) {
    throw new KeyError('KEY_BAD_RESPONSE', `Key handshake did not verify: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Checks an authenticated peer against what the caller expects.
 * @throws {@link KeyError} `KEY_IDENTITY_MISMATCH` naming what differs
 */
export function checkExpected(peer: PeerKey, expect: ExpectedKey | undefined): void {
  if (expect?.identity && toHex(expect.identity) !== toHex(peer.identity))
    throw new KeyError(
      'KEY_IDENTITY_MISMATCH',
      `this Key's authenticated identity is ${toHex(peer.identity)}, not the expected ${toHex(expect.identity)} (possible impersonation or the wrong Key)`,
    );
  if (expect?.handle && toHex(expect.handle) !== toHex(peer.handle))
    throw new KeyError(
      'KEY_IDENTITY_MISMATCH',
      `this Key's authenticated handle is ${toHex(peer.handle)}, not the expected ${toHex(expect.handle)} (possible impersonation or the wrong Key)`,
    );
}
