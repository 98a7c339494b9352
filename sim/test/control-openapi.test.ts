import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Simulator } from '@enigm/sim';
import { ControlServer, checkSchema, type JsonSchema, OPENAPI, ROUTES } from '@enigm/sim/control';
import test from 'ava';
import { MAX_HOLD_S } from '../src/firmware/physical/gestures.ts';
import { FakeTarget } from './control-fake-target.ts';
import { contactSet, contacts } from './support/emergency-rig.ts';

type Content = Record<string, { schema: JsonSchema }>;
type Operation = { requestBody?: { content: Content }; responses: Record<string, { content?: Content }> };
const paths = OPENAPI.paths as Record<string, Record<string, Operation>>;
const SCHEMAS_OF_OPENAPI = (OPENAPI.components as { schemas: Record<string, JsonSchema> }).schemas;

/** The schema the document gives for `status` of `method path`. */
function responseSchema(method: string, path: string, status: number): JsonSchema {
  const op = paths[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`${method} ${path} is not in the document`);
  const r = op.responses[String(status)];
  if (!r) throw new Error(`${method} ${path} does not document status ${status}`);
  const schema = r.content?.['application/json']?.schema;
  if (!schema) throw new Error(`${method} ${path} ${status} has no JSON schema`);
  return schema;
}

/** The schema the document gives for the request body of `method path` (undefined: it takes none). */
function requestSchema(method: string, path: string): JsonSchema | undefined {
  const op = paths[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`${method} ${path} is not in the document`);
  return op.requestBody?.content['application/json']?.schema;
}

/**
 * Problems of a request body against the document: a route that documents no body must get none;
 * one that documents a body must get one.
 */
function requestProblems(method: string, path: string, body: unknown): string[] {
  const schema = requestSchema(method, path);
  if (!schema) return body === undefined ? [] : [`${method} ${path} documents no request body`];
  if (body === undefined) return [`${method} ${path} documents a required request body`];
  return checkSchema(body, schema, OPENAPI);
}

test('the document lists exactly the server routes (plus the event stream, itself and the page)', (t) => {
  const documented = Object.entries(paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
  const served = [...ROUTES.map((r) => `${r.method} ${r.path}`), 'GET /api/events', 'GET /api/openapi.json', 'GET /'];
  t.deepEqual(documented.sort(), served.sort());
  t.is(OPENAPI.openapi, '3.1.0');
});

test('the schema check fails on a non-conforming value (so the check below can fail)', (t) => {
  const s = responseSchema('GET', '/api/keys/{index}', 200);
  const good = new FakeTarget(1).controls(0).state();
  t.deepEqual(checkSchema(good, s, OPENAPI), []);
  t.not(checkSchema({ ...good, battery: { level: 101, charging: false, low: false, critical: false } }, s, OPENAPI).length, 0);
  t.not(checkSchema({ ...good, surprise: 1 }, s, OPENAPI).length, 0);
  t.not(checkSchema({ ...good, lifecycle: 'sleeping' }, s, OPENAPI).length, 0);
  const { index: _, ...missing } = good;
  t.not(checkSchema(missing, s, OPENAPI).length, 0);
  t.deepEqual(
    checkSchema({ key: 0, at: 1, type: 'usb', attached: true }, { $ref: '#/components/schemas/DeviceEvent' }, OPENAPI),
    [],
  );
  t.not(checkSchema({ key: 0, at: 1, type: 'usb' }, { $ref: '#/components/schemas/DeviceEvent' }, OPENAPI).length, 0);
});

test("every route's real answers (successes and errors) conform to the document", async (t) => {
  const target = new FakeTarget(2);
  const events: unknown[] = [];
  target.onEvent((e) => events.push(e));
  const server = await ControlServer.start(target, { dashboard: false, maxBodyBytes: 64 * 1024 });
  t.teardown(() => server.close());
  const auth = { authorization: `Bearer ${server.token}` };
  const cases: [
    method: 'GET' | 'POST',
    url: string,
    path: string,
    body: unknown,
    status: number,
    headers?: Record<string, string>,
  ][] = [
    ['GET', '/api/keys', '/api/keys', undefined, 200],
    ['GET', '/api/keys', '/api/keys', undefined, 401, {}],
    ['GET', '/api/keys/1', '/api/keys/{index}', undefined, 200],
    ['GET', '/api/keys/7', '/api/keys/{index}', undefined, 404],
    ['POST', '/api/keys/0/gesture', '/api/keys/{index}/gesture', { kind: 'hold', seconds: 5 }, 200],
    ['POST', '/api/keys/0/gesture', '/api/keys/{index}/gesture', { kind: 'double' }, 200],
    ['POST', '/api/keys/0/gesture', '/api/keys/{index}/gesture', { kind: 'hold', seconds: MAX_HOLD_S }, 200],
    ['POST', '/api/keys/0/gesture', '/api/keys/{index}/gesture', { kind: 'hold', seconds: MAX_HOLD_S + 1 }, 400],
    ['POST', '/api/keys/0/gesture', '/api/keys/{index}/gesture', { kind: 'hold-at-power-on', seconds: 0 }, 400],
    ['POST', '/api/keys/0/gesture', '/api/keys/{index}/gesture', { kind: 'hold' }, 400],
    ['POST', '/api/keys/0/gesture', '/api/keys/{index}/gesture', { kind: 'press', seconds: 1 }, 400],
    ['POST', '/api/keys/0/gesture', '/api/keys/{index}/gesture', { kind: 'nope' }, 400],
    ['POST', '/api/keys/9/gesture', '/api/keys/{index}/gesture', { kind: 'press' }, 404],
    ['POST', '/api/keys/0/gesture', '/api/keys/{index}/gesture', { kind: 'press' }, 401, {}],
    ['POST', '/api/keys/0/battery', '/api/keys/{index}/battery', { level: 3, charging: true }, 200],
    ['POST', '/api/keys/0/battery', '/api/keys/{index}/battery', { level: -1 }, 400],
    ['POST', '/api/keys/0/battery', '/api/keys/{index}/battery', {}, 400],
    [
      'POST',
      '/api/keys/0/gnss/track',
      '/api/keys/{index}/gnss/track',
      { fixes: [{ atMs: 0, lat: 48.1, lon: 11.5, accuracyM: 5 }] },
      200,
    ],
    ['POST', '/api/keys/0/gnss/track', '/api/keys/{index}/gnss/track', { fixes: [{ atMs: 0, lat: 48.1 }] }, 400],
    [
      'POST',
      '/api/keys/0/gnss/track',
      '/api/keys/{index}/gnss/track',
      { fixes: Array.from({ length: 5000 }, (_, i) => ({ atMs: i, lat: 1, lon: 1 })) },
      413,
    ],
    ['POST', '/api/keys/1/radio', '/api/keys/{index}/radio', { state: 'detached' }, 200],
    ['POST', '/api/keys/1/radio', '/api/keys/{index}/radio', { state: 'gone' }, 400],
    ['POST', '/api/keys/1/usb', '/api/keys/{index}/usb', { attached: false }, 200],
    ['POST', '/api/keys/1/power', '/api/keys/{index}/power', { on: false }, 200],
    ['POST', '/api/keys/1/reboot', '/api/keys/{index}/reboot', undefined, 409],
    ['POST', '/api/keys/1/power', '/api/keys/{index}/power', { on: true }, 200],
    ['POST', '/api/keys/1/reboot', '/api/keys/{index}/reboot', undefined, 200],
    ['GET', '/api/clock', '/api/clock', undefined, 200],
    ['POST', '/api/clock', '/api/clock', { speed: 10, advanceMs: 5 }, 200],
    ['POST', '/api/clock', '/api/clock', { speed: -3 }, 400],
    ['POST', '/api/clock', '/api/clock', { speed: 0 }, 400],
    ['POST', '/api/clock', '/api/clock', {}, 400],
    ['POST', '/api/keys/1/usb', '/api/keys/{index}/usb', { attached: 'yes' }, 400],
    ['POST', '/api/keys/1/power', '/api/keys/{index}/power', { on: true, extra: 1 }, 400],
    ['GET', '/api/openapi.json', '/api/openapi.json', undefined, 200],
    ['GET', '/api/openapi.json', '/api/openapi.json', undefined, 401, {}],
  ];
  const covered = new Set<string>();
  for (const [method, url, path, body, status, headers] of cases) {
    const res = await fetch(`${server.url}${url}`, {
      method,
      headers: headers ?? auth,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    t.is(res.status, status, `${method} ${url} ${JSON.stringify(body)?.slice(0, 80)}`);
    t.regex(res.headers.get('content-type') ?? '', /^application\/json/);
    const answer = await res.json();
    const problems = checkSchema(answer, responseSchema(method, path, status), OPENAPI);
    t.deepEqual(problems, [], `${method} ${url} → ${status}`);
    // The document and the server agree on the request: a body the server refuses as bad input (400)
    // breaks the documented requestBody schema, and every other one conforms to it.
    const sent = requestProblems(method, path, body);
    if (status === 400)
      t.not(sent.length, 0, `${method} ${url} ${JSON.stringify(body)} is refused, so the document must not allow it`);
    else t.deepEqual(sent, [], `${method} ${url} ${JSON.stringify(body)?.slice(0, 80)} conforms to the documented request`);
    if (url === '/api/openapi.json' && status === 200)
      t.deepEqual(answer, JSON.parse(JSON.stringify(OPENAPI)), 'the served document is OPENAPI');
    covered.add(`${method} ${path}`);
  }
  for (const r of ROUTES) t.true(covered.has(`${r.method} ${r.path}`), `${r.method} ${r.path} is exercised`);
  // the events the requests caused conform to the DeviceEvent schema
  t.true(events.length > 5);
  for (const e of events)
    t.deepEqual(checkSchema(e, { $ref: '#/components/schemas/DeviceEvent' }, OPENAPI), [], JSON.stringify(e));
});

test("the documented hold range is the Key model's: (0, MAX_HOLD_S] s", (t) => {
  const gesture = SCHEMAS_OF_OPENAPI.Gesture as JsonSchema;
  const holds = (gesture.oneOf ?? []).filter((s) => s.properties?.seconds);
  t.is(holds.length, 2);
  for (const h of holds) t.deepEqual(h.properties?.seconds, { type: 'number', exclusiveMinimum: 0, maximum: MAX_HOLD_S });
});

test("a real simulator's answers and events conform to the document too", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'enigm-openapi-'));
  const sim = await Simulator.start({ keys: 2, serial: false, stateDir: dir });
  const server = await ControlServer.start(sim, { dashboard: false });
  const events: unknown[] = [];
  const off = sim.onEvent((e) => events.push(e));
  t.teardown(async () => {
    off();
    await server.close();
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  });
  // Key 0 dormant with contacts: its triple press starts an emergency (state and events carry it)
  sim.firmware(0).transition('activate');
  sim.firmware(0).emergency.setContacts(contactSet(1, contacts(1)));
  const auth = { authorization: `Bearer ${server.token}` };
  const calls: [method: 'GET' | 'POST', url: string, path: string, body?: unknown][] = [
    ['GET', '/api/keys', '/api/keys'],
    ['POST', '/api/keys/0/gesture', '/api/keys/{index}/gesture', { kind: 'press' }],
    ['POST', '/api/keys/0/gesture', '/api/keys/{index}/gesture', { kind: 'hold', seconds: 8 }],
    ['POST', '/api/keys/0/gesture', '/api/keys/{index}/gesture', { kind: 'triple' }],
    ['POST', '/api/keys/1/gesture', '/api/keys/{index}/gesture', { kind: 'hold-at-power-on', seconds: 12 }],
    ['POST', '/api/keys/1/battery', '/api/keys/{index}/battery', { level: 4, charging: false }],
    ['POST', '/api/keys/1/gnss/track', '/api/keys/{index}/gnss/track', { fixes: [{ atMs: 0, lat: 48.1, lon: 11.5 }] }],
    ['POST', '/api/keys/1/radio', '/api/keys/{index}/radio', { state: 'attached' }],
    ['POST', '/api/keys/1/usb', '/api/keys/{index}/usb', { attached: true }],
    ['POST', '/api/keys/1/power', '/api/keys/{index}/power', { on: false }],
    ['POST', '/api/keys/1/power', '/api/keys/{index}/power', { on: true }],
    ['POST', '/api/keys/0/reboot', '/api/keys/{index}/reboot'],
    ['POST', '/api/clock', '/api/clock', { advanceMs: 120_000 }],
    ['GET', '/api/keys/1', '/api/keys/{index}'],
    ['GET', '/api/keys/0', '/api/keys/{index}'],
    ['POST', '/api/keys/0/gesture', '/api/keys/{index}/gesture', { kind: 'hold', seconds: 10 }],
  ];
  for (const [method, url, path, body] of calls) {
    t.deepEqual(requestProblems(method, path, body), [], `${method} ${url} conforms to the documented request`);
    const res = await fetch(`${server.url}${url}`, {
      method,
      headers: auth,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const value = await res.json();
    t.deepEqual(
      checkSchema(value, responseSchema(method, path, res.status), OPENAPI),
      [],
      `${method} ${url} → ${res.status} ${JSON.stringify(value).slice(0, 200)}`,
    );
  }
  await sim.firmware(0).emergency.settled();
  t.true(events.length > 5);
  const types = new Set(events.map((e) => (e as { type: string }).type));
  t.true(types.has('emergency') && types.has('emergency-record'), [...types].join(' '));
  for (const e of events)
    t.deepEqual(checkSchema(e, { $ref: '#/components/schemas/DeviceEvent' }, OPENAPI), [], JSON.stringify(e));
});
