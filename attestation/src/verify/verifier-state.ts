/**
 * The verifier's memory between appraisals, as a pure value: the challenges it issued (single-use
 * nonces with a time to live), the nonces already used, and the last clock state accepted per AK
 * (for the `replay` check). Every function here is pure — the time is an input, nonces are made
 * by the caller — and returns a new state; `store/verifier-store.ts` keeps it in a file.
 *
 * Nonce life cycle: {@link issueChallenge} adds a pending challenge; {@link lookupNonce} tells
 * whether a nonce is pending, expired, already used, issued for another purpose or unknown;
 * {@link markNonceUsed} consumes it (a second use is then `used`). Expired challenges and used
 * nonces are remembered for {@link NONCE_RETENTION_MS} past their expiry, so an expired challenge
 * never turns into an unknown nonce while an old quote could still be presented; past that, the
 * per-AK `replay` check still refuses old quotes.
 *
 * @module
 */
import { fromHex, toHex } from '@enigm/protocols/bytes';
import { AttestationError } from '../errors.ts';
import type { ClockState } from './result.ts';

/**
 * What a challenge is for: a TPM quote (`enigm attest`), Key evidence (`enigm key attest`) or a
 * posture report of the Enigm OS posture agent (`enigm posture verify`).
 */
export type ChallengePurpose = 'tpm-quote' | 'key-evidence' | 'device-posture';

/** Default time to live of a challenge: 5 minutes. */
export const DEFAULT_CHALLENGE_TTL_MS = 5 * 60_000;
/** How long used nonces and expired challenges are remembered past their expiry: 24 hours. */
export const NONCE_RETENTION_MS = 24 * 3_600_000;
/** Bound on remembered used nonces (oldest forgotten first). */
export const MAX_USED_NONCES = 10_000;
/** Bound on pending challenges (oldest dropped first). */
export const MAX_PENDING_CHALLENGES = 1_000;

/** A nonce the verifier issued. Times are milliseconds on the verifier's clock. */
export interface Challenge {
  /** Hex nonce. */
  readonly nonce: string;
  readonly purpose: ChallengePurpose;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** For TPM quotes: the PCRs the verifier asks for (then the appraisal expects exactly these). */
  readonly pcrs?: readonly number[];
  /** For TPM quotes: the bank (`TPM_ALG_ID`) asked for. */
  readonly bank?: number;
}

/** A nonce that was consumed, remembered until `forgetAt`. */
export interface UsedNonce {
  /** Hex nonce. */
  readonly nonce: string;
  readonly usedAt: number;
  readonly forgetAt: number;
}

/** The last posture report accepted from one agent key (for the posture `sequence` check). */
export interface PostureMark {
  /** The report's sequence number. */
  readonly seq: number;
  /** The verifier's time when it was accepted, ms. */
  readonly at: number;
}

/** Bound on remembered posture agents (least recently accepted forgotten first). */
export const MAX_POSTURE_AGENTS = 10_000;

/** The verifier state. JSON-ready. */
export interface VerifierState {
  readonly version: 1;
  /** Issued challenges not yet used (expired ones kept for {@link NONCE_RETENTION_MS}). */
  readonly challenges: readonly Challenge[];
  /** Consumed nonces. */
  readonly used: readonly UsedNonce[];
  /** Last accepted clock state per hex AK Name. */
  readonly clocks: Readonly<Record<string, ClockState>>;
  /** Last posture report accepted per hex agent public key (absent in states written before posture existed). */
  readonly posture?: Readonly<Record<string, PostureMark>>;
}

/** An empty state. */
export function emptyVerifierState(): VerifierState {
  return { version: 1, challenges: [], used: [], clocks: {} };
}

const bad = (why: string) => new AttestationError('STATE_INVALID', `verifier state: ${why}`);
const isInt = (v: unknown): v is number => Number.isSafeInteger(v);

function clockFromJson(v: unknown, where: string): ClockState {
  const o = v as Record<string, unknown>;
  if (typeof v !== 'object' || v === null || !isInt(o.clock) || !isInt(o.resetCount) || !isInt(o.restartCount))
    throw bad(`${where} is not a clock state {clock, resetCount, restartCount}`);
  return { clock: o.clock, resetCount: o.resetCount, restartCount: o.restartCount };
}

function hexNonce(v: unknown, where: string): string {
  if (typeof v !== 'string' || !/^([0-9a-f]{2}){1,64}$/.test(v)) throw bad(`${where} is not a lowercase hex nonce`);
  return v;
}

/**
 * Reads a state from its JSON form. A legacy file (a bare map of AK Name → clock state, as
 * written before challenges existed) becomes a state with those clocks.
 * @throws {@link AttestationError} `STATE_INVALID` naming the bad field
 */
export function verifierStateFromJson(j: unknown): VerifierState {
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw bad('not a JSON object');
  const o = j as Record<string, unknown>;
  if (o.version === undefined) {
    const clocks: Record<string, ClockState> = {};
    for (const [k, v] of Object.entries(o)) clocks[k] = clockFromJson(v, `clock state of ${k}`);
    return { ...emptyVerifierState(), clocks };
  }
  if (o.version !== 1) throw bad(`version ${String(o.version)} is not 1`);
  if (!Array.isArray(o.challenges) || !Array.isArray(o.used) || typeof o.clocks !== 'object' || o.clocks === null)
    throw bad('challenges, used and clocks are required');
  const challenges = o.challenges.map((c: Record<string, unknown>, i): Challenge => {
    if (c?.purpose !== 'tpm-quote' && c?.purpose !== 'key-evidence' && c?.purpose !== 'device-posture')
      throw bad(`challenges[${i}].purpose is unknown`);
    if (!isInt(c.issuedAt) || !isInt(c.expiresAt)) throw bad(`challenges[${i}] times are not integers`);
    if (c.pcrs !== undefined && !(Array.isArray(c.pcrs) && c.pcrs.every((p) => isInt(p) && p >= 0 && p <= 23)))
      throw bad(`challenges[${i}].pcrs is not a list of PCR indices 0..23`);
    if (c.bank !== undefined && !isInt(c.bank)) throw bad(`challenges[${i}].bank is not an algorithm id`);
    return {
      nonce: hexNonce(c.nonce, `challenges[${i}].nonce`),
      purpose: c.purpose,
      issuedAt: c.issuedAt,
      expiresAt: c.expiresAt,
      ...(c.pcrs !== undefined ? { pcrs: c.pcrs as number[] } : {}),
      ...(c.bank !== undefined ? { bank: c.bank } : {}),
    };
  });
  const used = o.used.map((u: Record<string, unknown>, i): UsedNonce => {
    if (!isInt(u?.usedAt) || !isInt(u.forgetAt)) throw bad(`used[${i}] times are not integers`);
    return { nonce: hexNonce(u.nonce, `used[${i}].nonce`), usedAt: u.usedAt, forgetAt: u.forgetAt };
  });
  const clocks: Record<string, ClockState> = {};
  for (const [k, v] of Object.entries(o.clocks)) clocks[k] = clockFromJson(v, `clocks.${k}`);
  if (o.posture === undefined) return { version: 1, challenges, used, clocks };
  if (typeof o.posture !== 'object' || o.posture === null || Array.isArray(o.posture)) throw bad('posture is not an object');
  const posture: Record<string, PostureMark> = {};
  for (const [k, v] of Object.entries(o.posture as Record<string, Record<string, unknown>>)) {
    if (!/^[0-9a-f]{64}$/.test(k) || !isInt(v?.seq) || !isInt(v.at))
      throw bad(`posture.${k} is not {seq, at} of a hex agent key`);
    posture[k] = { seq: v.seq, at: v.at };
  }
  return { version: 1, challenges, used, clocks, posture };
}

/**
 * Checks a nonce the verifier is about to issue or was given: 1..64 bytes (TPM qualifyingData).
 * @throws {@link AttestationError} `NONCE_INVALID`
 */
export function checkNonce(nonce: Uint8Array): Uint8Array {
  if (nonce.length === 0 || nonce.length > 64)
    throw new AttestationError('NONCE_INVALID', `a nonce must be 1..64 bytes, got ${nonce.length}`);
  return nonce;
}

/**
 * Parses a hex nonce (an optional `0x` prefix allowed).
 * @throws {@link AttestationError} `NONCE_INVALID`
 */
export function nonceFromHex(hex: string): Uint8Array {
  const h = hex.replace(/^0x/i, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(h)) throw new AttestationError('NONCE_INVALID', 'a nonce must be an even number of hex digits');
  return checkNonce(fromHex(h));
}

/** Drops what is past its retention and bounds the lists. */
export function pruneVerifierState(state: VerifierState, now: number): VerifierState {
  const challenges = state.challenges.filter((c) => now <= c.expiresAt + NONCE_RETENTION_MS).slice(-MAX_PENDING_CHALLENGES);
  const used = state.used.filter((u) => now <= u.forgetAt).slice(-MAX_USED_NONCES);
  return { ...state, challenges, used };
}

/** Options of {@link issueChallenge}. */
export interface IssueChallengeOptions {
  /** The nonce, made by the caller (random, ≥ 16 bytes recommended). */
  readonly nonce: Uint8Array;
  readonly purpose: ChallengePurpose;
  /** The verifier's time, milliseconds. */
  readonly now: number;
  /** Time to live (default {@link DEFAULT_CHALLENGE_TTL_MS}). */
  readonly ttlMs?: number;
  /** TPM quotes: the PCR indices asked for, remembered with the challenge. */
  readonly pcrs?: readonly number[];
  /** TPM quotes: the bank asked for (`TPM_ALG_ID`). */
  readonly bank?: number;
}

/**
 * Issues a challenge: the caller makes the nonce (random, ≥ 16 bytes recommended), the state
 * remembers it as pending until `now + ttlMs`, with the PCR selection asked for, if any.
 * @throws {@link AttestationError} `NONCE_INVALID` for an empty or over-long nonce, or a nonce
 * already issued or used; RangeError for a non-positive TTL
 */
export function issueChallenge(
  state: VerifierState,
  options: IssueChallengeOptions,
): { state: VerifierState; challenge: Challenge } {
  const ttlMs = options.ttlMs ?? DEFAULT_CHALLENGE_TTL_MS;
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs: ${ttlMs} is not a positive integer`);
  const nonce = toHex(checkNonce(options.nonce));
  if (state.challenges.some((c) => c.nonce === nonce) || state.used.some((u) => u.nonce === nonce))
    throw new AttestationError('NONCE_INVALID', 'this nonce was already issued or used');
  if (options.pcrs?.some((p) => !Number.isInteger(p) || p < 0 || p > 23))
    throw new RangeError(`pcrs: ${options.pcrs.join(',')} are not PCR indices 0..23`);
  const challenge: Challenge = {
    nonce,
    purpose: options.purpose,
    issuedAt: options.now,
    expiresAt: options.now + ttlMs,
    ...(options.pcrs ? { pcrs: [...new Set(options.pcrs)].sort((a, b) => a - b) } : {}),
    ...(options.bank !== undefined ? { bank: options.bank } : {}),
  };
  const pruned = pruneVerifierState(state, options.now);
  return { state: { ...pruned, challenges: [...pruned.challenges, challenge].slice(-MAX_PENDING_CHALLENGES) }, challenge };
}

/** Where a nonce stands in the verifier state. */
export type NonceStatus = 'pending' | 'expired' | 'used' | 'wrong-purpose' | 'unknown';

/** The outcome of {@link lookupNonce}. */
export interface NonceLookup {
  readonly status: NonceStatus;
  /** The challenge that issued it, if any. */
  readonly challenge?: Challenge;
  /** When it was used, for `used`. */
  readonly usedAt?: number;
}

/** Looks a nonce up: pending (issued for `purpose`, not expired, not used), or why not. */
export function lookupNonce(state: VerifierState, nonce: Uint8Array, purpose: ChallengePurpose, now: number): NonceLookup {
  const hex = toHex(nonce);
  const used = state.used.find((u) => u.nonce === hex);
  if (used) return { status: 'used', usedAt: used.usedAt };
  const challenge = state.challenges.find((c) => c.nonce === hex);
  if (!challenge) return { status: 'unknown' };
  if (challenge.purpose !== purpose) return { status: 'wrong-purpose', challenge };
  if (now > challenge.expiresAt) return { status: 'expired', challenge };
  return { status: 'pending', challenge };
}

/**
 * Consumes a nonce: removes its challenge and remembers it as used, so any later use is refused.
 * Called for every appraisal attempt that named the nonce, whatever its outcome.
 */
export function markNonceUsed(state: VerifierState, nonce: Uint8Array, now: number): VerifierState {
  const hex = toHex(nonce);
  const challenge = state.challenges.find((c) => c.nonce === hex);
  const forgetAt = Math.max(now, challenge?.expiresAt ?? now) + NONCE_RETENTION_MS;
  const pruned = pruneVerifierState(state, now);
  return {
    ...pruned,
    challenges: pruned.challenges.filter((c) => c.nonce !== hex),
    used: [...pruned.used.filter((u) => u.nonce !== hex), { nonce: hex, usedAt: now, forgetAt }].slice(-MAX_USED_NONCES),
  };
}

/** Stores the clock state accepted for an AK (hex Name). */
export function recordClockState(state: VerifierState, akName: string, clock: ClockState): VerifierState {
  return { ...state, clocks: { ...state.clocks, [akName]: clock } };
}

/** Stores the last posture report accepted from an agent key (hex), bounded by {@link MAX_POSTURE_AGENTS}. */
export function recordPostureMark(state: VerifierState, agentKey: string, mark: PostureMark): VerifierState {
  const entries = Object.entries(state.posture ?? {}).filter(([k]) => k !== agentKey);
  entries.push([agentKey, mark]);
  if (entries.length > MAX_POSTURE_AGENTS)
    entries.sort((a, b) => a[1].at - b[1].at).splice(0, entries.length - MAX_POSTURE_AGENTS);
  return { ...state, posture: Object.fromEntries(entries) };
}
