/**
 * Noise `HandshakeState` (spec rev 34 §5.3), generic over the pattern table of `patterns.ts`,
 * for the suite `25519_ChaChaPoly_SHA256`.
 *
 * Errors:
 * - `NOISE_STATE`: the call is not allowed now (not our turn, handshake done or dead, `split()`
 *   before completion or twice, a payload that would make a message over 65535 bytes, options
 *   missing a key the pattern needs). Nothing changes; a live handshake stays usable.
 * - `NOISE_HANDSHAKE_FAILED`: a message was rejected (too long, truncated, failed to decrypt, a
 *   peer key with small order) or a DH failed; the cause is kept. The handshake is then dead:
 *   every later call throws `NOISE_STATE`.
 * - `CRYPTO_INVALID_KEY`: a key in the options has the wrong length or `e` does not match.
 *
 * @module
 */

import type { KeyObject } from 'node:crypto';
import { allocBytes, copyBytes } from '../bytes.ts';
import { ProtocolError } from '../errors.ts';
import { CipherState, MAX_MESSAGE_LENGTH, TAGLEN } from './cipher-state.ts';
import {
  checkSharedSecret,
  DHLEN,
  generateKeyPair,
  type KeyPairObject,
  keyPairFromPrivate,
  publicKeyObject,
  type StaticKey,
  staticKeyObject,
  x25519,
} from './dh.ts';
import {
  HANDSHAKE_PATTERNS,
  type HandshakePattern,
  type HandshakePatternName,
  needsLocalStatic,
  needsRemoteStaticInAdvance,
  type PreMessageToken,
  protocolName,
} from './patterns.ts';
import { SymmetricState } from './symmetric-state.ts';

const EMPTY = new Uint8Array(0);

/**
 * Options of a {@link HandshakeState}: spec `Initialize(handshake_pattern, initiator, prologue, s, e, rs, re)`.
 * @example const options: HandshakeOptions = { pattern: 'IK', initiator: true, prologue, s, rs: keyPublicKey };
 */
export interface HandshakeOptions {
  /** Handshake pattern. */
  pattern: HandshakePatternName;
  /** Whether this side is the initiator. */
  initiator: boolean;
  /** Prologue, mixed into `h`; both sides must use the same bytes. */
  prologue: Uint8Array;
  /** Local static key; required when the pattern uses it. */
  s?: StaticKey;
  /**
   * Peer static public key known in advance; required exactly when the pattern has it as a
   * pre-message (IK/NK/XK/N/K/X initiator, KN/KK/KX/K responder) and refused otherwise (a pattern
   * that transmits `s` would not check it: compare {@link HandshakeState.remoteStaticKey} instead).
   */
  rs?: Uint8Array;
  /** Fixed ephemeral key pair, for test vectors only (never reuse an ephemeral). */
  e?: { privateKey: Uint8Array; publicKey: Uint8Array };
  /** Randomness for the ephemeral private key; default `crypto.randomBytes`. */
  random?: (n: number) => Uint8Array;
}

/**
 * One side of a Noise handshake. Call `writeMessage`/`readMessage` in the pattern's order until
 * `isComplete`, then `split()` once for the transport cipher states.
 *
 * @example
 * const i = new HandshakeState({ pattern: 'XX', initiator: true, prologue, s: staticKeyFromPrivate(a) });
 * const r = new HandshakeState({ pattern: 'XX', initiator: false, prologue, s: staticKeyFromPrivate(b) });
 * r.readMessage(i.writeMessage());
 * i.readMessage(r.writeMessage());
 * r.readMessage(i.writeMessage());
 * const { send } = i.split();
 */
export class HandshakeState {
  readonly #pattern: HandshakePattern;
  readonly #initiator: boolean;
  readonly #ss: SymmetricState;
  readonly #s: StaticKey | undefined;
  readonly #random: ((n: number) => Uint8Array) | undefined;
  #fixedE: KeyPairObject | undefined;
  #e: KeyPairObject | undefined;
  #rs: Uint8Array | undefined;
  #rsKey: KeyObject | undefined;
  #re: Uint8Array | undefined;
  #reKey: KeyObject | undefined;
  /** Index of the next handshake message. */
  #index = 0;
  /** Why the handshake is dead, once it is. */
  #dead: string | undefined;
  #splitDone = false;

  /**
   * Spec `Initialize()`: checks the keys the pattern needs, mixes the prologue and the pre-message
   * public keys into `h`.
   * @throws ProtocolError `NOISE_STATE` if the pattern is unknown, a needed key is missing or `rs`
   *   is given to a pattern without it as a pre-message; `CRYPTO_INVALID_KEY` if a key is malformed
   * @example new HandshakeState({ pattern: 'IK', initiator: true, prologue, s, rs: responderStatic })
   */
  constructor(options: HandshakeOptions) {
    const pattern = Object.hasOwn(HANDSHAKE_PATTERNS, options.pattern) ? HANDSHAKE_PATTERNS[options.pattern] : undefined;
    if (pattern === undefined) throw new ProtocolError('NOISE_STATE', `unknown handshake pattern ${String(options.pattern)}`);
    const initiator = options.initiator === true;
    const role = initiator ? 'initiator' : 'responder';
    this.#pattern = pattern;
    this.#initiator = initiator;

    const s = options.s;
    if (s !== undefined) {
      const pub = s.publicKey;
      if (!(pub instanceof Uint8Array) || pub.length !== DHLEN)
        throw new ProtocolError('CRYPTO_INVALID_KEY', `s.publicKey must be a ${DHLEN}-byte X25519 key`);
    } else if (needsLocalStatic(pattern, initiator))
      throw new ProtocolError('NOISE_STATE', `the ${pattern.name} ${role} needs its static key s`);
    this.#s = s;

    const rs = options.rs;
    if (needsRemoteStaticInAdvance(pattern, initiator)) {
      if (rs === undefined) throw new ProtocolError('NOISE_STATE', `the ${pattern.name} ${role} needs the peer's static key rs`);
      if (!(rs instanceof Uint8Array) || rs.length !== DHLEN)
        throw new ProtocolError('CRYPTO_INVALID_KEY', `rs must be a ${DHLEN}-byte X25519 key`);
      this.#rs = copyBytes(rs);
    } else if (rs !== undefined)
      throw new ProtocolError(
        'NOISE_STATE',
        `the ${pattern.name} ${role} learns rs during the handshake; check remoteStaticKey after it instead`,
      );

    if (options.e !== undefined) this.#fixedE = keyPairFromPrivate(options.e.privateKey, options.e.publicKey);
    this.#random = options.random;

    const ss = new SymmetricState(protocolName(pattern.name));
    ss.mixHash(options.prologue);
    this.#ss = ss;
    this.#mixPreMessage(pattern.initiatorPreMessage, initiator);
    this.#mixPreMessage(pattern.responderPreMessage, !initiator);
  }

  /**
   * Whether every handshake message has been written or read.
   * @throws never
   * @example if (hs.isComplete) ({ send, receive } = hs.split());
   */
  get isComplete(): boolean {
    return this.#index >= this.#pattern.messages.length;
  }

  /**
   * Whether the next call should be `writeMessage` (false once complete or dead).
   * @throws never
   * @example while (!hs.isComplete) hs.isMyTurn ? link.send(hs.writeMessage()) : hs.readMessage(await link.receive());
   */
  get isMyTurn(): boolean {
    return this.#dead === undefined && !this.isComplete && this.#index % 2 === (this.#initiator ? 0 : 1);
  }

  /**
   * The peer's static public key (a copy): known in advance or received; `undefined` until then.
   * It is authenticated only once the handshake completes; check it against the expected peer.
   * @throws never
   * @example if (!equal(hs.remoteStaticKey, pinnedKey)) throw new Error('unknown peer');
   */
  get remoteStaticKey(): Uint8Array | undefined {
    return this.#rs === undefined ? undefined : copyBytes(this.#rs);
  }

  /**
   * The handshake hash `h` (a copy), for channel binding; final once `isComplete`.
   * @throws never
   * @example const binding = hs.handshakeHash; // 32 bytes
   */
  get handshakeHash(): Uint8Array {
    return this.#ss.handshakeHash();
  }

  /**
   * Spec `WriteMessage(payload, message_buffer)`: the next handshake message carrying `payload`.
   * @param payload - plaintext payload (encrypted once a key exists); default empty
   * @throws ProtocolError `NOISE_STATE` if it is not our turn, the handshake is done or dead, or the
   *   message would exceed 65535 bytes (the state is unchanged); `NOISE_HANDSHAKE_FAILED` if a DH
   *   fails (small-order peer key, static key error; the handshake is then dead)
   * @example const msg1 = initiator.writeMessage(new TextEncoder().encode('hello'));
   */
  writeMessage(payload: Uint8Array = EMPTY): Uint8Array {
    this.#checkTurn(true);
    const tokens = this.#pattern.messages[this.#index] as readonly string[];
    const ss = this.#ss;

    let keyed = ss.hasKey();
    let size = 0;
    for (const t of tokens) {
      if (t === 'e') size += DHLEN;
      else if (t === 's') size += DHLEN + (keyed ? TAGLEN : 0);
      else keyed = true;
    }
    size += payload.length + (keyed ? TAGLEN : 0);
    if (size > MAX_MESSAGE_LENGTH)
      throw new ProtocolError(
        'NOISE_STATE',
        `a ${payload.length}-byte payload makes handshake message ${this.#index + 1} longer than ${MAX_MESSAGE_LENGTH} bytes`,
      );

    const out = allocBytes(size);
    let off = 0;
    try {
      for (const t of tokens) {
        if (t === 'e') {
          const e = this.#fixedE ?? generateKeyPair(this.#random);
          this.#fixedE = undefined;
          this.#e = e;
          out.set(e.publicKey, off);
          off += DHLEN;
          ss.mixHash(e.publicKey);
        } else if (t === 's') {
          const ct = ss.encryptAndHash((this.#s as StaticKey).publicKey);
          out.set(ct, off);
          off += ct.length;
        } else this.#mixDh(t);
      }
      out.set(ss.encryptAndHash(payload), off);
    } catch (cause) {
      throw this.#fail(`writing handshake message ${this.#index + 1} failed`, cause);
    }
    this.#index++;
    return out;
  }

  /**
   * Spec `ReadMessage(message, payload_buffer)`: processes the peer's next handshake message and
   * returns its payload.
   * @throws ProtocolError `NOISE_STATE` if it is our turn, the handshake is done or dead;
   *   `NOISE_HANDSHAKE_FAILED` if the message is over 65535 bytes, truncated, fails to decrypt
   *   (cause `CRYPTO_DECRYPT_FAILED`) or carries a small-order key (cause
   *   `CRYPTO_WEAK_SHARED_SECRET`); the handshake is then dead
   * @example const payload = responder.readMessage(msg1);
   */
  readMessage(message: Uint8Array): Uint8Array {
    this.#checkTurn(false);
    const n = this.#index + 1;
    if (!(message instanceof Uint8Array)) throw this.#fail(`handshake message ${n} is not a Uint8Array`);
    if (message.length > MAX_MESSAGE_LENGTH)
      throw this.#fail(`handshake message ${n} is ${message.length} bytes, over the Noise limit of ${MAX_MESSAGE_LENGTH}`);
    const tokens = this.#pattern.messages[this.#index] as readonly string[];
    const ss = this.#ss;
    let payload: Uint8Array;
    try {
      let off = 0;
      for (const t of tokens) {
        if (t === 'e') {
          if (message.length - off < DHLEN) throw this.#fail(`handshake message ${n} is truncated in the ephemeral key`);
          const re = copyBytes(message, off, off + DHLEN);
          off += DHLEN;
          this.#re = re;
          this.#reKey = undefined;
          ss.mixHash(re);
        } else if (t === 's') {
          const len = DHLEN + (ss.hasKey() ? TAGLEN : 0);
          if (message.length - off < len) throw this.#fail(`handshake message ${n} is truncated in the static key`);
          this.#rs = copyBytes(ss.decryptAndHash(message.subarray(off, off + len)));
          this.#rsKey = undefined;
          off += len;
        } else this.#mixDh(t);
      }
      const rest = message.subarray(off);
      if (ss.hasKey()) {
        if (rest.length < TAGLEN) throw this.#fail(`handshake message ${n} is truncated in the payload tag`);
        payload = ss.decryptAndHash(rest);
      } else payload = copyBytes(ss.decryptAndHash(rest));
    } catch (cause) {
      if (cause instanceof ProtocolError && this.#dead !== undefined) throw cause;
      throw this.#fail(`handshake message ${n} rejected`, cause);
    }
    this.#index++;
    return payload;
  }

  /**
   * Spec `Split()`: the transport cipher states, oriented for this side (initiator sends with
   * `c1`, responder with `c2`). For one-way patterns the unused direction is a disabled state that
   * throws `NOISE_STATE`. Callable once (a second pair would reuse nonces).
   * @throws ProtocolError `NOISE_STATE` if the handshake is not complete, dead, or already split
   * @example const { send, receive } = hs.split();
   */
  split(): { send: CipherState; receive: CipherState } {
    if (this.#dead !== undefined) throw new ProtocolError('NOISE_STATE', `the handshake is dead: ${this.#dead}`);
    if (!this.isComplete) throw new ProtocolError('NOISE_STATE', 'split() before the handshake completed');
    if (this.#splitDone) throw new ProtocolError('NOISE_STATE', 'split() was already called');
    this.#splitDone = true;
    const [c1, c2] = this.#ss.split();
    this.#e = undefined;
    this.#reKey = undefined;
    if (this.#pattern.oneWay) {
      return this.#initiator
        ? { send: c1, receive: CipherState.disabled('one-way pattern: the initiator does not receive') }
        : { send: CipherState.disabled('one-way pattern: the responder does not send'), receive: c1 };
    }
    return this.#initiator ? { send: c1, receive: c2 } : { send: c2, receive: c1 };
  }

  #mixPreMessage(tokens: readonly PreMessageToken[], local: boolean): void {
    for (const t of tokens) {
      if (t !== 's') throw new ProtocolError('NOISE_STATE', `pre-message token ${t} is not supported`);
      this.#ss.mixHash(local ? (this.#s as StaticKey).publicKey : (this.#rs as Uint8Array));
    }
  }

  /** `ee`, `es`, `se`, `ss`: MixKey(DH(...)) with the keys the token names for this side. */
  #mixDh(token: string): void {
    const ini = this.#initiator;
    let shared: Uint8Array;
    if (token === 'ee') shared = this.#dhEphemeral(this.#remoteEphemeralKey());
    else if (token === 'es') shared = ini ? this.#dhEphemeral(this.#remoteStaticKey()) : this.#dhStatic(false);
    else if (token === 'se') shared = ini ? this.#dhStatic(false) : this.#dhEphemeral(this.#remoteStaticKey());
    else if (token === 'ss') shared = this.#dhStatic(true);
    else throw new ProtocolError('NOISE_STATE', `token ${token} is not supported`);
    this.#ss.mixKey(shared);
    shared.fill(0);
  }

  #dhEphemeral(peer: KeyObject): Uint8Array {
    if (this.#e === undefined) throw new ProtocolError('NOISE_STATE', 'no local ephemeral key yet');
    return x25519(this.#e.privateKey, peer);
  }

  /** DH with the local static key and the peer's static (`remoteStatic`) or ephemeral key. */
  #dhStatic(remoteStatic: boolean): Uint8Array {
    const s = this.#s as StaticKey;
    const priv = staticKeyObject(s);
    if (priv !== undefined) return x25519(priv, remoteStatic ? this.#remoteStaticKey() : this.#remoteEphemeralKey());
    const peer = remoteStatic ? this.#rs : this.#re;
    if (peer === undefined) throw new ProtocolError('NOISE_STATE', 'no peer key for DH yet');
    return Uint8Array.from(checkSharedSecret(s.dh(copyBytes(peer))));
  }

  #remoteEphemeralKey(): KeyObject {
    if (this.#re === undefined) throw new ProtocolError('NOISE_STATE', 'no peer ephemeral key yet');
    this.#reKey ??= publicKeyObject(this.#re, false);
    return this.#reKey;
  }

  #remoteStaticKey(): KeyObject {
    if (this.#rs === undefined) throw new ProtocolError('NOISE_STATE', 'no peer static key yet');
    this.#rsKey ??= publicKeyObject(this.#rs);
    return this.#rsKey;
  }

  #checkTurn(writing: boolean): void {
    if (this.#dead !== undefined) throw new ProtocolError('NOISE_STATE', `the handshake is dead: ${this.#dead}`);
    if (this.isComplete) throw new ProtocolError('NOISE_STATE', 'the handshake is already complete');
    if (this.isMyTurn !== writing)
      throw new ProtocolError(
        'NOISE_STATE',
        writing
          ? `handshake message ${this.#index + 1} is the peer's to write`
          : `handshake message ${this.#index + 1} is ours to write`,
      );
  }

  /** Marks the handshake dead and returns the `NOISE_HANDSHAKE_FAILED` error to throw. */
  #fail(reason: string, cause?: unknown): ProtocolError {
    this.#dead = reason;
    this.#e = undefined;
    this.#fixedE = undefined;
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    return new ProtocolError('NOISE_HANDSHAKE_FAILED', `${reason}${detail}`, cause === undefined ? undefined : { cause });
  }
}
