/**
 * Scripts of the Enigm OS daemon emulator: the states it serves, how they change over time and the
 * faults it injects. A script is a plain JSON object, checked strictly by {@link parseOsdScript}:
 *
 * ```json
 * {
 *   "states": { "tsc": { "level": "secure" }, "ota": { "unavailable": "no update channel" } },
 *   "faults": [{ "kind": "slow", "delayMs": 3000, "queries": ["network"] }],
 *   "steps": [{ "afterMs": 2000, "states": { "tsc": { "level": "at-risk" } }, "faults": [] }]
 * }
 * ```
 *
 * A state is the query's record (see `DAEMON_STATE_RECORDS` in `@enigm/protocols/posture`), or
 * `{ "unavailable": reason }` / `{ "error": reason }` for those statuses; a query with no state is
 * answered `unavailable`. Steps run in order, `afterMs` after the emulator starts; a step's
 * `states` replace those queries' states, its `faults` (when given) replace the fault list.
 * @module
 */
import {
  DAEMON_MAX_REASON,
  DAEMON_QUERY_NAMES,
  DAEMON_STATE_RECORDS,
  type DaemonQuery,
  type DaemonState,
} from '@enigm/protocols/posture';
import { SimulatorError } from '../runtime/errors.ts';

/** What the emulator answers for one query. */
export type OsdStateEntry<Q extends DaemonQuery = DaemonQuery> = DaemonState<Q> | { unavailable: string } | { error: string };

/** States by query. */
export type OsdStates = { [Q in DaemonQuery]?: OsdStateEntry<Q> };

/** Fault kinds the emulator injects. */
export const OSD_FAULT_KINDS = ['slow', 'silent', 'malformed', 'wrong-type', 'oversized', 'close', 'wrong-id'] as const;
/**
 * A fault kind: `slow` answers after `delayMs`; `silent` never answers; `malformed` sends a frame
 * whose payload is not CBOR; `wrong-type` sends well-formed CBOR whose state has wrong types;
 * `oversized` sends a length header over the frame bound; `close` closes the connection instead of
 * answering; `wrong-id` answers with another request id.
 */
export type OsdFaultKind = (typeof OSD_FAULT_KINDS)[number];

/** An injected fault. */
export interface OsdFault {
  /** What goes wrong. */
  kind: OsdFaultKind;
  /** Queries it affects (default: all). */
  queries?: DaemonQuery[];
  /** Delay of a `slow` answer, ms (0..600,000). */
  delayMs?: number;
  /** How many requests it affects before it clears itself (default: until replaced). */
  times?: number;
}

/** A timed change. */
export interface OsdStep {
  /** When, ms after the emulator started. */
  afterMs: number;
  /** States to set. */
  states?: OsdStates;
  /** New fault list (replaces the current one). */
  faults?: OsdFault[];
}

/** A whole script. */
export interface OsdScript {
  /** Initial states. */
  states?: OsdStates;
  /** Initial faults. */
  faults?: OsdFault[];
  /** Timed changes, in order of `afterMs`. */
  steps?: OsdStep[];
}

/** Most steps in a script. */
export const OSD_MAX_STEPS = 1000;

const bad = (where: string, why: string): never => {
  throw new SimulatorError('SIM_BAD_INPUT', `osd script ${where}: ${why}`);
};
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const onlyKeys = (v: Record<string, unknown>, keys: string[], where: string) => {
  for (const k of Object.keys(v)) if (!keys.includes(k)) bad(where, `unknown field ${JSON.stringify(k)}`);
};
const intIn = (v: unknown, min: number, max: number, where: string): number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
    ? v
    : bad(where, `expected an integer in [${min}, ${max}]`);

/**
 * Checks one state entry against the query's record.
 * @throws {@link SimulatorError} `SIM_BAD_INPUT` naming the query and field
 */
export function parseOsdState<Q extends DaemonQuery>(query: Q, value: unknown, where = `states.${query}`): OsdStateEntry<Q> {
  if (!isObj(value)) return bad(where, 'expected an object');
  for (const status of ['unavailable', 'error'] as const) {
    if (status in value) {
      onlyKeys(value, [status], where);
      const reason = value[status];
      if (typeof reason !== 'string' || reason.length > DAEMON_MAX_REASON) {
        bad(where, `${status} must be text of at most ${DAEMON_MAX_REASON} characters`);
      }
      return { [status]: reason } as OsdStateEntry<Q>;
    }
  }
  const rec = DAEMON_STATE_RECORDS[query];
  const schema = rec.schema as Record<string, { key: number; type: { toCbor(v: never): unknown } }>;
  onlyKeys(value, Object.keys(schema), where);
  const map = new Map<number, unknown>();
  for (const [k, v] of Object.entries(value)) {
    const f = schema[k];
    if (!f) return bad(where, `unknown field ${JSON.stringify(k)}`);
    map.set(f.key, (f.type.toCbor as (x: unknown) => unknown)(v));
  }
  const r = rec.tryFromMap(map as never);
  if (!r.ok) return bad(where, r.why);
  return r.value as unknown as OsdStateEntry<Q>;
}

function parseStates(v: unknown, where: string): OsdStates {
  if (!isObj(v)) return bad(where, 'expected an object of query → state');
  const out: Record<string, unknown> = {};
  for (const [q, s] of Object.entries(v)) {
    if (!(DAEMON_QUERY_NAMES as string[]).includes(q))
      bad(where, `unknown query ${JSON.stringify(q)} (${DAEMON_QUERY_NAMES.join(', ')})`);
    out[q] = parseOsdState(q as DaemonQuery, s, `${where}.${q}`);
  }
  return out as OsdStates;
}

function parseFaults(v: unknown, where: string): OsdFault[] {
  if (!Array.isArray(v) || v.length > 64) return bad(where, 'expected a list of at most 64 faults');
  return v.map((f, i) => {
    const w = `${where}[${i}]`;
    if (!isObj(f)) return bad(w, 'expected an object');
    onlyKeys(f, ['kind', 'queries', 'delayMs', 'times'], w);
    if (!(OSD_FAULT_KINDS as readonly unknown[]).includes(f.kind)) bad(w, `kind must be one of ${OSD_FAULT_KINDS.join(', ')}`);
    const out: OsdFault = { kind: f.kind as OsdFaultKind };
    if (f.queries !== undefined) {
      if (!Array.isArray(f.queries) || !f.queries.every((q) => (DAEMON_QUERY_NAMES as unknown[]).includes(q))) {
        bad(w, `queries must be a list of ${DAEMON_QUERY_NAMES.join(', ')}`);
      }
      out.queries = [...(f.queries as DaemonQuery[])];
    }
    if (f.kind === 'slow') out.delayMs = intIn(f.delayMs, 0, 600_000, `${w}.delayMs`);
    else if (f.delayMs !== undefined) bad(w, 'delayMs only goes with kind slow');
    if (f.times !== undefined) out.times = intIn(f.times, 1, 1_000_000, `${w}.times`);
    return out;
  });
}

/**
 * Checks a script (e.g. parsed from JSON) strictly: unknown fields, queries, fault kinds and state
 * values that do not fit their records are refused.
 * @throws {@link SimulatorError} `SIM_BAD_INPUT` naming the place in the script
 */
export function parseOsdScript(value: unknown): OsdScript {
  if (!isObj(value)) return bad('', 'expected an object');
  onlyKeys(value, ['states', 'faults', 'steps'], 'top level');
  const out: OsdScript = {};
  if (value.states !== undefined) out.states = parseStates(value.states, 'states');
  if (value.faults !== undefined) out.faults = parseFaults(value.faults, 'faults');
  if (value.steps !== undefined) {
    if (!Array.isArray(value.steps) || value.steps.length > OSD_MAX_STEPS)
      bad('steps', `expected a list of at most ${OSD_MAX_STEPS} steps`);
    let last = 0;
    out.steps = (value.steps as unknown[]).map((s, i) => {
      const w = `steps[${i}]`;
      if (!isObj(s)) return bad(w, 'expected an object');
      onlyKeys(s, ['afterMs', 'states', 'faults'], w);
      const afterMs = intIn(s.afterMs, last, 86_400_000, `${w}.afterMs (not before the previous step)`);
      last = afterMs;
      const step: OsdStep = { afterMs };
      if (s.states !== undefined) step.states = parseStates(s.states, `${w}.states`);
      if (s.faults !== undefined) step.faults = parseFaults(s.faults, `${w}.faults`);
      return step;
    });
  }
  return out;
}

/** A plausible healthy Enigm OS device: every query answered ok. */
export const OSD_HEALTHY_STATES: Required<OsdStates> = {
  tsc: { level: 'secure' },
  mdm: { state: 'enrolled' },
  privacy: { mode: 'private' },
  network: { vpn: 'always-on', proxy: false, torGateway: false, esimProfile: 'personal' },
  ota: { state: 'verified' },
  attestation: { outcome: 'pass' },
};
