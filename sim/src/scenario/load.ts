/**
 * Loads a scenario file (YAML, or JSON — JSON is read by the same parser) and checks it against
 * the scenario format, collecting every problem with the line and the field it is about:
 * `pairing.yaml:12: steps[3].gesture.seconds must be a number ≥ 0`. Nothing is run here.
 * @module
 */
import { readFileSync } from 'node:fs';
import { MAX_CONTACTS } from '@enigm/protocols/messages';
import { isNode, isScalar, isSeq, isMap as isYamlMap, LineCounter, parseDocument } from 'yaml';
import { GESTURE_KINDS, type Gesture, type GnssFix } from '../firmware/physical/types.ts';
import { Checker, isMap, MAX_ISSUES, type Path, ScenarioError } from './checker.ts';
import { EVENT_FIELDS, type FieldSpec, OUTCOME_FIELDS, STATE_FIELDS } from './fields.ts';
import {
  ACTION_TYPES,
  type FieldMatch,
  INITIAL_LIFECYCLES,
  type KeySetup,
  MAX_SPEED,
  RADIO_STATES,
  type Scenario,
  type ScenarioStep,
  type StepAction,
  type ValueMatcher,
} from './types.ts';

/** Most Keys a scenario may start (as `Simulator.start`). */
export const MAX_KEYS = 1024;
/** Most steps in one scenario. */
export const MAX_STEPS = 10_000;
/** Longest scenario file, in characters (4 MiB). */
export const MAX_SCENARIO_CHARS = 4 * 1024 * 1024;

const TOP_FIELDS = ['name', 'description', 'speed', 'keys', 'steps'] as const;
const KEY_FIELDS = ['lifecycle', 'battery', 'radio', 'usb', 'power', 'track', 'contacts'] as const;
const STEP_FIELDS = ['name', 'key', 'at', 'after'] as const;
const EXPECT_FIELDS = ['key', 'state', 'event', 'within'] as const;
const COMPARISON = /^(<=|>=|==|!=|<|>|≤|≥|=|≠)\s*(-?\d+(?:\.\d+)?)$/;
const OPS: Readonly<Record<string, ValueMatcher['op']>> = {
  '<': 'lt',
  '<=': 'le',
  '≤': 'le',
  '>': 'gt',
  '>=': 'ge',
  '≥': 'ge',
  '=': 'eq',
  '==': 'eq',
  '!=': 'ne',
  '≠': 'ne',
};

function matcherFor(c: Checker, v: unknown, spec: FieldSpec, path: Path): ValueMatcher | undefined {
  if (v === null || v === 'absent') return { op: 'absent' };
  if (v === 'present') return { op: 'present' };
  switch (spec.type) {
    case 'number': {
      if (typeof v === 'number' && Number.isFinite(v)) return { op: 'eq', value: v };
      const m = typeof v === 'string' ? COMPARISON.exec(v.trim()) : null;
      if (m) {
        const op = OPS[m[1] as string] as ValueMatcher['op'];
        const value = Number(m[2]);
        return op === 'eq' ? { op, value } : ({ op, value } as ValueMatcher);
      }
      return c.fail(path, 'must be a number, a comparison such as "≤ 50" or ">= 10", absent or present');
    }
    case 'boolean':
      if (typeof v === 'boolean') return { op: 'eq', value: v };
      return c.fail(path, 'must be true, false, absent or present');
    case 'string':
      if (typeof v !== 'string') return c.fail(path, 'must be a string, absent or present');
      if (spec.values && !spec.values.includes(v)) return c.fail(path, `must be one of ${spec.values.join(', ')}`);
      return { op: 'eq', value: v };
    default:
      return c.fail(path, 'is an object: check its fields (e.g. gnss.fixes), or write absent or present');
  }
}

/**
 * Flattens `{ battery: { level: "≤ 50" }, "gnss.fixes": 0 }` into field checks, each checked
 * against `fields`.
 */
function fieldMatches(
  c: Checker,
  m: Record<string, unknown>,
  path: Path,
  fields: Readonly<Record<string, FieldSpec>>,
  prefix = '',
): FieldMatch[] {
  const out: FieldMatch[] = [];
  for (const [k, v] of Object.entries(m)) {
    const full = prefix + k;
    const spec = fields[full];
    const p = [...path, k];
    if (!spec) {
      // `counters.<state>.<field>` (35 paths) are listed only under a `counters` prefix.
      const known = Object.keys(fields).filter((f) => (prefix ? f.startsWith(prefix) : !f.startsWith('counters.')));
      c.fail(p, `is not a field that can be checked (known: ${known.join(', ')})`);
      continue;
    }
    if (spec.type === 'object' && isMap(v)) {
      out.push(...fieldMatches(c, v, p, fields, `${full}.`));
      continue;
    }
    const matcher = matcherFor(c, v, spec, p);
    if (matcher) out.push({ path: full, matcher });
  }
  return out;
}

function battery(c: Checker, v: unknown, path: Path): { level?: number; charging?: boolean } | undefined {
  const m = c.map(v, path, 'level 0..100 and/or charging');
  if (!m) return undefined;
  c.onlyKeys(m, path, ['level', 'charging'], 'battery');
  if (m.level === undefined && m.charging === undefined) return c.fail(path, 'must set level and/or charging');
  const out: { level?: number; charging?: boolean } = {};
  if (m.level !== undefined) {
    const level = c.number(m.level, [...path, 'level'], 0, 100);
    if (level !== undefined) out.level = level;
  }
  if (m.charging !== undefined) {
    const charging = c.boolean(m.charging, [...path, 'charging']);
    if (charging !== undefined) out.charging = charging;
  }
  return out;
}

function usb(c: Checker, v: unknown, path: Path): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'attached' || v === 'detached') return v === 'attached';
  return c.fail(path, 'must be attached, detached, true or false');
}

function power(c: Checker, v: unknown, path: Path): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'on' || v === 'off') return v === 'on';
  return c.fail(path, 'must be on or off');
}

function track(c: Checker, v: unknown, path: Path): GnssFix[] | undefined {
  if (!Array.isArray(v)) return c.fail(path, 'must be a list of fixes ({ at, lat, lon, accuracyM })');
  const fixes: GnssFix[] = [];
  let last = -1;
  v.forEach((f, i) => {
    const p = [...path, i];
    const m = c.map(f, p, 'a fix: at, lat, lon, accuracyM');
    if (!m) return;
    c.onlyKeys(m, p, ['at', 'atMs', 'lat', 'lon', 'accuracyM'], 'fix');
    const atMs =
      m.atMs !== undefined ? c.number(m.atMs, [...p, 'atMs'], 0, Number.POSITIVE_INFINITY) : c.duration(m.at ?? 0, [...p, 'at']);
    const lat = c.number(m.lat, [...p, 'lat'], -90, 90);
    const lon = c.number(m.lon, [...p, 'lon'], -180, 180);
    const acc = m.accuracyM === undefined ? undefined : c.number(m.accuracyM, [...p, 'accuracyM'], 0, Number.POSITIVE_INFINITY);
    if (atMs === undefined || lat === undefined || lon === undefined) return;
    if (atMs < last) c.fail([...p, 'at'], 'must not be earlier than the fix before it (fixes are in time order)');
    last = atMs;
    fixes.push({ atMs, lat, lon, ...(acc === undefined ? {} : { accuracyM: acc }) });
  });
  return fixes;
}

function keySetup(c: Checker, v: unknown, path: Path): KeySetup {
  const m = c.map(v, path, `a Key: ${KEY_FIELDS.join(', ')}`);
  if (!m) return {};
  c.onlyKeys(m, path, KEY_FIELDS, 'Key');
  const out: {
    -readonly [K in keyof KeySetup]: KeySetup[K];
  } = {};
  if (m.lifecycle !== undefined) {
    const l = c.oneOf(m.lifecycle, [...path, 'lifecycle'], INITIAL_LIFECYCLES);
    if (l) out.lifecycle = l;
  }
  if (m.battery !== undefined) {
    const b = battery(c, m.battery, [...path, 'battery']);
    if (b) out.battery = b;
  }
  if (m.radio !== undefined) {
    const r = c.oneOf(m.radio, [...path, 'radio'], RADIO_STATES);
    if (r) out.radio = r;
  }
  if (m.usb !== undefined) {
    const u = usb(c, m.usb, [...path, 'usb']);
    if (u !== undefined) out.usb = u;
  }
  if (m.power !== undefined) {
    const p = power(c, m.power, [...path, 'power']);
    if (p !== undefined) out.power = p;
  }
  if (m.track !== undefined) {
    const t = track(c, m.track, [...path, 'track']);
    if (t) out.track = t;
  }
  if (m.contacts !== undefined) {
    const n = c.integer(m.contacts, [...path, 'contacts'], 0, MAX_CONTACTS);
    if (n !== undefined) out.contacts = n;
  }
  return out;
}

function keys(c: Checker, v: unknown): KeySetup[] {
  const path = ['keys'];
  if (v === undefined) return [{}];
  if (typeof v === 'number') {
    const n = c.integer(v, path, 1, MAX_KEYS);
    return n === undefined ? [{}] : Array.from({ length: n }, () => ({}));
  }
  if (Array.isArray(v)) {
    if (v.length < 1 || v.length > MAX_KEYS) {
      c.fail(path, `must list 1..${MAX_KEYS} Keys`);
      return [{}];
    }
    return v.map((k, i) => keySetup(c, k, [...path, i]));
  }
  if (isMap(v)) {
    c.onlyKeys(v, path, ['count', 'initial'], 'keys');
    const n = c.integer(v.count ?? 1, [...path, 'count'], 1, MAX_KEYS) ?? 1;
    const initial = v.initial === undefined ? {} : keySetup(c, v.initial, [...path, 'initial']);
    return Array.from({ length: n }, () => initial);
  }
  c.fail(path, 'must be a number of Keys, a list of Keys, or { count, initial }');
  return [{}];
}

function gesture(c: Checker, v: unknown, path: Path): Gesture | undefined {
  const m = typeof v === 'string' ? { kind: v } : c.map(v, path, `a gesture: { kind: ${GESTURE_KINDS.join(' | ')}, seconds }`);
  if (!m) return undefined;
  if (typeof v !== 'string') c.onlyKeys(m, path, ['kind', 'seconds'], 'gesture');
  const kind = c.oneOf(m.kind, typeof v === 'string' ? path : [...path, 'kind'], GESTURE_KINDS);
  if (!kind) return undefined;
  if (kind === 'hold' || kind === 'hold-at-power-on') {
    if (m.seconds === undefined) return c.fail([...path, 'seconds'], `is required for ${kind}`);
    const seconds = c.number(m.seconds, [...path, 'seconds'], 0, Number.POSITIVE_INFINITY);
    return seconds === undefined ? undefined : { kind, seconds };
  }
  if (m.seconds !== undefined) return c.fail([...path, 'seconds'], `is only for hold and hold-at-power-on, not ${kind}`);
  return { kind };
}

function expectation(c: Checker, v: unknown, path: Path): StepAction | undefined {
  const m = c.map(v, path, 'state or event, and within');
  if (!m) return undefined;
  c.onlyKeys(m, path, EXPECT_FIELDS, 'expect');
  const withinMs = m.within === undefined ? 0 : c.duration(m.within, [...path, 'within']);
  if ((m.state === undefined) === (m.event === undefined)) return c.fail(path, 'must have either state or event');
  if (m.state !== undefined) {
    const s = c.map(m.state, [...path, 'state'], 'fields of the Key state, e.g. lifecycle: dormant');
    if (!s) return undefined;
    if (Object.keys(s).length === 0) return c.fail([...path, 'state'], 'must name at least one field');
    const state = fieldMatches(c, s, [...path, 'state'], STATE_FIELDS);
    return withinMs === undefined ? undefined : { type: 'expect', state, withinMs };
  }
  const ep = [...path, 'event'];
  const e = typeof m.event === 'string' ? { type: m.event } : c.map(m.event, ep, 'type and fields of an event');
  if (!e) return undefined;
  const types = Object.keys(EVENT_FIELDS);
  const type = c.oneOf(e.type, typeof m.event === 'string' ? ep : [...ep, 'type'], types);
  if (!type) return undefined;
  const { type: _t, ...rest } = e;
  const fields = fieldMatches(c, rest, ep, EVENT_FIELDS[type] as Record<string, FieldSpec>);
  return withinMs === undefined ? undefined : { type: 'expect', event: { type, fields }, withinMs };
}

function action(
  c: Checker,
  type: (typeof ACTION_TYPES)[number],
  v: unknown,
  path: Path,
  step: Record<string, unknown>,
  setup: KeySetup | undefined,
): StepAction | undefined {
  switch (type) {
    case 'gesture': {
      const g = gesture(c, v, path);
      let outcome: FieldMatch[] | undefined;
      if (step.outcome !== undefined) {
        const o = c.map(step.outcome, [...path.slice(0, -1), 'outcome'], 'fields of the gesture outcome: action, done, refused');
        if (o) outcome = fieldMatches(c, o, [...path.slice(0, -1), 'outcome'], OUTCOME_FIELDS);
      }
      return g ? { type, gesture: g, ...(outcome ? { outcome } : {}) } : undefined;
    }
    case 'battery': {
      const b = battery(c, v, path);
      return b ? { type, ...b } : undefined;
    }
    case 'track': {
      const fixes = track(c, v, path);
      return fixes ? { type, fixes } : undefined;
    }
    case 'radio': {
      const state = c.oneOf(v, path, RADIO_STATES);
      return state ? { type, state } : undefined;
    }
    case 'usb': {
      const attached = usb(c, v, path);
      return attached === undefined ? undefined : { type, attached };
    }
    case 'power': {
      const on = power(c, v, path);
      return on === undefined ? undefined : { type, on };
    }
    case 'reboot':
      if (v !== null && v !== true) return c.fail(path, 'takes no value (write reboot: true)');
      return { type };
    case 'ack': {
      const m = c.map(v, path, 'the contact who acknowledges: { contact: N }');
      if (!m) return undefined;
      c.onlyKeys(m, path, ['contact'], 'ack');
      const have = setup?.contacts ?? 0;
      if (have === 0) return c.fail(path, "needs contacts: give the step's Key `contacts: N` in keys");
      const contact = c.integer(m.contact, [...path, 'contact'], 0, have - 1);
      return contact === undefined ? undefined : { type, contact };
    }
    case 'wait': {
      const ms = c.duration(v, path);
      return ms === undefined ? undefined : { type, ms };
    }
    case 'speed': {
      const speed = typeof v === 'number' && v > 0 && v <= MAX_SPEED ? v : c.fail(path, `must be a number in (0, ${MAX_SPEED}]`);
      return speed === undefined ? undefined : { type, speed };
    }
    case 'expect':
      return expectation(c, v, path);
  }
}

function step(c: Checker, v: unknown, index: number, ks: readonly KeySetup[]): ScenarioStep | undefined {
  const path = ['steps', index];
  const line = c.lineOf(path);
  const m = c.map(v, path, `a step: one action (${ACTION_TYPES.join(', ')}) with optional name, key, at, after`);
  if (!m) return undefined;
  const actions = ACTION_TYPES.filter((a) => a in m);
  let unknown = 0;
  for (const k of Object.keys(m)) {
    if ((ACTION_TYPES as readonly string[]).includes(k) || (STEP_FIELDS as readonly string[]).includes(k)) continue;
    if (k === 'outcome' && actions.includes('gesture')) continue;
    unknown++;
    c.fail([...path, k], `is not a known action (${ACTION_TYPES.join(', ')}) or step field (${STEP_FIELDS.join(', ')})`);
  }
  if (actions.length === 0) return unknown ? undefined : c.fail(path, `has no action: give one of ${ACTION_TYPES.join(', ')}`);
  if (actions.length > 1) return c.fail(path, `has ${actions.length} actions (${actions.join(', ')}): one per step`);
  const type = actions[0] as (typeof ACTION_TYPES)[number];
  if (m.name !== undefined && typeof m.name !== 'string') c.fail([...path, 'name'], 'must be a string');
  if (m.at !== undefined && m.after !== undefined) c.fail(path, 'has both at and after: give one');
  const atMs = m.at === undefined ? undefined : c.duration(m.at, [...path, 'at']);
  const afterMs = m.after === undefined ? undefined : c.duration(m.after, [...path, 'after']);
  const inner = type === 'expect' && isMap(m.expect) ? m.expect.key : undefined;
  if (m.key !== undefined && inner !== undefined) c.fail([...path, 'key'], 'is given twice (step and expect): give it once');
  const keyValue = m.key ?? inner ?? 0;
  const key = c.integer(
    keyValue,
    m.key !== undefined ? [...path, 'key'] : inner !== undefined ? [...path, 'expect', 'key'] : path,
    0,
    ks.length - 1,
  );
  const act = action(c, type, m[type], [...path, type], m, key === undefined ? undefined : ks[key]);
  if (!act || key === undefined) return undefined;
  return {
    index,
    line,
    key,
    action: act,
    ...(typeof m.name === 'string' ? { name: m.name } : {}),
    ...(atMs !== undefined ? { atMs } : {}),
    ...(afterMs !== undefined ? { afterMs } : {}),
  };
}

function check(c: Checker, root: unknown, file: string | undefined): Scenario | undefined {
  const m = c.map(root, [], 'a scenario: name, keys and steps');
  if (!m) return undefined;
  c.onlyKeys(m, [], TOP_FIELDS, 'scenario');
  const name = typeof m.name === 'string' && m.name.trim() !== '' ? m.name : c.fail(['name'], 'must be a non-empty string');
  if (m.description !== undefined && typeof m.description !== 'string') c.fail(['description'], 'must be a string');
  const speed =
    m.speed === undefined
      ? undefined
      : typeof m.speed === 'number' && m.speed > 0 && m.speed <= MAX_SPEED
        ? m.speed
        : c.fail(['speed'], `must be a number in (0, ${MAX_SPEED}]`);
  const ks = keys(c, m.keys);
  if (!Array.isArray(m.steps) || m.steps.length === 0 || m.steps.length > MAX_STEPS) {
    c.fail(['steps'], `must be a list of 1..${MAX_STEPS} steps`);
    return undefined;
  }
  const steps = m.steps.map((s, i) => step(c, s, i, ks));
  if (c.issues.length > 0 || name === undefined) return undefined;
  return {
    name,
    keys: ks,
    steps: steps as ScenarioStep[],
    ...(typeof m.description === 'string' ? { description: m.description } : {}),
    ...(speed !== undefined ? { speed } : {}),
    ...(file !== undefined ? { file } : {}),
  };
}

/**
 * Parses and checks a scenario.
 * @param text - the file's content (YAML or JSON)
 * @param file - the file name for messages and reports (default `scenario`)
 * @returns the checked scenario
 * @throws {@link ScenarioError} `SCENARIO_INVALID` listing every problem with its line and field
 * @example parseScenario('name: x\nsteps:\n  - wait: 1s\n')
 */
export function parseScenario(text: string, file = 'scenario'): Scenario {
  if (text.length > MAX_SCENARIO_CHARS)
    throw new ScenarioError('SCENARIO_INVALID', file, [
      { line: 0, path: '', message: `is ${text.length} characters long; a scenario may have at most ${MAX_SCENARIO_CHARS}` },
    ]);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const issues = doc.errors.slice(0, MAX_ISSUES).map((e) => ({
      line: e.linePos?.[0].line ?? 0,
      path: '',
      message: `is not valid YAML or JSON: ${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`,
    }));
    throw new ScenarioError('SCENARIO_INVALID', file, issues);
  }
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ScenarioError('SCENARIO_INVALID', file, [
      { line: 0, path: '', message: `cannot be read: ${(e as Error).message}` },
    ]);
  }
  // The line of the deepest node on `path`; for a mapping's field, the line of its key.
  const lineOf = (path: Path): number => {
    let node: unknown = doc.contents;
    let line = isNode(node) && node.range ? lineCounter.linePos(node.range[0]).line : 0;
    for (const seg of path) {
      let next: unknown;
      if (isYamlMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && p.key.value === seg);
        if (pair && isNode(pair.key) && pair.key.range) line = lineCounter.linePos(pair.key.range[0]).line;
        next = pair?.value;
      } else if (isSeq(node) && typeof seg === 'number') next = node.items[seg];
      if (!isNode(next)) break;
      if (next.range && isSeq(node)) line = lineCounter.linePos(next.range[0]).line;
      node = next;
    }
    return line;
  };
  const c = new Checker(lineOf);
  const scenario = check(c, root, file);
  if (!scenario) {
    if (c.issues.length === 0) c.fail([], 'is not a valid scenario');
    // In file order (stable: problems on one line keep the order they were found in).
    throw new ScenarioError(
      'SCENARIO_INVALID',
      file,
      [...c.issues].sort((a, b) => a.line - b.line),
    );
  }
  return scenario;
}

/**
 * Reads and checks a scenario file.
 * @throws {@link ScenarioError} `SCENARIO_UNREADABLE` if it cannot be read, `SCENARIO_INVALID` as {@link parseScenario}
 */
export function loadScenarioFile(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (code ?? String(e));
    throw new ScenarioError('SCENARIO_UNREADABLE', path, [{ line: 0, path: '', message: `cannot be read: ${why}` }]);
  }
  return parseScenario(text, path);
}
