/**
 * The lifecycle operations over the wire (the wire-level test host: encoded envelopes, Noise
 * sessions, sealed inner requests): every operation in every lifecycle state, allowed and refused
 * with its named error, and every role, against an expected matrix written out here — and that
 * matrix checked against the ONE table (the Key's rows of `LIFECYCLE_OPERATION_STATES`, `COMMAND_ACCESS`), so a
 * change to either side fails. Then the effects: unpair (the host's session loses its role, its
 * known-host session is refused), a revoked Key refusing every session request but retire, and
 * retire's crypto-wipe (new identity, no hosts, no chain, old evidence no longer verifying).
 */

import { toHex } from '@enigm/protocols/bytes';
import { verifySign1 } from '@enigm/protocols/cose';
import {
  LIFECYCLE_REQUEST_STATES,
  LIFECYCLE_STATES,
  type LifecycleRequest,
  type LifecycleState,
  lifecycleRefusal,
} from '@enigm/protocols/messages';
import test from 'ava';
import { COMMAND_ACCESS, checkAccess } from '../src/firmware/access.ts';
import { hostKeyId } from '../src/firmware/firmware.ts';
import type { LifecycleEvent } from '../src/firmware/lifecycle.ts';
import { makeTestKey, type TestKey } from '../src/testing.ts';
import { WireHost } from './support/wire-host.ts';

const STATES = Object.keys(LIFECYCLE_STATES) as LifecycleState[];
const OPS = Object.keys(LIFECYCLE_REQUEST_STATES) as LifecycleRequest[];

/** The expected answer of each operation (run by the owner) in each state: `ok` or the named error. */
const EXPECTED: Record<LifecycleRequest, Record<LifecycleState, string>> = {
  'hosts.list': {
    factory: 'ok',
    dormant: 'ok',
    emergency: 'ok',
    suspended: 'ok',
    revoked: 'KEY_REVOKED',
    retired: 'INVALID_STATE',
    updating: 'ok',
  },
  'hosts.remove': {
    factory: 'ok',
    dormant: 'ok',
    emergency: 'ok',
    suspended: 'ok',
    revoked: 'KEY_REVOKED',
    retired: 'INVALID_STATE',
    updating: 'ok',
  },
  suspend: {
    factory: 'INVALID_STATE',
    dormant: 'ok',
    emergency: 'INVALID_STATE',
    suspended: 'INVALID_STATE',
    revoked: 'KEY_REVOKED',
    retired: 'INVALID_STATE',
    updating: 'INVALID_STATE',
  },
  resume: {
    factory: 'INVALID_STATE',
    dormant: 'INVALID_STATE',
    emergency: 'INVALID_STATE',
    suspended: 'ok',
    revoked: 'KEY_REVOKED',
    retired: 'INVALID_STATE',
    updating: 'INVALID_STATE',
  },
  revoke: {
    factory: 'INVALID_STATE',
    dormant: 'ok',
    emergency: 'ok',
    suspended: 'ok',
    revoked: 'KEY_REVOKED',
    retired: 'INVALID_STATE',
    updating: 'INVALID_STATE',
  },
  retire: {
    factory: 'INVALID_STATE',
    dormant: 'ok',
    emergency: 'INVALID_STATE',
    suspended: 'ok',
    revoked: 'ok',
    retired: 'ok',
    updating: 'INVALID_STATE',
  },
};

/** The state each successful operation leaves. */
const AFTER: Record<LifecycleRequest, LifecycleState | undefined> = {
  'hosts.list': undefined, // unchanged
  'hosts.remove': undefined, // unchanged
  suspend: 'suspended',
  resume: 'dormant',
  revoke: 'revoked',
  retire: 'factory',
};

/** Table events (setup only) that bring a fresh Key into `state`; the operation under test goes over the wire. */
const PATH: Record<LifecycleState, LifecycleEvent[]> = {
  factory: [],
  dormant: ['activate'],
  emergency: ['activate', 'emergency.start'],
  suspended: ['activate', 'suspend'],
  revoked: ['activate', 'revoke'],
  retired: ['activate', 'retire'],
  updating: ['activate', 'update.begin'],
};

/** A Key with an owner, a provisioning and a service host paired (all in open sessions), in `state`. */
function keyIn(state: LifecycleState): {
  k: TestKey;
  owner: WireHost;
  station: WireHost;
  bench: WireHost;
} {
  const k = makeTestKey({ seed: 5 });
  const owner = new WireHost(k.fw, 11).connect().pair('owner');
  k.fw.openPairingWindow(60_000);
  const station = new WireHost(k.fw, 12).connect().pair('provisioning');
  k.fw.openPairingWindow(60_000);
  const bench = new WireHost(k.fw, 13).connect().pair('service');
  for (const e of PATH[state]) if (!k.fw.transition(e)) throw new Error(`setup: ${e} refused`);
  if (k.fw.state !== state) throw new Error(`setup: in ${k.fw.state}, not ${state}`);
  return { k, owner, station, bench };
}

const idOf = (h: WireHost) => hostKeyId(h.hostKey.publicKey);

/** Runs `op` as `host`; `hosts.remove` names `target` (default: the service host). */
function run(host: WireHost, op: LifecycleRequest, target: Uint8Array) {
  return op === 'hosts.remove' ? host.request('hosts.remove', { keyId: target }) : host.request(op, {});
}

const outcome = (r: { ok: boolean; name?: string }) => (r.ok ? 'ok' : (r.name as string));

test('the expected matrix is the one table (LIFECYCLE_REQUEST_STATES, lifecycleRefusal)', (t) => {
  for (const op of OPS) for (const s of STATES) t.is(lifecycleRefusal(op, s) ?? 'ok', EXPECTED[op][s], `${op} in ${s}`);
});

for (const op of OPS)
  for (const state of STATES)
    test(`${op} in ${state} (owner, over the wire) → ${EXPECTED[op][state]}`, (t) => {
      const { k, owner, bench } = keyIn(state);
      const hostsBefore = k.fw.hosts().length;
      const r = run(owner, op, idOf(bench));
      t.is(outcome(r), EXPECTED[op][state]);
      if (!r.ok) {
        t.is(k.fw.state, state, 'a refusal changes nothing');
        t.is(k.fw.hosts().length, hostsBefore);
        t.regex(r.reason, new RegExp(`state ${state}`), 'the reason names the state');
        return;
      }
      t.is(k.fw.state, AFTER[op] ?? state);
      if (op === 'hosts.remove') {
        t.like(r.body, { role: 'service', hosts: 2 });
        t.false(k.fw.hosts().some((h) => toHex(h.publicKey) === toHex(bench.hostKey.publicKey)));
      }
    });

test('roles over the wire: who may run each operation (dormant; resume in suspended; retire also in revoked)', (t) => {
  const cases: [LifecycleRequest, LifecycleState, 'owner' | 'station' | 'bench', string][] = [
    ['suspend', 'dormant', 'station', 'FORBIDDEN'],
    ['suspend', 'dormant', 'bench', 'FORBIDDEN'],
    ['resume', 'suspended', 'station', 'FORBIDDEN'],
    ['resume', 'suspended', 'bench', 'FORBIDDEN'],
    ['revoke', 'dormant', 'station', 'ok'],
    ['revoke', 'suspended', 'station', 'ok'],
    ['revoke', 'dormant', 'bench', 'FORBIDDEN'],
    ['retire', 'dormant', 'station', 'FORBIDDEN'],
    ['retire', 'revoked', 'station', 'ok'],
    ['retire', 'revoked', 'bench', 'FORBIDDEN'],
    ['retire', 'dormant', 'bench', 'FORBIDDEN'],
  ];
  for (const [op, state, who, expected] of cases) {
    const keys = keyIn(state);
    const host = who === 'owner' ? keys.owner : who === 'station' ? keys.station : keys.bench;
    t.is(outcome(run(host, op, idOf(keys.bench))), expected, `${op} by ${who} in ${state}`);
    t.is(keys.k.fw.state, expected === 'ok' ? (AFTER[op] as LifecycleState) : state, `${op} by ${who}: state`);
    // the same decision from the role table itself
    const role = who === 'owner' ? 'owner' : who === 'station' ? 'provisioning' : 'service';
    t.is(checkAccess(op, role, state) === 'ok', expected === 'ok', `${op} ${role} ${state}: access table`);
  }
});

test('an unpaired session and a plain request are refused every lifecycle operation', (t) => {
  const { k, bench } = keyIn('dormant');
  k.fw.openPairingWindow(60_000);
  const stranger = new WireHost(k.fw, 99).connect(); // XX, not paired
  for (const op of OPS) {
    t.is(outcome(run(stranger, op, idOf(bench))), 'FORBIDDEN', op);
    const plain = op === 'hosts.remove' ? bench.plain('hosts.remove', { keyId: idOf(bench) }) : bench.plain(op, {});
    t.is(outcome(plain), 'SESSION_REQUIRED', `${op} without a session`);
  }
  t.is(k.fw.state, 'dormant');
  t.is(k.fw.hosts().length, 3);
});

test('hosts.remove: a provisioning or service host removes only itself; an unknown key id is HOST_NOT_FOUND', (t) => {
  const { k, owner, station, bench } = keyIn('dormant');
  t.is(COMMAND_ACCESS['hosts.remove'] !== 'public' && COMMAND_ACCESS['hosts.remove'].service, 'self');
  t.like(bench.request('hosts.remove', { keyId: idOf(owner) }), { ok: false, name: 'FORBIDDEN' });
  t.like(bench.request('hosts.remove', { keyId: new Uint8Array(8) }), { ok: false, name: 'FORBIDDEN' }, 'no probing');
  t.like(owner.request('hosts.remove', { keyId: new Uint8Array(8) }), { ok: false, name: 'HOST_NOT_FOUND' });
  t.is(k.fw.hosts().length, 3);
  t.like(station.request('hosts.remove', { keyId: idOf(station) }), { ok: true, body: { role: 'provisioning', hosts: 2 } });
  t.like(bench.request('hosts.remove', { keyId: idOf(bench) }), { ok: true, body: { role: 'service', hosts: 1 } });
  // Their open sessions lost their role at once; their known-host sessions are refused.
  t.like(bench.request('attest', { nonce: new Uint8Array(32) }), { ok: false, name: 'FORBIDDEN' });
  t.throws(() => new WireHost(k.fw, 13).connect(), { message: /session\.start refused: SESSION_FAILED/ });
  t.like(owner.ok('hosts.list', {}), { hosts: [{ role: 'owner' }] });
});

test('hosts.remove by the owner: the removed host is out at once; the owner removing itself leaves a pairable Key', (t) => {
  const { k, owner, bench } = keyIn('dormant');
  t.like(bench.request('attest', { nonce: new Uint8Array(32) }), { ok: true });
  t.like(owner.request('hosts.remove', { keyId: idOf(bench) }), { ok: true, body: { role: 'service', hosts: 2 } });
  t.like(bench.request('attest', { nonce: new Uint8Array(32) }), { ok: false, name: 'FORBIDDEN' });
  t.false(k.fw.pairable);
  t.like(owner.request('hosts.remove', { keyId: idOf(owner) }), { ok: true, body: { role: 'owner', hosts: 1 } });
  t.like(owner.request('hosts.list', {}), { ok: false, name: 'FORBIDDEN' }, 'no longer the owner');
});

test('a revoked Key refuses every session request but retire (KEY_REVOKED); public info still answers', (t) => {
  const { k, owner, station } = keyIn('dormant');
  t.like(owner.request('revoke', {}), { ok: true, body: { state: 'revoked' } });
  t.like(owner.plain('info', {}), { ok: true, body: { state: 'revoked' } });
  const refused = [
    owner.request('attest', { nonce: new Uint8Array(32) }),
    owner.request('hosts.list', {}),
    owner.request('fw.status', {}),
    owner.request('time.set', { unixMs: Date.UTC(2026, 0, 1) }),
    owner.request('reboot', {}),
    owner.request('pair', { role: 'owner' }),
    owner.request('activate', {}),
    owner.request('suspend', {}),
    owner.request('hosts.remove', { keyId: idOf(station) }),
  ];
  for (const r of refused) t.like(r, { ok: false, name: 'KEY_REVOKED' });
  t.is(k.fw.state, 'revoked');
  // A new known-host session opens (only to carry retire).
  const again = new WireHost(k.fw, 11).connect();
  t.like(again.request('attest', { nonce: new Uint8Array(32) }), { ok: false, name: 'KEY_REVOKED' });
  t.like(again.request('retire', {}), { ok: true, body: { state: 'factory' } });
});

test('retire: crypto-wipe back to factory — new identity, static key and handle; no hosts, no chain; old evidence does not verify', (t) => {
  const { k, owner } = keyIn('dormant');
  const nonce = new Uint8Array(32).fill(3);
  const evidence = owner.ok('attest', { nonce }).evidence;
  const identity = k.fw.secureElement.identityPublicKey;
  t.notThrows(() => verifySign1(evidence, identity));
  const before = { identity: toHex(identity), static: toHex(k.fw.secureElement.staticKey.publicKey), handle: toHex(k.fw.handle) };
  const events: string[] = [];
  k.fw.onLifecycle((from, to) => events.push(`${from}→${to}`));
  t.like(owner.request('retire', {}), { ok: true, body: { state: 'factory' } });
  t.deepEqual(events, ['dormant→retired', 'retired→factory']);
  t.is(k.fw.state, 'factory');
  t.deepEqual(k.fw.hosts(), []);
  t.is(k.fw.certificateChain, undefined);
  t.not(toHex(k.fw.secureElement.identityPublicKey), before.identity);
  t.not(toHex(k.fw.secureElement.staticKey.publicKey), before.static);
  t.not(toHex(k.fw.handle), before.handle);
  t.throws(() => verifySign1(evidence, k.fw.secureElement.identityPublicKey), undefined, 'old evidence, new identity');
  // The old session is gone.
  t.like(owner.request('ping', {}), { ok: false, name: 'SESSION_FAILED' });
});

test('retire finishes a wipe a power cut interrupted (a Key left retired)', (t) => {
  const { k, owner } = keyIn('retired');
  const identity = toHex(k.fw.secureElement.identityPublicKey);
  t.like(owner.request('retire', {}), { ok: true, body: { state: 'factory' } });
  t.not(toHex(k.fw.secureElement.identityPublicKey), identity);
});
