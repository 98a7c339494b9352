/**
 * The simulator's files, each in its own runtime module (split out of `simulator.ts`): the state
 * file is rewritten once per turn however many Keys change (`state-file.ts`); the development
 * account secret is made once, 32 bytes, mode 0600, and a wrong-length file is a named error
 * (`uplink-setup.ts`); a Key's flash file is manufactured once, loaded again at the next start,
 * rewritten only when the flash changed, and a damaged one is a named error (`flash-store.ts`).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EmbeddedBroker } from '@enigm/mqtt/broker';
import { sha256 } from '@enigm/protocols/crypto';
import { verifyManifest } from '@enigm/protocols/firmware';
import test from 'ava';
import type { Flash } from '../src/firmware/flash/flash.ts';
import { SimulatorError } from '../src/runtime/errors.ts';
import { openFirmwareFactory } from '../src/runtime/factory.ts';
import { type FlashFactory, FlashPagePool, openKeyFlash } from '../src/runtime/flash-store.ts';
import { silentLogger } from '../src/runtime/log.ts';
import { Simulator } from '../src/runtime/simulator.ts';
import { STATE_FILE, StateFileWriter, writeStateFile } from '../src/runtime/state-file.ts';
import { readAccountSecret, startUplinkBroker, uplinkSetup } from '../src/runtime/uplink-setup.ts';
import { quietPorts } from './support/quiet-ports.ts';

function tempDir(t: { teardown(f: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-state-files-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('state file: 100 requests in one turn are one write, on a later turn; the file is the JSON written', async (t) => {
  const dir = tempDir(t);
  let writes = 0;
  const w = new StateFileWriter(() => {
    writes++;
    writeStateFile(dir, { pid: 1, startedAt: 'now', keys: [{ index: 0, handle: 'ab', state: 'dormant' }] });
  });
  for (let i = 0; i < 100; i++) w.soon();
  t.is(writes, 0, 'not written synchronously');
  await new Promise((r) => setImmediate(r));
  t.is(writes, 1);
  w.soon();
  await new Promise((r) => setImmediate(r));
  t.is(writes, 2, 'a request on a later turn writes again');
  t.deepEqual(JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')), {
    pid: 1,
    startedAt: 'now',
    keys: [{ index: 0, handle: 'ab', state: 'dormant' }],
  });
});

test('account secret: made once (32 bytes, mode 0600) and read back; a wrong length is SIM_BAD_INPUT', (t) => {
  const dir = tempDir(t);
  const a = readAccountSecret(dir);
  t.is(a.length, 32);
  t.is(statSync(join(dir, 'account.secret')).mode & 0o777, 0o600);
  t.deepEqual(readAccountSecret(dir), a);
  writeFileSync(join(dir, 'account.secret'), new Uint8Array(31));
  const e = t.throws(() => readAccountSecret(dir), { instanceOf: SimulatorError });
  t.is(e?.code, 'SIM_BAD_INPUT');
});

test('uplink set-up: off means nothing started; a taken broker port is SIM_PORT_IN_USE; an external broker: none embedded', async (t) => {
  const dir = tempDir(t);
  t.is(await startUplinkBroker(undefined, silentLogger), undefined);
  t.is(await startUplinkBroker(false, silentLogger), undefined);
  t.is(await startUplinkBroker({ broker: 'mqtt://127.0.0.1:1' }, silentLogger), undefined);
  t.is(uplinkSetup(undefined, undefined, dir, 0), undefined);
  t.is(uplinkSetup(false, undefined, dir, 0), undefined);
  const held = createServer();
  await new Promise<void>((ok) => held.listen(0, '127.0.0.1', ok));
  t.teardown(() => new Promise<void>((ok) => held.close(() => ok())));
  const port = (held.address() as { port: number }).port;
  const e = await t.throwsAsync(startUplinkBroker({ brokerPort: port }, silentLogger), { instanceOf: SimulatorError });
  t.is(e?.code, 'SIM_PORT_IN_USE');
  t.regex(e?.message ?? '', new RegExp(`127\\.0\\.0\\.1:${port} is taken`));
  writeFileSync(join(dir, 'account.secret'), new Uint8Array(5));
  t.is(
    t.throws(() => uplinkSetup({ broker: 'mqtt://127.0.0.1:1' }, undefined, dir, 0), { instanceOf: SimulatorError })?.code,
    'SIM_BAD_INPUT',
  );
  // an external broker (none embedded: startUplinkBroker above) is the one the Keys connect to
  const given = uplinkSetup({ broker: 'mqtt://127.0.0.1:1' }, undefined, tempDir(t), 1000);
  t.is(given?.broker, 'mqtt://127.0.0.1:1');
  t.is(given?.accountSecret.length, 32);
  // without a URL the Keys connect to the embedded broker
  const embedded = { url: 'mqtt://127.0.0.1:2' } as EmbeddedBroker;
  t.is(uplinkSetup(true, embedded, tempDir(t), 0)?.broker, 'mqtt://127.0.0.1:2');
});

test('Simulator.start with a bad account secret stops the embedded broker it started (its port is free again)', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'account.secret'), new Uint8Array(5));
  const port = await quietPorts(1); // nothing else takes it between here and the checks
  const e = await t.throwsAsync(
    Simulator.start({ keys: 1, serial: false, tcp: false, stateDir: dir, mqtt: { brokerPort: port } }),
    {
      instanceOf: SimulatorError,
    },
  );
  t.is(e?.code, 'SIM_BAD_INPUT');
  // had the embedded broker been left running, its port would be taken now
  await t.notThrowsAsync(freePort(port));
});

/** Binds `port` (0: any) on loopback, closes it again and returns the port. */
async function freePort(port = 0): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', ok);
  });
  const bound = (server.address() as AddressInfo).port;
  await new Promise((r) => server.close(r));
  return bound;
}

function factoryIn(dir: string): FlashFactory {
  const signing = openFirmwareFactory(dir, { keepPrivateKey: true });
  return { signing, verifier: { verifyManifest: (b) => verifyManifest(b, [signing.publicKey]).manifest, sha256 } };
}

test('flash file: manufactured once per model, loaded at the next start, rewritten only after a change', (t) => {
  const dir = tempDir(t);
  const factory = factoryIn(dir);
  const made = new Map<string, Flash>();
  const o = { stateDir: dir, model: 'enigm-key-1', eraseAhead: false, factory, factoryFlash: made };
  const k0 = openKeyFlash({ ...o, index: 0 });
  const k1 = openKeyFlash({ ...o, index: 1 });
  t.is(made.size, 1, 'one factory flash for the model');
  t.not(k0.deps.flash, k1.deps.flash, 'each Key its own copy');
  const path = join(dir, 'key-0.flash');
  const first = readFileSync(path);
  // unchanged: flush leaves the file alone (it is not even rewritten)
  rmSync(path);
  k0.flush();
  t.throws(() => readFileSync(path), { code: 'ENOENT' });
  writeFileSync(path, first);
  // a change, then flush: the file holds the new flash, and the next start loads it
  const last = k0.deps.layout.pageCount - 1;
  const page = k0.deps.layout.pageSize * last;
  k0.deps.flash.erase(last);
  k0.deps.flash.write(page, new Uint8Array([1, 2, 3, 4]));
  k0.deps.onChange?.();
  k0.flush();
  t.notDeepEqual(readFileSync(path), first);
  const again = openKeyFlash({ ...o, index: 0, factoryFlash: new Map() });
  t.deepEqual(again.deps.flash.read(page, 4), new Uint8Array([1, 2, 3, 4]));
  again.flush();
  k1.flush();
});

test('flash files loaded at a restart share equal pages (one copy of the common image), copy-on-write', (t) => {
  const dir = tempDir(t);
  const factory = factoryIn(dir);
  const o = { stateDir: dir, model: 'enigm-key-1', eraseAhead: false, factory, factoryFlash: new Map<string, Flash>() };
  const made = [0, 1, 2].map((index) => openKeyFlash({ ...o, index }));
  const programmed = (made[0]?.deps.flash.residentBytes ?? 0) / (made[0]?.deps.layout.pageSize ?? 1);
  t.true(programmed > 2);
  for (const k of made) k.flush();
  // a restart: every Key's flash comes from its file
  const pool = new FlashPagePool();
  const again = [0, 1, 2].map((index) => openKeyFlash({ ...o, index, factoryFlash: new Map(), pagePool: pool }));
  t.is(pool.size, programmed, 'three Keys with the same image hold its pages once');
  const [a, b] = again.map((k) => k.deps.flash) as [Flash, Flash];
  const last = again[0]?.deps.layout.pageCount ?? 0;
  const at = (again[0]?.deps.layout.pageSize ?? 0) * (last - 1);
  const before = b.snapshot();
  // a change to Key 0's page is Key 0's alone (copy-on-write), also on a page both loaded
  a.erase(0);
  a.write(0, new Uint8Array([9, 9, 9]));
  a.erase(last - 1);
  a.write(at, new Uint8Array([1, 2, 3]));
  t.deepEqual(a.read(0, 3), new Uint8Array([9, 9, 9]));
  t.deepEqual(b.snapshot(), before, "Key 1's flash is unchanged");
  // a later load still finds the original page in the pool, not Key 0's change
  const late = openKeyFlash({ ...o, index: 2, factoryFlash: new Map(), pagePool: pool });
  t.deepEqual(late.deps.flash.snapshot(), again[2]?.deps.flash.snapshot());
});

test('flash file: one that does not decode is SIM_BAD_INPUT naming the file', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'key-0.flash'), new Uint8Array(17));
  const e = t.throws(
    () =>
      openKeyFlash({
        stateDir: dir,
        index: 0,
        model: 'enigm-key-1',
        eraseAhead: false,
        factory: factoryIn(dir),
        factoryFlash: new Map(),
      }),
    { instanceOf: SimulatorError },
  );
  t.is(e?.code, 'SIM_BAD_INPUT');
  t.regex(e?.message ?? '', /key-0\.flash/);
});
