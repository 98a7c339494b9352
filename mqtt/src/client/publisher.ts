/**
 * Drains a durable outbox through an {@link MqttLink}, in order, at least once.
 *
 * The outbox (`@enigm/mqtt/outbox`) holds what must be delivered; the publisher sends its oldest
 * entries with QoS 1, a bounded number in flight, and removes an entry only when the broker
 * acknowledged it. A drop of the link stops the round; the next `connected` starts again from the
 * oldest entry not acknowledged, so an entry may arrive twice (never zero times): receivers drop
 * duplicates by the record id ({@link Deduplicator}).
 * @module
 */
import { toHex } from '@enigm/protocols/bytes';
import type { MqttLink } from './link.ts';

/** What the publisher needs of an outbox entry. */
export interface QueuedMessage {
  id: Uint8Array;
  topic: string;
  payload: Uint8Array;
  retain?: boolean;
}

/** What the publisher needs of an outbox (`Outbox` from `@enigm/mqtt/outbox` has it). */
export interface DrainableQueue {
  /** The oldest entries not yet acknowledged, oldest first. */
  pending(limit?: number): QueuedMessage[];
  /** Marks an entry delivered. */
  ack(id: Uint8Array): Promise<boolean>;
}

/** Options of {@link OutboxPublisher}. */
export interface OutboxPublisherOptions {
  /** Publishes in flight at once (default 16). */
  window?: number;
  /** Called after each acknowledged entry. */
  onDelivered?: (m: QueuedMessage) => void;
}

/** Sends a queue's entries whenever the link is connected; see the module documentation. */
export class OutboxPublisher {
  #link: MqttLink;
  #queue: DrainableQueue;
  #window: number;
  #onDelivered: ((m: QueuedMessage) => void) | undefined;
  #running = false;
  #again = false;
  #stopped = false;
  #off: () => void;
  #delivered = 0;
  #failures = 0;
  #idle: (() => void)[] = [];

  /**
   * @throws RangeError if `window` is not an integer in 1..1024
   */
  constructor(link: MqttLink, queue: DrainableQueue, options: OutboxPublisherOptions = {}) {
    const window = options.window ?? 16;
    if (!Number.isInteger(window) || window < 1 || window > 1024) throw new RangeError('window must be an integer in 1..1024');
    this.#link = link;
    this.#queue = queue;
    this.#window = window;
    this.#onDelivered = options.onDelivered;
    this.#off = link.onState((e) => {
      if (e.state === 'connected') this.kick();
    });
    this.kick();
  }

  /** Counters: entries delivered, rounds ended by a failure. */
  stats(): { delivered: number; failures: number } {
    return { delivered: this.#delivered, failures: this.#failures };
  }

  /** Starts a drain if none runs (call after appending to the queue). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    void this.#drain()
      .catch(() => {
        // The queue was closed or failed under the drain (a shutdown): what is left stays queued;
        // a failure here must never become an unhandled rejection.
        this.#failures++;
      })
      .finally(() => {
        this.#running = false;
        if (this.#again && !this.#stopped) {
          this.#again = false;
          this.kick();
        } else {
          for (const r of this.#idle.splice(0)) r();
        }
      });
  }

  /** Resolves when no drain is running (the queue is empty, or the link is down). */
  idle(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  async #drain(): Promise<void> {
    while (!this.#stopped && this.#link.connected) {
      const batch = this.#queue.pending(this.#window);
      if (batch.length === 0) return;
      const results = await Promise.allSettled(
        batch.map((m) => this.#link.publish(m.topic, m.payload, { qos: 1, retain: m.retain ?? false })),
      );
      // Acknowledge in order up to the first failure; the rest go again in the next round.
      for (let i = 0; i < batch.length; i++) {
        if (results[i]?.status !== 'fulfilled') {
          this.#failures++;
          return;
        }
        const m = batch[i] as QueuedMessage;
        await this.#queue.ack(m.id);
        this.#delivered++;
        this.#onDelivered?.(m);
      }
    }
  }

  /** Stops draining (the queue keeps what is left). */
  stop(): void {
    this.#stopped = true;
    this.#off();
  }
}

/**
 * Remembers the last `capacity` record ids seen, to drop duplicates of at-least-once delivery.
 * Bounded: the oldest id is forgotten first.
 */
export class Deduplicator {
  #seen = new Set<string>();
  #capacity: number;

  /** @throws RangeError if `capacity` is not a positive integer */
  constructor(capacity = 10_000) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.#capacity = capacity;
  }

  /** Whether `id` is new (and remembers it). */
  fresh(id: Uint8Array): boolean {
    const k = toHex(id);
    if (this.#seen.has(k)) return false;
    this.#seen.add(k);
    if (this.#seen.size > this.#capacity) this.#seen.delete(this.#seen.values().next().value as string);
    return true;
  }
}
