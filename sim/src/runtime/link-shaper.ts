/**
 * A UART link model for the simulator: bytes cross the link no faster than a real serial line
 * at a given baud rate (8N1: 10 bit-times per byte) plus a fixed latency, so throughput measured
 * over a pseudo-terminal matches what a real Key's UART would allow.
 *
 * Model: the line is a single server. A chunk that arrives at time `t` starts when the line is
 * free (`max(t, busyUntil)`), occupies it for `bytes × 10 / baud` seconds, and is delivered
 * `latencyMs` after its last byte is on the line. Deliveries happen on timers that may fire late
 * but never early, so measured throughput can only understate the modelled line, never exceed it.
 * @module
 */

/** Shape of a modelled serial link. */
export interface LinkShape {
  /** Baud rate; bytes/s = baud / 10 (8 data bits, no parity, 1 start and 1 stop bit). */
  baud: number;
  /** Latency added to every chunk after its last byte, ms (USB/driver latency; default 0). */
  latencyMs?: number;
}

/** Bytes per second of a shape's raw line. */
export function lineBytesPerSecond(shape: LinkShape): number {
  return shape.baud / 10;
}

/** One direction of a shaped link. */
export class ShapedPipe {
  readonly #bytesPerMs: number;
  readonly #latencyMs: number;
  readonly #deliver: (chunk: Uint8Array) => void;
  readonly #now: () => number;
  #busyUntil = 0;
  readonly #queue: { at: number; chunk: Uint8Array }[] = [];
  #queuedBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /**
   * @param shape - baud and latency
   * @param deliver - receives each chunk when it has crossed the line
   * @param now - clock in ms (default performance.now)
   */
  constructor(shape: LinkShape, deliver: (chunk: Uint8Array) => void, now: () => number = () => performance.now()) {
    if (!(shape.baud > 0)) throw new RangeError(`baud must be positive, got ${shape.baud}`);
    this.#bytesPerMs = lineBytesPerSecond(shape) / 1000;
    this.#latencyMs = shape.latencyMs ?? 0;
    this.#deliver = deliver;
    this.#now = now;
  }

  /** Queues a chunk onto the line. */
  push(chunk: Uint8Array): void {
    if (this.#closed || chunk.length === 0) return;
    const start = Math.max(this.#now(), this.#busyUntil);
    this.#busyUntil = start + chunk.length / this.#bytesPerMs;
    this.#queue.push({ at: this.#busyUntil + this.#latencyMs, chunk: chunk.slice() });
    this.#queuedBytes += chunk.length;
    this.#schedule();
  }

  /** Bytes pushed but not delivered yet (the caller bounds this: see `link-flow.ts`). */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Drops everything queued and stops. */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    if (this.#timer) clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#timer || this.#queue.length === 0) return;
    const first = this.#queue[0] as { at: number };
    this.#timer = setTimeout(() => this.#pump(), Math.max(0, first.at - this.#now()));
  }

  #pump(): void {
    this.#timer = undefined;
    const now = this.#now();
    while (!this.#closed && this.#queue.length > 0 && (this.#queue[0] as { at: number }).at <= now) {
      const { chunk } = this.#queue.shift() as { chunk: Uint8Array };
      this.#queuedBytes -= chunk.length;
      this.#deliver(chunk);
    }
    this.#schedule();
  }
}
