/**
 * docs/lifecycle.md "States × operations", cell by cell on the running Key over real
 * pseudo-terminals: one simulator, one Key per state (plus two for the operations that leave a
 * state a second way). For every lifecycle request × state the owner on the pty runs the operation
 * with the Key facade; where the table refuses, the facade's preflight raises its named error
 * before asking (`KEY_REVOKED`, `KEY_INVALID_STATE`) and — the preflight bypassed, the request sent
 * in the session as an attacker host would — the Key answers the same name itself, and nothing
 * changes; where the table allows, the operation succeeds and leaves the state the transition table
 * says. A service and a provisioning host (over TCP) check the role columns the same way
 * (`KEY_FORBIDDEN` locally, `FORBIDDEN` from the Key, in the Key's order of checks). The expectations come from the tables (`lifecycleDecision`), and the
 * Key's answers are checked against them: a Key, a preflight or a table that disagrees fails here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromHex } from '@enigm/protocols/bytes';
import {
  LIFECYCLE_REQUEST_STATES,
  LIFECYCLE_STATES,
  type LifecycleRequest,
  type LifecycleState,
  lifecycleRefusal,
} from '@enigm/protocols/messages';
import { hasSocat, Simulator } from '@enigm/sim';
import type { LifecycleEvent } from '@enigm/sim/firmware';
import test, { type ExecutionContext } from 'ava';
import { KeyError } from '../src/client/errors.ts';
import { KeyFacadeError } from '../src/key/errors.ts';
import { hostKeyIdHex, type Key, type OpenKeyOptions, openKey } from '../src/key/key.ts';
import { lifecycleDecision } from '../src/key/lifecycle.ts';

const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;

const STATES = Object.keys(LIFECYCLE_STATES) as LifecycleState[];
const OPS = Object.keys(LIFECYCLE_REQUEST_STATES) as LifecycleRequest[];
const FACADE = { FORBIDDEN: 'KEY_FORBIDDEN', KEY_REVOKED: 'KEY_REVOKED', INVALID_STATE: 'KEY_INVALID_STATE' } as const;

/** Table events (setup, on the simulator) that bring an activated Key into `state`. */
const PATH: Record<LifecycleState, LifecycleEvent[]> = {
  factory: [],
  dormant: ['activate'],
  emergency: ['activate', 'emergency.start'],
  suspended: ['activate', 'suspend'],
  revoked: ['activate', 'revoke'],
  retired: ['activate', 'retire'],
  updating: ['activate', 'update.begin'],
};

/** The state each operation leaves when it runs (undefined: unchanged). */
const AFTER: Record<LifecycleRequest, LifecycleState | undefined> = {
  'hosts.list': undefined,
  'hosts.remove': undefined,
  suspend: 'suspended',
  resume: 'dormant',
  revoke: 'revoked',
  retire: 'factory',
};

/** The state-changing operation each state's Key ends with; the others are run on extra Keys. */
const LAST: Partial<Record<LifecycleState, LifecycleRequest>> = {
  dormant: 'suspend',
  suspended: 'resume',
  emergency: 'revoke',
  revoked: 'retire',
  retired: 'retire',
};
/** Allowed state-changing cells not covered by `LAST`: [state, operation], one extra Key each. */
const EXTRA: [LifecycleState, LifecycleRequest][] = [
  ['dormant', 'revoke'],
  ['dormant', 'retire'],
  ['suspended', 'revoke'],
  ['suspended', 'retire'],
];

function hostOptions(dir: string, name: string): OpenKeyOptions {
  return {
    hostKey: join(dir, name, 'host-key.pem'),
    known: join(dir, name, 'known-keys.json'),
    timeoutMs: 5000,
    random: () => 0.5,
    sleep: async () => {
      await new Promise((r) => setTimeout(r, 5));
    },
  };
}

/** Runs `op` through the facade (with its preflight). */
function viaFacade(key: Key, op: LifecycleRequest, target: string): Promise<unknown> {
  if (op === 'hosts.list') return key.hosts();
  if (op === 'hosts.remove') return key.unpair(target);
  return key[op]();
}

/** Sends `op` in the session directly, as a host without the preflight would. */
async function bypass(key: Key, op: LifecycleRequest, target: string): Promise<unknown> {
  const s = await key.session();
  if (op === 'hosts.remove') return s.request('hosts.remove', { keyId: fromHex(target, 'key id') });
  if (op === 'hosts.list') return s.request('hosts.list', {});
  return s.request(op, {});
}

/** The Key's refusal name, or `ok`. */
async function keyAnswer(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof KeyError && e.code === 'KEY_REJECTED') return e.remote?.name ?? 'KEY_REJECTED';
    throw e;
  }
}

/** The facade's refusal code (KeyFacadeError only: a refusal from the Key fails the cell). */
async function facadeAnswer(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof KeyFacadeError) return e.code;
    throw e;
  }
}

interface Rig {
  sim: Simulator;
  dir: string;
  opened: Key[];
}

/** Key `i`: the owner paired on its pty, a service and a provisioning host over TCP, then moved into `state`. */
async function keyIn(rig: Rig, i: number, state: LifecycleState) {
  const info = rig.sim.keys()[i];
  const owner = await openKey(info?.serial as string, hostOptions(rig.dir, 'owner'));
  rig.opened.push(owner);
  await owner.pair('owner', { label: 'phone' });
  rig.sim.firmware(i).openPairingWindow(60_000);
  const bench = await openKey(info?.tcp as string, hostOptions(rig.dir, 'bench'));
  rig.opened.push(bench);
  await bench.pair('service', { label: 'bench' });
  rig.sim.firmware(i).openPairingWindow(60_000);
  const station = await openKey(info?.tcp as string, hostOptions(rig.dir, 'station'));
  rig.opened.push(station);
  await station.pair('provisioning', { label: 'station' });
  for (const e of PATH[state]) if (!rig.sim.firmware(i).transition(e)) throw new Error(`setup: ${e} refused`);
  return { owner, bench, station, fw: rig.sim.firmware(i) };
}

/** One refused cell: the preflight's code, then the Key's own name; nothing changed. */
async function refusedCell(
  t: ExecutionContext,
  key: Key,
  fw: { state: LifecycleState; hosts(): unknown[] },
  op: LifecycleRequest,
  target: string,
  wire: keyof typeof FACADE,
  what: string,
): Promise<void> {
  const state = fw.state;
  const hosts = fw.hosts().length;
  t.is(await facadeAnswer(viaFacade(key, op, target)), FACADE[wire], `${what}: preflight`);
  t.is(await keyAnswer(bypass(key, op, target)), wire, `${what}: the Key itself`);
  t.is(fw.state, state, `${what}: the state is unchanged`);
  t.is(fw.hosts().length, hosts, `${what}: the hosts are unchanged`);
}

realTest(
  'docs/lifecycle.md states × operations over ptys: every cell refused by the preflight and by the Key, or run',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'enigm-lc-matrix-'));
    const keys = STATES.length + EXTRA.length;
    const sim = await Simulator.start({ keys, stateDir: dir, serial: true, tcp: true });
    const rig: Rig = { sim, dir, opened: [] };
    t.teardown(async () => {
      for (const k of rig.opened) await k.close().catch(() => {});
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    let cells = 0;
    for (const [i, state] of STATES.entries()) {
      const { owner, bench, station, fw } = await keyIn(rig, i, state);
      t.is((await owner.info()).state, state, `setup: Key ${i} in ${state}`);
      const benchId = hostKeyIdHex(bench.hostKey.publicKey);
      const ownerId = hostKeyIdHex(owner.hostKey.publicKey);
      const stationId = hostKeyIdHex(station.hostKey.publicKey);

      // The role columns: the service and provisioning hosts (hosts.remove naming the owner), each cell
      // the tables refuse refused locally and by the Key alike.
      for (const [role, host] of [
        ['service', bench],
        ['provisioning', station],
      ] as const)
        for (const op of OPS) {
          const decision = lifecycleDecision(op, role, state, op === 'hosts.remove' ? 'other' : 'self');
          if (decision) await refusedCell(t, host, fw, op, ownerId, decision, `${op} by ${role} in ${state}`);
        }

      // The owner: refused cells first, then the allowed ones that keep the state, the state-changing one last.
      const allowed = OPS.filter((op) => lifecycleRefusal(op, state) === undefined);
      for (const op of OPS) {
        const refusal = lifecycleRefusal(op, state);
        if (refusal) {
          await refusedCell(t, owner, fw, op, benchId, refusal, `${op} in ${state}`);
          cells++;
        }
      }
      for (const op of allowed.filter((o) => AFTER[o] === undefined)) {
        const r = await viaFacade(owner, op, benchId);
        if (op === 'hosts.list')
          t.deepEqual(
            (r as { keyId: string }[]).map((h) => h.keyId),
            [ownerId, benchId, stationId],
            `hosts.list in ${state}`,
          );
        else t.like(r, { keyId: benchId, role: 'service', hosts: 2, self: false }, `hosts.remove in ${state}`);
        t.is(fw.state, state);
        cells++;
      }
      const last = LAST[state];
      t.deepEqual(
        allowed.filter((o) => AFTER[o] !== undefined && o !== last),
        EXTRA.filter(([s]) => s === state).map(([, o]) => o),
        `${state}: every allowed state change is run once`,
      );
      if (last) {
        t.is(await viaFacade(owner, last, benchId), AFTER[last], `${last} in ${state}`);
        t.is((await owner.info()).state, AFTER[last] as LifecycleState);
        cells++;
      }
    }
    for (const [j, [state, op]] of EXTRA.entries()) {
      const { owner, fw } = await keyIn(rig, STATES.length + j, state);
      t.is(await viaFacade(owner, op, ''), AFTER[op], `${op} in ${state}`);
      t.is(fw.state, AFTER[op] as LifecycleState);
      cells++;
    }
    t.is(cells, OPS.length * STATES.length, 'every cell of the table ran');
  },
);
