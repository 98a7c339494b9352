import { statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlApiError, ControlClient, ControlServer, MAX_HOLD_S, readControlFile } from '@enigm/sim/control';
import test from 'ava';
import type { DeviceEvent } from '../src/firmware/physical/types.ts';
import { FakeTarget } from './control-fake-target.ts';

async function setup(keys = 3, options: Parameters<typeof ControlServer.start>[1] = {}) {
  const target = new FakeTarget(keys);
  const server = await ControlServer.start(target, { dashboard: false, ...options });
  const client = new ControlClient(server.url, server.token);
  return { target, server, client };
}

async function raw(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as { error?: { code: string; name: string; reason: string } } };
}

test('every request needs the bearer token: 401 without it or with a wrong one, for REST, the document and the page', async (t) => {
  const { server } = await setup(1, { dashboard: true });
  t.teardown(() => server.close());
  for (const path of ['/api/keys', '/api/keys/0', '/api/openapi.json', '/', '/nothing-here']) {
    const none = await raw(`${server.url}${path}`);
    t.is(none.status, 401, path);
    t.is(none.body.error?.code, 'CONTROL_UNAUTHORIZED');
    const wrong = await raw(`${server.url}${path}`, { headers: { authorization: 'Bearer nope' } });
    t.is(wrong.status, 401, path);
    const query = await raw(`${server.url}${path}?token=${server.token}x`);
    t.is(query.status, 401, path);
  }
  const post = await raw(`${server.url}/api/keys/0/gesture`, { method: 'POST', body: '{"kind":"press"}' });
  t.is(post.status, 401);
  // ?token= is for the page and the WebSocket (a browser opens them without headers), not for REST
  t.is((await raw(`${server.url}/api/keys?token=${encodeURIComponent(server.token)}`)).status, 401);
  t.is((await fetch(`${server.url}/?token=${encodeURIComponent(server.token)}`)).status, 200);
  t.is((await raw(`${server.url}/api/keys`, { headers: { authorization: `Bearer ${server.token}` } })).status, 200);
});

test('loopback only by default; the token is long and random', async (t) => {
  const a = await setup(1);
  const b = await setup(1);
  t.teardown(() => Promise.all([a.server.close(), b.server.close()]));
  t.regex(a.server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.true(a.server.token.length >= 40);
  t.not(a.server.token, b.server.token);
});

test('list Keys, one Key, and each control changes the Key and answers its state', async (t) => {
  const { server, client } = await setup(3);
  t.teardown(() => server.close());
  const list = await client.request<{ keys: { index: number }[] }>('GET', '/api/keys');
  t.deepEqual(
    list.keys.map((k) => k.index),
    [0, 1, 2],
  );
  t.is((await client.request<{ index: number }>('GET', '/api/keys/2')).index, 2);
  const g = await client.request<{ outcome: { action: string }; state: { pairingWindowUntil?: number } }>(
    'POST',
    '/api/keys/1/gesture',
    { kind: 'hold', seconds: 5 },
  );
  t.is(g.outcome.action, 'pairing-window');
  t.true((g.state.pairingWindowUntil ?? 0) > 0);
  const b = await client.request<{ battery: { level: number; charging: boolean } }>('POST', '/api/keys/0/battery', {
    level: 12,
    charging: true,
  });
  t.deepEqual([b.battery.level, b.battery.charging], [12, true]);
  t.is(
    (await client.request<{ radio: { state: string } }>('POST', '/api/keys/0/radio', { state: 'no-coverage' })).radio.state,
    'no-coverage',
  );
  t.false((await client.request<{ usb: boolean }>('POST', '/api/keys/0/usb', { attached: false })).usb);
  t.is((await client.request<{ power: string }>('POST', '/api/keys/0/power', { on: false })).power, 'off');
  // the Key refuses a reboot without power: its code is kept, 409
  const e = await t.throwsAsync(client.request('POST', '/api/keys/0/reboot'), { instanceOf: ControlApiError });
  t.is(e?.code, 'POWER_OFF');
  t.is(e?.status, 409);
  const clock = await client.request<{ speed: number; now: number }>('POST', '/api/clock', { speed: 60, advanceMs: 1000 });
  t.is(clock.speed, 60);
});

test('bad input is a typed 400/404 and changes nothing (no event, same state)', async (t) => {
  const { server, client, target } = await setup(2);
  t.teardown(() => server.close());
  const events: DeviceEvent[] = [];
  target.onEvent((e) => events.push(e));
  const before = JSON.stringify(target.states);
  const cases: [string, unknown, number, string, RegExp][] = [
    ['/api/keys/5/gesture', { kind: 'press' }, 404, 'SIM_NO_SUCH_KEY', /Keys 0\.\.1/],
    ['/api/keys/-1/gesture', { kind: 'press' }, 404, 'SIM_NO_SUCH_KEY', /no Key/],
    ['/api/keys/x/battery', { level: 3 }, 404, 'SIM_NO_SUCH_KEY', /no Key/],
    [
      '/api/keys/0/gesture',
      { kind: 'wiggle' },
      400,
      'SIM_BAD_INPUT',
      /kind must be one of press, double, triple, hold, hold-at-power-on/,
    ],
    ['/api/keys/0/gesture', { kind: 'hold' }, 400, 'SIM_BAD_INPUT', /seconds must be a number/],
    ['/api/keys/0/gesture', { kind: 'press', seconds: 2 }, 400, 'SIM_BAD_INPUT', /only to hold/],
    ['/api/keys/0/gesture', { kind: 'hold', seconds: MAX_HOLD_S + 1 }, 400, 'SIM_BAD_INPUT', /seconds/], // above the model's range
    ['/api/keys/0/battery', { level: 140 }, 400, 'SIM_BAD_INPUT', /level must be a number in \[0, 100\], got 140/],
    ['/api/keys/0/battery', { level: 50, charging: 'yes' }, 400, 'SIM_BAD_INPUT', /charging must be true or false/],
    ['/api/keys/0/battery', {}, 400, 'SIM_BAD_INPUT', /give level/],
    ['/api/keys/0/radio', { state: 'off' }, 400, 'SIM_BAD_INPUT', /attached, detached, no-coverage/],
    ['/api/keys/0/usb', { attached: 1 }, 400, 'SIM_BAD_INPUT', /attached must be true or false/],
    ['/api/keys/0/power', { on: true, extra: 1 }, 400, 'SIM_BAD_INPUT', /unknown field "extra"/],
    [
      '/api/keys/0/gnss/track',
      {
        fixes: [
          { atMs: 0, lat: 1, lon: 2 },
          { atMs: 10, lat: 1, lon: 2 },
          { atMs: 20, lat: 91, lon: 2 },
        ],
      },
      400,
      'SIM_BAD_INPUT',
      /fixes\[2\]: lat must be a number in \[-90, 90\], got 91/,
    ],
    [
      '/api/keys/0/gnss/track',
      {
        fixes: [
          { atMs: 10, lat: 1, lon: 2 },
          { atMs: 5, lat: 1, lon: 2 },
        ],
      },
      400,
      'SIM_BAD_INPUT',
      /fixes\[1\]: atMs must not be earlier/,
    ],
    ['/api/clock', { speed: 0 }, 400, 'SIM_BAD_INPUT', /speed/],
    ['/api/clock', { speed: 1e9 }, 400, 'SIM_BAD_INPUT', /speed must be a number in \[0, 100000\]/],
    ['/api/keys/0/nothing', {}, 404, 'CONTROL_NOT_FOUND', /no route/],
  ];
  for (const [path, body, status, code, reason] of cases) {
    const r = await raw(`${server.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}` },
      body: JSON.stringify(body),
    });
    t.is(r.status, status, path);
    t.is(r.body.error?.code, code, path);
    t.regex(r.body.error?.reason ?? '', reason, path);
    t.is(typeof r.body.error?.name, 'string');
  }
  const notJson = await raw(`${server.url}/api/keys/0/battery`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.token}` },
    body: '{level:',
  });
  t.is(notJson.status, 400);
  t.is(notJson.body.error?.reason, 'the request body is not valid JSON');
  const method = await raw(`${server.url}/api/keys`, { method: 'DELETE', headers: { authorization: `Bearer ${server.token}` } });
  t.is(method.status, 405);
  t.is(JSON.stringify(target.states), before);
  t.deepEqual(events, []);
  t.is(Number((await client.request<{ speed: number }>('GET', '/api/clock')).speed), 1);
});

test('request bodies are bounded: a larger one is refused with 413 before it is parsed', async (t) => {
  const { server } = await setup(1, { maxBodyBytes: 1024 });
  t.teardown(() => server.close());
  const big = JSON.stringify({ fixes: Array.from({ length: 100 }, (_, i) => ({ atMs: i, lat: 1, lon: 2 })) });
  const r = await raw(`${server.url}/api/keys/0/gnss/track`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.token}` },
    body: big,
  });
  t.is(r.status, 413);
  t.is(r.body.error?.code, 'CONTROL_BODY_TOO_LARGE');
});

test('control.json holds the URL and token (mode 0600) and is removed on close', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'enigm-control-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { server } = await setup(1, { stateDir: dir });
  const f = readControlFile(dir);
  t.is(f.url, server.url);
  t.is(f.token, server.token);
  t.is(f.pid, process.pid);
  t.is(f.dashboard, server.dashboardUrl);
  t.is(statSync(join(dir, 'control.json')).mode & 0o777, 0o600);
  const c = ControlClient.fromStateDir(dir);
  t.is((await c.request<{ keys: unknown[] }>('GET', '/api/keys')).keys.length, 1);
  await server.close();
  await t.throwsAsync(readFile(join(dir, 'control.json')), { code: 'ENOENT' });
  t.throws(() => readControlFile(dir), { code: 'CONTROL_NOT_RUNNING' } as never);
});

test('the WebSocket stream carries every event; without the token the upgrade is 401', async (t) => {
  const { server, client, target } = await setup(2);
  t.teardown(() => server.close());
  const bad = new ControlClient(server.url, 'wrong');
  const refused = bad.events(() => undefined);
  const e = await t.throwsAsync(refused.opened);
  t.is((e as ControlApiError).status, 401);
  const got: DeviceEvent[] = [];
  const stream = client.events((ev) => got.push(ev));
  await stream.opened;
  await client.request('POST', '/api/keys/1/gesture', { kind: 'hold', seconds: 4 });
  await client.request('POST', '/api/keys/0/usb', { attached: false });
  while (got.length < 3) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(
    got.map((x) => [x.key, x.type]),
    [
      [1, 'gesture'],
      [1, 'pairing-window'],
      [0, 'usb'],
    ],
  );
  t.is(server.stats().clients, 1);
  stream.close();
  t.is(await stream.closed, 1005);
  void target;
});

test('a WebSocket client that never reads is dropped once its backlog passes the bound; others keep their stream', async (t) => {
  const { server, client, target } = await setup(1, { maxClientBacklogBytes: 64 * 1024 });
  t.teardown(() => server.close());
  const port = Number(new URL(server.url).port);
  // A raw client: completes the handshake, then never reads again.
  const sock = connect(port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(
    `GET /api/events?token=${encodeURIComponent(server.token)} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await new Promise<void>((r) => sock.once('data', () => r()));
  sock.pause();
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  let reader = 0;
  const good = client.events(() => reader++);
  await good.opened;
  t.is(server.stats().clients, 2);
  let sent = 0;
  while (server.stats().dropped === 0 && sent < 2_000_000) {
    for (let i = 0; i < 1000; i++)
      target.emit({ key: 0, at: sent++, type: 'battery', level: 50, charging: false, low: false, critical: false });
    await new Promise((r) => setImmediate(r));
  }
  t.is(server.stats().dropped, 1);
  sock.resume();
  await closed;
  t.is(server.stats().clients, 1);
  while (reader < sent) await new Promise((r) => setTimeout(r, 5));
  t.is(reader, sent);
  good.close();
});

test('at most maxClients WebSocket clients: one more is refused with 503', async (t) => {
  const { server, client } = await setup(1, { maxClients: 2 });
  t.teardown(() => server.close());
  const a = client.events(() => undefined);
  const b = client.events(() => undefined);
  await Promise.all([a.opened, b.opened]);
  const c = client.events(() => undefined);
  const e = await t.throwsAsync(c.opened);
  t.is((e as ControlApiError).status, 503);
  a.close();
  b.close();
});

test('a taken port fails with CONTROL_PORT_IN_USE and writes nothing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'enigm-control-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { server } = await setup(1);
  t.teardown(() => server.close());
  const e = await t.throwsAsync(ControlServer.start(new FakeTarget(1), { port: server.port, stateDir: dir }));
  t.is((e as { code?: string }).code, 'CONTROL_PORT_IN_USE');
  t.regex(e?.message ?? '', new RegExp(`127\\.0\\.0\\.1:${server.port} is taken`));
  t.throws(() => readControlFile(dir), { code: 'CONTROL_NOT_RUNNING' } as never);
});

test('listen holds the port before there is a target: 503 CONTROL_BUSY and no control.json until attach', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'enigm-control-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const server = await ControlServer.listen({ stateDir: dir, dashboard: false });
  t.teardown(() => server.close());
  const auth = { authorization: `Bearer ${server.token}` };
  const early = await fetch(`${server.url}/api/keys`, { headers: auth });
  t.is(early.status, 503);
  t.like(await early.json(), { error: { code: 'CONTROL_BUSY' } });
  t.is((await fetch(`${server.url}/api/keys`)).status, 401, 'the token is checked first');
  t.throws(() => readControlFile(dir), { code: 'CONTROL_NOT_RUNNING' } as never);
  const target = new FakeTarget(2);
  server.attach(target);
  t.is(readControlFile(dir).url, server.url);
  const keys = await fetch(`${server.url}/api/keys`, { headers: auth });
  t.is(keys.status, 200);
  t.throws(() => server.attach(target), { message: /a target is attached already/ });
  await server.close();
  t.throws(() => readControlFile(dir), { code: 'CONTROL_NOT_RUNNING' } as never, 'close removes control.json');
});
