/**
 * The MQTT uplink's records not yet in the outbox (sim/src/runtime/mqtt-endpoint.ts, issue 13
 * benchmark race): a record waits for the Key's state to be durable (`KeyFirmware.durable`)
 * before it is appended, and while it waits the endpoint counts it in `pending` (the outbox's
 * `queued` does not hold it yet), so a drain check of `pending + queued === 0` cannot pass while a
 * record is still on its way; once the flush finishes it moves to the outbox. Records queued
 * together are pipelined: the second is in the outbox (seq taken, bytes queued) before the first
 * one's outbox fsync has finished, so they share it, and their seqs still follow the order queued;
 * the publisher sees only the entries whose append resolved (`durableEntries`: up to the first one
 * not synced), so nothing is sent before it is durable in the outbox.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '@enigm/mqtt/outbox';
import { peekUplink } from '@enigm/protocols/mqtt';
import test from 'ava';
import { KeyFirmware } from '../src/firmware/firmware.ts';
import { loadSecureElement } from '../src/firmware/secure-element.ts';
import { FileStorage, type SyncFile } from '../src/runtime/file-storage.ts';
import { KeyScheduler } from '../src/runtime/key-scheduler.ts';
import { DEFAULT_LINK_LIMITS } from '../src/runtime/link-flow.ts';
import { silentLogger } from '../src/runtime/log.ts';
import { durableEntries, MqttEndpoint } from '../src/runtime/mqtt-endpoint.ts';
import { seededRandom } from '../src/testing.ts';
import { until } from './support/wait.ts';

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A sync that finishes only when the test releases it (every call so far). */
function heldSync() {
  const held: (() => void)[] = [];
  const sync: SyncFile = () => new Promise<void>((resolve) => held.push(resolve));
  const release = () => {
    for (const r of held.splice(0)) r();
  };
  return { sync, release, held };
}

const tick = () => new Promise((r) => setImmediate(r));

/** Waits for `cond` (an outbox append is a real fsync: up to 20 s on a loaded machine). */
const waitFor = (cond: () => boolean, what: string) => until(cond, 20_000, what);

test('a record waiting for durable() counts as pending, not queued; after the flush it is queued', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-uplink-pending-'));
  dirs.push(dir);
  const random = seededRandom(5);
  const { sync, release, held } = heldSync();
  const seStorage = new FileStorage(join(dir, 'key-0.se'), { sync });
  const fw = new KeyFirmware({
    storage: new FileStorage(join(dir, 'key-0.cbor'), { sync }),
    secureElement: loadSecureElement(seStorage, random),
    secureElementStorage: seStorage,
    clock: { now: () => 1000 },
    random,
  });
  const ep = new MqttEndpoint({
    firmware: fw,
    scheduler: new KeyScheduler(silentLogger, 'key 0'),
    timing: undefined,
    limits: DEFAULT_LINK_LIMITS,
    log: silentLogger,
    label: 'key 0',
    uplink: { broker: 'mqtt://127.0.0.1:1' }, // never connected: the radio stays off
    accountSecret: new Uint8Array(32).fill(1),
    outboxPath: join(dir, 'key-0.outbox'),
    now: () => 1_700_000_000_000,
  });
  await ep.open();
  t.teardown(() => ep.close());
  // Flush what loading the secure element wrote; from here every flush is held until released.
  await waitFor(() => held.length > 0, 'the first flush');
  release();
  await fw.durable();
  t.is(ep.pending, 0);
  t.is(ep.queued, 0);

  t.is(fw.transition('activate'), 'dormant'); // a stored change and a lifecycle record
  const direct = ep.emit('test', Uint8Array.of(1));
  await tick();
  await tick();
  t.is(ep.queued, 0, 'nothing is in the outbox while the state is not durable');
  t.is(ep.pending, 2, 'the lifecycle record and the emitted one are on their way');
  t.true(held.length > 0, 'the state flush is being held');

  release();
  await waitFor(() => ep.pending === 0, 'the records to reach the outbox');
  await direct;
  t.is(ep.queued, 2);
  t.is(ep.pending, 0);
});

test('a record whose append fails no longer counts as pending', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-uplink-pending-'));
  dirs.push(dir);
  const random = seededRandom(6);
  const seStorage = new FileStorage(join(dir, 'key-0.se'), { sync: async () => undefined });
  const fw = new KeyFirmware({
    storage: new FileStorage(join(dir, 'key-0.cbor'), { sync: async () => undefined }),
    secureElement: loadSecureElement(seStorage, random),
    secureElementStorage: seStorage,
    clock: { now: () => 1000 },
    random,
  });
  const ep = new MqttEndpoint({
    firmware: fw,
    scheduler: new KeyScheduler(silentLogger, 'key 0'),
    timing: undefined,
    limits: DEFAULT_LINK_LIMITS,
    log: silentLogger,
    label: 'key 0',
    uplink: { broker: 'mqtt://127.0.0.1:1' },
    accountSecret: new Uint8Array(32).fill(1),
    outboxPath: join(dir, 'key-0.outbox'),
    now: () => 1_700_000_000_000,
  });
  await ep.open();
  t.teardown(() => ep.close());
  // A record larger than the outbox accepts: the append throws.
  const failed = ep.emit('test', new Uint8Array(4 * 1024 * 1024));
  t.is(ep.pending, 1);
  await t.throwsAsync(failed);
  t.is(ep.pending, 0);
  t.is(ep.queued, 0);
});

test('pipelined: a second record reaches the outbox before the first one is synced; seqs follow the order queued', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-uplink-pending-'));
  dirs.push(dir);
  const random = seededRandom(7);
  const seStorage = new FileStorage(join(dir, 'key-0.se'), { sync: async () => undefined });
  const fw = new KeyFirmware({
    storage: new FileStorage(join(dir, 'key-0.cbor'), { sync: async () => undefined }),
    secureElement: loadSecureElement(seStorage, random),
    secureElementStorage: seStorage,
    clock: { now: () => 1000 },
    random,
  });
  const outboxPath = join(dir, 'key-0.outbox');
  const ep = new MqttEndpoint({
    firmware: fw,
    scheduler: new KeyScheduler(silentLogger, 'key 0'),
    timing: undefined,
    limits: DEFAULT_LINK_LIMITS,
    log: silentLogger,
    label: 'key 0',
    uplink: { broker: 'mqtt://127.0.0.1:1' },
    accountSecret: new Uint8Array(32).fill(1),
    outboxPath,
    now: () => 1_700_000_000_000,
  });
  await ep.open();
  let closed = false;
  t.teardown(() => (closed ? undefined : ep.close()));
  await fw.durable();
  const first = ep.emit('first', Uint8Array.of(1));
  const second = ep.emit('second', Uint8Array.of(2));
  const third = ep.emit('third', Uint8Array.of(3));
  await first;
  // The first append is synced (a thread-pool fsync); the others were handed over before it ended.
  t.is(ep.queued, 3, 'the second and third records did not wait for the first one to be synced');
  await Promise.all([second, third]);
  t.is(ep.pending, 0);
  await ep.close();
  closed = true;
  // The endpoint's outbox runs on the simulation's clock: read it on the same one (else its
  // entries, stamped 2023, are past the default 7-day age and expire on read).
  const outbox = await Outbox.open(outboxPath, { clock: () => 1_700_000_000_000 });
  try {
    const kinds = outbox.pending().map((e) => {
      const u = peekUplink(e.payload);
      return [u?.kind, u?.seq];
    });
    t.deepEqual(
      kinds.map((k) => k[0]),
      ['first', 'second', 'third'],
    );
    const seqs = kinds.map((k) => k[1] as number);
    t.true(seqs[0] !== undefined && seqs[0] < (seqs[1] as number) && (seqs[1] as number) < (seqs[2] as number));
  } finally {
    await outbox.close();
  }
});

test('the publisher sees the oldest entries up to the first whose append has not resolved', async (t) => {
  const id = (n: number) => new Uint8Array(16).fill(n);
  const entries = [1, 2, 3, 4].map((n) => ({ id: id(n), topic: 't', payload: Uint8Array.of(n) }));
  const acked: number[] = [];
  const queue = {
    pending: (limit?: number) => entries.slice(0, limit ?? entries.length),
    ack: async (i: Uint8Array) => {
      acked.push(i[0] as number);
      return true;
    },
  };
  const unsynced = new Set<string>();
  const view = durableEntries(queue, unsynced);
  t.deepEqual(
    view.pending().map((e) => e.payload[0]),
    [1, 2, 3, 4],
  );
  unsynced.add(Buffer.from(id(3)).toString('hex'));
  unsynced.add(Buffer.from(id(4)).toString('hex'));
  t.deepEqual(
    view.pending().map((e) => e.payload[0]),
    [1, 2],
    'entry 3 is not synced: neither it nor what follows is sent yet',
  );
  t.deepEqual(
    view.pending(1).map((e) => e.payload[0]),
    [1],
  );
  unsynced.clear();
  unsynced.add(Buffer.from(id(1)).toString('hex'));
  t.deepEqual(view.pending(), []);
  t.true(await view.ack(id(2)));
  t.deepEqual(acked, [2]);
});
