/**
 * Every lifecycle row says how the running Key reaches it (a request or a gesture) or that it is
 * later work; the rows reached by a gesture are reached by it from each of their states, and the
 * rows left for later are exactly the emergency, suspend, revoke, retire and update ones.
 */
import test from 'ava';
import type { LifecycleEvent } from '../src/firmware/lifecycle.ts';
import { TRANSITIONS } from '../src/firmware/lifecycle.ts';
import { physicalRig } from './support/physical-rig.ts';

test('every transition row is either reachable now (via) or later work, never both or neither', (t) => {
  for (const row of TRANSITIONS) t.true((row.via === undefined) !== (row.later === undefined), JSON.stringify(row));
  const later = new Set(TRANSITIONS.filter((r) => r.later).map((r) => r.event));
  t.deepEqual(
    [...later].sort(),
    ['emergency.end', 'emergency.start', 'resume', 'retire', 'revoke', 'suspend', 'update.begin', 'update.end', 'wipe'].sort(),
  );
  t.true(TRANSITIONS.filter((r) => r.via).every((r) => r.event === 'activate' || r.event === 'factory-reset'));
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
    r.fw.transition(state === 'emergency' ? 'emergency.start' : 'update.begin');
    const identity = Buffer.from(r.fw.secureElement.identityPublicKey).toString('hex');
    r.p.gesture({ kind: 'hold-at-power-on', seconds: 10 });
    t.deepEqual(r.p.gesture({ kind: 'triple' }), { action: 'factory-reset', done: false, refused: 'RESET_REFUSED' });
    t.is(r.fw.state, state);
    t.is(Buffer.from(r.fw.secureElement.identityPublicKey).toString('hex'), identity);
  });
}
