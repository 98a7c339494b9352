/**
 * Replay of a parsed event log into PCR values, per bank, and comparison with quoted PCRs
 * (TCG PC Client Platform Firmware Profile §10; TPM 2.0 Part 1 §17.7 `PCR_Extend`).
 *
 * Replay rules:
 * - every PCR starts at zeros, except PCRs 17–22 (DRTM), which start at all-ones, and PCR 0,
 *   whose last byte is the locality of a `StartupLocality` event logged before its first extend;
 * - `EV_NO_ACTION` records are never extended;
 * - a record without a digest for the bank leaves that PCR *incomplete* in that bank (no value).
 *
 * Named workarounds, tried only after PCR 5 fails to match (after go-attestation): firmware that
 * extends the "Exit Boot Services" `EV_EFI_ACTION` events without logging them.
 *
 * @module
 */
import { AttestationError } from '../errors.ts';
import { bytesEqual, digest as digestOne, type HashAlg, type HashName, hashById, hashByName } from '../hash.ts';
import { EV_NO_ACTION } from './event-types.ts';
import type { EventLog, TcgEvent } from './parse.ts';

/** The replay of one bank. */
export interface BankReplay {
  /** The bank's hash algorithm. */
  readonly alg: HashAlg;
  /** Replayed value of every PCR with at least one extending record, all carrying this bank. */
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
  /** PCRs with an extending record that lacks a digest for this bank: no value can be computed. */
  readonly incomplete: readonly number[];
}

/** The replay of a log, per bank. Values are what the log CLAIMS until compared with a quote. */
export interface Replay {
  /** Locality from a `StartupLocality` event (untrusted), or undefined. */
  readonly startupLocality: number | undefined;
  /** Replayed banks, keyed by name. */
  readonly banks: ReadonlyMap<HashName, BankReplay>;
  /** Algorithm ids the log declares that cannot be replayed here. */
  readonly unsupported: readonly number[];
}

const STARTUP_LOCALITY = 'StartupLocality\0';

/**
 * The locality of a `StartupLocality` `EV_NO_ACTION` record on PCR 0 that precedes every PCR 0
 * extend, or undefined. Untrusted: it only matters if the replay then matches a quoted PCR 0.
 */
export function startupLocality(log: EventLog): number | undefined {
  for (const e of log.events) {
    if (e.pcr !== 0) continue;
    if (e.type !== EV_NO_ACTION) return undefined;
    if (e.data.length === 17 && Buffer.from(e.data.subarray(0, 16)).toString('latin1') === STARTUP_LOCALITY) return e.data[16];
  }
  return undefined;
}

/**
 * The value a PCR holds before any extend: zeros; all-ones for PCRs 17–22; for PCR 0 with a
 * startup locality, zeros ending in the locality byte.
 */
export function initialPcrValue(alg: HashAlg, pcr: number, locality?: number): Uint8Array {
  const v = new Uint8Array(alg.size);
  if (pcr >= 17 && pcr <= 22) v.fill(0xff);
  else if (pcr === 0 && locality !== undefined) v[alg.size - 1] = locality;
  return v;
}

function replayBank(events: readonly TcgEvent[], alg: HashAlg, locality: number | undefined): BankReplay {
  const pcrs = new Map<number, Uint8Array>();
  const incomplete = new Set<number>();
  const scratch = Buffer.alloc(alg.size * 2);
  for (const e of events) {
    if (e.type === EV_NO_ACTION || incomplete.has(e.pcr)) continue;
    const d = e.digests.find((x) => x.alg === alg.id);
    if (!d) {
      incomplete.add(e.pcr);
      pcrs.delete(e.pcr);
      continue;
    }
    scratch.set(pcrs.get(e.pcr) ?? initialPcrValue(alg, e.pcr, locality), 0);
    scratch.set(d.digest, alg.size);
    pcrs.set(e.pcr, digestOne(alg, scratch));
  }
  return { alg, pcrs, incomplete: [...incomplete].sort((a, b) => a - b) };
}

/**
 * Replays a log into PCR values for each requested bank (default: every declared bank that is
 * supported). The result says what the log claims; trust it only after {@link compareReplay}.
 *
 * @throws {@link AttestationError} `EVENTLOG_UNKNOWN_ALGORITHM` if a requested bank is not declared
 *   by the log or not supported
 * @example
 * const r = replayEventLog(parseEventLog(bytes), { banks: ['sha256'] });
 * r.banks.get('sha256')?.pcrs.get(7);
 */
export function replayEventLog(log: EventLog, options: { banks?: readonly string[] } = {}): Replay {
  const locality = startupLocality(log);
  const declared = log.algorithms.map((a) => a.id);
  const unsupported = declared.filter((id) => !hashById(id));
  const wanted: HashAlg[] = [];
  if (options.banks) {
    for (const name of options.banks) {
      const alg = hashByName(name);
      if (!alg || !declared.includes(alg.id))
        throw new AttestationError(
          'EVENTLOG_UNKNOWN_ALGORITHM',
          `bank ${name} is ${alg ? 'not declared by the log' : 'not supported'}`,
        );
      wanted.push(alg);
    }
  } else for (const id of declared) if (hashById(id)) wanted.push(hashById(id) as HashAlg);
  const banks = new Map<HashName, BankReplay>();
  for (const alg of wanted) banks.set(alg.name, replayBank(log.events, alg, locality));
  return { startupLocality: locality, banks, unsupported };
}

/** How a log's replay compares with quoted PCR values of one bank. */
export interface ReplayComparison {
  /** True when every quoted PCR matched and none is incomplete. */
  readonly ok: boolean;
  /** The bank compared. */
  readonly bank: HashName;
  /** Quoted PCRs whose replayed value equals the quoted value. */
  readonly matched: readonly number[];
  /** Quoted PCRs whose replayed value differs: the log does not explain them. */
  readonly mismatched: readonly number[];
  /** Quoted PCRs whose log records lack this bank's digest. */
  readonly incomplete: readonly number[];
  /** Quoted PCRs with no log record, matched (or not) against their initial value. */
  readonly unlogged: readonly number[];
  /** PCRs the log extends that the quote does not cover: their events stay unverified. */
  readonly unverified: readonly number[];
  /** Name of the workaround that made the replay match, if one was needed. */
  readonly workaround: string | undefined;
}

/** A named workaround: extra events some firmware extends without logging. */
interface Workaround {
  readonly id: string;
  readonly pcr: number;
  readonly actions: readonly string[];
}

const EBS = 'Exit Boot Services Invocation';
const EBS_OK = 'Exit Boot Services Returned with Success';
const EBS_FAIL = 'Exit Boot Services Returned with Failure';
/** Workarounds tried, in order, only after the plain replay of their PCR failed. */
export const REPLAY_WORKAROUNDS: readonly Workaround[] = [
  { id: 'ebs-unlogged-success', pcr: 5, actions: [EBS, EBS_OK] },
  { id: 'ebs-unlogged-failure', pcr: 5, actions: [EBS, EBS_FAIL] },
  { id: 'ebs-unlogged-failure-success', pcr: 5, actions: [EBS, EBS_FAIL, EBS_OK] },
];

/**
 * Compares the log's replay in `bank` with quoted PCR values. Pure; never throws for a mismatch,
 * it reports one. Only PCRs that match AND are covered by a verified quote make their events
 * trustworthy.
 *
 * @param quoted - PCR index → value, taken from a verified quote
 * @throws {@link AttestationError} `EVENTLOG_UNKNOWN_ALGORITHM` if the log does not declare `bank`
 */
export function compareReplay(log: EventLog, bank: string, quoted: ReadonlyMap<number, Uint8Array>): ReplayComparison {
  const replay = replayEventLog(log, { banks: [bank] });
  const b = replay.banks.get(bank as HashName) as BankReplay;
  const matched: number[] = [];
  const mismatched: number[] = [];
  const incomplete: number[] = [];
  const unlogged: number[] = [];
  let workaround: string | undefined;
  for (const [pcr, value] of [...quoted].sort((x, y) => x[0] - y[0])) {
    if (b.incomplete.includes(pcr)) {
      incomplete.push(pcr);
      continue;
    }
    let got = b.pcrs.get(pcr);
    if (!got) {
      unlogged.push(pcr);
      got = initialPcrValue(b.alg, pcr, replay.startupLocality);
    }
    if (bytesEqual(got, value)) {
      matched.push(pcr);
      continue;
    }
    const w = REPLAY_WORKAROUNDS.find(
      (w) => w.pcr === pcr && bytesEqual(extendActions(b.alg, got as Uint8Array, w.actions), value),
    );
    if (w) {
      workaround = w.id;
      matched.push(pcr);
    } else mismatched.push(pcr);
  }
  const unverified = [...b.pcrs.keys(), ...b.incomplete].filter((p) => !quoted.has(p)).sort((x, y) => x - y);
  return {
    ok: mismatched.length === 0 && incomplete.length === 0,
    bank: b.alg.name,
    matched,
    mismatched,
    incomplete,
    unlogged,
    unverified,
    workaround,
  };
}

function extendActions(alg: HashAlg, start: Uint8Array, actions: readonly string[]): Uint8Array {
  let v = start;
  for (const a of actions) v = digestOne(alg, v, digestOne(alg, Buffer.from(a, 'latin1')));
  return v;
}
