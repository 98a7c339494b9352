/**
 * Events from a Key (`keepalive`, `lifecycle.changed`, …) as an async iterator: a bounded queue
 * per subscriber that ends when the Key object closes or the caller's signal fires.
 * @module
 */
import type { Message } from '@enigm/protocols/messages';

/** An event the Key sent (an unsolicited message: no request id). */
export interface KeyEvent {
  /** Message name, e.g. `lifecycle.changed`, `keepalive`. */
  name: string;
  /** Decoded body. */
  body: unknown;
  /** When the host received it (ms, the facade's clock). */
  receivedAt: number;
}

/** Options of an event subscription. */
export interface EventStreamOptions {
  /** Ends the iterator. */
  signal?: AbortSignal;
  /** Events kept for a slow reader; older ones are dropped beyond it (default 256). */
  bound?: number;
}

/**
 * Fans events out to any number of async-iterator subscribers. Internal to the facade, exported
 * for tests and for callers that build their own stream.
 * @example
 * const hub = new EventHub(() => Date.now());
 * const it = hub.subscribe();
 * hub.publish({ name: 'keepalive', body: {} });
 * (await it.next()).value.name // 'keepalive'
 */
export class EventHub {
  readonly #subs = new Set<Subscriber>();
  readonly #now: () => number;
  #ended = false;

  /** @param now - clock for `receivedAt` */
  constructor(now: () => number) {
    this.#now = now;
  }

  /** Delivers an event message to every subscriber. */
  publish(m: Pick<Message, 'name' | 'body'>): void {
    const ev: KeyEvent = { name: m.name, body: m.body, receivedAt: this.#now() };
    for (const s of this.#subs) s.push(ev);
  }

  /** Ends every subscription (their iterators return). Later subscriptions end at once. */
  end(): void {
    this.#ended = true;
    for (const s of [...this.#subs]) s.finish();
  }

  /** A new subscription. */
  subscribe(options: EventStreamOptions = {}): AsyncIterableIterator<KeyEvent> {
    const sub = new Subscriber(options.bound ?? 256, () => this.#subs.delete(sub));
    if (this.#ended) sub.finish();
    else this.#subs.add(sub);
    if (options.signal) {
      if (options.signal.aborted) sub.finish();
      else options.signal.addEventListener('abort', () => sub.finish(), { once: true });
    }
    return sub.iterator();
  }
}

class Subscriber {
  readonly #queue: KeyEvent[] = [];
  readonly #waiters: ((r: IteratorResult<KeyEvent>) => void)[] = [];
  readonly #bound: number;
  readonly #detach: () => void;
  #done = false;

  constructor(bound: number, detach: () => void) {
    this.#bound = Math.max(1, bound);
    this.#detach = detach;
  }

  push(ev: KeyEvent): void {
    if (this.#done) return;
    const w = this.#waiters.shift();
    if (w) {
      w({ value: ev, done: false });
      return;
    }
    this.#queue.push(ev);
    if (this.#queue.length > this.#bound) this.#queue.shift();
  }

  finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#detach();
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
  }

  iterator(): AsyncIterableIterator<KeyEvent> {
    const next = (): Promise<IteratorResult<KeyEvent>> => {
      const ev = this.#queue.shift();
      if (ev) return Promise.resolve({ value: ev, done: false });
      if (this.#done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => this.#waiters.push(resolve));
    };
    const it: AsyncIterableIterator<KeyEvent> = {
      next,
      return: () => {
        this.finish();
        this.#queue.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }
}
