/**
 * The in-memory twin of the stream transports: two linked {@link Transport}s with test controls.
 *
 * It exists for fast unit tests of the framing layer and the Key client; it never replaces the
 * real serial/TCP paths, which have their own tests over real pseudo-terminals and sockets. It
 * passes the same contract suite (`key-firmware-host/test/transport-contract.ts`).
 *
 * Semantics (chosen to resemble a serial line):
 * - Bytes sent by one end arrive at the other end's sink asynchronously (one microtask per
 *   delivered chunk), in order. Bytes sent while the other end is not open are dropped, as on a
 *   serial line nobody listens to.
 * - Controls act on the end they are called on: `injectData`, `chunking` and `corruptNext` shape
 *   what this end receives; `failNextSend`/`failNextOpen` make this end's next call fail.
 * - A send resolves once its bytes are queued; by the time an `await`ing caller resumes they have
 *   usually been delivered (the delivery microtask runs first).
 * - Closing one end also ends the other, like a TCP connection: the other end's sink gets
 *   `closed(TransportError TRANSPORT_CLOSED)` after the bytes already in flight towards it, and it
 *   must be opened again to carry traffic. {@link MemoryTransport.disconnect} cuts the link: bytes
 *   in flight are lost and both sinks get the error.
 * - Either end may be opened again after it closed (or after a disconnect).
 *
 * @module
 */
import { sendRefusal, type Transport, TransportError, type TransportSink } from './transport.ts';

/** Options of {@link createMemoryLink}. */
export interface MemoryLinkOptions {
  /** Largest single send on either end; default 65536. */
  maxPayload?: number;
  /** Split every delivery into chunks of at most this many bytes (both directions); default: no split. */
  chunking?: number;
}

/** One end's open session: its sink, and whether it still receives. */
interface Session {
  readonly sink: TransportSink;
  active: boolean;
}

const DEFAULT_MAX_PAYLOAD = 65536;

function checkChunking(value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
    throw new RangeError(`chunking must be a positive integer, got ${value}`);
  }
}

/** One end of an in-memory link, with controls for tests. Create pairs with {@link createMemoryLink}. */
export class MemoryTransport implements Transport {
  /** `memory:host` or `memory:device`. */
  readonly description: string;
  /** Largest byte count one {@link MemoryTransport.send} accepts. */
  readonly maxPayload: number;
  /** Copies of every byte array this end sent successfully, oldest first. */
  readonly sent: Uint8Array[] = [];

  #peer: MemoryTransport | undefined;
  #session: Session | undefined;
  #chunking: number | undefined;
  #corrupt: ((chunk: Uint8Array) => Uint8Array | undefined) | undefined;
  #failSend: Error | undefined;
  #failOpen: Error | undefined;

  /**
   * Use {@link createMemoryLink}; a lone end has no peer and drops what it sends.
   * @param name - the end's name, used in `description`
   * @param options - maximum payload and chunking
   * @throws RangeError if `maxPayload` or `chunking` is not a positive integer
   */
  constructor(name: string, options: MemoryLinkOptions = {}) {
    const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (!Number.isInteger(maxPayload) || maxPayload < 1) {
      throw new RangeError(`maxPayload must be a positive integer, got ${maxPayload}`);
    }
    checkChunking(options.chunking);
    this.description = `memory:${name}`;
    this.maxPayload = maxPayload;
    this.#chunking = options.chunking;
  }

  /**
   * Links two ends so that each delivers to the other; {@link createMemoryLink} calls it.
   * @throws never
   */
  static link(a: MemoryTransport, b: MemoryTransport): void {
    a.#peer = b;
    b.#peer = a;
  }

  /** Whether this end is open. */
  get isOpen(): boolean {
    return this.#session !== undefined;
  }

  /** The last byte array this end sent successfully, or `undefined` before any send. */
  get lastWrite(): Uint8Array | undefined {
    return this.sent[this.sent.length - 1];
  }

  /** Largest chunk this end's sink receives at once (`undefined`: deliveries are not split). */
  get chunking(): number | undefined {
    return this.#chunking;
  }

  /**
   * Sets how deliveries to this end are split (takes effect for chunks queued afterwards).
   * @throws RangeError if not a positive integer or `undefined`
   */
  set chunking(value: number | undefined) {
    checkChunking(value);
    this.#chunking = value;
  }

  /**
   * Opens this end; from now on bytes the peer sends reach `sink`.
   * @throws {@link TransportError} `TRANSPORT_ALREADY_OPEN` if open; `TRANSPORT_OPEN_FAILED` if
   *   {@link MemoryTransport.failNextOpen} armed a failure (the error given there is its `cause`).
   */
  async open(sink: TransportSink): Promise<void> {
    if (this.#session !== undefined) {
      throw new TransportError('TRANSPORT_ALREADY_OPEN', `${this.description} is already open`);
    }
    const failure = this.#failOpen;
    if (failure !== undefined) {
      this.#failOpen = undefined;
      throw failure instanceof TransportError && failure.code === 'TRANSPORT_OPEN_FAILED'
        ? failure
        : new TransportError('TRANSPORT_OPEN_FAILED', `cannot open ${this.description}: ${failure.message}`, {
            cause: failure,
          });
    }
    this.#session = { sink, active: true };
  }

  /**
   * Sends bytes to the peer (a copy is taken; the caller may reuse `bytes`). Resolves once queued.
   * @throws {@link TransportError} `TRANSPORT_NOT_OPEN`, `TRANSPORT_PAYLOAD_TOO_LARGE`, or the
   *   error armed by {@link MemoryTransport.failNextSend} (default `TRANSPORT_IO`).
   */
  async send(bytes: Uint8Array): Promise<void> {
    const refusal = sendRefusal(this, this.#session !== undefined, bytes.length);
    if (refusal) throw refusal;
    const failure = this.#failSend;
    if (failure !== undefined) {
      this.#failSend = undefined;
      throw failure;
    }
    const copy = bytes.slice();
    this.sent.push(copy);
    const peer = this.#peer;
    if (peer !== undefined) peer.#deliver(copy.slice());
  }

  /**
   * Closes this end: its sink gets `closed()` without an error, once; the peer's sink gets
   * `closed(TransportError TRANSPORT_CLOSED)` after the bytes already in flight to it. Idempotent.
   * @throws never
   */
  async close(): Promise<void> {
    const session = this.#session;
    if (session === undefined) return;
    this.#session = undefined;
    session.active = false;
    session.sink.closed();
    const peer = this.#peer;
    if (peer !== undefined) {
      peer.#notifyPeerClosed(
        new TransportError('TRANSPORT_CLOSED', `the other end of the memory link (${this.description}) closed`),
      );
    }
  }

  /**
   * Delivers bytes to this end's sink as if the peer had sent them (asynchronously, subject to
   * `chunking` and `corruptNext`). Not recorded in `sent` of either end.
   * @throws {@link TransportError} `TRANSPORT_NOT_OPEN` if this end is not open
   */
  injectData(bytes: Uint8Array): void {
    if (this.#session === undefined) {
      throw new TransportError('TRANSPORT_NOT_OPEN', `${this.description} is not open; cannot inject data`);
    }
    this.#deliver(bytes.slice());
  }

  /**
   * Makes this end's next {@link MemoryTransport.send} reject with `error` (default a
   * `TRANSPORT_IO` {@link TransportError}); nothing is sent and the link stays open.
   * @throws never
   */
  failNextSend(error?: Error): void {
    this.#failSend = error ?? new TransportError('TRANSPORT_IO', `${this.description}: injected send failure`);
  }

  /**
   * Makes this end's next {@link MemoryTransport.open} reject with `TRANSPORT_OPEN_FAILED`
   * (keeping `error` as its cause, or `error` itself if it already is such a TransportError).
   * @throws never
   */
  failNextOpen(error?: Error): void {
    this.#failOpen = error ?? new TransportError('TRANSPORT_OPEN_FAILED', `${this.description}: injected open failure`);
  }

  /**
   * Applies `fn` to the next chunk this end's sink receives (after chunking). `fn` may mutate the
   * chunk in place or return a replacement (shorter, longer or different bytes).
   * @throws never
   */
  corruptNext(fn: (chunk: Uint8Array) => Uint8Array | undefined): void {
    this.#corrupt = fn;
  }

  /**
   * Cuts the link: both ends close at once, bytes in flight are lost, and each open end's sink gets
   * `closed(error)` asynchronously (default `TransportError TRANSPORT_CLOSED`). Sends on either
   * end then fail with `TRANSPORT_NOT_OPEN` until it is opened again.
   * @throws never
   */
  disconnect(error?: TransportError): void {
    const reason = error ?? new TransportError('TRANSPORT_CLOSED', 'the memory link was disconnected');
    this.#cut(reason);
    const peer = this.#peer;
    if (peer !== undefined) peer.#cut(reason);
  }

  #cut(reason: TransportError): void {
    const session = this.#session;
    if (session === undefined) return;
    this.#session = undefined;
    session.active = false;
    queueMicrotask(() => session.sink.closed(reason));
  }

  #notifyPeerClosed(reason: TransportError): void {
    const session = this.#session;
    if (session === undefined) return;
    queueMicrotask(() => {
      if (!session.active) return;
      session.active = false;
      if (this.#session === session) this.#session = undefined;
      session.sink.closed(reason);
    });
  }

  #deliver(bytes: Uint8Array): void {
    const session = this.#session;
    if (session === undefined || bytes.length === 0) return;
    const size = this.#chunking ?? bytes.length;
    for (let offset = 0; offset < bytes.length; offset += size) {
      const chunk = bytes.subarray(offset, offset + size);
      queueMicrotask(() => {
        if (!session.active) return;
        let delivered = chunk;
        const corrupt = this.#corrupt;
        if (corrupt !== undefined) {
          this.#corrupt = undefined;
          delivered = corrupt(delivered) ?? delivered;
        }
        session.sink.data(delivered);
      });
    }
  }
}

/**
 * Creates two linked in-memory transports: what one sends, the other receives.
 * @param options - maximum payload (default 65536) and delivery chunking for both ends
 * @returns `host` (`memory:host`) and `device` (`memory:device`), both closed
 * @throws RangeError if `maxPayload` or `chunking` is not a positive integer
 */
export function createMemoryLink(options: MemoryLinkOptions = {}): { host: MemoryTransport; device: MemoryTransport } {
  const host = new MemoryTransport('host', options);
  const device = new MemoryTransport('device', options);
  MemoryTransport.link(host, device);
  return { host, device };
}
