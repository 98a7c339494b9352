/**
 * Plays a {@link Scenario} against anything that offers the simulator's controls
 * ({@link ControlTarget}): sets up each Key, runs the steps in simulated time and records each
 * step's result with its timing and reason. A failed expectation or a control that refuses its
 * input is a result, never a throw; the first one ends the run (the remaining steps are skipped).
 *
 * Time: the scenario runs on the target's clock. With a numeric speed the clock runs that many
 * times faster than real time and the runner sleeps (real time) until the simulated time it waits
 * for; with speed `max` it never sleeps: every wait advances the clock (`clock.advance`), which
 * is deterministic and as fast as the machine allows (the clock's speed is then
 * {@link JUMP_MODE_SPEED}, so real time barely moves it).
 *
 * At speed X a real millisecond of scheduling delay is X simulated milliseconds: give
 * expectations margins larger than that, or use `max`. Event expectations use each event's own
 * timestamp; state expectations are checked when the runner looks (every `pollMs` real ms, and
 * at once when an event arrives).
 * @module
 */
import type { ContactKeys } from '@enigm/protocols/emergency';
import type { ControlTarget, DeviceControls, DeviceEvent } from '../firmware/physical/types.ts';
import { installContacts, relayAck } from './contacts.ts';
import { describeStep } from './describe.ts';
import { formatDuration } from './duration.ts';
import { describeMatch, firstMismatch } from './fields.ts';
import type { Scenario, ScenarioStep, StepAction } from './types.ts';

/** Outcome of one step. */
export type StepStatus = 'passed' | 'failed' | 'error' | 'skipped';

/** The result of one step. */
export interface StepResult {
  /** Position in the scenario's steps (0-based). */
  readonly index: number;
  /** Line of the step in the scenario file. */
  readonly line: number;
  /** The step's name from the file, or what it does. */
  readonly name: string;
  /** What the step does, e.g. `key 0: gesture hold 8 s`. */
  readonly does: string;
  readonly status: StepStatus;
  /** Simulated ms since the scenario began when the step began (absent if skipped). */
  readonly atMs?: number;
  /** Simulated ms the step took. */
  readonly simMs: number;
  /** Real ms the step took. */
  readonly realMs: number;
  /** Why it failed or erred (or what matched, for a passed expectation). */
  readonly reason?: string;
  /** For a gesture: what the firmware did with it. */
  readonly outcome?: unknown;
}

/** The result of a run. */
export interface ScenarioReport {
  readonly scenario: string;
  readonly file?: string;
  readonly passed: boolean;
  /** The speed it ran at (`max`: waits advanced the clock). */
  readonly speed: number | 'max';
  readonly keys: number;
  readonly steps: readonly StepResult[];
  readonly counts: Readonly<Record<StepStatus, number>>;
  /** Simulated ms from the first step to the end. */
  readonly simMs: number;
  /** Real ms of the whole run, setup included. */
  readonly realMs: number;
  /** Events the target reported during the run. */
  readonly events: number;
  /** A failure outside the steps (setup, a target with too few Keys). */
  readonly error?: string;
}

/** Options of {@link runScenario}. */
export interface RunOptions {
  /**
   * Simulated time per real time, in (0, 100000], or `max` (waits advance the clock). Default: the
   * scenario's `speed`, else 1.
   */
  readonly speed?: number | 'max';
  /**
   * Puts Key `index` into `lifecycle` before the scenario starts (a Key that `keys:` asks to start
   * `dormant`). A run whose scenario asks for it without this option fails in setup.
   */
  readonly provision?: (index: number, lifecycle: 'dormant') => void;
  /** Real clock for report timings (default `performance`). */
  readonly realClock?: { now(): number };
  /** Sleeps `ms` real milliseconds (default: a timer). */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Longest real sleep between checks of a pending expectation (default 5 ms). */
  readonly pollMs?: number;
  /** Called with each step's result as soon as it is known. */
  readonly onStep?: (result: StepResult) => void;
}

/** Most events kept for event expectations between two actions. */
export const MAX_BUFFERED_EVENTS = 100_000;

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const yieldNow = () => new Promise<void>((r) => setImmediate(r));

/** Clock speed while a `max` run waits by advancing (real time then barely moves the clock). */
export const JUMP_MODE_SPEED = 0.001;

/** A step's own failure, as opposed to an error from the target. */
class StepFailed extends Error {}

function errorText(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown };
  const message = typeof err?.message === 'string' ? err.message : String(e);
  return typeof err?.code === 'string' && !message.startsWith(err.code) ? `${err.code}: ${message}` : message;
}

/**
 * Plays `scenario` on `target` and reports every step. Never throws for what the scenario finds:
 * a failed expectation is a `failed` step, a control refusing its input an `error` step, a setup
 * failure the report's `error`.
 * @param target - the simulator (or any {@link ControlTarget}); must have at least the scenario's Keys
 * @param scenario - a checked scenario (`parseScenario`)
 * @param options - speed, provisioning, clocks
 * @example const report = await runScenario(sim, parseScenario(text), { speed: 1000 });
 */
export async function runScenario(target: ControlTarget, scenario: Scenario, options: RunOptions = {}): Promise<ScenarioReport> {
  const real = options.realClock ?? performance;
  const sleep = options.sleep ?? defaultSleep;
  const pollMs = options.pollMs ?? 5;
  const speed = options.speed ?? scenario.speed ?? 1;
  const jump = speed === 'max';
  const clock = target.clock;
  const realStart = real.now();
  const results: StepResult[] = [];
  /** Each Key's scenario contacts (`keys[i].contacts`), keys kept here. */
  const contacts = new Map<number, ContactKeys[]>();
  /** In `max` mode: lets the target's asynchronous work (sealing records) finish before looking. */
  const settle = async (): Promise<void> => {
    if (jump) await target.settled?.();
  };

  // Events since the last action began; a listener wakes a pending expectation at once.
  let events: DeviceEvent[] = [];
  let total = 0;
  let dropped = 0;
  let wake: (() => void) | undefined;
  const unsubscribe = target.onEvent((e) => {
    total++;
    if (events.length < MAX_BUFFERED_EVENTS) events.push(e);
    else dropped++;
    wake?.();
  });

  /** Sleeps real time, or less if an event arrives. */
  const nap = async (ms: number): Promise<void> => {
    await Promise.race([sleep(ms), new Promise<void>((r) => (wake = r))]);
    wake = undefined;
  };

  /** Waits until the clock reads `t` (the last real milliseconds by yielding, not a timer, to land close). */
  const until = async (t: number): Promise<void> => {
    for (;;) {
      const left = t - clock.now();
      if (left <= 0) return;
      if (jump) clock.advance(left);
      else {
        const real = left / clock.speed;
        if (real > 3) await sleep(Math.min(real - 2, 250));
        else await yieldNow();
      }
    }
  };

  const speedBefore = clock.speed;
  const finish = (error?: string): ScenarioReport => {
    unsubscribe();
    try {
      clock.setSpeed(speedBefore); // a simulator the caller keeps running gets its speed back
    } catch {
      // a target that refuses its own former speed keeps the scenario's
    }
    const counts = { passed: 0, failed: 0, error: 0, skipped: 0 };
    for (const r of results) counts[r.status]++;
    const last = results.findLast((r) => r.atMs !== undefined);
    return {
      scenario: scenario.name,
      ...(scenario.file !== undefined ? { file: scenario.file } : {}),
      passed: error === undefined && counts.passed === results.length,
      speed,
      keys: scenario.keys.length,
      steps: results,
      counts,
      simMs: last ? (last.atMs ?? 0) + last.simMs : 0,
      realMs: real.now() - realStart,
      events: total,
      ...(error !== undefined ? { error } : {}),
    };
  };
  const skipRest = (from: number) => {
    for (const s of scenario.steps.slice(from)) {
      const r: StepResult = {
        index: s.index,
        line: s.line,
        name: s.name ?? describeStep(s),
        does: describeStep(s),
        status: 'skipped',
        simMs: 0,
        realMs: 0,
      };
      results.push(r);
      options.onStep?.(r);
    }
  };

  // Setup.
  try {
    if (target.keyCount < scenario.keys.length)
      throw new Error(`the scenario needs ${scenario.keys.length} Keys, the simulator has ${target.keyCount}`);
    clock.setSpeed(jump ? JUMP_MODE_SPEED : speed);
    scenario.keys.forEach((k, i) => {
      const c = target.controls(i);
      if (k.lifecycle === 'dormant') {
        if (!options.provision) throw new Error(`key ${i} should start dormant, but this target cannot provision Keys`);
        options.provision(i, 'dormant');
      }
      if (k.power === false) c.setPower(false);
      if (k.battery) c.setBattery(k.battery);
      if (k.radio) c.setRadio(k.radio);
      if (k.usb !== undefined) c.setUsb(k.usb);
      if (k.track) c.setTrack(k.track);
      if (k.contacts) contacts.set(i, installContacts(c, k.contacts));
    });
  } catch (e) {
    skipRest(0);
    return finish(`setup: ${errorText(e)}`);
  }

  const t0 = clock.now();
  let previousEnd = t0;
  events = [];
  try {
    for (const [i, step] of scenario.steps.entries()) {
      const startAt = step.atMs !== undefined ? t0 + step.atMs : previousEnd + (step.afterMs ?? 0);
      let begin = clock.now();
      let realBegin = real.now();
      let status: StepStatus = 'passed';
      let reason: string | undefined;
      let outcome: unknown;
      try {
        await until(startAt);
        begin = clock.now();
        realBegin = real.now();
        const controls = target.controls(step.key);
        if (!['expect', 'wait', 'speed'].includes(step.action.type)) {
          events = [];
          dropped = 0;
        }
        const r = await perform(step, controls);
        await settle();
        outcome = r?.outcome;
        reason = r?.reason;
      } catch (e) {
        status = e instanceof StepFailed ? 'failed' : 'error';
        reason = errorText(e);
      }
      const end = clock.now();
      previousEnd = end;
      const result: StepResult = {
        index: step.index,
        line: step.line,
        name: step.name ?? describeStep(step),
        does: describeStep(step),
        status,
        atMs: begin - t0,
        simMs: end - begin,
        realMs: real.now() - realBegin,
        ...(reason !== undefined ? { reason } : {}),
        ...(outcome !== undefined ? { outcome } : {}),
      };
      results.push(result);
      options.onStep?.(result);
      if (status !== 'passed') {
        skipRest(i + 1);
        break;
      }
    }
  } catch (e) {
    // Only a caller's own callback (onStep) can get here: still a report, the listener removed.
    return finish(`runner: ${errorText(e)}`);
  }
  return finish();

  async function perform(step: ScenarioStep, c: DeviceControls): Promise<{ outcome?: unknown; reason?: string } | undefined> {
    const a: StepAction = step.action;
    switch (a.type) {
      case 'gesture': {
        const outcome = c.gesture(a.gesture);
        const bad = a.outcome ? firstMismatch(outcome, a.outcome) : undefined;
        if (bad) throw new StepFailed(`outcome: ${bad}`);
        return { outcome };
      }
      case 'battery':
        c.setBattery({
          ...(a.level !== undefined ? { level: a.level } : {}),
          ...(a.charging !== undefined ? { charging: a.charging } : {}),
        });
        return;
      case 'track':
        c.setTrack(a.fixes);
        return;
      case 'radio':
        c.setRadio(a.state);
        return;
      case 'usb':
        c.setUsb(a.attached);
        return;
      case 'power':
        c.setPower(a.on);
        return;
      case 'reboot':
        c.reboot();
        return;
      case 'ack': {
        const who = contacts.get(step.key)?.[a.contact];
        if (!who) throw new Error(`key ${step.key} has no contact ${a.contact} (keys: contacts)`);
        const event = (c.state() as { emergency?: { eventId?: string } }).emergency?.eventId;
        return { outcome: relayAck(c, who, event) };
      }
      case 'wait':
        await until(clock.now() + a.ms);
        return;
      case 'speed':
        if (!jump) clock.setSpeed(a.speed);
        return;
      case 'expect':
        return { reason: await expectation(step.key, a, c) };
    }
  }

  /** Resolves with what matched, or throws {@link StepFailed} with what was seen instead. */
  async function expectation(key: number, a: Extract<StepAction, { type: 'expect' }>, c: DeviceControls): Promise<string> {
    const begin = clock.now();
    const deadline = begin + a.withinMs;
    let why = '';
    for (;;) {
      const now = clock.now();
      if (a.state) {
        const bad = firstMismatch(c.state(), a.state);
        if (!bad) return `held at ${formatDuration(now - t0)}`;
        why = bad;
      } else if (a.event) {
        const want = a.event;
        const ofType = events.filter((e) => e.key === key && e.type === want.type);
        const hit = ofType.find((e) => !firstMismatch(e, want.fields));
        if (hit && hit.at <= deadline) return `${want.type} event at ${formatDuration(hit.at - t0)}`;
        why = hit
          ? `the ${want.type} event came at ${formatDuration(hit.at - t0)}, after the deadline ${formatDuration(deadline - t0)}`
          : `no ${want.type} event${want.fields.length ? ` with ${want.fields.map(describeMatch).join(', ')}` : ''} from key ${key}${
              ofType.length ? ` (${ofType.length} other: ${firstMismatch(ofType.at(-1), want.fields)})` : ''
            }${dropped ? ` (${dropped} events were not kept)` : ''}`;
        if (hit) break;
      }
      if (now >= deadline) break;
      if (jump) {
        clock.advance(Math.min(deadline - now, Math.max(1, a.withinMs / 100)));
        await yieldNow();
        await settle();
      } else await nap(Math.max(0.5, Math.min((deadline - now) / clock.speed, pollMs)));
    }
    throw new StepFailed(a.withinMs > 0 ? `${why} (waited ${formatDuration(a.withinMs)})` : why);
  }
}
