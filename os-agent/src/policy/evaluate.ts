/**
 * Local compliance evaluation: the held policy against the collected signals, into a decision
 * with reasons. Grace periods run on the agent's monotonic clock from the first collection that
 * departed from the policy (a wrong wall clock cannot shorten or stretch them).
 *
 * Per rule: the signal is `ok` and fresh with an allowed value → pass (its grace timer resets);
 * `ok` with another value → `mismatch`; `unknown`, missing or stale → `unknown` / `stale` (a pass
 * when the rule has `unknownAllowed`). A failing rule inside its grace period is `grace` (with the
 * time left). Decision: any `mismatch` past grace → `noncompliant`; else any unknown past grace →
 * `unknown`; else any rule in grace → `grace`; else `compliant`. No policy → `no-policy`.
 * @module
 */
import { toHex } from '@enigm/protocols/bytes';
import { encode } from '@enigm/protocols/cbor';
import type { ComplianceReasonValue, SignalValue } from '@enigm/protocols/posture';
import { SIGNAL_VALUE_TYPE } from '@enigm/protocols/posture';
import type { Compliance } from '../report/report.ts';
import type { Signal } from '../signals.ts';
import type { Policy } from './document.ts';

const key = (v: SignalValue) => toHex(encode(SIGNAL_VALUE_TYPE.toCbor(v)));

/** Remembers since when each rule has been failing (monotonic ms). */
export class GraceTracker {
  #since = new Map<string, number>();

  /** Since when `signal` has been failing, starting now if it was not. */
  failing(signal: string, now: number): number {
    const s = this.#since.get(signal);
    if (s !== undefined) return s;
    this.#since.set(signal, now);
    return now;
  }

  /** `signal` passes: its timer resets. */
  passing(signal: string): void {
    this.#since.delete(signal);
  }

  /** Forgets everything (a new policy). */
  reset(): void {
    this.#since.clear();
  }
}

/**
 * Evaluates `policy` against `signals` at monotonic time `now` (the clock the signals were collected with).
 * @example const c = evaluatePolicy(policy, signals, performance.now(), tracker); c.decision // 'compliant'
 */
export function evaluatePolicy(
  policy: Policy | undefined,
  signals: readonly Signal[],
  now: number,
  grace: GraceTracker,
): Compliance {
  if (!policy) return { decision: 'no-policy', reasons: [] };
  const byName = new Map(signals.map((s) => [s.name as string, s]));
  const reasons: ComplianceReasonValue[] = [];
  let mismatch = false;
  let unknown = false;
  let inGrace = false;
  for (const rule of policy.rules) {
    const s = byName.get(rule.signal);
    let code: 'mismatch' | 'unknown' | 'stale' | undefined;
    let message = '';
    if (s?.status !== 'ok') {
      if (!rule.unknownAllowed) {
        code = 'unknown';
        message = s ? `unknown: ${s.reason ?? 'no value'}` : 'not collected';
      }
    } else if (now - s.collectedAt > s.maxAgeMs) {
      if (!rule.unknownAllowed) {
        code = 'stale';
        message = `collected ${Math.round((now - s.collectedAt) / 1000)} s ago, fresh for ${Math.round(s.maxAgeMs / 1000)} s`;
      }
    } else {
      const allowed = new Set(rule.allowed.map(key));
      if (!allowed.has(key(s.value as SignalValue))) {
        code = 'mismatch';
        message = `value not allowed by policy ${policy.id} v${policy.version}`;
      }
    }
    if (code === undefined) {
      grace.passing(rule.signal);
      continue;
    }
    const since = grace.failing(rule.signal, now);
    const left = since + rule.graceMs - now;
    if (left > 0) {
      inGrace = true;
      reasons.push({
        signal: rule.signal,
        code: 'grace',
        message: `${code}: ${message}`.slice(0, 200),
        graceLeftMs: Math.round(left),
      });
      continue;
    }
    if (code === 'mismatch') mismatch = true;
    else unknown = true;
    reasons.push({ signal: rule.signal, code, message: message.slice(0, 200) });
  }
  const decision = mismatch ? 'noncompliant' : unknown ? 'unknown' : inGrace ? 'grace' : 'compliant';
  return { decision, reasons };
}
