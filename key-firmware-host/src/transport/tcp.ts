/**
 * The TCP transport: a Key simulator (or a serial-over-TCP bridge) listening on a TCP port.
 *
 * Plain `node:net` with Nagle disabled (`setNoDelay(true)`): frames are small and latency-bound.
 * A peer that ends or resets the connection closes the link with `TRANSPORT_CLOSED`; other socket
 * errors with `TRANSPORT_IO`. The lifecycle (open, lost, bounded sends, close) is the shared one
 * of `stream.ts`; this file supplies only connect, write and close.
 *
 * @module
 */
import { connect } from 'node:net';
import { type StreamConnection, type StreamEvents, StreamTransport, type StreamTransportOptions } from './stream.ts';
import { TransportError, type TransportErrorCode } from './transport.ts';

/** Options of {@link TcpTransport}. */
export interface TcpTransportOptions extends StreamTransportOptions {
  /** Host name or address, e.g. `127.0.0.1`, `::1` or `localhost`. */
  host: string;
  /** TCP port, 1..65535. */
  port: number;
  /** How long `open` waits for the connection; default 5000 ms. */
  connectTimeoutMs?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** How long `close` lets queued bytes flush before destroying the socket. */
const CLOSE_FLUSH_MS = 1000;
/** Socket error codes that mean the peer went away rather than a local I/O fault. */
const PEER_GONE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_DESTROYED']);

/**
 * A `Transport` over one TCP connection. Received bytes reach the sink as `Uint8Array`
 * chunks with no frame boundaries. The instance may be opened again (a new connection) after it
 * closed. Sends resolve once Node has handed the bytes to the operating system; `close` flushes
 * queued bytes first (at most 1 s, then the socket is destroyed).
 */
export class TcpTransport extends StreamTransport {
  /** `tcp://host:port` (IPv6 hosts in brackets). */
  readonly description: string;
  readonly #host: string;
  readonly #port: number;
  readonly #connectTimeoutMs: number;

  /**
   * Describes the endpoint; nothing connects until {@link TcpTransport.open}.
   * @param options - host, port, connect timeout (default 5000 ms), maximum payload (default
   *   65536), outgoing queue bound (default 1 MiB)
   * @throws RangeError if `host` is empty, `port` is not an integer in 1..65535, or
   *   `connectTimeoutMs`/`maxPayload`/`maxQueuedBytes` is not valid
   */
  constructor(options: TcpTransportOptions) {
    super(options);
    if (typeof options.host !== 'string' || options.host === '') throw new RangeError('TcpTransport needs a host');
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
      throw new RangeError(`invalid TCP port ${options.port}`);
    }
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (!(connectTimeoutMs > 0)) throw new RangeError(`invalid connectTimeoutMs ${connectTimeoutMs}`);
    this.#host = options.host;
    this.#port = options.port;
    this.#connectTimeoutMs = connectTimeoutMs;
    const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.description = `tcp://${shownHost}:${options.port}`;
  }

  /**
   * Connects (within `connectTimeoutMs`) with Nagle disabled.
   * @throws {@link TransportError} `TRANSPORT_OPEN_FAILED` (socket error as `cause`) if the
   *   connection is refused, fails, or times out
   */
  protected async connect(events: StreamEvents): Promise<StreamConnection> {
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
    socket.on('data', (chunk: Buffer) => events.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    socket.on('end', () => events.lost('TRANSPORT_CLOSED', new Error('the peer closed the connection')));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const code: TransportErrorCode = PEER_GONE_CODES.has(error.code ?? '') ? 'TRANSPORT_CLOSED' : 'TRANSPORT_IO';
      events.lost(code, error);
    });
    socket.on('close', () => events.lost('TRANSPORT_CLOSED', new Error('the connection closed')));
    return {
      write: (bytes, done) => void socket.write(bytes, (error) => done(error)),
      close: () =>
        new Promise<void>((resolve) => {
          if (socket.destroyed) return resolve();
          const timer = setTimeout(() => socket.destroy(), CLOSE_FLUSH_MS);
          socket.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          socket.end(() => socket.destroy());
        }),
      destroy: () => socket.destroy(),
    };
  }
}
