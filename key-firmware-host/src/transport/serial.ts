/**
 * The serial transport: a Key on a USB CDC-ACM port (`/dev/ttyACM0`), or the simulator on a
 * pseudo-terminal, through `@serialport/stream` and the native `@serialport/bindings-cpp`.
 *
 * Hang-up detection: when the other end of a tty goes away (a pty master closes, e.g. the
 * simulator's socat exits) the slave's `read()` returns 0 bytes. The stock Unix binding treats a
 * 0-byte read as "try again" and re-reads in a tight loop, burning a CPU core and never reporting
 * the loss. This transport wraps the binding's port so that a 0-byte read on Unix is a hang-up:
 * the port closes and the sink gets `closed(TransportError TRANSPORT_CLOSED)`. (With
 * `vmin=1, vtime=0` in raw mode, which the binding sets, a live tty never returns 0 bytes.)
 * Writes on a hung-up tty fail with `EIO`, which is reported the same way.
 *
 * Exclusive lock: ports are opened with the binding's exclusive lock (`flock`) by default, so a
 * second host process cannot open the same Key and interleave frames; it fails with
 * `TRANSPORT_OPEN_FAILED`. Pass `lock: false` only for ports another tool must share.
 *
 * @module
 */
import { read as fsRead } from 'node:fs';
import {
  autoDetect,
  type BindingInterface,
  type BindingPortInterface,
  BindingsError,
  type OpenOptions,
  type PortInfo,
  type PortStatus,
  type SetOptions,
  type UpdateOptions,
} from '@serialport/bindings-cpp';
import { SerialPortStream } from '@serialport/stream';
import { sendRefusal, type Transport, TransportError, type TransportErrorCode, type TransportSink } from './transport.ts';

/** Options of {@link SerialTransport}. */
export interface SerialTransportOptions {
  /** Device path, e.g. `/dev/ttyACM0` or a simulator pty (`/dev/pts/4`, or its symlink). */
  path: string;
  /** Line speed; default 115200 (ignored by USB CDC-ACM and ptys, kept for real UARTs). */
  baudRate?: number;
  /** Largest single send; default 65536. */
  maxPayload?: number;
  /** Take the exclusive lock on the port; default true (see the module documentation). */
  lock?: boolean;
}

const DEFAULT_BAUD_RATE = 115200;
const DEFAULT_MAX_PAYLOAD = 65536;
/** errno codes that mean the device or the other end of the tty went away. */
const GONE_CODES = new Set(['EIO', 'ENXIO', 'ENODEV', 'EBADF', 'EHANGUP']);

interface UnixPort extends BindingPortInterface {
  fd: number | null;
  poller: { once(event: 'readable', callback: (error: Error | null) => void): unknown };
}

function isUnixPort(port: BindingPortInterface): port is UnixPort {
  const candidate = port as Partial<UnixPort>;
  return (
    typeof candidate.fd === 'number' &&
    typeof candidate.poller === 'object' &&
    candidate.poller !== null &&
    typeof candidate.poller.once === 'function'
  );
}

function readOnce(fd: number, buffer: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fsRead(fd, buffer, offset, length, null, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead)));
  });
}

/** Delegates to the binding's port, replacing `read` on Unix with a hang-up-aware one. */
class HangupAwarePort implements BindingPortInterface {
  readonly #inner: BindingPortInterface;

  constructor(inner: BindingPortInterface) {
    this.#inner = inner;
  }

  get openOptions(): Required<OpenOptions> {
    return this.#inner.openOptions;
  }

  get isOpen(): boolean {
    return this.#inner.isOpen;
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  async read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    const port = this.#inner;
    if (!isUnixPort(port)) return port.read(buffer, offset, length);
    for (;;) {
      const fd = port.fd;
      if (!port.isOpen || fd === null) throw new BindingsError('Port is not open', { canceled: true });
      let bytesRead: number;
      try {
        bytesRead = await readOnce(fd, buffer, offset, length);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') {
          if (!port.isOpen) throw new BindingsError('Port is not open', { canceled: true });
          await new Promise<void>((resolve, reject) => {
            port.poller.once('readable', (pollError) => (pollError ? reject(pollError) : resolve()));
          });
          continue;
        }
        throw error;
      }
      if (bytesRead > 0) return { buffer, bytesRead };
      if (!port.isOpen) throw new BindingsError('Port is not open', { canceled: true });
      throw Object.assign(new Error('the serial line hung up (the other end went away)'), {
        code: 'EHANGUP',
        disconnect: true,
      });
    }
  }

  write(buffer: Buffer): Promise<void> {
    return this.#inner.write(buffer);
  }

  update(options: UpdateOptions): Promise<void> {
    return this.#inner.update(options);
  }

  set(options: SetOptions): Promise<void> {
    return this.#inner.set(options);
  }

  get(): Promise<PortStatus> {
    return this.#inner.get();
  }

  getBaudRate(): Promise<{ baudRate: number }> {
    return this.#inner.getBaudRate();
  }

  flush(): Promise<void> {
    return this.#inner.flush();
  }

  drain(): Promise<void> {
    return this.#inner.drain();
  }
}

/** The platform binding with {@link HangupAwarePort} around every port it opens. */
function hangupAwareBinding(): BindingInterface {
  const base = autoDetect() as BindingInterface;
  return {
    list: (): Promise<PortInfo[]> => base.list(),
    open: async (options: OpenOptions): Promise<BindingPortInterface> => new HangupAwarePort(await base.open(options)),
  };
}

function errorCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** One open period of a {@link SerialTransport}: the port, its sink, and sends in flight. */
interface Session {
  readonly port: SerialPortStream;
  readonly sink: TransportSink;
  ended: boolean;
  readonly pending: Set<(error: TransportError) => void>;
}

/**
 * A {@link Transport} over a serial port (or pty). Received bytes reach the sink as
 * `Uint8Array` chunks with no frame boundaries. The instance may be opened again after it closed.
 */
export class SerialTransport implements Transport {
  /** `serial:<path>`. */
  readonly description: string;
  /** Largest byte count one {@link SerialTransport.send} accepts. */
  readonly maxPayload: number;
  /** The device path given to the constructor. */
  readonly path: string;
  /** The line speed used when opening. */
  readonly baudRate: number;
  /** `baudRate / 10` (8N1): the line rate of a real UART; a USB CDC-ACM port or pty may be faster. */
  readonly nominalBytesPerSecond: number;
  readonly #lock: boolean;
  #session: Session | undefined;
  #opening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Describes the port; nothing is opened until {@link SerialTransport.open}.
   * @param options - path, baud rate (default 115200), maximum payload (default 65536), lock
   * @throws RangeError if `path` is empty or `baudRate`/`maxPayload` is not a positive integer
   */
  constructor(options: SerialTransportOptions) {
    if (typeof options.path !== 'string' || options.path === '') {
      throw new RangeError('SerialTransport needs a non-empty path');
    }
    const baudRate = options.baudRate ?? DEFAULT_BAUD_RATE;
    const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (!Number.isInteger(baudRate) || baudRate < 1) throw new RangeError(`invalid baud rate ${baudRate}`);
    if (!Number.isInteger(maxPayload) || maxPayload < 1) throw new RangeError(`invalid maxPayload ${maxPayload}`);
    this.path = options.path;
    this.baudRate = baudRate;
    this.nominalBytesPerSecond = baudRate / 10;
    this.#lock = options.lock ?? true;
    this.maxPayload = maxPayload;
    this.description = `serial:${options.path}`;
  }

  /** Whether the port is open (and not closing). */
  get isOpen(): boolean {
    return this.#session !== undefined && !this.#session.ended && this.#closing === undefined;
  }

  /**
   * Opens the port and starts delivering received bytes to `sink`.
   * @throws {@link TransportError} `TRANSPORT_ALREADY_OPEN` if open, opening or closing;
   *   `TRANSPORT_OPEN_FAILED` (the binding's error as `cause`) if the port cannot be opened, e.g.
   *   a missing path, no permission, or another process holding the lock.
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
    const port = new SerialPortStream({
      binding: hangupAwareBinding(),
      path: this.path,
      baudRate: this.baudRate,
      lock: this.#lock,
      autoOpen: false,
    });
    try {
      await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new TransportError('TRANSPORT_OPEN_FAILED', `cannot open ${this.description}: ${reason}`, {
        cause: error,
      });
    }
    const session: Session = { port, sink, ended: false, pending: new Set() };
    this.#session = session;
    port.on('data', (chunk: Buffer) => {
      if (!session.ended) sink.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
    port.on('error', (error: Error) => {
      const code: TransportErrorCode = GONE_CODES.has(errorCode(error) ?? '') ? 'TRANSPORT_CLOSED' : 'TRANSPORT_IO';
      this.#lost(session, code, error);
    });
    port.on('close', (error: Error | null | undefined) => {
      this.#lost(session, 'TRANSPORT_CLOSED', error ?? new Error('the port closed unexpectedly'));
    });
  }

  /** Ends `session` because of an error it did not ask for; the sink hears about it once. */
  #lost(session: Session, code: TransportErrorCode, cause: Error): void {
    if (session.ended) return;
    session.ended = true;
    if (this.#session === session) this.#session = undefined;
    const error = new TransportError(code, `${this.description} closed: ${cause.message}`, { cause });
    for (const abort of session.pending) abort(error);
    session.pending.clear();
    if (session.port.isOpen) session.port.close(() => undefined);
    session.sink.closed(error);
  }

  /**
   * Writes `bytes` (copied) and resolves once the operating system has taken them (write, then
   * `tcdrain`). Concurrent sends are written in call order.
   * @throws {@link TransportError} `TRANSPORT_NOT_OPEN` if not open; `TRANSPORT_PAYLOAD_TOO_LARGE`
   *   if longer than `maxPayload`; `TRANSPORT_IO` if the write fails; `TRANSPORT_CLOSED` if the
   *   link closes before the bytes are drained.
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
      const ioError = (error: Error): TransportError =>
        new TransportError('TRANSPORT_IO', `${this.description}: write failed: ${error.message}`, { cause: error });
      session.pending.add(settle);
      session.port.write(buffer, (writeError) => {
        if (writeError) return settle(ioError(writeError));
        if (session.ended) return settle(new TransportError('TRANSPORT_CLOSED', `${this.description} closed`));
        session.port.drain((drainError) => settle(drainError ? ioError(drainError) : undefined));
      });
    });
  }

  /**
   * Closes the port; the sink gets `closed()` without an error (unless the link was already lost,
   * in which case the sink already heard). Sends still in flight reject with `TRANSPORT_CLOSED`.
   * Idempotent; concurrent calls share one promise.
   * @throws never: errors of the underlying close are swallowed (the descriptor is gone anyway).
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
    const error = new TransportError('TRANSPORT_CLOSED', `${this.description} was closed while sending`);
    for (const abort of session.pending) abort(error);
    session.pending.clear();
    if (session.port.isOpen) {
      await new Promise<void>((resolve) => session.port.close(() => resolve()));
    }
    session.sink.closed();
  }
}
