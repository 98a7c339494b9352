/**
 * The device-trust decision: what a protected operation (an Enigm Server private environment, a
 * sensitive command) asks of a device, made from its latest appraised posture report.
 *
 * | decision | when |
 * |---|---|
 * | `untrusted` | a check that proves tampering or a bad state failed: evidence, signature, device, challenge, sequence or quote contraindicated, or the device is noncompliant |
 * | `unknown` | nothing proves a bad state, but something is missing: the report is stale, compliance is unknown or no policy is installed, the quote is required and the TPM is absent or locked |
 * | `trusted` | every check is affirming or a warning, and the device is compliant (or in grace) |
 *
 * {@link DeviceTrustRegistry} keeps the latest decision per handle; {@link requireTrustedDevice}
 * is the gate a protected operation calls (too old a decision counts as unknown).
 * @module
 */
import { AttestationError } from '../errors.ts';
import type { Check } from '../verify/result.ts';

/** Trusted, untrusted or unknown. */
export type TrustLevel = 'trusted' | 'untrusted' | 'unknown';

/** A device-trust decision with its reasons. */
export interface TrustDecision {
  readonly decision: TrustLevel;
  /** Human reasons (the checks that decided it). */
  readonly reasons: readonly string[];
  /** The verifier's time of the appraisal, ms. */
  readonly at: number;
}

/** Checks whose failure proves tampering, replay or a bad device. */
const HARD = new Set(['evidence', 'signature', 'device', 'challenge', 'sequence']);

/**
 * The decision a set of posture checks supports (see the module table).
 * @example deviceTrust(appraisal.checks, Date.now()).decision // 'trusted'
 */
export function deviceTrust(checks: readonly Check[], at: number): TrustDecision {
  const by = (name: string) => checks.find((c) => c.name === name);
  const line = (c: Check) => `${c.name}: ${c.reason}`;
  const hard = checks.filter((c) => HARD.has(c.name) && c.status === 'contraindicated');
  const quote = by('quote');
  const compliance = by('compliance');
  const freshness = by('freshness');
  const untrusted = [...hard];
  if (quote?.status === 'contraindicated' && !/^no TPM quote/.test(quote.reason)) untrusted.push(quote);
  if (compliance?.status === 'contraindicated') untrusted.push(compliance);
  if (untrusted.length) return { decision: 'untrusted', reasons: untrusted.map(line), at };
  if (!compliance || !quote || !freshness) return { decision: 'unknown', reasons: ['the report was not appraised'], at };
  const unknown: Check[] = [];
  if (freshness.status === 'contraindicated') unknown.push(freshness);
  if (quote.status === 'contraindicated') unknown.push(quote);
  if (compliance.status === 'none') unknown.push(compliance);
  if (unknown.length) return { decision: 'unknown', reasons: unknown.map(line), at };
  const warnings = checks.filter((c) => c.status === 'warning').map(line);
  return { decision: 'trusted', reasons: warnings.length ? warnings : ['every check affirming'], at };
}

/**
 * Throws unless `decision` is `trusted` and no older than `maxAgeMs` at `now`.
 * @throws {@link AttestationError} `POSTURE_UNTRUSTED` naming the decision and its reasons
 */
export function requireTrustedDevice(
  decision: TrustDecision | undefined,
  options: { now: number; maxAgeMs: number; what?: string },
): TrustDecision {
  const what = options.what ?? 'this operation';
  if (!decision)
    throw new AttestationError('POSTURE_UNTRUSTED', `${what} requires a trusted device: no posture report appraised`);
  if (options.now - decision.at > options.maxAgeMs)
    throw new AttestationError(
      'POSTURE_UNTRUSTED',
      `${what} requires a trusted device: the last appraisal is ${Math.round((options.now - decision.at) / 1000)} s old`,
    );
  if (decision.decision !== 'trusted')
    throw new AttestationError(
      'POSTURE_UNTRUSTED',
      `${what} requires a trusted device: ${decision.decision} (${decision.reasons.join('; ')})`,
    );
  return decision;
}

/** The latest device-trust decision per handle, bounded (least recently updated forgotten first). */
export class DeviceTrustRegistry {
  #latest = new Map<string, TrustDecision>();
  #capacity: number;

  /** @throws RangeError if `capacity` is not a positive integer */
  constructor(capacity = 100_000) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.#capacity = capacity;
  }

  /** Records the decision of a newer appraisal of `handle` (an older one, by `at`, is ignored). */
  record(handle: string, decision: TrustDecision): void {
    const held = this.#latest.get(handle);
    if (held && held.at > decision.at) return;
    this.#latest.delete(handle);
    this.#latest.set(handle, decision);
    if (this.#latest.size > this.#capacity) this.#latest.delete(this.#latest.keys().next().value as string);
  }

  /** The latest decision of `handle`, or `unknown` when there is none or it is older than `maxAgeMs`. */
  decision(handle: string, now: number, maxAgeMs: number): TrustDecision {
    const d = this.#latest.get(handle);
    if (!d) return { decision: 'unknown', reasons: ['no posture report appraised for this device'], at: now };
    if (now - d.at > maxAgeMs) return { decision: 'unknown', reasons: ['the last posture appraisal is too old'], at: d.at };
    return d;
  }

  /**
   * The gate of a protected operation: the device's latest decision must be `trusted` and recent.
   * @throws {@link AttestationError} `POSTURE_UNTRUSTED`
   */
  require(handle: string, options: { now: number; maxAgeMs: number; what?: string }): TrustDecision {
    return requireTrustedDevice(this.#latest.get(handle), options);
  }
}
