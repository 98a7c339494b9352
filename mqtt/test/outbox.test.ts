/**
 * The durable outbox (`@enigm/mqtt/outbox`, docs/mqtt-outbox.md): append / pending / ack order,
 * reopen, idempotent ack, unique ids; the bounds and drop policy (count, bytes, age with an
 * injected clock; emergency never dropped; OUTBOX_FULL); argument guards; compaction keeps
 * exactly the live entries; the lock in one process and a stale lock of a dead PID; the CRC-32C
 * test vectors of RFC 3720 §B.4.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OUTBOX_ERROR_CODES, Outbox, type OutboxEntry, OutboxError, type OutboxOptions } from '@enigm/mqtt/outbox';
import { toHex } from '@enigm/protocols/bytes';
import { crc32c } from '@enigm/protocols/framing';
import test from 'ava';

const enc = new TextEncoder();

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-outbox-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'outbox.log');
}

/** Deterministic ids: 16 bytes holding a counter. */
function counterRandom(): (n: number) => Uint8Array {
  let i = 0;
  return (n) => {
    const b = new Uint8Array(n);
    new DataView(b.buffer).setUint32(0, ++i);
    return b;
  };
}

/** A clock the test moves. */
function manualClock(start = 1_760_000_000_000): { now: number; clock: () => number } {
  const c = { now: start, clock: () => c.now };
  return c;
}

const seqs = (es: readonly OutboxEntry[]) => es.map((e) => e.seq);

test('append / pending / ack: oldest first, ack removes, ack is idempotent, ids unique', async (t) => {
  const path = tmp(t);
  const ob = await Outbox.open(path);
  t.deepEqual(ob.report, { recovered: 0, quarantined: 0, quarantinedBytes: 0, tornTailBytes: 0 });
  const appended: OutboxEntry[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await ob.append({ topic: `t/${i}`, payload: enc.encode(`p${i}`), retain: i === 2, qos: 1 });
    t.deepEqual(r.dropped, []);
    appended.push(r.entry);
  }
  t.deepEqual(seqs(ob.pending()), [0, 1, 2, 3, 4]);
  t.deepEqual(seqs(ob.pending(2)), [0, 1]);
  t.is(new Set(appended.map((e) => toHex(e.id))).size, 5);
  t.true(appended.every((e) => e.id.length === 16));
  t.is(ob.pending()[2]?.retain, true);
  t.is(ob.pending()[0]?.qos, 1);
  t.true(await ob.ack(appended[1]!.id));
  t.false(await ob.ack(appended[1]!.id), 'already acked: false, no error');
  t.false(await ob.ack(new Uint8Array(16).fill(9)), 'unknown id: false');
  t.deepEqual(seqs(ob.pending()), [0, 2, 3, 4]);
  t.is(ob.size, 4);
  t.is(ob.bytes, 4 * 5);
  const s = ob.stats();
  t.is(s.pending, 4);
  t.is(s.emergency, 0);
  t.is(s.fileBytes, statSync(path).size);
  await ob.close();
  await ob.close(); // idempotent
});

test('reopen restores the pending entries in order, with every field; seq continues', async (t) => {
  const path = tmp(t);
  const c = manualClock();
  const ob = await Outbox.open(path, { clock: c.clock });
  const a = await ob.append({ topic: 'a', payload: Uint8Array.of(1, 2, 3) });
  c.now += 5;
  const b = await ob.append({ topic: 'b/é', payload: new Uint8Array(0), priority: 'emergency', retain: true, qos: 2 });
  const cc = await ob.append({ topic: 'c', payload: Uint8Array.of(4) });
  await ob.ack(a.entry.id);
  await ob.close();
  const again = await Outbox.open(path, { clock: c.clock });
  t.deepEqual(again.report, { recovered: 2, quarantined: 0, quarantinedBytes: 0, tornTailBytes: 0 });
  t.deepEqual(again.pending(), [b.entry, cc.entry]);
  t.is(again.stats().emergency, 1);
  const d = await again.append({ topic: 'd', payload: Uint8Array.of(5) });
  t.is(d.entry.seq, 3);
  await again.close();
});

test('pending() includes an append not yet resolved; each append resolves after its bytes are synced', async (t) => {
  const path = tmp(t);
  for (const fsync of ['always', 'batch'] as const) {
    const ob = await Outbox.open(path, { fsync });
    const before = ob.size;
    const ps = Array.from({ length: 20 }, (_, i) => ob.append({ topic: 'x', payload: Uint8Array.of(i) }));
    t.is(ob.size, before + 20);
    const rs = await Promise.all(ps);
    t.deepEqual(
      rs.map((r) => r.entry.seq),
      rs.map((_, i) => rs[0]!.entry.seq + i),
    );
    t.is(ob.stats().fileBytes, statSync(path).size, `${fsync}: everything written once all resolved`);
    await ob.close();
  }
  const ob = await Outbox.open(path);
  t.is(ob.size, 40);
  await ob.close();
});

test('an append with an id already pending is a no-op returning that entry', async (t) => {
  const ob = await Outbox.open(tmp(t));
  const id = new Uint8Array(16).fill(7);
  const a = await ob.append({ topic: 'x', payload: Uint8Array.of(1), id });
  const b = await ob.append({ topic: 'y', payload: Uint8Array.of(2), id });
  t.is(b.entry, a.entry);
  t.is(ob.size, 1);
  await ob.close();
});

test('bound maxRecords: the oldest normal entries are dropped (reason count) and a drop entry survives reopen', async (t) => {
  const path = tmp(t);
  const ob = await Outbox.open(path, { maxRecords: 3, random: counterRandom() });
  const e0 = (await ob.append({ topic: 'n', payload: Uint8Array.of(0) })).entry;
  await ob.append({ topic: 'E', payload: Uint8Array.of(1), priority: 'emergency' });
  await ob.append({ topic: 'n', payload: Uint8Array.of(2) });
  const r = await ob.append({ topic: 'n', payload: Uint8Array.of(3) });
  t.deepEqual(r.dropped, [{ id: e0.id, reason: 'count' }]);
  t.deepEqual(seqs(ob.pending()), [1, 2, 3]);
  const r2 = await ob.append({ topic: 'n', payload: Uint8Array.of(4) });
  t.deepEqual(
    r2.dropped.map((d) => d.reason),
    ['count'],
  );
  t.deepEqual(seqs(ob.pending()), [1, 3, 4], 'the emergency entry stays, the oldest normal goes');
  t.is(ob.stats().dropped.count, 2);
  await ob.close();
  const again = await Outbox.open(path);
  t.deepEqual(seqs(again.pending()), [1, 3, 4]);
  await again.close();
});

test('bound maxBytes: topic + payload bytes; oldest normal entries dropped (reason bytes) until it fits', async (t) => {
  const ob = await Outbox.open(tmp(t), { maxBytes: 100 });
  for (let i = 0; i < 3; i++) await ob.append({ topic: 'tt', payload: new Uint8Array(28) }); // 30 each
  t.is(ob.bytes, 90);
  const r = await ob.append({ topic: 'tt', payload: new Uint8Array(48) }); // 50: two must go
  t.deepEqual(
    r.dropped.map((d) => d.reason),
    ['bytes', 'bytes'],
  );
  t.deepEqual(seqs(ob.pending()), [2, 3]);
  t.is(ob.bytes, 80);
  t.is(ob.stats().dropped.bytes, 2);
  await ob.close();
});

test('bound maxAgeMs (injected clock): old normal entries dropped on append and on pending(); emergency never expires', async (t) => {
  const path = tmp(t);
  const c = manualClock();
  const ob = await Outbox.open(path, { maxAgeMs: 1000, clock: c.clock });
  await ob.append({ topic: 'n', payload: Uint8Array.of(0) });
  await ob.append({ topic: 'E', payload: Uint8Array.of(1), priority: 'emergency' });
  c.now += 600;
  await ob.append({ topic: 'n', payload: Uint8Array.of(2) });
  c.now += 500; // seq 0 is 1100 ms old
  t.deepEqual(seqs(ob.pending()), [1, 2], 'pending() drops it');
  t.is(ob.stats().dropped.age, 1);
  c.now += 1000;
  const r = await ob.append({ topic: 'n', payload: Uint8Array.of(3) });
  t.deepEqual(
    r.dropped.map((d) => d.reason),
    ['age'],
    'append drops seq 2',
  );
  c.now += 10 * 365 * 24 * 3600 * 1000;
  t.deepEqual(seqs(ob.pending()), [1], 'ten years on, only the emergency entry');
  await ob.close();
  c.now = 1_760_000_000_000; // reopen with an early clock: the drops were written
  const again = await Outbox.open(path, { maxAgeMs: 1000, clock: c.clock });
  t.deepEqual(seqs(again.pending()), [1]);
  await again.close();
});

test('emergency entries are never dropped: a normal append is OUTBOX_FULL when only emergency entries are left', async (t) => {
  const ob = await Outbox.open(tmp(t), { maxRecords: 2 });
  await ob.append({ topic: 'E', payload: Uint8Array.of(0), priority: 'emergency' });
  await ob.append({ topic: 'E', payload: Uint8Array.of(1), priority: 'emergency' });
  const e = await t.throwsAsync(ob.append({ topic: 'secret/topic', payload: enc.encode('SECRET') }), { code: 'OUTBOX_FULL' });
  t.true(e instanceof OutboxError);
  t.is(e?.name, 'OutboxError');
  t.notRegex(e?.message ?? '', /secret|SECRET/, 'no topic or payload in the message');
  t.is(ob.size, 2);
  // an emergency append is still accepted beyond maxRecords (within emergencyMaxBytes)
  await ob.append({ topic: 'E', payload: Uint8Array.of(2), priority: 'emergency' });
  t.deepEqual(seqs(ob.pending()), [0, 1, 2]);
  await ob.close();
});

test('a refused normal append drops nothing, even when normal entries are pending', async (t) => {
  const ob = await Outbox.open(tmp(t), { maxBytes: 100 });
  await ob.append({ topic: 'E', payload: new Uint8Array(79), priority: 'emergency' }); // 80
  await ob.append({ topic: 'n', payload: new Uint8Array(9) }); // 10
  await t.throwsAsync(ob.append({ topic: 'n', payload: new Uint8Array(29) }), { code: 'OUTBOX_FULL' }); // 30 > 100 - 80
  t.deepEqual(seqs(ob.pending()), [0, 1], 'the normal entry was not sacrificed for an append that cannot fit');
  const r = await ob.append({ topic: 'n', payload: new Uint8Array(14) }); // 15: drops seq 1
  t.deepEqual(
    r.dropped.map((d) => d.reason),
    ['bytes'],
  );
  await ob.close();
});

test('emergencyMaxBytes: an emergency append drops normal entries to fit, and past the cap is OUTBOX_FULL', async (t) => {
  const ob = await Outbox.open(tmp(t), { maxBytes: 50, emergencyMaxBytes: 120 });
  await ob.append({ topic: 'n', payload: new Uint8Array(39) }); // 40 normal
  const r = await ob.append({ topic: 'E', payload: new Uint8Array(39), priority: 'emergency' }); // 40
  t.deepEqual(
    r.dropped.map((d) => d.reason),
    ['bytes'],
  );
  await ob.append({ topic: 'E', payload: new Uint8Array(39), priority: 'emergency' }); // 80 > maxBytes, ≤ 120
  await ob.append({ topic: 'E', payload: new Uint8Array(39), priority: 'emergency' }); // 120
  await t.throwsAsync(ob.append({ topic: 'E', payload: new Uint8Array(0), priority: 'emergency' }), { code: 'OUTBOX_FULL' });
  t.is(ob.stats().emergency, 3);
  t.is(ob.bytes, 120);
  await ob.close();
});

test('emergencyMaxRecords bounds the number of emergency entries (memory of tiny ones): past it OUTBOX_FULL', async (t) => {
  const ob = await Outbox.open(tmp(t), { maxRecords: 2, emergencyMaxRecords: 3 });
  for (let i = 0; i < 3; i++) await ob.append({ topic: 'E', payload: new Uint8Array(0), priority: 'emergency' });
  await t.throwsAsync(ob.append({ topic: 'E', payload: new Uint8Array(0), priority: 'emergency' }), { code: 'OUTBOX_FULL' });
  t.is(ob.size, 3);
  await ob.close();
});

test('OUTBOX_TOO_LARGE over 256 KiB; OUTBOX_BAD_INPUT names the field; OUTBOX_CLOSED after close', async (t) => {
  const ob = await Outbox.open(tmp(t));
  await ob.append({ topic: 'x', payload: new Uint8Array(256 * 1024) });
  await t.throwsAsync(ob.append({ topic: 'x', payload: new Uint8Array(256 * 1024 + 1) }), { code: 'OUTBOX_TOO_LARGE' });
  const bad: [unknown, RegExp][] = [
    [{ topic: '', payload: new Uint8Array(1) }, /^topic/],
    [{ topic: 'a/+', payload: new Uint8Array(1) }, /^topic/],
    [{ topic: 'a/#', payload: new Uint8Array(1) }, /^topic/],
    [{ topic: 'x'.repeat(65536), payload: new Uint8Array(1) }, /^topic/],
    [{ topic: 'é'.repeat(32768), payload: new Uint8Array(1) }, /^topic/], // 65,536 UTF-8 bytes
    [{ topic: 'a/\uD800', payload: new Uint8Array(1) }, /^topic/],
    [{ topic: 'x', payload: 'text' }, /^payload/],
    [{ topic: 'x', payload: new Uint8Array(1), priority: 'urgent' }, /^priority/],
    [{ topic: 'x', payload: new Uint8Array(1), retain: 1 }, /^retain/],
    [{ topic: 'x', payload: new Uint8Array(1), qos: 3 }, /^qos/],
    [{ topic: 'x', payload: new Uint8Array(1), id: new Uint8Array(15) }, /^id/],
  ];
  for (const [msg, re] of bad) {
    const e = await t.throwsAsync(ob.append(msg as Parameters<Outbox['append']>[0]), { code: 'OUTBOX_BAD_INPUT' });
    t.regex(e?.message ?? '', re);
  }
  await t.throwsAsync(ob.ack(new Uint8Array(3)), { code: 'OUTBOX_BAD_INPUT', message: /^id/ });
  t.throws(() => ob.pending(-1), { code: 'OUTBOX_BAD_INPUT', message: /^limit/ });
  t.is(ob.size, 1, 'nothing written by a refused append');
  await ob.close();
  await t.throwsAsync(ob.append({ topic: 'x', payload: new Uint8Array(1) }), { code: 'OUTBOX_CLOSED' });
  await t.throwsAsync(ob.ack(new Uint8Array(16)), { code: 'OUTBOX_CLOSED' });
  t.throws(() => ob.pending(), { code: 'OUTBOX_CLOSED' });
  const badOptions: [OutboxOptions, RegExp][] = [
    [{ maxRecords: 0 }, /^maxRecords/],
    [{ maxBytes: 1.5 }, /^maxBytes/],
    [{ maxAgeMs: -1 }, /^maxAgeMs/],
    [{ emergencyMaxBytes: 0 }, /^emergencyMaxBytes/],
    [{ fsync: 'never' as 'always' }, /^fsync/],
    [{ clock: 5 as unknown as () => number }, /^clock/],
  ];
  for (const [o, re] of badOptions) await t.throwsAsync(Outbox.open(tmp(t), o), { code: 'OUTBOX_BAD_INPUT', message: re });
  t.deepEqual(Object.keys(OUTBOX_ERROR_CODES).sort(), [
    'OUTBOX_BAD_INPUT',
    'OUTBOX_CLOSED',
    'OUTBOX_FULL',
    'OUTBOX_IO',
    'OUTBOX_LOCKED',
    'OUTBOX_TOO_LARGE',
  ]);
});

test('compaction keeps exactly the live entries, in order, seq never goes back; automatic past the floor', async (t) => {
  const path = tmp(t);
  const ob = await Outbox.open(path, { compactMinBytes: 0 });
  const live: OutboxEntry[] = [];
  for (let i = 0; i < 50; i++) {
    const { entry } = await ob.append({
      topic: `t/${i}`,
      payload: new Uint8Array(100).fill(i),
      priority: i % 7 ? 'normal' : 'emergency',
    });
    if (i % 3 === 0) live.push(entry);
    else await ob.ack(entry.id);
  }
  // dead > live and > 0 bytes: it compacted on its own along the way
  t.true(statSync(path).size < 50 * 130, `file is ${statSync(path).size} bytes`);
  await ob.compact();
  t.deepEqual(ob.pending(), live);
  t.is(ob.stats().fileBytes, statSync(path).size);
  await ob.close();
  const again = await Outbox.open(path);
  t.deepEqual(again.pending(), live);
  t.is((await again.append({ topic: 'x', payload: new Uint8Array(1) })).entry.seq, 50, 'after an acked tail, seq continues');
  await again.close();
  t.deepEqual(
    (await import('node:fs')).readdirSync(join(path, '..')).filter((n) => n.includes('compact')),
    [],
    'no temporary file left',
  );
});

test('compaction does not happen below compactMinBytes', async (t) => {
  const path = tmp(t);
  const ob = await Outbox.open(path); // 1 MiB floor
  for (let i = 0; i < 20; i++) await ob.ack((await ob.append({ topic: 't', payload: new Uint8Array(10) })).entry.id);
  t.true(statSync(path).size > 20 * 40);
  await ob.close();
});

test('a leftover compaction temp file (a kill during compaction) is removed at open', async (t) => {
  const path = tmp(t);
  const leftover = join(path, '..', '.outbox.log.compact-tmp');
  writeFileSync(leftover, 'half');
  const ob = await Outbox.open(path);
  t.false(existsSync(leftover));
  await ob.close();
});

test('lock: a second open of the same file in this process is OUTBOX_LOCKED; released by close', async (t) => {
  const path = tmp(t);
  const ob = await Outbox.open(path);
  await t.throwsAsync(Outbox.open(path), { code: 'OUTBOX_LOCKED' });
  await t.throwsAsync(Outbox.open(join(path, '..', '.', 'outbox.log')), { code: 'OUTBOX_LOCKED' });
  t.is(readFileSync(`${path}.lock`, 'utf8').split(' ')[0]?.trim(), String(process.pid));
  await ob.close();
  t.false(existsSync(`${path}.lock`));
  const again = await Outbox.open(path);
  await again.close();
});

test('lock: a stale lock (dead PID, reused PID, our own PID) is taken over; a live PID is OUTBOX_LOCKED naming it', async (t) => {
  const path = tmp(t);
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const deadPid = Number(dead.stdout);
  t.true(deadPid > 0);
  writeFileSync(`${path}.lock`, `${deadPid}\n`);
  const ob = await Outbox.open(path);
  t.is(readFileSync(`${path}.lock`, 'utf8').split(' ')[0]?.trim(), String(process.pid));
  await ob.close();
  writeFileSync(`${path}.lock`, `${process.ppid}\n`); // our parent: alive
  const e = await t.throwsAsync(Outbox.open(path, { lockTimeoutMs: 50 }), { code: 'OUTBOX_LOCKED' });
  t.regex(e?.message ?? '', new RegExp(`process ${process.ppid}\\b`));
  rmSync(`${path}.lock`);
  if (existsSync(`/proc/${process.ppid}/stat`)) {
    // a live PID that started at another time than the lock says: the PID was reused, the lock is stale
    writeFileSync(`${path}.lock`, `${process.ppid} 1\n`);
    const reused = await Outbox.open(path);
    await reused.close();
  }
  writeFileSync(`${path}.lock`, `${process.pid}\n`); // our own PID, not held here: a leftover of a process with our PID
  const own = await Outbox.open(path);
  await own.close();
});

test('CRC-32C (the entry check) matches the RFC 3720 §B.4 test vectors and the check value', (t) => {
  t.is(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  t.is(crc32c(new Uint8Array(32)), 0x8a9136aa);
  t.is(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  t.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  t.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
});

test('a failed write: the append rejects OUTBOX_IO, the outbox refuses further work, reopening recovers what was synced', async (t) => {
  const path = tmp(t);
  const ob = await Outbox.open(path);
  const kept = (await ob.append({ topic: 'a', payload: Uint8Array.of(1) })).entry;
  // swap the file descriptor for a read-only one: the next write fails (EBADF) as a full disk would
  const { openSync, closeSync } = await import('node:fs');
  const internals = ob as unknown as { fd: number };
  const appendFd = internals.fd;
  internals.fd = openSync(path, 'r');
  const e = await t.throwsAsync(ob.append({ topic: 'secret/topic', payload: Uint8Array.of(2) }), { code: 'OUTBOX_IO' });
  t.false((e?.message ?? '').includes('secret'), 'no topic in the message');
  await t.throwsAsync(ob.append({ topic: 'c', payload: Uint8Array.of(3) }), { code: 'OUTBOX_IO' });
  await t.throwsAsync(ob.ack(kept.id), { code: 'OUTBOX_IO' });
  t.throws(() => ob.pending(), { code: 'OUTBOX_IO' });
  await ob.close(); // closes the read-only fd and releases the lock
  closeSync(appendFd);
  const again = await Outbox.open(path);
  t.deepEqual(again.pending(), [kept]);
  t.deepEqual(again.report, { recovered: 1, quarantined: 0, quarantinedBytes: 0, tornTailBytes: 0 });
  await again.close();
});

test("fsync 'batch' groups the appends of one tick into one write + fsync (they resolve together); 'always' syncs each", async (t) => {
  for (const fsync of ['batch', 'always'] as const) {
    const ob = await Outbox.open(tmp(t), { fsync });
    let turn = 0;
    let spinning = true;
    const spin = () => {
      turn++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    const turns: number[] = [];
    const fileBefore = ob.stats().fileBytes;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => ob.append({ topic: 't', payload: Uint8Array.of(i) }).then(() => turns.push(turn))),
    );
    spinning = false;
    const distinct = new Set(turns).size;
    if (fsync === 'batch') t.is(distinct, 1, 'all 20 resolved after the same sync');
    else t.true(distinct >= 10, `one sync each: resolved over ${distinct} loop turns`);
    t.true(ob.stats().fileBytes > fileBefore);
    await ob.close();
  }
});
