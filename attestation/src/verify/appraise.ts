/**
 * The appraisal: quote first, then the event log, then reference values — a pure function from
 * evidence, expectation and policy to an EAR-style {@link AppraisalResult}. Checks after the quote
 * run only if the quote verified, since unauthenticated PCR values prove nothing. Added checks:
 *
 * - `event-log`: the log parses and its replay in the quoted bank matches every quoted PCR
 *   (named workarounds reported); quoted PCRs the log cannot compute are a warning;
 * - `event-data`: for the event types whose data is bound to the digest (see
 *   `eventlog/digests.ts`), the data matches the digest;
 * - `reference-values`: every PCR the policy lists was quoted and equals an allowed value.
 *
 * @module
 */

import { toHex } from '@enigm/protocols/bytes';
import type { QuoteEvidence } from '../collect/evidence.ts';
import { AttestationError } from '../errors.ts';
import { checkEventDigests } from '../eventlog/digests.ts';
import { type EventLog, parseEventLog } from '../eventlog/parse.ts';
import { compareReplay } from '../eventlog/replay.ts';
import { hashById } from '../hash.ts';
import type { PreparedAk } from './keys.ts';
import { type QuoteExpectation, verifyQuote } from './quote.ts';
import { type AppraisalResult, type Check, check, overallStatus } from './result.ts';

/** Reference values and trust anchors. JSON-friendly (hex strings). */
export interface AppraisalPolicy {
  /** Hex AK Names trusted; absent = AK not pinned (a warning). */
  readonly akNames?: readonly string[];
  /** PCR index → allowed hex value(s), in the quoted bank. */
  readonly referencePcrs?: Readonly<Record<string, string | readonly string[]>>;
  /** Whether a missing event log is contraindicated (default: `none`). */
  readonly requireEventLog?: boolean;
}

/** Inputs of {@link appraise}. */
export interface AppraisalInput {
  readonly evidence: QuoteEvidence;
  readonly expect: Omit<QuoteExpectation, 'akNames'>;
  readonly policy?: AppraisalPolicy;
  /** A prepared AK to skip re-parsing the key (for repeated appraisals). */
  readonly ak?: PreparedAk;
  /** An already parsed event log (for repeated appraisals of the same log). */
  readonly eventLog?: EventLog;
}

function eventLogChecks(input: AppraisalInput, verified: boolean): Check[] {
  const { evidence, policy } = input;
  if (!evidence.eventLog && !input.eventLog)
    return [check('event-log', policy?.requireEventLog ? 'contraindicated' : 'none', 'no event log supplied')];
  if (!verified) return [check('event-log', 'none', 'not replayed: the quote did not verify')];
  let log: EventLog;
  try {
    log = input.eventLog ?? parseEventLog(evidence.eventLog as Uint8Array);
  } catch (e) {
    if (!(e instanceof AttestationError)) throw e;
    return [check('event-log', 'contraindicated', `event log does not parse: ${e.message}`)];
  }
  const bank = hashById(evidence.pcrBank)?.name;
  if (!bank || !log.algorithms.some((a) => a.id === evidence.pcrBank))
    return [check('event-log', 'contraindicated', `event log has no ${bank ?? 'such'} bank`)];
  const c = compareReplay(log, bank, evidence.pcrs);
  const out: Check[] = [];
  if (c.mismatched.length > 0)
    out.push(check('event-log', 'contraindicated', `replay does not match quoted PCRs [${c.mismatched.join(',')}]`));
  else if (c.incomplete.length > 0)
    out.push(check('event-log', 'warning', `log lacks ${bank} digests for quoted PCRs [${c.incomplete.join(',')}]`));
  else {
    const extra = c.workaround ? ` (workaround ${c.workaround})` : '';
    const unverified = c.unverified.length ? `; events of unquoted PCRs [${c.unverified.join(',')}] stay unverified` : '';
    out.push(check('event-log', 'affirming', `replay matches quoted PCRs [${c.matched.join(',')}]${extra}${unverified}`));
  }
  const quoted = new Set(c.matched);
  const bad = checkEventDigests(log).filter((d) => quoted.has(d.pcr) && !d.ok);
  out.push(
    bad.length
      ? check(
          'event-data',
          'contraindicated',
          `event data does not match its digest at events [${bad.map((d) => d.seq).join(',')}]`,
        )
      : check('event-data', 'affirming', 'data of data-bound events matches their digests'),
  );
  return out;
}

function referenceCheck(input: AppraisalInput, verified: boolean): Check {
  const ref = input.policy?.referencePcrs;
  if (!ref || Object.keys(ref).length === 0) return check('reference-values', 'none', 'no reference PCR values in the policy');
  if (!verified) return check('reference-values', 'none', 'not compared: the quote did not verify');
  const bad: string[] = [];
  for (const [k, allowed] of Object.entries(ref)) {
    const v = input.evidence.pcrs.get(Number(k));
    const list = (typeof allowed === 'string' ? [allowed] : allowed).map((s) => s.toLowerCase().replace(/^0x/, ''));
    if (!v) bad.push(`${k} (not quoted)`);
    else if (!list.includes(toHex(v))) bad.push(k);
  }
  return bad.length
    ? check('reference-values', 'contraindicated', `PCRs [${bad.join(', ')}] differ from the reference values`)
    : check('reference-values', 'affirming', `PCRs [${Object.keys(ref).join(',')}] equal the reference values`);
}

/**
 * Appraises quote evidence. Pure: no device, no clock, no I/O.
 * @example
 * const r = appraise({ evidence, expect: { nonce, bank: ALG_SHA256, pcrs: [0, 7] }, policy });
 * r.status; // 'affirming' | 'warning' | 'contraindicated' | 'none'
 */
export function appraise(input: AppraisalInput): AppraisalResult {
  const q = verifyQuote(
    input.evidence,
    { ...input.expect, ...(input.policy?.akNames ? { akNames: input.policy.akNames } : {}) },
    input.ak,
  );
  const checks = [...q.checks, ...eventLogChecks(input, q.verified), referenceCheck(input, q.verified)];
  const c = q.attest?.clockInfo;
  return {
    status: overallStatus(checks),
    checks,
    akName: q.ak ? toHex(q.ak.name) : undefined,
    clockState: q.verified && c ? { clock: Number(c.clock), resetCount: c.resetCount, restartCount: c.restartCount } : undefined,
  };
}
