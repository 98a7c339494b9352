/**
 * Every lifecycle row says how the running Key reaches it (a request or a gesture); the rows reached
 * by a gesture are reached by it from each of their states, and the one transition never made (by
 * design) is exactly the factory Key's update.
 */
import test from 'ava';
import type { LifecycleEvent } from '../src/firmware/lifecycle.ts';
import { NEVER_TRANSITIONS, nextState, TRANSITIONS } from '../src/firmware/lifecycle.ts';
import { makeTestFlash, makeTestKey } from '../src/testing.ts';
import { physicalRig } from './support/physical-rig.ts';
import { settle, testImage, WireHost } from './support/wire-host.ts';

test('every transition row says how it is reached (via); the one row never made is listed apart, not as later work', (t) => {
  for (const row of TRANSITIONS) t.true(row.via.length > 0, JSON.stringify(row));
  t.deepEqual(
    NEVER_TRANSITIONS.map((r) => `${r.from} ${r.event}`),
    ['factory update.begin'],
    'only a factory Key keeps its state through an update',
  );
  for (const n of NEVER_TRANSITIONS) t.is(nextState(n.from, n.event), undefined, 'the table refuses it');
  t.deepEqual([...new Set(TRANSITIONS.map((r) => r.event))].sort(), [
    'activate',
    'emergency.end',
    'emergency.start',
    'factory-reset',
    'resume',
    'retire',
    'revoke',
    'suspend',
    'update.begin',
    'update.end',
    'wipe',
  ]);
});

test('update.begin and update.end over the wire: a dormant Key on a test image is updating until confirmed or reverted', async (t) => {
  const { deps, signingSeed } = makeTestFlash();
  const k = makeTestKey({ flash: deps });
  const owner = new WireHost(k.fw, 21).connect().pair('owner');
  owner.ok('activate', {});
  const testBoot = async (name: 'fw.test' | 'reboot') => {
    t.true(owner.request(name, {}).ok);
    await settle();
    owner.connect();
  };
  owner.upload(testImage(signingSeed, '2.0.0', 2));
  t.is(k.fw.state, 'dormant', 'an upload alone changes nothing');
  await testBoot('fw.test');
  t.is(k.fw.state, 'updating');
  t.like(owner.plain('info', {}), { ok: true, body: { state: 'updating' } });
  owner.ok('fw.confirm', {});
  t.is(k.fw.state, 'dormant');

  owner.upload(testImage(signingSeed, '3.0.0', 3));
  await testBoot('fw.test');
  t.is(k.fw.state, 'updating');
  owner.ok('fw.revert', {});
  t.is(k.fw.state, 'updating', 'until the revert has booted');
  await testBoot('reboot');
  t.is(k.fw.state, 'dormant');
  t.like(owner.ok('fw.status', {}), { running: { version: '2.0.0' } });
});

/** Events that bring a fresh (factory) Key into `state` through the table. */
const PATH: Record<string, LifecycleEvent[]> = {
  factory: [],
  dormant: ['activate'],
  suspended: ['activate', 'suspend'],
  revoked: ['activate', 'revoke'],
  retired: ['activate', 'retire'],
};

for (const row of TRANSITIONS.filter((r) => r.event === 'factory-reset')) {
  test(`factory-reset from ${row.from}: reached by the reset gestures`, (t) => {
    const r = physicalRig();
    for (const e of PATH[row.from] ?? []) t.truthy(r.fw.transition(e));
    t.is(r.fw.state, row.from);
    r.p.gesture({ kind: 'hold-at-power-on', seconds: 10 });
    t.deepEqual(r.p.gesture({ kind: 'triple' }), { action: 'factory-reset', done: true });
    t.is(r.fw.state, row.to);
  });
}

for (const state of ['emergency', 'updating'] as const) {
  test(`no factory reset in ${state}: RESET_REFUSED, nothing changes`, (t) => {
    const r = physicalRig();
    r.fw.transition('activate');
    r.p.gesture({ kind: 'hold-at-power-on', seconds: 10 }); // armed; the state is entered meanwhile
    r.fw.transition(state === 'emergency' ? 'emergency.start' : 'update.begin');
    const identity = Buffer.from(r.fw.secureElement.identityPublicKey).toString('hex');
    t.deepEqual(r.p.gesture({ kind: 'triple' }), { action: 'factory-reset', done: false, refused: 'RESET_REFUSED' });
    t.is(r.fw.state, state);
    t.is(Buffer.from(r.fw.secureElement.identityPublicKey).toString('hex'), identity);
  });
}
