/**
 * A FIFO counting semaphore: at most `size` holders at once, waiters served in order, waiting
 * cancellable. The Key client uses it to keep at most the Key's advertised window in flight.
 * @module
 */

/** Counting semaphore with FIFO waiters. */
export class Window {
  #size: number;
  #held = 0;
  readonly #waiters: Array<{ grant: () => void }> = [];

  /** @param size - maximum concurrent holders (≥ 1) */
  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`window size must be a positive integer, got ${size}`);
    this.#size = size;
  }

  /** Holders now. */
  get inFlight(): number {
    return this.#held;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Current size. */
  get size(): number {
    return this.#size;
  }

  /** Changes the size (e.g. after hello); waiters are granted if room appears. */
  resize(size: number): void {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`window size must be a positive integer, got ${size}`);
    this.#size = size;
    this.#pump();
  }

  /**
   * Waits for a slot. Resolves with a release function (idempotent).
   * @param signal - aborting while waiting rejects with the signal's reason and takes no slot
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.#held++;
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            this.#held--;
            this.#pump();
          });
        },
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#held < this.#size && this.#waiters.length > 0) this.#waiters.shift()?.grant();
  }
}
