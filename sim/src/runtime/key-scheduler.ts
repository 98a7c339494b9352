/**
 * One Key does one thing at a time: the scheduler every link of a Key shares. While a long
 * operation (erasing flash ahead of an upload) runs for one link, no link of that Key handles
 * another request — so `fw.*` commands are serialised per Key across links, exactly as on a real
 * Key whose single core is busy erasing. Requests that arrive meanwhile wait in their link's
 * (bounded) queue; every link with waiting requests gets keepalive events so its host keeps
 * waiting instead of timing out.
 *
 * A long operation belongs to the update it serves, not to the link that started it: it runs to
 * its end even if that link closes. If the update is superseded (the step reports `UPDATE_STATE`)
 * it ends quietly; any other failure is reported to the requester as a wire error. Nothing a step
 * throws escapes: the scheduler's promise never rejects, so one Key's fault cannot end the
 * process and with it every other Key.
 * @module
 */
import { describeError, type SimLogger, silentLogger } from './log.ts';

/** Timing of long operations (e.g. erasing flash ahead of an upload). */
export interface LongOperationTiming {
  /** Modelled time of one step (e.g. one page erase), ms. */
  msPerStep: number;
  /** Interval between keepalive events while a long operation runs, ms (default 200). */
  keepaliveMs?: number;
}

/** A link of the Key, as the scheduler sees it. */
export interface SchedulerParticipant {
  /** Handles queued requests (called when the Key becomes free). */
  pump(): void;
  /** Whether requests wait in this link's queue. */
  waiting(): boolean;
  /** Sends a keepalive event to this link's host. */
  keepalive(): void;
}

/** How a long operation ended. */
export type LongOutcome =
  | { kind: 'done' }
  /** The update it served was superseded (e.g. reverted): stopped quietly. */
  | { kind: 'superseded' }
  /** The simulator stopped while it ran. */
  | { kind: 'stopped' }
  /** A step failed: `code` is the error's code (e.g. `FLASH_WORN`), for the wire error's reason. */
  | { kind: 'failed'; code: string };

/** Serialises the long operations of one Key and wakes its links when it is free. */
export class KeyScheduler {
  readonly #participants = new Set<SchedulerParticipant>();
  readonly #log: SimLogger;
  readonly #label: string;
  #busy = false;
  #stopped = false;

  /**
   * @param log - where contained failures are logged
   * @param label - names the Key in log lines (e.g. `key 0`)
   */
  constructor(log: SimLogger = silentLogger, label = 'key') {
    this.#log = log;
    this.#label = label;
  }

  /** Whether a long operation runs now (links must not handle requests meanwhile). */
  get busy(): boolean {
    return this.#busy;
  }

  /**
   * Adds a link.
   * @returns a function that removes it
   */
  join(p: SchedulerParticipant): () => void {
    this.#participants.add(p);
    return () => this.#participants.delete(p);
  }

  /**
   * Runs `work` (one step per call, `true` while steps remain) one step every
   * `timing.msPerStep`, sending keepalives to `requester` and to every link with waiting requests.
   * Marks the Key busy at once; when the operation ends calls `done(outcome)` (which sends the
   * requester's answer) before any queued request runs, then wakes every link.
   * @throws never (the returned promise always resolves)
   */
  run(
    work: () => boolean,
    timing: LongOperationTiming,
    requester: SchedulerParticipant,
    done: (outcome: LongOutcome) => void,
  ): Promise<void> {
    this.#busy = true;
    return this.#steps(work, timing, requester)
      .catch((e: unknown): LongOutcome => ({ kind: 'failed', code: codeOf(e) }))
      .then((outcome) => {
        this.#busy = false;
        this.#safely('answering a long operation', () => done(outcome));
        for (const p of [...this.#participants]) this.#safely('resuming a link', () => p.pump());
      });
  }

  /** Ends any long operation at its next step; nothing runs afterwards. Idempotent. */
  stop(): void {
    this.#stopped = true;
  }

  async #steps(work: () => boolean, t: LongOperationTiming, requester: SchedulerParticipant): Promise<LongOutcome> {
    const every = t.keepaliveMs ?? 200;
    let lastKeepalive = performance.now();
    this.#keepalives(requester);
    for (;;) {
      if (this.#stopped) return { kind: 'stopped' };
      let more: boolean;
      try {
        more = work();
      } catch (e) {
        const code = codeOf(e);
        if (code === 'UPDATE_STATE') {
          this.#log.debug(`${this.#label}: long operation ended: its update was superseded`);
          return { kind: 'superseded' };
        }
        this.#log.error(`${this.#label}: long operation failed and was contained: ${describeError(e)}`);
        return { kind: 'failed', code };
      }
      if (!more) return { kind: 'done' };
      await new Promise((r) => setTimeout(r, t.msPerStep));
      if (performance.now() - lastKeepalive >= every) {
        lastKeepalive = performance.now();
        this.#keepalives(requester);
      }
    }
  }

  #keepalives(requester: SchedulerParticipant): void {
    this.#safely('sending a keepalive', () => requester.keepalive());
    for (const p of this.#participants)
      if (p !== requester) this.#safely('sending a keepalive', () => (p.waiting() ? p.keepalive() : undefined));
  }

  #safely(what: string, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.#log.error(`${this.#label}: failure ${what} was contained: ${describeError(e)}`);
    }
  }
}

function codeOf(e: unknown): string {
  if (e !== null && typeof e === 'object' && 'code' in e && typeof e.code === 'string') return e.code;
  return 'INTERNAL';
}
