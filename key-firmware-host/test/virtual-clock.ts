/**
 * Test support: a virtual clock for the Key client's injected {@link Timers}, and a modelled
 * serial line on it. No test waits on real time: {@link VirtualClock.run} lets pending I/O and
 * microtasks run, then jumps to the earliest timer, until the awaited promise settles.
 *
 * @module
 */
import type { Timers } from '../src/client/key-client.ts';

interface Scheduled {
  at: number;
  seq: number;
  fn: () => void;
}

/** Virtual milliseconds; timers fire in time order when {@link VirtualClock.run} advances. */
export class VirtualClock implements Timers {
  #t = 0;
  #seq = 0;
  readonly #timers = new Map<number, Scheduled>();

  /** Virtual now, ms. @throws never */
  now(): number {
    return this.#t;
  }

  /** Schedules `fn` at now + `ms`. @throws never */
  setTimeout(fn: () => void, ms: number): unknown {
    const seq = ++this.#seq;
    this.#timers.set(seq, { at: this.#t + Math.max(0, ms), seq, fn });
    return seq;
  }

  /** Cancels a timer. @throws never */
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /**
   * Moves virtual time on by `ms` without running anything: the host process was descheduled, and
   * the timers that fell due meanwhile fire late, in order, at the next {@link VirtualClock.run}.
   * @throws never
   */
  stall(ms: number): void {
    this.#t += ms;
  }

  /** Lets real I/O callbacks and microtasks run (one event-loop turn), without advancing time. */
  async settle(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
  }

  /**
   * Advances virtual time timer by timer until `promise` settles, and returns its outcome.
   * @throws Error if nothing is scheduled while the promise is still pending (a hang), or if
   *   virtual time passes `limitMs`; otherwise whatever `promise` rejects with
   */
  async run<T>(promise: Promise<T>, limitMs = 3_600_000): Promise<T> {
    let settled = false;
    promise.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    for (;;) {
      await this.settle();
      if (settled) return promise;
      let next: Scheduled | undefined;
      for (const s of this.#timers.values()) if (!next || s.at < next.at || (s.at === next.at && s.seq < next.seq)) next = s;
      if (!next) throw new Error(`stalled at ${this.#t} ms: nothing scheduled and the promise is pending`);
      if (next.at > limitMs) throw new Error(`virtual time passed ${limitMs} ms`);
      this.#timers.delete(next.seq);
      this.#t = Math.max(this.#t, next.at);
      next.fn();
    }
  }
}

/**
 * One direction of a modelled UART on a virtual clock: a chunk starts when the line is free and
 * is delivered when its last byte has crossed (`bytes / bytesPerSecond`).
 * @param clock - the virtual clock
 * @param bytesPerSecond - line rate (a UART at B baud carries B / 10 bytes/s)
 * @param deliver - receives each chunk once it has crossed
 * @returns the function that puts a chunk on the line
 */
export function virtualLine(
  clock: VirtualClock,
  bytesPerSecond: number,
  deliver: (chunk: Uint8Array) => void,
): (chunk: Uint8Array) => void {
  let busyUntil = 0;
  return (chunk) => {
    const copy = chunk.slice();
    const start = Math.max(clock.now(), busyUntil);
    busyUntil = start + (copy.length / bytesPerSecond) * 1000;
    clock.setTimeout(() => deliver(copy), busyUntil - clock.now());
  };
}
