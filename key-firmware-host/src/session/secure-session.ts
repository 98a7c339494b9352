/**
 * The host side of a Key session over a connected {@link KeyClient}.
 *
 * - {@link SecureSession.firstContact}: Noise XX. The Key's static key is not known yet; its
 *   handshake payload carries its identity key and the identity's signature over the static key,
 *   which is checked before anything else is sent. The caller then pins the identity and static
 *   key (e.g. in a {@link KnownKeys} store) and may `pair`.
 * - {@link SecureSession.reconnect}: Noise IK with the pinned static key. Its first message carries
 *   only a growing timestamp (it is replayable by design), never a command.
 *
 * Inner requests are whole envelopes sealed by the {@link SecureChannel}. Requests are sealed in
 * the order they enter the client's window, so counters reach the Key in increasing order; a
 * retried request is sealed again with a fresh counter under the same request id, and the Key
 * answers it from its cache (re-sealed) if the first attempt had arrived.
 * @module
 */
import { decode, encode } from '@enigm/protocols/cbor';
import {
  type BodyOf,
  decodeMessage,
  encodeMessage,
  type HostRole,
  MAX_REQUEST_ID,
  PROTOCOL_VERSIONS,
  RESPONSE_OF,
  type RequestName,
  type ResponseOf,
} from '@enigm/protocols/messages';
import { HandshakeState, type StaticKey } from '@enigm/protocols/noise';
import { IdentityBinding, IkHello, SecureChannel, sessionPrologue, verifyBinding } from '@enigm/protocols/session';
import { KeyError } from '../client/errors.ts';
import type { KeyClient, RequestOptions } from '../client/key-client.ts';

/** Options of a session. */
export interface SessionOptions {
  /** The host's static key (see {@link hostStaticKey}). */
  hostKey: StaticKey;
  /** Transport name bound into the prologue: must match the Key's view (`serial`, `tcp`, `memory`). */
  transport?: string;
  /** Clock for IK timestamps, ms (default Date.now). */
  now?: () => number;
}

/** What the host learned about the Key in the handshake. */
export interface PeerKey {
  /** Ed25519 identity public key (XX: from the verified binding; IK: as pinned). */
  identity?: Uint8Array;
  /** X25519 static public key. */
  staticKey: Uint8Array;
}

/** Transport name of a client's transport, from its description. */
export function transportName(description: string): string {
  return description.startsWith('tcp') ? 'tcp' : description.startsWith('memory') ? 'memory' : 'serial';
}

/** An open session with a Key. */
export class SecureSession {
  readonly #client: KeyClient;
  readonly #channel: SecureChannel;
  readonly #id: Uint8Array;
  #nextInnerId = 1;
  /** The Key's keys as learned or pinned. */
  readonly peer: PeerKey;
  /** Handshake hash (channel binding), hex-able. */
  readonly handshakeHash: Uint8Array;

  private constructor(client: KeyClient, hs: HandshakeState, id: Uint8Array, peer: PeerKey) {
    this.#client = client;
    const { send, receive } = hs.split();
    this.#channel = new SecureChannel(send, receive, id);
    this.#id = id;
    this.peer = peer;
    this.handshakeHash = hs.handshakeHash;
  }

  /**
   * First contact (Noise XX): learns and verifies the Key's identity binding.
   * @throws {@link KeyError} `KEY_REJECTED` (SESSION_FAILED) or `KEY_BAD_RESPONSE` if the binding
   *   or handshake does not verify
   */
  static async firstContact(client: KeyClient, options: SessionOptions): Promise<SecureSession> {
    const hs = new HandshakeState({ pattern: 'XX', initiator: true, prologue: prologueOf(client, options), s: options.hostKey });
    const r1 = await client.request('session.start', { pattern: 'XX', message: hs.writeMessage(new Uint8Array(0)) });
    let identity: Uint8Array;
    try {
      const binding = IdentityBinding.fromMap(decode(hs.readMessage(r1.message)));
      const rs = hs.remoteStaticKey as Uint8Array;
      verifyBinding(binding.identity, rs, binding.signature);
      identity = binding.identity;
    } catch (e) {
      throw new KeyError('KEY_BAD_RESPONSE', `Key handshake did not verify: ${(e as Error).message}`, { cause: e });
    }
    const m3 = hs.writeMessage(new Uint8Array(0));
    await client.request('session.finish', { session: r1.session, message: m3 });
    return new SecureSession(client, hs, r1.session, { identity, staticKey: hs.remoteStaticKey as Uint8Array });
  }

  /**
   * Reconnect to a known Key (Noise IK with its pinned static key).
   * @throws {@link KeyError} `KEY_REJECTED` (SESSION_FAILED) if the Key does not know this host,
   *   the static key is wrong, or the timestamp is stale
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
    try {
      hs.readMessage(r.message);
    } catch (e) {
      throw new KeyError('KEY_BAD_RESPONSE', `Key handshake did not verify: ${(e as Error).message}`, { cause: e });
    }
    return new SecureSession(client, hs, r.session, {
      staticKey: keyStatic,
      ...(options.identity ? { identity: options.identity } : {}),
    });
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
   * @throws {@link KeyError} `KEY_REJECTED` (the Key's error, e.g. FORBIDDEN, or SESSION_FAILED
   *   when the Key ended the session), `KEY_BAD_RESPONSE` (a response that fails authentication
   *   ends the session), and the client's errors
   */
  async request<N extends RequestName>(name: N, body: BodyOf<N>, options: RequestOptions = {}): Promise<BodyOf<ResponseOf<N>>> {
    const innerId = this.#nextInnerId;
    this.#nextInnerId = this.#nextInnerId >= MAX_REQUEST_ID ? 1 : this.#nextInnerId + 1;
    const inner = encodeMessage({ version: this.#client.link.version, name, id: innerId, body });
    // Seal and hand to the client in the same tick: the client's window is FIFO, so counters leave in
    // order. A retry is sealed again with the next counter (never the same nonce twice, and never a
    // counter below one the Key has seen); under the same request id the Key answers it from its
    // cache if the first attempt had arrived.
    const seal = () => ({ session: this.#id, ...this.#channel.seal(inner) });
    let res: BodyOf<'secure.response'>;
    try {
      res = await this.#client.request('secure', seal(), { ...options, idempotent: true, refresh: seal });
    } catch (e) {
      if (e instanceof KeyError && e.remote?.name === 'SESSION_FAILED') this.#channel.close();
      throw e;
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
  const h = client.hello;
  return sessionPrologue({
    hostVersions: [...PROTOCOL_VERSIONS],
    keyVersions: h.versions,
    version: h.version,
    transport: options.transport ?? transportName(client.transportDescription),
  });
}
