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
 * Not a serial device: a path that is not a character device (a plain file, a directory), or a
 * character device that is not a terminal (`/dev/null`), fails to open with
 * `TRANSPORT_OPEN_FAILED` saying so, not with the binding's "Inappropriate ioctl" message.
 *
 * The lifecycle (open, lost, bounded sends, close) is the shared one of `stream.ts`; this file
 * supplies only opening the port, writing (write, then `tcdrain`) and closing.
 *
 * Exclusive lock: ports are opened with the binding's exclusive lock (`flock`) by default, so a
 * second host process cannot open the same Key and interleave frames; it fails with
 * `TRANSPORT_OPEN_FAILED`. Pass `lock: false` only for ports another tool must share.
 *
 * @module
 */
import { read as fsRead, statSync } from 'node:fs';
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
import { type StreamConnection, type StreamEvents, StreamTransport, type StreamTransportOptions } from './stream.ts';
import { TransportError, type TransportErrorCode } from './transport.ts';

/** Options of {@link SerialTransport}. */
export interface SerialTransportOptions extends StreamTransportOptions {
  /** Device path, e.g. `/dev/ttyACM0` or a simulator pty (`/dev/pts/4`, or its symlink). */
  path: string;
  /** Line speed; default 115200 (ignored by USB CDC-ACM and ptys, kept for real UARTs). */
  baudRate?: number;
  /** Take the exclusive lock on the port; default true (see the module documentation). */
  lock?: boolean;
}

const DEFAULT_BAUD_RATE = 115200;
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

/** Why `path` cannot be a serial device, from its file type, or `undefined` if it may be one. */
function notSerialReason(path: string): string | undefined {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path);
  } catch {
    return undefined; // missing or unreadable: the binding's own error says which
  }
  if (stats.isCharacterDevice()) return undefined;
  const kind = stats.isDirectory() ? 'a directory' : stats.isFile() ? 'a regular file' : 'not a character device';
  return `${kind}, not a serial device`;
}

/** Whether a binding error says the device is not a terminal (ENOTTY from a tty ioctl). */
function isNotATty(error: unknown): boolean {
  const e = error as NodeJS.ErrnoException | undefined;
  return e?.code === 'ENOTTY' || /Inappropriate ioctl/i.test(e?.message ?? '');
}

/**
 * A `Transport` over a serial port (or pty). Received bytes reach the sink as `Uint8Array`
 * chunks with no frame boundaries. The instance may be opened again after it closed. Sends
 * resolve once the operating system has taken the bytes (write, then `tcdrain`); `close` rejects
 * sends still in flight with `TRANSPORT_CLOSED`.
 */
export class SerialTransport extends StreamTransport {
  /** `serial:<path>`. */
  readonly description: string;
  /** The device path given to the constructor. */
  readonly path: string;
  /** The line speed used when opening. */
  readonly baudRate: number;
  /** `baudRate / 10` (8N1): the line rate of a real UART; a USB CDC-ACM port or pty may be faster. */
  readonly nominalBytesPerSecond: number;
  readonly #lock: boolean;

  /**
   * Describes the port; nothing is opened until {@link SerialTransport.open}.
   * @param options - path, baud rate (default 115200), maximum payload (default 65536), outgoing
   *   queue bound (default 1 MiB), lock
   * @throws RangeError if `path` is empty or `baudRate`/`maxPayload`/`maxQueuedBytes` is not valid
   */
  constructor(options: SerialTransportOptions) {
    super(options);
    if (typeof options.path !== 'string' || options.path === '') {
      throw new RangeError('SerialTransport needs a non-empty path');
    }
    const baudRate = options.baudRate ?? DEFAULT_BAUD_RATE;
    if (!Number.isInteger(baudRate) || baudRate < 1) throw new RangeError(`invalid baud rate ${baudRate}`);
    this.path = options.path;
    this.baudRate = baudRate;
    this.nominalBytesPerSecond = baudRate / 10;
    this.#lock = options.lock ?? true;
    this.description = `serial:${options.path}`;
  }

  /**
   * Opens the port with the hang-up-aware binding.
   * @throws {@link TransportError} `TRANSPORT_OPEN_FAILED` (the binding's error as `cause`) if the
   *   port cannot be opened: a missing path, no permission, another process holding the lock, or
   *   a path that is not a serial device
   */
  protected async connect(events: StreamEvents): Promise<StreamConnection> {
    const notSerial = notSerialReason(this.path);
    if (notSerial) throw new TransportError('TRANSPORT_OPEN_FAILED', `cannot open ${this.description}: ${notSerial}`);
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
      const reason = isNotATty(error)
        ? 'not a serial device (it is not a terminal)'
        : error instanceof Error
          ? error.message
          : String(error);
      throw new TransportError('TRANSPORT_OPEN_FAILED', `cannot open ${this.description}: ${reason}`, {
        cause: error,
      });
    }
    port.on('data', (chunk: Buffer) => events.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    port.on('error', (error: Error) => {
      const code: TransportErrorCode = GONE_CODES.has(errorCode(error) ?? '') ? 'TRANSPORT_CLOSED' : 'TRANSPORT_IO';
      events.lost(code, error);
    });
    port.on('close', (error: Error | null | undefined) => {
      events.lost('TRANSPORT_CLOSED', error ?? new Error('the port closed unexpectedly'));
    });
    return {
      write: (bytes, done) =>
        void port.write(bytes, (writeError) => {
          if (writeError) return done(writeError);
          if (!port.isOpen) return done(new Error('the port closed'));
          port.drain((drainError) => done(drainError));
        }),
      close: () => (port.isOpen ? new Promise<void>((resolve) => port.close(() => resolve())) : Promise.resolve()),
      destroy: () => {
        if (port.isOpen) port.close(() => undefined);
      },
    };
  }
}
