/**
 * Checks the Key firmware model (docs/protocol.md "Lifecycle" and "Errors"): explicit lifecycle
 * table, persistence across reboots, named errors for commands invalid in a state, request
 * de-duplication, and that no input makes the model throw.
 */

import { encode } from '@enigm/protocols/cbor';
import {
  type BodyOf,
  decodeMessage,
  encodeMessage,
  LIFECYCLE_STATES,
  type LifecycleState,
  MESSAGES,
  type Message,
} from '@enigm/protocols/messages';
import test from 'ava';
import fc from 'fast-check';
import type { KeyFirmware } from '../src/firmware/firmware.ts';
import { loadPersistent, MemoryStorage, savePersistent } from '../src/firmware/storage.ts';
import { makeTestFlash, makeTestKey } from '../src/testing.ts';
import { WireHost } from './support/wire-host.ts';

function makeKey(storage = new MemoryStorage(), now = { t: 1000 }) {
  const k = makeTestKey({ storage, now });
  return { ...k, link: k.fw.connect() };
}

const req = (name: 'hello' | 'ping' | 'info' | 'activate', id: number, body: object = {}) =>
  encodeMessage({ version: 1, name, id, body: body as never });

function call(link: ReturnType<KeyFirmware['connect']>, bytes: Uint8Array): Message {
  const r = link.handle(bytes);
  if (!r) throw new Error('no response');
  return decodeMessage(r);
}

test('a blank Key boots in factory state with a random handle and boot count 1', (t) => {
  const { fw } = makeKey();
  t.is(fw.state, 'factory');
  t.is(fw.handle.length, 16);
  t.is(fw.hosts().length, 0);
  t.is(fw.securityCounter, 1);
  t.is(fw.bootCount, 1);
});

test('identity and state persist across reboots; boot count increases', (t) => {
  const a = makeTestKey();
  a.fw.transition('activate');
  const b = makeTestKey({ storage: a.storage, seStorage: a.seStorage, seed: 99 });
  t.is(b.fw.state, 'dormant');
  t.deepEqual(b.fw.handle, a.fw.handle);
  t.deepEqual(b.fw.secureElement.identityPublicKey, a.fw.secureElement.identityPublicKey);
  t.deepEqual(b.fw.secureElement.staticKey.publicKey, a.fw.secureElement.staticKey.publicKey);
  t.is(b.fw.bootCount, 2);
});

test('the secure element never exposes a private key', (t) => {
  const { fw } = makeKey();
  const se = fw.secureElement as unknown as Record<string, unknown>;
  t.deepEqual(Object.keys(se).sort(), ['binding', 'identityPublicKey', 'sign', 'staticKey']);
  t.deepEqual(Object.keys(se.staticKey as object).sort(), ['dh', 'publicKey']);
  t.true(Object.isFrozen(se));
});

test('corrupt storage is reported, not guessed', (t) => {
  const storage = new MemoryStorage();
  storage.bytes = new Uint8Array([0xa1, 0x01]);
  t.throws(() => makeKey(storage), { name: 'ProtocolError' });
});

test('hello reports capabilities and lifecycle state', (t) => {
  const { link } = makeKey();
  const m = call(link, req('hello', 5, { versions: [1, 7], maxFrame: 65536 }));
  t.is(m.name, 'hello.response');
  t.is(m.id, 5);
  const b = m.body as BodyOf<'hello.response'>;
  t.is(b.version, 1);
  t.is(b.maxFrame, 4096);
  t.is(b.window, 8);
  t.is(b.state, 'factory');
  t.true(b.features.includes('dedup-retry'));
});

test('hello with no common version → UNSUPPORTED_VERSION', (t) => {
  const { link } = makeKey();
  const m = call(link, req('hello', 5, { versions: [7], maxFrame: 4096 }));
  t.is((m.body as BodyOf<'error'>).name, 'UNSUPPORTED_VERSION');
});

test('activate outside a session → SESSION_REQUIRED (code, name and reason)', (t) => {
  const { fw, link } = makeKey();
  const r = call(link, req('activate', 1));
  t.is(r.name, 'error');
  const e = r.body as BodyOf<'error'>;
  t.is(e.name, 'SESSION_REQUIRED');
  t.is(e.code, 10);
  t.truthy(e.reason);
  t.is(fw.state, 'factory');
});

test('a command not allowed in the lifecycle state → INVALID_STATE naming the states; transitions emit events', (t) => {
  const { fw } = makeKey();
  fw.transition('activate');
  const r = fw.execute(
    { version: 1, name: 'activate', id: 1, body: {} },
    { session: { hostKey: new Uint8Array(32), role: 'owner' } },
  );
  t.deepEqual(r, { error: 'INVALID_STATE', reason: 'activate is not allowed in state dormant (allowed in: factory)' });
  const events: Message[] = [];
  fw.onEvent((e) => events.push(decodeMessage(e)));
  fw.transition('suspend');
  t.deepEqual(
    events.map((e) => e.body),
    [{ from: 'dormant', to: 'suspended' }],
  );
});

test('role table: unpaired sessions may only pair; service may not activate; owner lists hosts', (t) => {
  const { fw } = makeKey();
  const as = (role: 'unpaired' | 'service' | 'owner') => ({ session: { hostKey: new Uint8Array(32), role } });
  t.deepEqual(fw.execute({ version: 1, name: 'attest', id: 1, body: { nonce: new Uint8Array(32) } }, as('unpaired')), {
    error: 'FORBIDDEN',
    reason: "the session's host role may not run this command",
  });
  t.is((fw.execute({ version: 1, name: 'activate', id: 1, body: {} }, as('service')) as { error: string }).error, 'FORBIDDEN');
  t.is(
    (fw.execute({ version: 1, name: 'hosts.list', id: 1, body: {} }, as('owner')) as { name: string }).name,
    'hosts.list.response',
  );
});

test('a retried request id is answered from the cache and not run twice', (t) => {
  const { link, now } = makeKey();
  const first = link.handle(req('info', 77));
  now.t += 5000; // a re-run would report a different uptime
  const retry = link.handle(req('info', 77));
  t.deepEqual(retry, first);
});

test('errors carry the request id: bad body, unknown type, bad version, response sent to the Key', (t) => {
  const { link } = makeKey();
  const bodyErr = call(link, req('ping', 3, { data: 'text' }));
  t.is(bodyErr.id, 3);
  t.is((bodyErr.body as BodyOf<'error'>).name, 'INVALID_ARGUMENT');
  const env = (type: number, version = 1) =>
    encode(
      new Map<number, never>([
        [1, version as never],
        [2, type as never],
        [3, 4 as never],
        [4, new Map() as never],
      ]),
    );
  t.is((call(link, env(0x66)).body as BodyOf<'error'>).name, 'UNKNOWN_TYPE');
  t.is((call(link, env(MESSAGES.ping.type, 9)).body as BodyOf<'error'>).name, 'UNSUPPORTED_VERSION');
  const notReq = encodeMessage({ version: 1, name: 'ping.response', id: 8, body: { uptimeMs: 1 } });
  t.is((call(link, notReq).body as BodyOf<'error'>).name, 'NOT_A_REQUEST');
});

test('garbage without a readable request id gets no response', (t) => {
  const { link } = makeKey();
  t.is(link.handle(new Uint8Array([0xff, 0x00, 0x13])), undefined);
  t.is(link.handle(encode(new Map([[1, 1]]) as never)), undefined);
});

test('responses never exceed the host maximum frame → TOO_LARGE', (t) => {
  const { link } = makeKey();
  // before hello the host maximum is the protocol minimum (512)
  const big = call(link, req('ping', 1, { data: new Uint8Array(600) }));
  t.is((big.body as BodyOf<'error'>).name, 'TOO_LARGE');
  call(link, req('hello', 2, { versions: [1], maxFrame: 4096 }));
  const ok = call(link, req('ping', 3, { data: new Uint8Array(600) }));
  t.is(ok.name, 'ping.response');
});

test('uptime follows the injected clock', (t) => {
  const { link, now } = makeKey();
  now.t += 1234;
  t.is((call(link, req('info', 1)).body as BodyOf<'info.response'>).uptimeMs, 1234);
});

test('lifecycle over the wire: activate needs an owner or provisioning session, moves factory → dormant once, announces it and persists', async (t) => {
  const { deps } = makeTestFlash();
  const k = makeTestKey({ flash: deps });
  const events: Message[] = [];
  k.fw.onEvent((e) => events.push(decodeMessage(e)));
  const owner = new WireHost(k.fw, 61).connect().pair('owner');
  k.fw.openPairingWindow(60_000);
  const service = new WireHost(k.fw, 62).connect().pair('service');
  t.like(owner.plain('activate', {}), { ok: false, name: 'SESSION_REQUIRED' }, 'not outside a session');
  t.like(service.request('activate', {}), { ok: false, name: 'FORBIDDEN' });
  t.like(owner.plain('info', {}), { ok: true, body: { state: 'factory' } });
  t.deepEqual(owner.ok('activate', {}), { state: 'dormant' });
  t.deepEqual(
    events.map((e) => [e.name, e.body]),
    [['lifecycle.changed', { from: 'factory', to: 'dormant' }]],
  );
  const again = owner.request('activate', {});
  t.like(again, { ok: false, name: 'INVALID_STATE' });
  if (!again.ok) t.is(again.reason, 'activate is not allowed in state dormant (allowed in: factory)');
  // a restart keeps the state (the record is written at once)
  const restarted = makeTestKey({ storage: k.storage, seStorage: k.seStorage, flash: deps });
  t.like(new WireHost(restarted.fw, 63).plain('hello', { versions: [1], maxFrame: 4096 }), {
    ok: true,
    body: { state: 'dormant' },
  });
});

test('every lifecycle state answers hello, info and ping over the wire; firmware updates are refused where the Key must not change', (t) => {
  const { deps } = makeTestFlash();
  for (const state of Object.keys(LIFECYCLE_STATES) as LifecycleState[]) {
    const first = makeTestKey({ flash: deps });
    new WireHost(first.fw, 71).connect().pair('owner');
    const rec = loadPersistent(first.storage);
    if (!rec) throw new Error('no record');
    savePersistent(first.storage, { ...rec, state }); // the Key was left in `state`
    const k = makeTestKey({ storage: first.storage, seStorage: first.seStorage, flash: deps });
    const host = new WireHost(k.fw, 71);
    // A Key left `updating` without an image on test ends the update when it boots (update.end).
    const shown = state === 'updating' ? 'dormant' : state;
    t.like(host.plain('hello', { versions: [1], maxFrame: 4096 }), { ok: true, body: { state: shown } }, state);
    t.like(host.plain('info', {}), { ok: true, body: { state: shown } }, state);
    t.true(host.plain('ping', {}).ok, state);
    host.connect();
    // A revoked Key runs nothing in a session but retire: KEY_REVOKED.
    const status = host.request('fw.status', {});
    t.is(status.ok || status.name, state === 'revoked' ? 'KEY_REVOKED' : true, `fw.status in ${state}`);
    const begin = host.request('fw.begin', { manifest: new Uint8Array(64) });
    const frozen = ['emergency', 'retired'].includes(state);
    const refusal = frozen ? 'INVALID_STATE' : state === 'revoked' ? 'KEY_REVOKED' : undefined;
    if (refusal) t.like(begin, { ok: false, name: refusal }, `fw.begin in ${state}`);
    else t.false(!begin.ok && ['INVALID_STATE', 'KEY_REVOKED'].includes(begin.name), `fw.begin in ${state}`);
  }
});

test('property: no byte string makes the firmware throw; every answer decodes', (t) => {
  const { link } = makeKey();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      const r = link.handle(bytes);
      if (r) decodeMessage(r);
    }),
    { numRuns: 3000 },
  );
  t.pass();
});
