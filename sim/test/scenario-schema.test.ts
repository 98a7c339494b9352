/**
 * The published JSON Schema of scenario files (`sim/src/scenario/schema.json`) is the one built
 * from the loader's own tables (`UPDATE_SCHEMA=1 npx ava sim/test/scenario-schema.test.ts`
 * rewrites it), has a branch for every action, and its duration and comparison patterns accept
 * and refuse what the loader does.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ACTION_TYPES, EVENT_FIELDS, parseDuration, parseScenario, STATE_FIELDS, scenarioJsonSchema } from '@enigm/sim/scenario';
import test from 'ava';

const FILE = fileURLToPath(new URL('../src/scenario/schema.json', import.meta.url));
const generated = `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`;
if (process.env.UPDATE_SCHEMA === '1') writeFileSync(FILE, generated);

type Json = Record<string, unknown>;
const schema = JSON.parse(readFileSync(FILE, 'utf8')) as Json;
const defs = schema.$defs as Json;

test('schema.json is the schema the loader tables generate', (t) => {
  t.is(readFileSync(FILE, 'utf8'), generated, 'run UPDATE_SCHEMA=1 npx ava sim/test/scenario-schema.test.ts');
  t.is(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  t.deepEqual(schema.required, ['name', 'steps']);
});

test('one step branch per action, each allowing the common step fields', (t) => {
  const branches = (defs.step as { oneOf: { required: string[]; properties: Json }[] }).oneOf;
  t.deepEqual(
    branches.map((b) => b.required[0]),
    [...ACTION_TYPES],
  );
  for (const b of branches) for (const f of ['name', 'key', 'at', 'after']) t.truthy(b.properties[f], `${b.required[0]}.${f}`);
  const expect = branches.find((b) => b.required[0] === 'expect')?.properties.expect as {
    properties: { state: { properties: Json } };
  };
  t.deepEqual(Object.keys(expect.properties.state.properties), Object.keys(STATE_FIELDS));
  const events = (expect.properties as unknown as { event: { anyOf: { enum?: string[] }[] } }).event.anyOf;
  t.deepEqual(events[0]?.enum, Object.keys(EVENT_FIELDS));
});

test('the duration pattern accepts exactly what the loader accepts (strings)', (t) => {
  const pattern = new RegExp(((defs.duration as { oneOf: { pattern?: string }[] }).oneOf[1] as { pattern: string }).pattern);
  for (const s of ['2s', '500ms', '1.5m', '24h', '1d', '1h30m', '1h 30m', '10', '0.5', ' 2s '])
    t.true(pattern.test(s) && parseDuration(s) !== undefined, s);
  for (const s of ['', 'x', '2 parsecs', '1h 30', '-1s', 's', '1.s'])
    t.true(!pattern.test(s) && parseDuration(s) === undefined, s);
});

test('the comparison pattern accepts exactly the comparisons the loader accepts', (t) => {
  const branches = (defs.step as { oneOf: { properties: Json }[] }).oneOf;
  const expect = branches.find((b) => 'expect' in b.properties)?.properties.expect as
    | { properties: { state: { properties: Record<string, { anyOf: { pattern?: string }[] }> } } }
    | undefined;
  const state = expect?.properties.state.properties['battery.level'];
  const pattern = new RegExp(state?.anyOf.find((a) => a.pattern)?.pattern ?? '^$');
  const loads = (v: string) => {
    try {
      parseScenario(`name: c\nsteps:\n  - expect: { state: { battery.level: "${v}" } }\n`);
      return true;
    } catch {
      return false;
    }
  };
  for (const v of ['≤ 50', '<= 50', '>=10', '< 5.5', '> -1', '= 3', '== 3', '!= 0', '≠ 0', '≥ 1'])
    t.true(pattern.test(v) && loads(v), v);
  for (const v of ['about 5', '=> 5', '< five', '5 <', '<<5']) t.true(!pattern.test(v) && !loads(v), v);
});
