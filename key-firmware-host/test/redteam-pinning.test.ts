/**
 * Red-team attacks on pinning (issue 16, finding 4), through a man in the middle on a real TCP
 * link between the Key facade and the simulator:
 *
 * - a Key answering `info` with a made-up handle is pinned under the handle its identity signed in
 *   the handshake, never the cleartext one;
 * - evidence and sessions must name the pinned handle: a pin whose handle differs is a hard,
 *   named error (`KEY_IDENTITY_MISMATCH`), never an affirming attestation;
 * - a man in the middle who routes "port A" to another Key this host has paired with cannot make
 *   a command run there when the user named the Key expected (`expect`).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '@enigm/protocols/bytes';
import type { Message } from '@enigm/protocols/messages';
import { Simulator } from '@enigm/sim';
import test, { type ExecutionContext } from 'ava';
import { openKey } from '../src/key/key.ts';
import { KnownKeys } from '../src/session/host-store.ts';
import { type Mitm, reencode, startMitm } from './redteam-proxy.ts';

/** Per-request budget over TCP: no test here waits for a timeout, so a generous one costs nothing (500 ms was within reach of a stall on a loaded machine). */
const LINK_TIMEOUT_MS = 5000;

interface Rig {
  sim: Simulator;
  dir: string;
  knownPath: string;
  hostKeyPath: string;
  tcp(i: number): string;
  mitm(i: number): Promise<Mitm>;
}

async function rig(t: ExecutionContext, keys = 1): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-redteam-pin-'));
  const sim = await Simulator.start({ keys, serial: false, stateDir: join(dir, 'sim') });
  const mitms: Mitm[] = [];
  t.teardown(async () => {
    for (const m of mitms) await m.close();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    sim,
    dir,
    knownPath: join(dir, 'known-keys.json'),
    hostKeyPath: join(dir, 'host-key.pem'),
    tcp: (i) => sim.keys()[i]?.tcp as string,
    async mitm(i) {
      const m = await startMitm(sim.keys()[i]?.tcp as string);
      mitms.push(m);
      return m;
    },
  };
}

/** Rewrites the handle of every `info.response` to `fake`. */
function fakeInfoHandle(mitm: Mitm, fake: Uint8Array): void {
  mitm.hook = (dir, m) => {
    if (dir !== 'toHost' || m?.name !== 'info.response') return undefined;
    return [reencode({ ...m, body: { ...(m.body as object), handle: fake } } as Message)];
  };
}

test('finding 4: a made-up handle in info is not what gets pinned; the signed handle and identity are', async (t) => {
  const r = await rig(t);
  const mitm = await r.mitm(0);
  const fake = new Uint8Array(16).fill(0xee);
  fakeInfoHandle(mitm, fake);
  const key = await openKey(mitm.address, { known: r.knownPath, hostKey: r.hostKeyPath, timeoutMs: LINK_TIMEOUT_MS });
  t.teardown(() => key.close());
  const paired = await key.pair('owner');
  const real = r.sim.keys()[0]?.handle as string;
  const identity = toHex(r.sim.firmware(0).secureElement.identityPublicKey);
  t.is(paired.handle, real, 'the pinned handle is the one the identity signed');
  t.not(paired.handle, toHex(fake));
  t.is(paired.identity, identity);
  const pin = new KnownKeys(r.knownPath).byIdentity(identity);
  t.is(pin?.handle, real);
  // Sessions and evidence agree with the pin, whatever info says.
  const ev = await key.attest();
  t.is(toHex(ev.claims.ueid), `01${real}`);
});

test('finding 4: a pin whose handle is not the Key’s is a hard KEY_IDENTITY_MISMATCH, not an affirming attestation', async (t) => {
  const r = await rig(t);
  const key = await openKey(r.tcp(0), { known: r.knownPath, hostKey: r.hostKeyPath, timeoutMs: LINK_TIMEOUT_MS });
  t.teardown(() => key.close());
  await key.pair('owner');
  t.is(toHex((await key.attest()).claims.ueid).slice(2), r.sim.keys()[0]?.handle as string, 'control: the honest pin attests');
  // The pin names another handle (as an impostor's made-up handle would have been pinned before).
  const file = JSON.parse(readFileSync(r.knownPath, 'utf8')) as { keys: { handle: string }[] };
  for (const k of file.keys) k.handle = 'ee'.repeat(16);
  writeFileSync(r.knownPath, JSON.stringify(file));
  // …and a man in the middle makes info claim that handle, as it did when the impostor was pinned.
  const mitm = await r.mitm(0);
  fakeInfoHandle(mitm, new Uint8Array(16).fill(0xee));
  const again = await openKey(mitm.address, { known: r.knownPath, hostKey: r.hostKeyPath, timeoutMs: LINK_TIMEOUT_MS });
  t.teardown(() => again.close());
  const e = await t.throwsAsync(again.attest());
  t.is((e as { code?: string }).code, 'KEY_IDENTITY_MISMATCH', e?.message);
});

test('finding 4: a man in the middle routing port A to another paired Key cannot run a command there when the Key is named', async (t) => {
  const r = await rig(t, 2);
  // This host pairs with both Keys (directly).
  const handles: string[] = [];
  for (const i of [0, 1]) {
    const k = await openKey(r.tcp(i), { known: r.knownPath, hostKey: r.hostKeyPath, timeoutMs: LINK_TIMEOUT_MS });
    handles.push((await k.pair('owner')).handle);
    await k.close();
  }
  // "Port A" is Key 0, but the proxy behind it leads to Key 1 (whose info honestly names Key 1).
  const mitm = await r.mitm(1);
  const named = await openKey(mitm.address, {
    known: r.knownPath,
    hostKey: r.hostKeyPath,
    timeoutMs: LINK_TIMEOUT_MS,
    expect: { handle: handles[0] as string },
  });
  t.teardown(() => named.close());
  const e = await t.throwsAsync(named.activate());
  t.true(['KEY_HOST_UNKNOWN', 'KEY_IDENTITY_MISMATCH'].includes((e as { code?: string }).code ?? ''), e?.message);
  t.is(r.sim.firmware(1).state, 'factory', 'nothing ran on the other Key');
  t.is(r.sim.firmware(0).state, 'factory');
  // Control: named correctly (Key 1 behind this address), the command runs there.
  const right = await openKey(mitm.address, {
    known: r.knownPath,
    hostKey: r.hostKeyPath,
    timeoutMs: LINK_TIMEOUT_MS,
    expect: { handle: handles[1] as string },
  });
  t.teardown(() => right.close());
  t.is(await right.activate(), 'dormant');
  t.is(r.sim.firmware(1).state, 'dormant');
});
