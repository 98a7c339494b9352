/**
 * Issue 16 finding 3 with real processes: a simulator process is SIGKILLed right after the Key
 * acknowledged `fw.finish`, `fw.test`, `fw.confirm` and `fw.revert` (the host speaks to it over
 * TCP through the public Key facade), then started again on the same state folder: what was
 * acknowledged is what the Key runs and reports, and the evidence agrees with it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Key, type OpenKeyOptions, openKey } from '@enigm/key-firmware-host';
import { ed25519PrivateKeyFromPem } from '@enigm/protocols/crypto';
import test from 'ava';
import { type SimProcess, startSimProcess } from './support/sim-process.ts';
import { type TestImage, testImage } from './support/wire-host.ts';

const dirs: string[] = [];
const procs: SimProcess[] = [];
test.after.always(async () => {
  for (const p of procs) if (p.alive()) p.proc.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Starts a simulator process on `dir` and opens its Key over TCP. */
async function start(dir: string): Promise<{ sim: SimProcess; key: Key }> {
  const sim = await startSimProcess({ keys: 1, serial: false, tcp: true, stateDir: dir });
  procs.push(sim);
  const options: OpenKeyOptions = {
    hostKey: join(dir, 'home', 'host-key.pem'),
    known: join(dir, 'home', 'known-keys.json'),
    // A freshly started simulator process on a loaded machine may answer its first requests
    // slowly: 20 s per request instead of the client's 2 s (fast when it answers at once).
    timeoutMs: 20_000,
  };
  return { sim, key: await openKey(sim.keys[0]?.tcp as string, options) };
}

/** kill -9 the simulator, start it again on the same folder, reopen the Key. */
async function killAndRestart(dir: string, sim: SimProcess, key: Key) {
  const exited = new Promise((r) => sim.proc.once('exit', r));
  sim.proc.kill('SIGKILL');
  await exited;
  await key.close().catch(() => {});
  return start(dir);
}

async function upload(key: Key, img: TestImage) {
  const s = await key.session();
  const b = await s.request('fw.begin', { manifest: img.manifest });
  for (let off = b.offset; off < img.payload.length; off += b.chunk)
    await s.request('fw.chunk', { offset: off, data: img.payload.subarray(off, off + b.chunk), id: b.id });
  await s.request('fw.finish', { id: b.id });
}

test.serial('SIGKILL right after each acknowledgement: the restarted Key keeps what it acknowledged', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-kill9-'));
  dirs.push(dir);
  let { sim, key } = await start(dir);
  await key.pair('owner');
  const seed = ed25519PrivateKeyFromPem(readFileSync(join(dir, 'fw-signing.key'), 'utf8'));

  await upload(key, testImage(seed, '2.0.0', 2, 20_000)); // acknowledged: fw.finish
  ({ sim, key } = await killAndRestart(dir, sim, key));
  t.is((await key.fwStatus()).secondary?.state, 'ready', 'after fw.finish');

  await (await key.session()).request('fw.test', {}); // acknowledged: the test boot will happen
  ({ sim, key } = await killAndRestart(dir, sim, key));
  t.like(await key.fwStatus(), { primary: 'testing', running: { version: '2.0.0' } }, 'after fw.test');

  t.deepEqual(await (await key.session()).request('fw.confirm', {}), { securityCounter: 2 });
  ({ sim, key } = await killAndRestart(dir, sim, key));
  t.like(await key.fwStatus(), { primary: 'confirmed', securityCounter: 2, running: { version: '2.0.0' } }, 'after fw.confirm');
  const { claims } = await key.attest();
  t.deepEqual(claims.swversion, ['2.0.0']);
  t.is(claims.securityCounter, 2, 'the evidence names what runs');

  await upload(key, testImage(seed, '3.0.0', 3, 20_000));
  await (await key.session()).request('fw.test', {});
  ({ sim, key } = await killAndRestart(dir, sim, key)); // the restart is the test boot
  t.like(await key.fwStatus(), { primary: 'testing', running: { version: '3.0.0' } });
  await (await key.session()).request('fw.revert', {}); // acknowledged: the next boot goes back
  ({ sim, key } = await killAndRestart(dir, sim, key));
  t.like(await key.fwStatus(), { primary: 'confirmed', securityCounter: 2, running: { version: '2.0.0' } }, 'after fw.revert');
  await key.close();
  await sim.stop();
});
