/**
 * The one lifecycle of the host's stream transports (serial, TCP): open → deliver → send → lost
 * or closed, written once. A concrete transport supplies only its primitives: how to connect
 * (returning a {@link StreamConnection} with `write`, `close` and `destroy`) and how to report
 * what it reads and how it was lost ({@link StreamEvents}).
 *
 * What the base guarantees, for every stream transport alike (the contract suite checks it):
 * - one open period at a time; `open` while open, opening or closing → `TRANSPORT_ALREADY_OPEN`;
 *   the instance may be opened again after it closed;
 * - sends are written in call order; each resolves when the primitive says the bytes left;
 * - a lost link (peer gone, I/O error) ends the open period once: sends in flight reject with
 *   the loss, the sink hears `closed(error)` once, the connection is destroyed;
 * - `close` is idempotent and shared by concurrent callers; the sink hears `closed()` once;
 * - the outgoing queue is bounded: bytes handed to `send` whose write has not completed never
 *   exceed `maxQueuedBytes`; a send past the bound is refused with `TRANSPORT_BUSY` before
 *   anything is written (a peer that does not read cannot make the host grow without bound);
 * - nothing is queued on the way in: each chunk read goes to the sink synchronously (the Key
 *   client's frame decoder, itself bounded by the largest frame).
 *
 * @module
 */
import { sendRefusal, type Transport, TransportError, type TransportErrorCode, type TransportSink } from './transport.ts';

/** Default bound of a stream transport's outgoing queue: 1 MiB. */
export const DEFAULT_MAX_QUEUED_BYTES = 1024 * 1024;

/** One open connection's primitives, supplied by a concrete stream transport. */
export interface StreamConnection {
  /** Writes `bytes`; calls `done` once they left (handed to the OS, drained), or with the error. */
  write(bytes: Buffer, done: (error?: Error | null) => void): void;
  /** Closes on request, letting queued bytes leave where the medium allows; resolves when closed. */
  close(): Promise<void>;
  /** Tears the connection down at once (after a loss). */
  destroy(): void;
}

/** What a connection reports to the base while it is open. */
export interface StreamEvents {
  /** A chunk was read. */
  data(chunk: Uint8Array): void;
  /** The link was lost: `code` is `TRANSPORT_CLOSED` (peer gone) or `TRANSPORT_IO`. */
  lost(code: TransportErrorCode, cause: Error): void;
}

/** Options every stream transport takes. */
export interface StreamTransportOptions {
  /** Largest single send; default 65536. */
  maxPayload?: number;
  /** Bound of the outgoing queue, bytes (≥ maxPayload); default {@link DEFAULT_MAX_QUEUED_BYTES}. */
  maxQueuedBytes?: number;
}

/** One open period: its connection, sink, sends in flight and queued bytes. */
interface Period {
  connection: StreamConnection | undefined;
  readonly sink: TransportSink;
  ended: boolean;
  queued: number;
  readonly pending: Set<(error: TransportError) => void>;
}

/**
 * The shared lifecycle of stream transports. Subclasses implement {@link StreamTransport.connect}
 * and set {@link StreamTransport.description}.
 */
export abstract class StreamTransport implements Transport {
  /** Human description, e.g. `serial:/dev/ttyACM0`. */
  abstract readonly description: string;
  /** Largest byte count one {@link StreamTransport.send} accepts. */
  readonly maxPayload: number;
  /** Bound of the outgoing queue (bytes sent but not yet written). */
  readonly maxQueuedBytes: number;
  #period: Period | undefined;
  #opening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /**
   * @param options - maximum payload (default 65536) and outgoing queue bound (default 1 MiB)
   * @throws RangeError if `maxPayload` is not a positive integer or `maxQueuedBytes` is below it
   */
  protected constructor(options: StreamTransportOptions = {}) {
    const maxPayload = options.maxPayload ?? 65536;
    if (!Number.isInteger(maxPayload) || maxPayload < 1) throw new RangeError(`invalid maxPayload ${maxPayload}`);
    const maxQueuedBytes = options.maxQueuedBytes ?? Math.max(DEFAULT_MAX_QUEUED_BYTES, maxPayload);
    if (!Number.isInteger(maxQueuedBytes) || maxQueuedBytes < maxPayload)
      throw new RangeError(`invalid maxQueuedBytes ${maxQueuedBytes} (must be an integer ≥ maxPayload ${maxPayload})`);
    this.maxPayload = maxPayload;
    this.maxQueuedBytes = maxQueuedBytes;
  }

  /**
   * Opens the medium and wires `events` to it.
   * @throws {@link TransportError} `TRANSPORT_OPEN_FAILED` (with the medium's error as `cause`)
   */
  protected abstract connect(events: StreamEvents): Promise<StreamConnection>;

  /** Whether the link is open (and not closing). */
  get isOpen(): boolean {
    return this.#period !== undefined && !this.#period.ended && this.#closing === undefined;
  }

  /** Bytes handed to {@link StreamTransport.send} and not yet written (0 when closed). */
  get queuedBytes(): number {
    return this.#period?.queued ?? 0;
  }

  /**
   * Opens the link and starts delivering received bytes to `sink`.
   * @throws {@link TransportError} `TRANSPORT_ALREADY_OPEN` if open, opening or closing;
   *   `TRANSPORT_OPEN_FAILED` if the medium cannot be opened
   */
  open(sink: TransportSink): Promise<void> {
    if (this.#period !== undefined || this.#opening !== undefined || this.#closing !== undefined) {
      return Promise.reject(
        new TransportError('TRANSPORT_ALREADY_OPEN', `${this.description} is already open (or opening/closing)`),
      );
    }
    const opening = this.#open(sink).finally(() => {
      this.#opening = undefined;
    });
    this.#opening = opening;
    return opening;
  }

  async #open(sink: TransportSink): Promise<void> {
    const period: Period = { connection: undefined, sink, ended: false, queued: 0, pending: new Set() };
    const connection = await this.connect({
      data: (chunk) => {
        if (!period.ended) sink.data(chunk);
      },
      lost: (code, cause) => this.#lost(period, code, cause),
    });
    period.connection = connection;
    if (period.ended) {
      // Lost while connecting: the sink heard it; nothing stays open.
      connection.destroy();
      return;
    }
    this.#period = period;
  }

  /** Ends `period` because of something it did not ask for; the sink hears about it once. */
  #lost(period: Period, code: TransportErrorCode, cause: Error): void {
    if (period.ended) return;
    period.ended = true;
    if (this.#period === period) this.#period = undefined;
    const error = new TransportError(code, `${this.description} closed: ${cause.message}`, { cause });
    for (const abort of period.pending) abort(error);
    period.pending.clear();
    period.connection?.destroy();
    period.sink.closed(error);
  }

  /**
   * Writes `bytes` (copied); resolves once the medium took them. Concurrent sends are written in
   * call order.
   * @throws {@link TransportError} `TRANSPORT_NOT_OPEN` if not open; `TRANSPORT_PAYLOAD_TOO_LARGE`
   *   if longer than `maxPayload`; `TRANSPORT_BUSY` if the outgoing queue would pass
   *   `maxQueuedBytes` (nothing is written; the link stays open); `TRANSPORT_IO` if the write
   *   fails; `TRANSPORT_CLOSED` if the link closes before the bytes left
   */
  send(bytes: Uint8Array): Promise<void> {
    const period = this.#period;
    const open = period !== undefined && !period.ended && this.#closing === undefined;
    const refusal = sendRefusal(this, open, bytes.length);
    if (refusal || period === undefined || period.connection === undefined) return Promise.reject(refusal);
    if (bytes.length === 0) return Promise.resolve();
    if (period.queued + bytes.length > this.maxQueuedBytes) {
      return Promise.reject(
        new TransportError(
          'TRANSPORT_BUSY',
          `${this.description}: ${period.queued} bytes are still waiting to be written (bound ${this.maxQueuedBytes}); the peer is not reading`,
        ),
      );
    }
    const connection = period.connection;
    const buffer = Buffer.from(bytes);
    period.queued += buffer.length;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: TransportError): void => {
        if (settled) return;
        settled = true;
        period.queued -= buffer.length;
        period.pending.delete(settle);
        if (error) reject(error);
        else resolve();
      };
      period.pending.add(settle);
      connection.write(buffer, (error) => {
        if (!error) return settle();
        if (period.ended) return settle(new TransportError('TRANSPORT_CLOSED', `${this.description} closed`, { cause: error }));
        settle(new TransportError('TRANSPORT_IO', `${this.description}: write failed: ${error.message}`, { cause: error }));
      });
    });
  }

  /**
   * Closes the link; the sink gets `closed()` without an error (unless the link was already lost,
   * in which case it already heard). Sends the medium did not complete reject with
   * `TRANSPORT_CLOSED`. Idempotent; concurrent calls share one promise.
   * @throws never: errors of the underlying close are swallowed (the link is gone anyway)
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const closing = this.#close().finally(() => {
      this.#closing = undefined;
    });
    this.#closing = closing;
    return closing;
  }

  async #close(): Promise<void> {
    if (this.#opening !== undefined) await this.#opening.catch(() => undefined);
    const period = this.#period;
    if (period === undefined) return;
    this.#period = undefined;
    if (period.ended) return;
    period.ended = true;
    await period.connection?.close().catch(() => undefined);
    const error = new TransportError('TRANSPORT_CLOSED', `${this.description} was closed while sending`);
    for (const abort of period.pending) abort(error);
    period.pending.clear();
    period.sink.closed();
  }
}
