/**
 * Backpressure between one connection's medium (a TCP socket, a serial port) and its
 * {@link DeviceLink}: every queue is bounded.
 *
 * - Output (responses and events not yet taken by the host): above `outputHigh` the link stops
 *   handling requests and the medium stops reading; it resumes when the medium drains. Only
 *   unsolicited output (events, keepalives) can grow past that; above `outputHard` the connection
 *   is dropped (TCP) or further output discarded (serial: the Key cannot unplug itself), with a
 *   logged reason.
 * - Input (received requests not handled yet): above `inputHigh` the medium stops reading, so the
 *   kernel's buffers fill and the host's writes block; the link discards requests past its own
 *   bound (`DeviceLink` `maxQueuedBytes`).
 *
 * Per Key, the bound is the per-connection bound times the number of connections, which is itself
 * bounded ({@link LinkLimits.maxTcpLinksPerKey}; serial is one port).
 * @module
 */
import { logLimited, RateLimiter, type SimLogger } from './log.ts';

/** Bounds of every connection's queues (bytes) and of connections per Key. */
export interface LinkLimits {
  /** Output bytes queued for the host above which the link pauses (default 64 KiB). */
  outputHigh: number;
  /** Output bytes queued for the host above which the connection is dropped (default 1 MiB). */
  outputHard: number;
  /** Received, unhandled request bytes above which the medium stops reading (default 64 KiB). */
  inputHigh: number;
  /** Received, unhandled request bytes a link keeps at most; more are discarded (default 256 KiB). */
  inputHard: number;
  /**
   * Concurrent TCP connections per Key (default 4). A real Key has one USB and one BLE link; TCP
   * stands in for both plus a test harness, so a small number more. Further connections are
   * closed at once, with a log line.
   */
  maxTcpLinksPerKey: number;
  /**
   * Concurrent BLE connections per Key, from any host adapter (default 1: a real Key's radio serves
   * one central). A further host's connect is refused with a reason and a log line.
   */
  maxBleLinksPerKey: number;
}

/** The defaults of {@link LinkLimits}. */
export const DEFAULT_LINK_LIMITS: Readonly<LinkLimits> = Object.freeze({
  outputHigh: 64 * 1024,
  outputHard: 1024 * 1024,
  inputHigh: 64 * 1024,
  inputHard: 256 * 1024,
  maxTcpLinksPerKey: 4,
  maxBleLinksPerKey: 1,
});

/** What a {@link LinkFlow} controls. */
export interface FlowMedium {
  /** Output bytes queued for the host (medium buffers plus any modelled line). */
  outputBytes(): number;
  /** Input bytes received but not handled yet. */
  inputBytes(): number;
  /** Stop reading from the host. */
  pause(): void;
  /** Read from the host again. */
  resume(): void;
  /**
   * The output bound was exceeded. TCP drops the connection; serial discards output until it
   * drains. `reason` is for the log (sizes only).
   */
  overflow(reason: string): void;
}

/** Flow control of one connection. */
export class LinkFlow {
  readonly #m: FlowMedium;
  readonly #limits: LinkLimits;
  readonly #log: SimLogger;
  readonly #label: string;
  readonly #limiter = new RateLimiter();
  #paused = false;
  /** Counters: how often reading paused, how often the hard bound was hit. */
  readonly stats = { pauses: 0, overflows: 0 };

  /**
   * @param medium - the connection
   * @param limits - bounds
   * @param log - where pauses (debug) and overflows (warn) are logged
   * @param label - names the connection in log lines
   */
  constructor(medium: FlowMedium, limits: LinkLimits, log: SimLogger, label: string) {
    this.#m = medium;
    this.#limits = limits;
    this.#log = log;
    this.#label = label;
  }

  /** Whether the link may produce more output (handle another request). */
  canSend(): boolean {
    return this.#m.outputBytes() <= this.#limits.outputHigh;
  }

  /** Whether reading is paused. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Re-evaluates the bounds: call after input was handled, output written, or the medium drained.
   * @returns false if the output bound was exceeded (the medium's `overflow` was called)
   */
  update(): boolean {
    const out = this.#m.outputBytes();
    if (out > this.#limits.outputHard) {
      this.stats.overflows++;
      const reason = `${out} bytes of output unread by the host (bound ${this.#limits.outputHard})`;
      logLimited(this.#log, 'warn', this.#limiter, `${this.#label}: ${reason}`);
      this.#m.overflow(reason);
      return false;
    }
    const stop = out > this.#limits.outputHigh || this.#m.inputBytes() > this.#limits.inputHigh;
    if (stop && !this.#paused) {
      this.#paused = true;
      this.stats.pauses++;
      this.#m.pause();
      logLimited(this.#log, 'debug', this.#limiter, `${this.#label}: paused reading (${out} bytes of output queued)`);
    } else if (!stop && this.#paused) {
      this.#paused = false;
      this.#m.resume();
    }
    return true;
  }
}
