/**
 * The simulator's file-backed Key storage (sim/src/runtime/file-storage.ts, issue 13 latency):
 * two slots written in turn in place (generation, length, CRC-32C), so a write is complete before
 * it returns (what a `kill -9` leaves is the last write that returned), a damaged or cut newest
 * slot falls back to the other one, and a bare record of older simulators still reads; the fsync
 * runs afterwards, off the event loop, once for all writes made
 * meanwhile (group commit), and `synced()` resolves only once every earlier write is flushed;
 * `KeyFirmware.durable()` waits for it (the MQTT uplink awaits that before queueing a record).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { KeyFirmware } from '../src/firmware/firmware.ts';
import { loadSecureElement } from '../src/firmware/secure-element.ts';
import { FileStorage, type SyncFile } from '../src/runtime/file-storage.ts';
import { seededRandom } from '../src/testing.ts';

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'enigm-file-storage-'));
  dirs.push(d);
  return d;
}

/** A sync that counts its calls and finishes only when the test releases it. */
function heldSync() {
  const calls: { paths: readonly string[]; folder: boolean; release: (e?: Error) => void }[] = [];
  const sync: SyncFile = (paths, folder) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ paths, folder, release: (e) => (e ? reject(e) : resolve()) });
    });
  return { sync, calls };
}

const tick = () => new Promise((r) => setImmediate(r));

test('a write is complete before it returns: a fresh reader (the restarted simulator) sees it; slots alternate', async (t) => {
  const path = join(tempDir(), 'key-0.cbor');
  const s = new FileStorage(path);
  t.is(s.read(), undefined);
  s.write(Uint8Array.of(1, 2, 3));
  t.deepEqual(new FileStorage(path).read(), Uint8Array.of(1, 2, 3));
  t.true(existsSync(`${path}.b`) !== existsSync(path), 'one slot written');
  s.write(Uint8Array.of(4));
  t.true(existsSync(path) && existsSync(`${path}.b`), 'the second write went to the other slot');
  t.deepEqual(new FileStorage(path).read(), Uint8Array.of(4));
  s.write(new Uint8Array(0)); // shorter than what the slot held: the header's length bounds it
  s.write(Uint8Array.of(9, 9));
  t.deepEqual(new FileStorage(path).read(), Uint8Array.of(9, 9));
  await s.synced(); // the real fsync of both slots and the folder
  t.deepEqual(s.read(), Uint8Array.of(9, 9));
});

test('the newest slot cut short or damaged: the previous record is read (a write that never returned)', (t) => {
  const path = join(tempDir(), 'key-0.cbor');
  const s = new FileStorage(path, { sync: async () => undefined });
  s.write(Uint8Array.of(1, 1, 1));
  s.write(Uint8Array.of(2, 2, 2));
  const [a, b] = s.slots;
  const newest = readFileSync(b);
  writeFileSync(b, newest.subarray(0, newest.length - 1)); // cut
  t.deepEqual(new FileStorage(path).read(), Uint8Array.of(1, 1, 1));
  const flipped = Buffer.from(newest);
  flipped.writeUInt8(flipped.readUInt8(flipped.length - 1) ^ 0xff, flipped.length - 1); // damaged: CRC fails
  writeFileSync(b, flipped);
  const r = new FileStorage(path, { sync: async () => undefined });
  t.deepEqual(r.read(), Uint8Array.of(1, 1, 1));
  r.write(Uint8Array.of(3)); // goes over the damaged slot, not the good one
  t.deepEqual(new FileStorage(path).read(), Uint8Array.of(3));
  t.deepEqual([...readFileSync(a)].slice(-3), [1, 1, 1]);
});

test('a bare record written by an older simulator reads as it is and is superseded by the next write', (t) => {
  const path = join(tempDir(), 'key-0.cbor');
  writeFileSync(path, Uint8Array.of(0xa1, 0x01, 0x02));
  const s = new FileStorage(path, { sync: async () => undefined });
  t.deepEqual(s.read(), Uint8Array.of(0xa1, 0x01, 0x02));
  s.write(Uint8Array.of(0xa0));
  t.deepEqual(new FileStorage(path).read(), Uint8Array.of(0xa0));
});

test('group commit: writes made in one turn share one fsync; synced() waits for it', async (t) => {
  const { sync, calls } = heldSync();
  const s = new FileStorage(join(tempDir(), 'k.cbor'), { sync });
  for (let i = 0; i < 5; i++) s.write(Uint8Array.of(i));
  await tick();
  t.is(calls.length, 1);
  let done = false;
  const p = s.synced().then(() => {
    done = true;
  });
  await tick();
  t.false(done, 'not synced before the fsync finished');
  calls[0]?.release();
  await p;
  t.true(done);
  t.is(calls.length, 1, 'nothing written since: no second fsync');
  await s.synced(); // nothing pending: resolves at once
});

test('a write during a running fsync is covered by the next one, and its synced() waits for that', async (t) => {
  const { sync, calls } = heldSync();
  const s = new FileStorage(join(tempDir(), 'k.cbor'), { sync });
  s.write(Uint8Array.of(1));
  const first = s.synced();
  await tick();
  s.write(Uint8Array.of(2));
  s.write(Uint8Array.of(3));
  let secondDone = false;
  const second = s.synced().then(() => {
    secondDone = true;
  });
  t.is(calls.length, 1, 'one fsync at a time');
  calls[0]?.release();
  await first;
  await tick();
  await tick();
  t.false(secondDone, 'the writes made during the first fsync are not covered by it');
  t.is(calls.length, 2, 'one more fsync for both');
  calls[1]?.release();
  await second;
  t.true(secondDone);
});

test('a failed fsync rejects the waiting synced(); the next synced() flushes again', async (t) => {
  const { sync, calls } = heldSync();
  const s = new FileStorage(join(tempDir(), 'k.cbor'), { sync });
  s.write(Uint8Array.of(1));
  const p = s.synced();
  await tick();
  calls[0]?.release(new Error('EIO'));
  await t.throwsAsync(p, { message: 'EIO' });
  const again = s.synced();
  await tick();
  t.is(calls.length, 2);
  calls[1]?.release();
  await again;
  t.deepEqual(s.read(), Uint8Array.of(1));
});

test('KeyFirmware.durable() resolves only once the persistent record and secure element are flushed', async (t) => {
  const dir = tempDir();
  const { sync, calls } = heldSync();
  const random = seededRandom(3);
  const seStorage = new FileStorage(join(dir, 'key-0.se'), { sync });
  const storage = new FileStorage(join(dir, 'key-0.cbor'), { sync });
  const fw = new KeyFirmware({
    storage,
    secureElement: loadSecureElement(seStorage, random),
    secureElementStorage: seStorage,
    clock: { now: () => 1000 },
    random,
  });
  let durable = false;
  const d = fw.durable().then(() => {
    durable = true;
  });
  await tick();
  t.false(durable);
  t.true(calls.length >= 2, 'both files are being flushed');
  for (const c of calls) c.release();
  await tick();
  for (const c of calls) c.release(); // a second round for writes made during the first
  await d;
  t.true(durable);
  t.is(fw.transition('activate'), 'dormant');
  let again = false;
  const d2 = fw.durable().then(() => {
    again = true;
  });
  await tick();
  t.false(again, 'the transition wrote: durable() waits for its flush');
  for (const c of calls) c.release();
  await d2;
});

test('a flush syncs only the slots written since the last one, and the folder only when a slot file was created', async (t) => {
  const { sync, calls } = heldSync();
  const path = join(tempDir(), 'k.cbor');
  const s = new FileStorage(path, { sync });
  const [a, b] = s.slots;
  const flush = async () => {
    const p = s.synced();
    await tick();
    calls.at(-1)?.release();
    await p;
    return calls.at(-1);
  };
  s.write(Uint8Array.of(1)); // creates slot A
  t.like(await flush(), { paths: [a], folder: true });
  s.write(Uint8Array.of(2)); // creates slot B
  t.like(await flush(), { paths: [b], folder: true });
  s.write(Uint8Array.of(3)); // slot A in place
  t.like(await flush(), { paths: [a], folder: false });
  s.write(Uint8Array.of(4));
  s.write(Uint8Array.of(5));
  t.deepEqual([...((await flush())?.paths ?? [])].sort(), [a, b].sort());
  t.false(calls.at(-1)?.folder);
  t.is(calls.length, 4);
});
