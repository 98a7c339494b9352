/**
 * One simulated Key on a pseudo-terminal: a socat pty pair whose device end is opened with the
 * real serialport library and fed to one {@link DeviceLink}, optionally through a modelled UART
 * ({@link ShapedPipe}) each way.
 *
 * Bounded like TCP ({@link LinkFlow}): the port stops reading while responses wait for a host that
 * does not read (the kernel's tty buffers then fill and the host's writes block). The Key cannot
 * unplug itself, so past the hard bound it discards further output (logged) until the host reads.
 * @module
 */
import { autoDetect } from '@serialport/bindings-cpp';
import { SerialPortStream } from '@serialport/stream';
import { createPtyPair, type PtyPair } from '../io/pty.ts';
import { DeviceLink, type KeyEndpointOptions, linkHookOptions } from './device-link.ts';
import { LinkFlow } from './link-flow.ts';
import { type LinkShape, ShapedPipe } from './link-shaper.ts';
import { describeError, logLimited, RateLimiter } from './log.ts';

/** What a {@link SerialEndpoint} needs. */
export interface SerialEndpointOptions extends KeyEndpointOptions {
  /** Folder of the `ttyKEY<i>` links. */
  linkDir: string;
  /** Link name, e.g. `ttyKEY0`. */
  name: string;
  /** Model the link as a UART (default: pty speed). */
  shape?: LinkShape;
}

/** A Key's serial port. */
export class SerialEndpoint {
  readonly #o: SerialEndpointOptions;
  readonly #discardLimiter = new RateLimiter();
  #pty: PtyPair | undefined;
  #port: SerialPortStream | undefined;
  #link: DeviceLink | undefined;
  #out: ShapedPipe | undefined;
  #into: ShapedPipe | undefined;
  #flow: LinkFlow | undefined;
  /** Output frames discarded because the host did not read. */
  discarded = 0;

  /** @param options - the Key, its scheduler, bounds, log and where to put the port */
  constructor(options: SerialEndpointOptions) {
    this.#o = options;
  }

  /** The pty pair (host path, socat pid), once open. */
  get pty(): PtyPair | undefined {
    return this.#pty;
  }

  /** Flow counters (for tests and diagnostics). */
  stats(): { outputBytes: number; inputBytes: number; paused: boolean; discarded: number } {
    return {
      outputBytes: this.#outputBytes(),
      inputBytes: this.#inputBytes(),
      paused: this.#flow?.paused ?? false,
      discarded: this.discarded,
    };
  }

  /**
   * Creates the pty pair and opens its device end.
   * @throws Error if socat cannot create the pair or the port cannot be opened
   */
  async open(): Promise<void> {
    const { firmware, scheduler, timing, limits, log, label, shape } = this.#o;
    const name = `${label} serial`;
    this.#pty = await createPtyPair({ linkDir: this.#o.linkDir, name: this.#o.name });
    const port = new SerialPortStream({ binding: autoDetect(), path: this.#pty.devicePath, baudRate: 115200 });
    await new Promise<void>((res, rej) => port.once('open', () => res()).once('error', rej));
    this.#port = port;
    let overflowing = false;
    const flow = new LinkFlow(
      {
        outputBytes: () => this.#outputBytes(),
        inputBytes: () => this.#inputBytes(),
        pause: () => port.pause(),
        resume: () => port.resume(),
        overflow: () => {
          overflowing = true;
        },
      },
      limits,
      log,
      name,
    );
    this.#flow = flow;
    const toHost = (b: Uint8Array) => {
      if (port.isOpen) port.write(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    };
    const out = shape
      ? new ShapedPipe(shape, (b) => {
          toHost(b);
          flow.update();
        })
      : undefined;
    const link = new DeviceLink(
      firmware,
      (b) => {
        if (overflowing && this.#outputBytes() > limits.outputHigh) {
          this.discarded++;
          logLimited(log, 'warn', this.#discardLimiter, `${name}: discarded output: the host does not read`);
          return;
        }
        overflowing = false;
        if (out) out.push(b);
        else toHost(b);
        if (this.#outputBytes() > limits.outputHigh) flow.update();
      },
      'serial',
      timing,
      {
        scheduler,
        canSend: () => flow.canSend(),
        maxQueuedBytes: limits.inputHard,
        onProgress: () => void flow.update(),
        log,
        label: name,
        ...linkHookOptions(this.#o.hooks, 'serial'),
      },
    );
    const into = shape ? new ShapedPipe(shape, (b) => link.receive(b)) : undefined;
    this.#link = link;
    this.#out = out;
    this.#into = into;
    port.on('data', (chunk: Buffer) => {
      const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      try {
        if (into) into.push(bytes);
        else link.receive(bytes);
        flow.update();
      } catch (e) {
        log.error(`${name}: a failure was contained: ${describeError(e)}`);
      }
    });
    port.on('drain', () => {
      if (flow.update()) link.resume();
    });
    port.on('error', (e) => log.warn(`${name}: port error: ${describeError(e)}`));
    log.info(`${label}: serial link ready`);
  }

  /** Closes the link, the port and the pty pair (socat exits). */
  async close(): Promise<void> {
    this.#link?.close();
    this.#out?.close();
    this.#into?.close();
    const port = this.#port;
    if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()));
    await this.#pty?.close();
  }

  #outputBytes(): number {
    return (this.#port?.writableLength ?? 0) + (this.#out?.queuedBytes ?? 0);
  }

  #inputBytes(): number {
    return (this.#link?.queuedBytes ?? 0) + (this.#into?.queuedBytes ?? 0);
  }
}
