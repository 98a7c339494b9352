/**
 * The simulator's clock and its small scheduler. Simulated time is real time × `speed` plus
 * explicit advances; it is the Keys' clock (`FirmwareDeps.clock`), so pairing windows, uptime and
 * the physical model all run on it. Tasks (periodic ticks, deadlines) run on simulated time: in
 * real time through one timer for the next due task, and in order, each seeing its own due time,
 * when {@link SimulatorClock.advance} jumps ahead — a 24-hour dormancy at high speed runs in
 * seconds, and `advance(ms)` catches up periodic behaviour step by step.
 * @module
 */
import type { SimClock } from '../firmware/physical/types.ts';
import { SimulatorError } from './errors.ts';

/** Largest accepted speed. */
export const MAX_SPEED = 100_000;
/** Largest single advance, ms (one year). */
export const MAX_ADVANCE_MS = 365 * 24 * 3_600_000;
/** Most tasks one real-time timer run executes before yielding to I/O. */
const MAX_RUNS_PER_TURN = 10_000;

interface Task {
  due: number;
  seq: number;
  period: number | undefined;
  fn: () => void;
  cancelled: boolean;
}

/** Options of {@link SimulatorClock}. */
export interface SimulatorClockOptions {
  /** Initial speed (default 1). */
  speed?: number;
  /** Real monotonic time, ms (default `performance.now`; tests inject a fake). */
  realNow?: () => number;
  /** Whether to run due tasks on real timers (default true; tests drive with `advance` only). */
  realTimers?: boolean;
  /** Called with a task's error (tasks must not throw; default: ignored). */
  onError?: (e: unknown) => void;
}

/**
 * Simulated time: starts at 0, runs at `speed` × real time, jumps with {@link advance}.
 * Implements the `SimClock` contract (`sim/src/firmware/physical/types.ts`).
 */
export class SimulatorClock implements SimClock {
  readonly #realNow: () => number;
  readonly #realTimers: boolean;
  readonly #onError: (e: unknown) => void;
  #speed: number;
  #base = 0;
  #realBase: number;
  #pinned: number | undefined;
  #last = 0;
  #seq = 0;
  readonly #tasks: Task[] = [];
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  /** @throws SimulatorError `SIM_BAD_INPUT` for a speed outside (0, {@link MAX_SPEED}] */
  constructor(options: SimulatorClockOptions = {}) {
    this.#realNow = options.realNow ?? (() => performance.now());
    this.#realTimers = options.realTimers ?? true;
    this.#onError = options.onError ?? (() => {});
    this.#speed = checkSpeed(options.speed ?? 1);
    this.#realBase = this.#realNow();
  }

  /** Simulated milliseconds since the simulator started (monotonic). */
  now(): number {
    if (this.#pinned !== undefined) return this.#pinned;
    const t = this.#base + (this.#realNow() - this.#realBase) * this.#speed;
    this.#last = Math.max(this.#last, t);
    return this.#last;
  }

  /** Simulated ms per real ms. */
  get speed(): number {
    return this.#speed;
  }

  /**
   * Runs simulated time `speed` times faster than real time from now on.
   * @throws SimulatorError `SIM_BAD_INPUT` for a speed outside (0, {@link MAX_SPEED}]
   */
  setSpeed(speed: number): void {
    checkSpeed(speed);
    this.#rebase();
    this.#speed = speed;
    this.#arm();
  }

  /**
   * Jumps simulated time forward by `ms`; every task due meanwhile runs in order, each seeing
   * its own due time (periodic tasks once per period).
   * @throws SimulatorError `SIM_BAD_INPUT` for `ms` that is not a number in 0..{@link MAX_ADVANCE_MS}
   */
  advance(ms: number): void {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_ADVANCE_MS)
      throw new SimulatorError('SIM_BAD_INPUT', `advance needs ms in 0..${MAX_ADVANCE_MS}, got ${JSON.stringify(ms)}`);
    if (this.#pinned !== undefined) throw new SimulatorError('SIM_BAD_INPUT', 'advance called from a clock task');
    const target = this.now() + ms;
    try {
      for (let t = this.#take(target); t; t = this.#take(target)) {
        this.#pinned = Math.max(this.#last, t.due);
        this.#last = this.#pinned;
        this.#run(t);
      }
    } finally {
      this.#pinned = undefined;
    }
    this.#last = Math.max(this.#last, target);
    this.#base = this.#last;
    this.#realBase = this.#realNow();
    this.#arm();
  }

  /** Runs `fn` every `periodMs` of simulated time (first after one period). Returns the cancel function. */
  every(periodMs: number, fn: () => void): () => void {
    if (!(periodMs > 0)) throw new RangeError('period must be > 0');
    return this.#add(this.now() + periodMs, periodMs, fn);
  }

  /** Runs `fn` once at simulated time `due` (now if past). Returns the cancel function. */
  at(due: number, fn: () => void): () => void {
    return this.#add(Math.max(due, this.now()), undefined, fn);
  }

  /** Tasks waiting. */
  get pending(): number {
    return this.#tasks.length;
  }

  /** Stops the real-time timer and forgets every task. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#tasks.length = 0;
  }

  #add(due: number, period: number | undefined, fn: () => void): () => void {
    const task: Task = { due, seq: this.#seq++, period, fn, cancelled: false };
    this.#tasks.push(task);
    this.#arm();
    return () => {
      task.cancelled = true;
      const i = this.#tasks.indexOf(task);
      if (i >= 0) this.#tasks.splice(i, 1);
    };
  }

  /** Removes and returns the earliest task due at or before `limit` (periodic ones are re-added). */
  #take(limit: number): Task | undefined {
    let best: Task | undefined;
    for (const t of this.#tasks)
      if (t.due <= limit && (!best || t.due < best.due || (t.due === best.due && t.seq < best.seq))) best = t;
    if (!best) return undefined;
    this.#tasks.splice(this.#tasks.indexOf(best), 1);
    return best;
  }

  #run(t: Task): void {
    if (t.period !== undefined) {
      t.due += t.period;
      t.seq = this.#seq++;
      this.#tasks.push(t);
    }
    try {
      t.fn();
    } catch (e) {
      this.#onError(e);
    }
  }

  #rebase(): void {
    this.#base = this.now();
    this.#realBase = this.#realNow();
  }

  /** Sets the real timer for the next due task. */
  #arm(): void {
    if (!this.#realTimers || this.#stopped || this.#pinned !== undefined) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    let next = Number.POSITIVE_INFINITY;
    for (const t of this.#tasks) next = Math.min(next, t.due);
    if (next === Number.POSITIVE_INFINITY) return;
    const delay = Math.min(2 ** 31 - 1, Math.max(0, Math.ceil((next - this.now()) / this.#speed)));
    this.#timer = setTimeout(() => this.#fire(), delay);
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    const now = this.now();
    let runs = 0;
    for (let t = this.#take(now); t && runs < MAX_RUNS_PER_TURN; t = runs < MAX_RUNS_PER_TURN ? this.#take(now) : undefined) {
      runs++;
      this.#run(t);
    }
    if (runs >= MAX_RUNS_PER_TURN && !this.#stopped) {
      setImmediate(() => this.#fire()).unref();
      return;
    }
    this.#arm();
  }
}

function checkSpeed(speed: number): number {
  if (typeof speed !== 'number' || !Number.isFinite(speed) || speed <= 0 || speed > MAX_SPEED)
    throw new SimulatorError('SIM_BAD_INPUT', `speed must be a number in (0, ${MAX_SPEED}], got ${JSON.stringify(speed)}`);
  return speed;
}
