/**
 * The TCP transport: a Key simulator (or a serial-over-TCP bridge) listening on a TCP port.
 *
 * Plain `node:net` with Nagle disabled (`setNoDelay(true)`): frames are small and latency-bound.
 * A peer that ends or resets the connection closes the link with `TRANSPORT_CLOSED`; other socket
 * errors with `TRANSPORT_IO`.
 *
 * @module
 */
import { connect, type Socket } from 'node:net';
import { sendRefusal, type Transport, TransportError, type TransportErrorCode, type TransportSink } from './transport.ts';

/** Options of {@link TcpTransport}. */
export interface TcpTransportOptions {
  /** Host name or address, e.g. `127.0.0.1`, `::1` or `localhost`. */
  host: string;
  /** TCP port, 1..65535. */
  port: number;
  /** How long `open` waits for the connection; default 5000 ms. */
  connectTimeoutMs?: number;
  /** Largest single send; default 65536. */
  maxPayload?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_MAX_PAYLOAD = 65536;
/** How long `close` lets queued bytes flush before destroying the socket. */
const CLOSE_FLUSH_MS = 1000;
/** Socket error codes that mean the peer went away rather than a local I/O fault. */
const PEER_GONE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_DESTROYED']);

/** One open period of a {@link TcpTransport}. */
interface Session {
  readonly socket: Socket;
  readonly sink: TransportSink;
  ended: boolean;
  readonly pending: Set<(error: TransportError) => void>;
}

/**
 * A {@link Transport} over one TCP connection. Received bytes reach the sink as `Uint8Array`
 * chunks with no frame boundaries. The instance may be opened again (a new connection) after it
 * closed.
 */
export class TcpTransport implements Transport {
  /** `tcp://host:port` (IPv6 hosts in brackets). */
  readonly description: string;
  /** Largest byte count one {@link TcpTransport.send} accepts. */
  readonly maxPayload: number;
  readonly #host: string;
  readonly #port: number;
  readonly #connectTimeoutMs: number;
  #session: Session | undefined;
  #opening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Describes the endpoint; nothing connects until {@link TcpTransport.open}.
   * @param options - host, port, connect timeout (default 5000 ms), maximum payload (default 65536)
   * @throws RangeError if `host` is empty, `port` is not an integer in 1..65535, or
   *   `connectTimeoutMs`/`maxPayload` is not positive
   */
  constructor(options: TcpTransportOptions) {
    if (typeof options.host !== 'string' || options.host === '') throw new RangeError('TcpTransport needs a host');
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
      throw new RangeError(`invalid TCP port ${options.port}`);
    }
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (!(connectTimeoutMs > 0)) throw new RangeError(`invalid connectTimeoutMs ${connectTimeoutMs}`);
    if (!Number.isInteger(maxPayload) || maxPayload < 1) throw new RangeError(`invalid maxPayload ${maxPayload}`);
    this.#host = options.host;
    this.#port = options.port;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.maxPayload = maxPayload;
    const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.description = `tcp://${shownHost}:${options.port}`;
  }

  /** Whether the connection is open (and not closing). */
  get isOpen(): boolean {
    return this.#session !== undefined && !this.#session.ended && this.#closing === undefined;
  }

  /**
   * Connects and starts delivering received bytes to `sink`.
   * @throws {@link TransportError} `TRANSPORT_ALREADY_OPEN` if open, opening or closing;
   *   `TRANSPORT_OPEN_FAILED` (socket error as `cause`) if the connection is refused, fails, or
   *   does not complete within `connectTimeoutMs`.
   */
  open(sink: TransportSink): Promise<void> {
    if (this.#session !== undefined || this.#opening !== undefined || this.#closing !== undefined) {
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
    const socket = connect({ host: this.#host, port: this.#port });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no connection within ${this.#connectTimeoutMs} ms`));
        }, this.#connectTimeoutMs);
        const onConnect = (): void => {
          cleanup();
          resolve();
        };
        const onError = (error: Error): void => {
          cleanup();
          reject(error);
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          socket.off('connect', onConnect);
          socket.off('error', onError);
        };
        socket.once('connect', onConnect);
        socket.once('error', onError);
      });
    } catch (error) {
      socket.destroy();
      const reason = error instanceof Error ? error.message : String(error);
      throw new TransportError('TRANSPORT_OPEN_FAILED', `cannot connect to ${this.description}: ${reason}`, {
        cause: error,
      });
    }
    socket.setNoDelay(true);
    const session: Session = { socket, sink, ended: false, pending: new Set() };
    this.#session = session;
    socket.on('data', (chunk: Buffer) => {
      if (!session.ended) sink.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
    socket.on('end', () => this.#lost(session, 'TRANSPORT_CLOSED', new Error('the peer closed the connection')));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const code: TransportErrorCode = PEER_GONE_CODES.has(error.code ?? '') ? 'TRANSPORT_CLOSED' : 'TRANSPORT_IO';
      this.#lost(session, code, error);
    });
    socket.on('close', () => this.#lost(session, 'TRANSPORT_CLOSED', new Error('the connection closed')));
  }

  /** Ends `session` because of something it did not ask for; the sink hears about it once. */
  #lost(session: Session, code: TransportErrorCode, cause: Error): void {
    if (session.ended) return;
    session.ended = true;
    if (this.#session === session) this.#session = undefined;
    const error = new TransportError(code, `${this.description} closed: ${cause.message}`, { cause });
    for (const abort of session.pending) abort(error);
    session.pending.clear();
    session.socket.destroy();
    session.sink.closed(error);
  }

  /**
   * Writes `bytes` (copied) and resolves once Node has handed them to the operating system.
   * Concurrent sends are written in call order.
   * @throws {@link TransportError} `TRANSPORT_NOT_OPEN` if not open; `TRANSPORT_PAYLOAD_TOO_LARGE`
   *   if longer than `maxPayload`; `TRANSPORT_IO` if the write fails; `TRANSPORT_CLOSED` if the
   *   connection closes before the bytes are written.
   */
  send(bytes: Uint8Array): Promise<void> {
    const session = this.#session;
    const refusal = sendRefusal(this, session !== undefined && !session.ended && this.#closing === undefined, bytes.length);
    if (refusal || session === undefined) return Promise.reject(refusal);
    if (bytes.length === 0) return Promise.resolve();
    const buffer = Buffer.from(bytes);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: TransportError): void => {
        if (settled) return;
        settled = true;
        session.pending.delete(settle);
        if (error) reject(error);
        else resolve();
      };
      session.pending.add(settle);
      session.socket.write(buffer, (error) => {
        if (error) {
          settle(new TransportError('TRANSPORT_IO', `${this.description}: write failed: ${error.message}`, { cause: error }));
        } else {
          settle();
        }
      });
    });
  }

  /**
   * Closes the connection after flushing queued bytes (at most 1 s, then the socket is destroyed);
   * the sink gets `closed()` without an error unless the link was already lost. Idempotent;
   * concurrent calls share one promise.
   * @throws never
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
    const session = this.#session;
    if (session === undefined) return;
    this.#session = undefined;
    if (session.ended) return;
    session.ended = true;
    const { socket } = session;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), CLOSE_FLUSH_MS);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end(() => socket.destroy());
    });
    const error = new TransportError('TRANSPORT_CLOSED', `${this.description} was closed while sending`);
    for (const abort of session.pending) abort(error);
    session.pending.clear();
    session.sink.closed();
  }
}
