/**
 * The transport phase of a Key session: ChaCha20-Poly1305 with explicit counter nonces.
 *
 * Each direction has its own key (from Noise `Split`), so a message reflected back at its sender
 * does not decrypt. Every message carries its counter; the counter is the AEAD nonce and must be
 * strictly greater than the last one accepted in that direction, so replayed and reordered
 * messages are rejected; a gap (a lost message) is allowed up to {@link MAX_COUNTER_GAP}. The
 * associated data is the session id. Any failure ends the channel: every later call throws.
 *
 * Rekeying follows Noise §4.2 (`REKEY`) at deterministic points both sides agree on without
 * talking: counters are grouped in epochs of {@link REKEY_INTERVAL} messages, and both sides
 * rekey when a counter enters a new epoch. A sender that has sent {@link REKEY_BYTES} bytes in the
 * current epoch jumps to the first counter of the next epoch, so keys also change after a bounded
 * number of bytes. A retry never reuses a nonce: a retried request is sealed again with the next
 * counter (or the identical ciphertext is re-sent, which reveals nothing new).
 *
 * Counters order *messages*, not requests: a request held back and retried is re-sealed with a
 * higher counter and so arrives valid after later ones. The order of requests is enforced one
 * layer up, by the inner request id (the Key refuses one that is not above the last that ran with
 * `OUT_OF_ORDER`; see `sim/src/firmware/sessions.ts` and docs/security.md).
 *
 * @module
 */
import { ProtocolError } from '../errors.ts';
import type { CipherState } from '../noise/index.ts';

/** Messages per key epoch: both sides rekey when a counter enters a new epoch. */
export const REKEY_INTERVAL = 4096;
/** Plaintext bytes per key epoch before the sender forces the next epoch. */
export const REKEY_BYTES = 16 * 1024 * 1024;
/** Largest forward jump in counters accepted (lost messages), besides a jump to the next epoch. */
export const MAX_COUNTER_GAP = 256;

const epochOf = (c: number) => Math.floor(c / REKEY_INTERVAL);

/** One sealed message. */
export interface Sealed {
  counter: number;
  ciphertext: Uint8Array;
}

/** An established secure channel. */
export class SecureChannel {
  readonly #send: CipherState;
  readonly #receive: CipherState;
  readonly #ad: Uint8Array;
  #sendCounter = 0;
  #sendEpoch = 0;
  #sendEpochBytes = 0;
  #lastReceived = -1;
  #receiveEpoch = 0;
  #dead: ProtocolError | undefined;
  /** Counters (for tests and diagnostics). */
  readonly stats = { sealed: 0, opened: 0, rekeys: 0 };

  /**
   * @param send - cipher state for messages we send
   * @param receive - cipher state for messages we receive
   * @param sessionId - bound into every message as associated data
   */
  constructor(send: CipherState, receive: CipherState, sessionId: Uint8Array) {
    this.#send = send;
    this.#receive = receive;
    this.#ad = sessionId.slice();
  }

  /** Whether the channel still works. */
  get isOpen(): boolean {
    return this.#dead === undefined;
  }

  /**
   * Encrypts one message with the next counter.
   * @throws {@link ProtocolError} `SESSION_INVALID` if the channel has ended
   */
  seal(plaintext: Uint8Array): Sealed {
    this.#check();
    if (this.#sendEpochBytes >= REKEY_BYTES) this.#sendCounter = (epochOf(this.#sendCounter) + 1) * REKEY_INTERVAL;
    const counter = this.#sendCounter++;
    const epoch = epochOf(counter);
    while (this.#sendEpoch < epoch) {
      this.#send.rekey();
      this.#sendEpoch++;
      this.#sendEpochBytes = 0;
      this.stats.rekeys++;
    }
    this.#sendEpochBytes += plaintext.length;
    this.#send.setNonce(BigInt(counter));
    this.stats.sealed++;
    return { counter, ciphertext: this.#send.encryptWithAd(this.#ad, plaintext) };
  }

  /**
   * Authenticates and decrypts one message.
   * @throws {@link ProtocolError} `SESSION_REPLAY` for a counter not above the last accepted one,
   *   `SESSION_INVALID` for a failed decryption, a too-large jump or an ended channel. Either way
   *   the channel ends.
   */
  open(counter: number, ciphertext: Uint8Array): Uint8Array {
    this.#check();
    if (!Number.isSafeInteger(counter) || counter < 0) return this.#fail('SESSION_INVALID', 'bad counter');
    if (counter <= this.#lastReceived)
      return this.#fail('SESSION_REPLAY', `counter ${counter} is not above the last accepted ${this.#lastReceived}`);
    const nextEpochStart = (epochOf(this.#lastReceived + 1) + 1) * REKEY_INTERVAL;
    if (counter > this.#lastReceived + MAX_COUNTER_GAP && counter !== nextEpochStart)
      return this.#fail('SESSION_INVALID', `counter jumped from ${this.#lastReceived} to ${counter}`);
    const epoch = epochOf(counter);
    while (this.#receiveEpoch < epoch) {
      this.#receive.rekey();
      this.#receiveEpoch++;
      this.stats.rekeys++;
    }
    this.#receive.setNonce(BigInt(counter));
    let plaintext: Uint8Array;
    try {
      plaintext = this.#receive.decryptWithAd(this.#ad, ciphertext);
    } catch (e) {
      return this.#fail('SESSION_INVALID', 'message failed authentication', e);
    }
    this.#lastReceived = counter;
    this.stats.opened++;
    return plaintext;
  }

  /** Ends the channel; later calls throw `SESSION_INVALID`. */
  close(): void {
    this.#dead ??= new ProtocolError('SESSION_INVALID', 'the session is closed');
  }

  #check(): void {
    if (this.#dead) throw new ProtocolError('SESSION_INVALID', 'the session has ended', { cause: this.#dead });
  }

  #fail(code: 'SESSION_REPLAY' | 'SESSION_INVALID', message: string, cause?: unknown): never {
    this.#dead = new ProtocolError(code, message, { cause });
    throw this.#dead;
  }
}
