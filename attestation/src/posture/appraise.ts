/**
 * Appraisal of posture evidence from the Enigm OS posture agent: the signed report and its TPM
 * quote together, against the agent's Ed25519 public key, the trusted AK Names and the verifier
 * state (challenges, sequence numbers, AK clocks). Pure: the state and the time are inputs, the
 * new state is an output (`VerifierStore.update` persists it; {@link appraisePostureReport}).
 *
 * Checks, in order (EAR-style, as `verify/appraise.ts`):
 *
 * | check | affirming | warning | contraindicated | none |
 * |---|---|---|---|---|
 * | `evidence` | the envelope decodes strictly | — | it does not | — |
 * | `signature` | COSE_Sign1 verifies under the agent key and the claims decode | — | it does not | not reached |
 * | `device` | the handle in `ueid` is the one expected | — | another handle | no handle expected |
 * | `challenge` | the report answers a pending `device-posture` challenge (then consumed) | — | used, expired, other purpose, unknown; or a challenge was required and none answered | no challenge, none required |
 * | `sequence` | seq above the last accepted from this agent key | — | seq not above it (replayed or reordered) | — |
 * | `freshness` | challenge-bound, or wall time within `maxAgeMs` | device clock off by more than `maxSkewMs` while challenge-bound | not challenge-bound and older than `maxAgeMs` (or from the future beyond the skew) | — |
 * | `quote` | the quote appraises (signature, AK pinned, nonce = report digest, PCR selection and digest, AK clock, reference PCR values when given) | AK not pinned; no quote and the TPM is absent or locked (allowed) | a quote that fails; claims say `quoted` but none came; a quote required and none | — |
 * | `compliance` | compliant | in grace | noncompliant | unknown, no policy |
 *
 * The quote's nonce must be `postureQuoteNonce(claims bytes)`: the claims carry the challenge nonce,
 * so the quote is bound to both. A nonce named by a challenge is consumed whatever the outcome;
 * the sequence and the AK clock are stored only for a report whose signature verified.
 *
 * @module
 */
import { toHex } from '@enigm/protocols/bytes';
import { formatAssociationHandle } from '@enigm/protocols/handle';
import {
  decodePostureEvidence,
  handleOfUeid,
  openPostureReport,
  type PostureClaimsValue,
  type PostureEvidenceValue,
  postureQuoteNonce,
  type QuoteRecordValue,
} from '@enigm/protocols/posture';
import type { QuoteEvidence } from '../collect/evidence.ts';
import { objectName } from '../structures/public.ts';
import { appraise } from '../verify/appraise.ts';
import { type Check, check, overallStatus, type Status } from '../verify/result.ts';
import { challengeCheck } from '../verify/stateful.ts';
import { lookupNonce, markNonceUsed, recordClockState, recordPostureMark, type VerifierState } from '../verify/verifier-state.ts';
import { deviceTrust, type TrustDecision } from './trust.ts';

/** Default freshness bound of a report not bound to a challenge: 15 minutes. */
export const DEFAULT_POSTURE_MAX_AGE_MS = 15 * 60_000;
/** Default tolerated clock skew of a device: 5 minutes. */
export const DEFAULT_POSTURE_MAX_SKEW_MS = 5 * 60_000;

/** Inputs of {@link appraisePostureWithState}. */
export interface PostureAppraisalInput {
  /** The published evidence bytes (envelope: report + optional quote). */
  readonly evidence: Uint8Array;
  /** The agent's Ed25519 public key (32 bytes), from enrolment. */
  readonly agentKey: Uint8Array;
  /** The handle (`eh1-…`) the evidence must be for, e.g. from the topic it came on. */
  readonly handle?: string;
  /** Hex AK Names trusted for this device; absent = AK not pinned (a warning). */
  readonly akNames?: readonly string[];
  /** PCRs the quote must cover (default: the ones it names, untrusted). */
  readonly pcrs?: readonly number[];
  /** Reference PCR values (index → allowed hex values), as `AppraisalPolicy.referencePcrs`. */
  readonly referencePcrs?: Readonly<Record<string, string | readonly string[]>>;
  /** Refuse a report without a quote (default false: allowed with a warning when the TPM is absent or locked). */
  readonly requireQuote?: boolean;
  /** Refuse a report that answers no challenge (default false). */
  readonly requireChallenge?: boolean;
  /** Freshness bound of a report not bound to a challenge (default {@link DEFAULT_POSTURE_MAX_AGE_MS}). */
  readonly maxAgeMs?: number;
  /** Tolerated device clock skew (default {@link DEFAULT_POSTURE_MAX_SKEW_MS}). */
  readonly maxSkewMs?: number;
  /** The verifier's time, ms. */
  readonly now: number;
}

/** The outcome of a posture appraisal. */
export interface PostureAppraisal {
  /** Worst check status. */
  readonly status: Status;
  /** Every check, in order. */
  readonly checks: readonly Check[];
  /** The device-trust decision this appraisal supports. */
  readonly trust: TrustDecision;
  /** The handle of the report (`eh1-…`), when the signature verified. */
  readonly handle?: string;
  /** The report's claims, when the signature verified. */
  readonly claims?: PostureClaimsValue;
  /** Hex report id (the de-duplication id), when the signature verified. */
  readonly reportId?: string;
}

function quoteEvidence(q: QuoteRecordValue): QuoteEvidence {
  return {
    akPublic: q.akPublic,
    ...(q.akParentQualifiedName ? { akParentQualifiedName: q.akParentQualifiedName } : {}),
    attest: q.attest,
    signature: q.signature,
    pcrBank: q.bank,
    pcrs: new Map(q.pcrs.map((p) => [p.index, p.value])),
  };
}

const mins = (ms: number) => `${Math.round(ms / 60_000)} min`;

function freshnessCheck(claims: PostureClaimsValue, challengeBound: boolean, input: PostureAppraisalInput): Check {
  const maxAge = input.maxAgeMs ?? DEFAULT_POSTURE_MAX_AGE_MS;
  const skew = input.maxSkewMs ?? DEFAULT_POSTURE_MAX_SKEW_MS;
  const age = input.now - claims.wallMs;
  if (challengeBound) {
    return Math.abs(age) > skew
      ? check('freshness', 'warning', `fresh (answers a challenge), but the device clock is off by about ${mins(age)}`)
      : check('freshness', 'affirming', 'fresh: answers a single-use challenge');
  }
  if (age < -skew)
    return check('freshness', 'contraindicated', `made ${mins(-age)} in the future by the device clock: answer a challenge`);
  if (age > maxAge)
    return check(
      'freshness',
      'contraindicated',
      `stale: made ${mins(age)} ago by the device clock (bound ${mins(maxAge)}); a challenge proves freshness`,
    );
  return check('freshness', 'affirming', `made ${Math.max(0, Math.round(age / 1000))} s ago (device clock)`);
}

function complianceCheck(claims: PostureClaimsValue): Check {
  const c = claims.compliance;
  const why = c.reasons.map((r) => `${r.signal}: ${r.code}`).join('; ');
  switch (c.decision) {
    case 'compliant':
      return check('compliance', 'affirming', 'compliant with the policy');
    case 'grace':
      return check('compliance', 'warning', `in a grace period (${why})`);
    case 'noncompliant':
      return check('compliance', 'contraindicated', `noncompliant (${why})`);
    case 'unknown':
      return check('compliance', 'none', `unknown (${why})`);
    default:
      return check('compliance', 'none', 'no policy installed on the device');
  }
}

function quoteCheck(
  ev: PostureEvidenceValue,
  claims: PostureClaimsValue,
  claimsBytes: Uint8Array,
  state: VerifierState,
  input: PostureAppraisalInput,
): { check: Check; akName?: string; clock?: { clock: number; resetCount: number; restartCount: number } } {
  if (!ev.quote) {
    if (claims.tpm.binding === 'quoted')
      return { check: check('quote', 'contraindicated', 'the report says quoted but no quote came with it') };
    const why = `no TPM quote: ${claims.tpm.binding}${claims.tpm.reason ? ` (${claims.tpm.reason})` : ''}`;
    return { check: check('quote', input.requireQuote ? 'contraindicated' : 'warning', why) };
  }
  if (claims.tpm.binding !== 'quoted')
    return { check: check('quote', 'contraindicated', 'a quote came with a report that says it has none') };
  const evidence = quoteEvidence(ev.quote);
  const pcrs = input.pcrs ? [...input.pcrs].sort((a, b) => a - b) : [...evidence.pcrs.keys()].sort((a, b) => a - b);
  const akName = akNameOf(evidence);
  const previous = akName ? state.clocks[akName] : undefined;
  const policy = {
    ...(input.akNames ? { akNames: input.akNames } : {}),
    ...(input.referencePcrs ? { referencePcrs: input.referencePcrs } : {}),
  };
  const r = appraise({
    evidence,
    expect: { nonce: postureQuoteNonce(claimsBytes), bank: ev.quote.bank, pcrs, ...(previous ? { previous } : {}) },
    policy,
  });
  const failed = r.checks.filter((c) => c.status === 'contraindicated').map((c) => `${c.name}: ${c.reason}`);
  const warned = r.checks.filter((c) => c.status === 'warning').map((c) => `${c.name}: ${c.reason}`);
  const out =
    r.status === 'contraindicated'
      ? check('quote', 'contraindicated', `the quote does not appraise (${failed.join('; ')})`)
      : warned.length
        ? check('quote', 'warning', `quote bound to the report, PCRs [${pcrs.join(',')}]; ${warned.join('; ')}`)
        : check('quote', 'affirming', `quote by a pinned AK bound to the report, PCRs [${pcrs.join(',')}]`);
  return { check: out, ...(akName ? { akName } : {}), ...(r.clockState ? { clock: r.clockState } : {}) };
}

function akNameOf(evidence: QuoteEvidence): string | undefined {
  try {
    return toHex(objectName(evidence.akPublic));
  } catch {
    return undefined;
  }
}

/**
 * Appraises posture evidence against the verifier state. Pure; returns the new state to persist.
 * @example
 * const { result, state: next } = appraisePostureWithState(state, { evidence, agentKey, handle, akNames, now });
 * if (result.trust.decision !== 'trusted') refuse(result.trust.reasons);
 */
export function appraisePostureWithState(
  state: VerifierState,
  input: PostureAppraisalInput,
): { result: PostureAppraisal; state: VerifierState } {
  const checks: Check[] = [];
  const done = (next: VerifierState, extra: Partial<PostureAppraisal> = {}) => {
    const status = overallStatus(checks);
    return { result: { status, checks, trust: deviceTrust(checks, input.now), ...extra }, state: next };
  };
  let ev: PostureEvidenceValue;
  try {
    ev = decodePostureEvidence(input.evidence);
    checks.push(check('evidence', 'affirming', 'posture evidence decodes'));
  } catch (e) {
    checks.push(check('evidence', 'contraindicated', `posture evidence does not decode: ${(e as Error).message}`));
    return done(state);
  }
  let opened: ReturnType<typeof openPostureReport>;
  try {
    opened = openPostureReport(ev.report, input.agentKey);
    checks.push(check('signature', 'affirming', 'report signed by the agent key'));
  } catch (e) {
    const code = (e as { code?: string }).code ?? 'error';
    checks.push(check('signature', 'contraindicated', `report not signed by the agent key or malformed (${code})`));
    return done(state);
  }
  const { claims, claimsBytes } = opened;
  const handle = formatAssociationHandle(handleOfUeid(claims.ueid));
  if (input.handle === undefined) checks.push(check('device', 'none', `report for ${handle}; no handle expected`));
  else if (input.handle === handle) checks.push(check('device', 'affirming', `report for ${handle}`));
  else checks.push(check('device', 'contraindicated', `report for another device than ${input.handle}`));

  let next = state;
  let challengeBound = false;
  if (claims.nonce) {
    const found = lookupNonce(state, claims.nonce, 'device-posture', input.now);
    checks.push(challengeCheck('challenge', found, input.now));
    challengeBound = found.status === 'pending';
    if (found.challenge !== undefined || found.status === 'used') next = markNonceUsed(next, claims.nonce, input.now);
  } else {
    checks.push(
      input.requireChallenge
        ? check('challenge', 'contraindicated', 'a challenge was required and the report answers none')
        : check('challenge', 'none', 'the report answers no challenge (periodic or on-change)'),
    );
  }

  const agent = toHex(input.agentKey);
  const last = state.posture?.[agent];
  if (last && claims.seq <= last.seq)
    checks.push(
      check('sequence', 'contraindicated', `seq ${claims.seq} is not above ${last.seq} already accepted: replayed or reordered`),
    );
  else
    checks.push(
      check('sequence', 'affirming', last ? `seq ${claims.seq} follows ${last.seq}` : `seq ${claims.seq}, first from this agent`),
    );

  checks.push(freshnessCheck(claims, challengeBound, input));
  const q = quoteCheck(ev, claims, claimsBytes, state, input);
  checks.push(q.check);
  checks.push(complianceCheck(claims));

  const seqOk = checks.find((c) => c.name === 'sequence')?.status === 'affirming';
  if (seqOk) next = recordPostureMark(next, agent, { seq: claims.seq, at: input.now });
  if (q.akName && q.clock && q.check.status !== 'contraindicated') next = recordClockState(next, q.akName, q.clock);
  return done(next, { handle, claims, reportId: toHex(claims.id) });
}
