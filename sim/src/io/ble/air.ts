/**
 * The air of one simulated BLE connection: both directions' {@link BleAirChannel}s, the faults
 * injected on fragments (loss, duplication, reordering, from a seeded generator), and the one
 * queue that delivers everything in modelled-time order.
 *
 * Time: `nowUs` is the connection's modelled time in µs. With `timeScale` 0 (tests, benchmarks)
 * deliveries run one per macrotask as fast as the CPU allows and modelled time is pure air
 * time; with `timeScale` 1 (`enigm sim start --ble`) a delivery waits until its modelled time
 * has passed on the wall clock, so hosts see the link's real latency and rate.
 * @module
 */
import { BleAirChannel, type BleLinkParams, llExchangeUs, llPackets } from '@enigm/protocols/ble';
import { seededUnit } from '../../firmware/flash/flash.ts';

/** Faults injected on fragments (each a probability in 0..1), from a seeded generator. */
export interface BleFaults {
  /** A fragment is never delivered. */
  loss?: number;
  /** A fragment is delivered twice. */
  duplicate?: number;
  /** A fragment is delivered after the next one in its direction. */
  reorder?: number;
  /** Seed of the generator (default 1). */
  seed?: number;
}

/** Controller transmit buffers the host may fill before a write-without-response completes. */
export const TX_BUFFERS = 4;

interface Pending {
  dueUs: number;
  order: number;
  run: () => void;
}

/** Which way a fragment goes. */
export type AirDirection = 'up' | 'down';

/** One connection's air; see the module documentation. */
export class BleAir {
  readonly params: BleLinkParams;
  readonly #channels: Record<AirDirection, BleAirChannel>;
  readonly #timeScale: number;
  readonly #latencyUs: number;
  readonly #faults: Required<Omit<BleFaults, 'seed'>>;
  readonly #random: () => number;
  readonly #queue: Pending[] = [];
  readonly #held: Partial<Record<AirDirection, () => void>> = {};
  readonly #startedMs = performance.now();
  #order = 0;
  #nowUs = 0;
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #closed = false;
  /** Fragments carried, lost, duplicated and reordered, per direction. */
  readonly stats = { up: 0, down: 0, lost: 0, duplicated: 0, reordered: 0 };

  /**
   * @param params - the link (PHY, DLE, MTU, interval)
   * @param options - `timeScale` (0: as fast as possible; 1: real time), extra one-way latency
   *   per delivery (ms), faults
   */
  constructor(params: BleLinkParams, options: { timeScale?: number; latencyMs?: number; faults?: BleFaults } = {}) {
    this.params = params;
    this.#channels = { up: new BleAirChannel(params), down: new BleAirChannel(params) };
    this.#timeScale = options.timeScale ?? 0;
    this.#latencyUs = (options.latencyMs ?? 0) * 1000;
    const f = options.faults ?? {};
    for (const k of ['loss', 'duplicate', 'reorder'] as const) {
      const p = f[k] ?? 0;
      if (!(p >= 0 && p <= 1)) throw new RangeError(`faults.${k} must be a probability in 0..1, got ${p}`);
    }
    this.#faults = { loss: f.loss ?? 0, duplicate: f.duplicate ?? 0, reorder: f.reorder ?? 0 };
    this.#random = seededUnit((f.seed ?? 1) >>> 0 || 1);
  }

  /** Modelled time now, µs since the connection began. */
  get nowUs(): number {
    if (this.#timeScale > 0) return Math.max(this.#nowUs, ((performance.now() - this.#startedMs) * 1000) / this.#timeScale);
    return this.#nowUs;
  }

  /**
   * Carries one fragment of `length` bytes; `deliver` runs when it arrives (maybe never, twice,
   * or after the next one, as the faults say); `sent` runs once when its air time is over,
   * whatever the faults did to it (the sender's flow control).
   * @returns when the sender may send the next fragment (its controller buffer has room), µs
   */
  fragment(direction: AirDirection, length: number, deliver: () => void, sent?: () => void): number {
    const ready = this.nowUs;
    const due = this.#channels[direction].schedule(length, ready) + this.#latencyUs;
    this.stats[direction]++;
    if (sent) this.#at(due, sent);
    const r = this.#random();
    const { loss, duplicate, reorder } = this.#faults;
    if (r < loss) this.stats.lost++;
    else if (r < loss + duplicate) {
      this.stats.duplicated++;
      this.#at(due, deliver);
      this.#at(due, deliver);
    } else if (r < loss + duplicate + reorder && this.#held[direction] === undefined) {
      this.stats.reordered++;
      this.#held[direction] = deliver; // goes out right after the next fragment this way
    } else {
      this.#at(due, deliver);
      const held = this.#held[direction];
      if (held) {
        this.#held[direction] = undefined;
        this.#at(due, held);
      }
    }
    const buffered = TX_BUFFERS * this.fragmentUs(length);
    return Math.max(ready, due - this.#latencyUs - buffered);
  }

  /** Air time of one fragment of `length` bytes (all its LL exchanges), µs. */
  fragmentUs(length: number): number {
    return llPackets(length, this.params.dle).reduce((s, p) => s + llExchangeUs(this.params.phy, p), 0);
  }

  /** A GATT procedure (connect, discovery, read, subscribe): a request up and an answer down. */
  procedure(answer: () => void): void {
    const up = this.#channels.up.schedule(7, this.nowUs);
    const down = this.#channels.down.schedule(7, up);
    this.#at(down + 2 * this.#latencyUs, answer);
  }

  /** Runs `fn` at modelled time `dueUs` (in order with every other delivery). */
  at(dueUs: number, fn: () => void): void {
    this.#at(dueUs, fn);
  }

  /** Drops everything not yet delivered; nothing runs after this. */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#held.up = undefined;
    this.#held.down = undefined;
    this.#clearTimer();
  }

  #at(dueUs: number, run: () => void): void {
    if (this.#closed) return;
    const item = { dueUs: Math.max(dueUs, this.#nowUs), order: this.#order++, run };
    // Sorted insert from the back: deliveries are scheduled in nearly increasing time.
    let i = this.#queue.length;
    while (i > 0) {
      const prev = this.#queue[i - 1] as Pending;
      if (prev.dueUs < item.dueUs || (prev.dueUs === item.dueUs && prev.order < item.order)) break;
      i--;
    }
    this.#queue.splice(i, 0, item);
    if (i === 0) this.#arm();
  }

  #clearTimer(): void {
    const t = this.#timer;
    this.#timer = undefined;
    if (t === undefined) return;
    clearTimeout(t as NodeJS.Timeout);
    clearImmediate(t as NodeJS.Immediate);
  }

  #arm(): void {
    this.#clearTimer();
    const head = this.#queue[0];
    if (head === undefined || this.#closed) return;
    const fire = () => {
      this.#timer = undefined;
      this.#step();
    };
    if (this.#timeScale === 0) this.#timer = setImmediate(fire);
    else {
      const wait = (head.dueUs * this.#timeScale) / 1000 - (performance.now() - this.#startedMs);
      this.#timer = wait > 1 ? setTimeout(fire, wait) : setImmediate(fire);
    }
  }

  #step(): void {
    const item = this.#queue.shift();
    if (item === undefined || this.#closed) return;
    this.#nowUs = Math.max(this.#nowUs, item.dueUs);
    try {
      item.run();
    } finally {
      this.#arm();
    }
  }
}
