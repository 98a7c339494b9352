/**
 * Issue 16 finding 1: a paired host must not be able to crash the simulator (every Key) by sending
 * `fw.revert` / `fw.begin` on a second connection while the Key erases ahead of an upload. The
 * simulator runs in its own process (`eraseMsPerPage: 20`, as `sim start --erase-ms 20`; 60 for the racing hosts), the
 * hosts talk to it over real TCP links; afterwards the process must be alive and every Key answer.
 * The racer is a second session of the same owner, or a different paired host: a second owner
 * (`UPDATE_BUSY`: the update belongs to the host that began it) or a service host (`FORBIDDEN`).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyClient, SecureSession, TcpTransport, uploadPayload } from '@enigm/key-firmware-host';
import { ed25519PrivateKeyFromPem, sha256, x25519Generate } from '@enigm/protocols/crypto';
import { signManifest } from '@enigm/protocols/firmware';
import { type StaticKey, staticKeyFromPrivate } from '@enigm/protocols/noise';
import { Simulator } from '@enigm/sim';
import test from 'ava';
import { startSimProcess } from './support/sim-process.ts';

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tcp(address: string | undefined): TcpTransport {
  const url = new URL(address as string);
  return new TcpTransport({ host: url.hostname, port: Number(url.port) });
}

function imageFor(seed: Uint8Array, version: string, counter: number, size: number) {
  const payload = new Uint8Array(size).fill(counter);
  const manifest = signManifest(
    { model: 'enigm-key-1', version, securityCounter: counter, payloadSize: size, payloadDigest: sha256(payload) },
    seed,
  );
  return { manifest, payload };
}

/** Waits until `c` got a keepalive after the `before` it had: the Key started the long operation (20 s at most). */
async function eraseStarted(c: KeyClient, before: number): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  while (c.stats.keepalives === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return c.stats.keepalives > before;
}

const settle = <T>(p: Promise<T>) =>
  p.then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, e }),
  );

test('fw.revert then fw.begin on a second link during erase-ahead: the simulator survives and every Key answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-interleave-'));
  dirs.push(dir);
  const sim = await startSimProcess({ keys: 2, stateDir: dir, serial: false, eraseMsPerPage: 20 });
  const clients: KeyClient[] = [];
  try {
    const seed = ed25519PrivateKeyFromPem(readFileSync(join(dir, 'fw-signing.key'), 'utf8'));
    const hostKey = staticKeyFromPrivate(x25519Generate().privateKey);
    const c0 = await KeyClient.connect(tcp(sim.keys[0]?.tcp), { timeoutMs: 10_000 });
    clients.push(c0);
    const a = await SecureSession.firstContact(c0, { hostKey });
    await a.pair('owner');
    const c1 = await KeyClient.connect(tcp(sim.keys[0]?.tcp), { timeoutMs: 10_000 });
    clients.push(c1);
    const b = await SecureSession.reconnect(c1, a.peer.staticKey, { hostKey });
    // Dirty the secondary slot (a full upload, then cancelled) so the next begin has ~50 pages to
    // erase at 20 ms each: about a second of erase-ahead.
    const old = imageFor(seed, '1.5.0', 1, 200 * 1024);
    await uploadPayload(a, old.manifest, old.payload, c0.link.window);
    await a.request('fw.revert', {});

    let keepalives = c0.stats.keepalives;
    const begin = settle(a.request('fw.begin', { manifest: imageFor(seed, '2.0.0', 2, 200 * 1024).manifest }));
    // The Key sends the requester a keepalive as the erase starts (a fixed sleep could end before
    // the begin even reached the simulator on a loaded machine).
    t.true(await eraseStarted(c0, keepalives), 'the erase-ahead started');
    const revert = await settle(b.request('fw.revert', {}));
    const begun = await begin;
    t.true(begun.ok, `the first begin is answered: ${String(begun.ok ? '' : begun.e)}`);
    t.true(revert.ok, `the revert is answered (after the erase): ${String(revert.ok ? '' : revert.e)}`);
    await new Promise((r) => setTimeout(r, 100));
    t.true(sim.alive(), `the simulator is alive; its stderr:\n${sim.stderr()}`);

    // The same with a begin of another image during the erase.
    await a.request('fw.begin', { manifest: imageFor(seed, '1.5.0', 1, 200 * 1024).manifest }).catch(() => undefined);
    keepalives = c0.stats.keepalives;
    const first = settle(a.request('fw.begin', { manifest: imageFor(seed, '2.0.0', 2, 200 * 1024).manifest }));
    // Raced only once the Key erases for it: sent earlier, the second begin could be handled first
    // and the first one would hold the slot.
    t.true(await eraseStarted(c0, keepalives), 'the second erase-ahead started');
    const second = await settle(b.request('fw.begin', { manifest: imageFor(seed, '2.0.1', 2, 100 * 1024).manifest }));
    t.true((await first).ok);
    t.true(second.ok, `the second begin is answered: ${String(second.ok ? '' : second.e)}`);
    t.true(sim.alive(), `the simulator is alive; its stderr:\n${sim.stderr()}`);

    const st = await b.request('fw.status', {});
    t.is(st.secondary?.version, '2.0.1', 'the later begin holds the slot');
    await a.request('fw.status', {});
    const other = await KeyClient.connect(tcp(sim.keys[1]?.tcp), { timeoutMs: 10_000 });
    clients.push(other);
    await other.request('ping', { data: new Uint8Array([1, 2, 3]) });
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await sim.stop();
  }
});

/**
 * Pairs hosts with Key 0 of a fresh state folder (an in-process simulator, stopped afterwards, so
 * the simulator process starts on Keys that already know them): the first host pairs on first
 * contact, each further one in a pairing window. Returns the Key's static key.
 */
async function pairHosts(stateDir: string, hosts: readonly { key: StaticKey; role: 'owner' | 'service' }[]) {
  const sim = await Simulator.start({ keys: 2, stateDir, serial: false });
  try {
    let keyStatic: Uint8Array | undefined;
    for (const [i, h] of hosts.entries()) {
      if (i > 0) sim.firmware(0).openPairingWindow(60_000);
      const c = await KeyClient.connect(tcp(sim.keys()[0]?.tcp), { timeoutMs: 10_000 });
      try {
        const s = await SecureSession.firstContact(c, { hostKey: h.key });
        await s.pair(h.role);
        keyStatic = s.peer.staticKey;
      } finally {
        await c.close();
      }
    }
    return keyStatic as Uint8Array;
  } finally {
    await sim.stop();
  }
}

test("another paired host racing the erase ahead of an owner's upload: a second owner's fw.begin/fw.revert is UPDATE_BUSY, a service host's FORBIDDEN; the simulator survives and every Key answers", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-interleave-hosts-'));
  dirs.push(dir);
  const keyA = staticKeyFromPrivate(x25519Generate().privateKey);
  const keyB = staticKeyFromPrivate(x25519Generate().privateKey);
  const keyS = staticKeyFromPrivate(x25519Generate().privateKey);
  const keyStatic = await pairHosts(dir, [
    { key: keyA, role: 'owner' },
    { key: keyB, role: 'owner' },
    { key: keyS, role: 'service' },
  ]);
  // 60 ms a page (about 3 s of erase): the racers must reach the Key while it erases, at least one
  // keepalive tick (200 ms) before the end, however slowly a loaded machine runs this process.
  const sim = await startSimProcess({ keys: 2, stateDir: dir, serial: false, eraseMsPerPage: 60 });
  const clients: KeyClient[] = [];
  try {
    const seed = ed25519PrivateKeyFromPem(readFileSync(join(dir, 'fw-signing.key'), 'utf8'));
    const session = async (hostKey: StaticKey) => {
      const c = await KeyClient.connect(tcp(sim.keys[0]?.tcp), { timeoutMs: 10_000 });
      clients.push(c);
      return { c, s: await SecureSession.reconnect(c, keyStatic, { hostKey }) };
    };
    const a = await session(keyA);
    const b = await session(keyB);
    const service = await session(keyS);
    // Dirty the secondary slot (a full upload, then cancelled) so the next begin has ~50 pages to
    // erase: about three seconds of erase-ahead, answered when it ends.
    const old = imageFor(seed, '1.5.0', 1, 200 * 1024);
    await uploadPayload(a.s, old.manifest, old.payload, a.c.link.window);
    await a.s.request('fw.revert', {});
    const keepalives = a.c.stats.keepalives;
    const begin = settle(a.s.request('fw.begin', { manifest: imageFor(seed, '2.0.0', 2, 200 * 1024).manifest }));
    // The Key sends the requester a keepalive as the erase starts: race it from then on.
    t.true(await eraseStarted(a.c, keepalives), 'the erase-ahead started');

    const other = imageFor(seed, '2.0.1', 2, 100 * 1024).manifest;
    const racers = await Promise.all([
      settle(b.s.request('fw.begin', { manifest: other })),
      settle(b.s.request('fw.revert', {})),
      settle(service.s.request('fw.begin', { manifest: other })),
      settle(service.s.request('fw.revert', {})),
    ]);
    const refusal = (r: (typeof racers)[number]) =>
      r.ok ? 'answered ok' : ((r.e as { remote?: { name?: string } }).remote?.name ?? String(r.e));
    t.deepEqual(racers.map(refusal), ['UPDATE_BUSY', 'UPDATE_BUSY', 'FORBIDDEN', 'FORBIDDEN']);
    const begun = await begin;
    t.true(begun.ok, `the owner's begin is answered: ${String(begun.ok ? '' : begun.e)}`);
    t.true(
      b.c.stats.keepalives + service.c.stats.keepalives > 0,
      'the racing requests waited behind the erase (keepalives), so they did race it',
    );
    await new Promise((r) => setTimeout(r, 100));
    t.true(sim.alive(), `the simulator is alive; its stderr:\n${sim.stderr()}`);

    const st = await a.s.request('fw.status', {});
    t.is(st.secondary?.version, '2.0.0', "the owner's update is untouched");
    t.is((await service.s.request('fw.status', {})).secondary?.version, '2.0.0', 'the service host may read the status');
    const other1 = await KeyClient.connect(tcp(sim.keys[1]?.tcp), { timeoutMs: 10_000 });
    clients.push(other1);
    await other1.request('ping', { data: new Uint8Array([1, 2, 3]) });
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await sim.stop();
  }
});
