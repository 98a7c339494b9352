/**
 * Appraisal against the verifier state: where the nonce comes from, single use, time to live,
 * and the per-AK `replay` check — pure functions from (state, input, time) to (result, new state).
 * `store/verifier-store.ts` runs them under a file lock.
 *
 * Nonce policy (the `challenge` check, added after `nonce`):
 *
 * | nonce source | affirming | warning | contraindicated |
 * |---|---|---|---|
 * | `challenge`: the quote answers a pending challenge of this verifier | pending, unexpired, unused | — | expired, already used, issued for another purpose, or no such challenge |
 * | `argument`: the verifier's operator gives it (`--nonce`) | a pending challenge, or a nonce never seen | — | expired, already used, other purpose |
 * | `evidence`: taken from the evidence (`--nonce-from-evidence`) | never | not used before | already used |
 *
 * The PCR selection the quote is held to: the verifier's (`expect`), else the one remembered with
 * the challenge, else the evidence document's list (untrusted), else 0..7 of SHA-256 — the
 * result says which (`selection.from`).
 *
 * Every nonce named by an appraisal is consumed, whatever the outcome: a second use is refused.
 * The clock state of every verified quote (authentic and strictly newer) is stored for its AK,
 * so replaying any earlier quote of that AK is contraindicated by `replay`.
 *
 * @module
 */
import { toHex } from '@enigm/protocols/bytes';
import type { QuoteEvidence } from '../collect/evidence.ts';
import { ALG_SHA256 } from '../hash.ts';
import { appraiseKeyEvidence, type KeyAppraisal, type KeyAppraisalInput } from '../key/appraise.ts';
import { objectName } from '../structures/public.ts';
import { type AppraisalInput, appraise } from './appraise.ts';
import { parseAttest } from './attest.ts';
import type { QuoteExpectation } from './quote.ts';
import { type AppraisalResult, type Check, check, overallStatus, type Status } from './result.ts';
import {
  type Challenge,
  type ChallengePurpose,
  lookupNonce,
  markNonceUsed,
  type NonceLookup,
  recordClockState,
  type VerifierState,
} from './verifier-state.ts';

/** Where the nonce of an appraisal comes from. */
export type NonceSource =
  /** A nonce the verifier's operator gives (e.g. `--nonce`): a pending challenge or a fresh nonce. */
  | { readonly from: 'argument'; readonly nonce: Uint8Array }
  /** Whichever pending challenge of this verifier the quote answers (its signed `extraData`). */
  | { readonly from: 'challenge' }
  /** The evidence's own nonce (its file, else the quote's `extraData`): never better than warning. */
  | { readonly from: 'evidence'; readonly nonce?: Uint8Array };

/** Inputs of {@link appraiseQuoteWithState}. */
export interface StatefulAppraisalInput extends Omit<AppraisalInput, 'expect'> {
  /**
   * The PCR selection the verifier expects. Each part not given is taken from the challenge the
   * quote answers, else from `evidencePcrs`, else PCRs 0..7 of the SHA-256 bank.
   */
  readonly expect?: Partial<Omit<QuoteExpectation, 'akNames' | 'nonce' | 'previous'>>;
  /** The PCR list the evidence document names (untrusted; the last resort). */
  readonly evidencePcrs?: readonly number[];
  readonly nonce: NonceSource;
  /** The verifier's time, milliseconds. */
  readonly now: number;
}

/** A quote appraisal made against the verifier state. */
export interface StatefulAppraisal extends AppraisalResult {
  /** The nonce the quote was checked against (hex), if there was one. */
  readonly nonce: string | undefined;
  /** How the nonce stood in the state before this appraisal consumed it. */
  readonly nonceStatus: NonceLookup['status'];
  /** The PCR selection the quote was held to, and where it came from. */
  readonly selection: {
    readonly bank: number;
    readonly pcrs: readonly number[];
    readonly from: 'argument' | 'challenge' | 'evidence' | 'default';
  };
}

function extraData(evidence: QuoteEvidence): Uint8Array | undefined {
  try {
    return parseAttest(evidence.attest).extraData;
  } catch {
    return undefined;
  }
}

function akNameOf(evidence: QuoteEvidence): string | undefined {
  try {
    return toHex(objectName(evidence.akPublic));
  } catch {
    return undefined;
  }
}

const ago = (ms: number) => `${Math.round(ms / 1000)} s ago`;

/** The `challenge` check for a nonce looked up in the state. */
export function challengeCheck(source: NonceSource['from'], found: NonceLookup, now: number): Check {
  const c = found.challenge;
  switch (found.status) {
    case 'used':
      return check(
        'challenge',
        'contraindicated',
        `nonce was already used ${ago(now - (found.usedAt ?? now))}: replayed evidence`,
      );
    case 'expired':
      return check('challenge', 'contraindicated', `challenge expired ${ago(now - (c?.expiresAt ?? now))}`);
    case 'wrong-purpose':
      return check('challenge', 'contraindicated', `nonce was issued for ${c?.purpose}, not for this appraisal`);
    case 'pending':
      return source === 'evidence'
        ? check('challenge', 'warning', 'nonce taken from the evidence (--nonce-from-evidence); it matches a pending challenge')
        : check('challenge', 'affirming', `single-use challenge issued ${ago(now - (c?.issuedAt ?? now))}, now consumed`);
    case 'unknown':
      if (source === 'argument') return check('challenge', 'affirming', 'nonce given by the verifier, now marked used');
      if (source === 'evidence')
        return check('challenge', 'warning', 'nonce taken from the evidence (--nonce-from-evidence): proves no freshness');
      return check('challenge', 'contraindicated', 'the quote answers no challenge issued by this verifier');
  }
}

function withCheck<R extends { checks: readonly Check[]; status: Status }>(r: R, extra: Check, after: string): R {
  const checks = [...r.checks];
  const at = checks.findIndex((c) => c.name === after);
  checks.splice(at < 0 ? checks.length : at + 1, 0, extra);
  return { ...r, checks, status: overallStatus(checks) };
}

function resolveSelection(input: StatefulAppraisalInput, challenge: Challenge | undefined): StatefulAppraisal['selection'] {
  const bank = input.expect?.bank ?? challenge?.bank ?? ALG_SHA256;
  if (input.expect?.pcrs) return { bank, pcrs: input.expect.pcrs, from: 'argument' };
  if (challenge?.pcrs) return { bank, pcrs: challenge.pcrs, from: 'challenge' };
  if (input.evidencePcrs) return { bank, pcrs: input.evidencePcrs, from: 'evidence' };
  return { bank, pcrs: [0, 1, 2, 3, 4, 5, 6, 7], from: 'default' };
}

/**
 * Appraises a quote against the verifier state: resolves and consumes the nonce, compares the
 * clock with the AK's stored state (`replay`), stores the new clock state when the quote verified.
 * Pure; returns the new state to persist.
 * @example
 * const { result, state: next } = appraiseQuoteWithState(state, {
 *   evidence, expect: { pcrs: [0, 7] }, nonce: { from: 'challenge' }, now: Date.now() });
 */
export function appraiseQuoteWithState(
  state: VerifierState,
  input: StatefulAppraisalInput,
): { result: StatefulAppraisal; state: VerifierState } {
  const { nonce: source, now } = input;
  const quoted = extraData(input.evidence);
  const nonce = source.from === 'argument' ? source.nonce : source.from === 'evidence' ? (source.nonce ?? quoted) : quoted;
  const found: NonceLookup = nonce?.length ? lookupNonce(state, nonce, 'tpm-quote', now) : { status: 'unknown' };
  const akName = akNameOf(input.evidence);
  const previous = akName ? state.clocks[akName] : undefined;
  const selection = resolveSelection(input, found.challenge);
  const base = appraise({
    ...input,
    expect: {
      bank: selection.bank,
      pcrs: selection.pcrs,
      nonce: nonce ?? new Uint8Array(0),
      ...(previous ? { previous } : {}),
    },
  });
  const result = withCheck(base, challengeCheck(source.from, found, now), 'nonce');
  // A nonce the verifier named, or one of its challenges, is consumed; an unknown extraData in
  // challenge mode is the attester's choice and is not recorded (it could flood the used list).
  const consume = !!nonce?.length && (source.from !== 'challenge' || found.challenge !== undefined);
  let next = consume ? markNonceUsed(state, nonce, now) : state;
  if (result.akName && result.clockState) next = recordClockState(next, result.akName, result.clockState);
  return { result: { ...result, nonce: nonce ? toHex(nonce) : undefined, nonceStatus: found.status, selection }, state: next };
}

/** Inputs of {@link appraiseKeyEvidenceWithState}: the time fields come from the challenge. */
export type StatefulKeyAppraisalInput = Omit<KeyAppraisalInput, 'issuedAt' | 'receivedAt' | 'maxAgeMs'> & {
  /** The verifier's time when the evidence arrived, milliseconds. */
  readonly now: number;
};

/**
 * Appraises Key evidence against the verifier state: `input.nonce` must be a pending
 * `key-evidence` challenge of this verifier (issued with {@link issueChallenge}); it is consumed
 * whatever the outcome, and the freshness limit is the challenge's time to live. Adds a
 * `challenge` check after `nonce`. Pure; returns the new state to persist.
 */
export function appraiseKeyEvidenceWithState(
  state: VerifierState,
  input: StatefulKeyAppraisalInput,
): { result: KeyAppraisal; state: VerifierState } {
  const { now, ...rest } = input;
  const found = lookupNonce(state, input.nonce, 'key-evidence', now);
  const c: Challenge | undefined = found.challenge;
  const base = appraiseKeyEvidence({
    ...rest,
    ...(c && found.status === 'pending' ? { issuedAt: c.issuedAt, receivedAt: now, maxAgeMs: c.expiresAt - c.issuedAt } : {}),
  });
  const cc = challengeCheck('challenge', found, now);
  const checks = [...base.checks];
  const at = checks.findIndex((x) => x.name === 'nonce');
  checks.splice(at < 0 ? checks.length : at + 1, 0, cc);
  const status = overallStatus(checks);
  return { result: { ...base, checks, status }, state: markNonceUsed(state, input.nonce, now) };
}

/** Purposes, for callers that list them (CLI help). */
export const CHALLENGE_PURPOSES: readonly ChallengePurpose[] = ['tpm-quote', 'key-evidence', 'device-posture'];
