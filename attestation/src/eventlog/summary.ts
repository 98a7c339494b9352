/**
 * A JSON-ready summary of an event log: format, event counts per type, data-vs-digest checks and
 * the replayed PCRs per bank. What the log claims — not verified against any quote.
 *
 * @module
 */
import { toHex } from '@enigm/protocols/bytes';
import { checkEventDigests, type DigestCheck } from './digests.ts';
import { eventTypeName } from './event-types.ts';
import { parseEventLog } from './parse.ts';
import { replayEventLog } from './replay.ts';

/** Summary of a log. PCR values are hex, keyed by PCR index. */
export interface EventLogSummary {
  readonly format: 'crypto-agile' | 'sha1';
  readonly events: number;
  readonly eventTypes: Record<string, number>;
  readonly startupLocality: number | undefined;
  readonly digestChecks: { readonly checked: number; readonly failed: readonly DigestCheck[] };
  readonly banks: Record<string, { pcrs: Record<string, string>; incomplete: readonly number[] }>;
  /** Declared algorithm ids that cannot be replayed here. */
  readonly unsupportedAlgorithms: readonly number[];
}

/**
 * Parses, replays and digest-checks a log.
 * @throws {@link AttestationError} from {@link parseEventLog}
 * @example summarizeEventLog(readFileSync('binary_bios_measurements')).banks.sha256?.pcrs['7']
 */
export function summarizeEventLog(bytes: Uint8Array): EventLogSummary {
  const log = parseEventLog(bytes);
  const eventTypes: Record<string, number> = {};
  for (const e of log.events) eventTypes[eventTypeName(e.type)] = (eventTypes[eventTypeName(e.type)] ?? 0) + 1;
  const checks = checkEventDigests(log);
  const replay = replayEventLog(log);
  const banks: EventLogSummary['banks'] = {};
  for (const [name, b] of replay.banks)
    banks[name] = {
      pcrs: Object.fromEntries([...b.pcrs].sort((x, y) => x[0] - y[0]).map(([i, v]) => [String(i), toHex(v)])),
      incomplete: b.incomplete,
    };
  return {
    format: log.format,
    events: log.events.length,
    eventTypes,
    startupLocality: replay.startupLocality,
    digestChecks: { checked: checks.length, failed: checks.filter((c) => !c.ok) },
    banks,
    unsupportedAlgorithms: replay.unsupported,
  };
}
