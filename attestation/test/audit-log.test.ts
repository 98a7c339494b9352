/**
 * `AuditLog` (attestation/src/audit/log.ts): creation (header only, mode 0600), appends with the
 * injected clock, reopening continues the chain, several actors share a log, the lock (a live
 * holder is AUDIT_LOCKED, a dead holder's lock is taken over), a torn tail is refused
 * (AUDIT_LOG_TORN, the file left alone) until `repair` truncates it and records the repair, a
 * tampered or foreign file is AUDIT_LOG_INVALID, a refused entry writes nothing, a failed write
 * (a file-size limit in a child process) is rolled back and stops the log, and random files never
 * make `open` fail with anything but its typed errors.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AUDIT_FILE_HEADER, AuditLog, auditSignerFromSeed, scanAuditFrames, verifyAuditLog } from '@enigm/attestation';
import test from 'ava';

const station = auditSignerFromSeed('station', new Uint8Array(32).fill(1));
const ca = auditSignerFromSeed('ca-operator', new Uint8Array(32).fill(2));
const trust = { trustedKeys: [station.publicKey, ca.publicKey] };
let dir = '';
let n = 0;
const fresh = () => join(dir, `t${n++}.audit`);
const clockFrom = (start: number) => {
  let now = start;
  return () => now++;
};

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'enigm-audit-log-'));
});
test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('open creates the log (header only, 0600); appends use the clock; reopen continues the chain', async (t) => {
  const path = fresh();
  const log = await AuditLog.open(path, { signer: station, clock: clockFrom(1000) });
  t.deepEqual(new Uint8Array(readFileSync(path)), AUDIT_FILE_HEADER);
  t.is(statSync(path).mode & 0o777, 0o600);
  t.true(existsSync(`${path}.lock`));
  const a = log.append({ op: 'key.enroll', handle: 'h-1', decision: 'allowed' });
  const b = log.append({ op: 'key.suspend', handle: 'h-1', decision: 'refused', reason: 'KEY_WRONG_STATE' });
  t.is(a.record.seq, 0);
  t.is(a.record.time, 1000);
  t.is(b.record.seq, 1);
  t.is(b.record.time, 1001);
  t.is(log.length, 2);
  t.is(log.headHash, Buffer.from(b.hash).toString('hex'));
  log.close();
  log.close(); // idempotent
  t.false(existsSync(`${path}.lock`));
  t.throws(() => log.append({ op: 'key.enroll', decision: 'allowed' }), { message: /closed/ });

  const again = await AuditLog.open(path, { signer: ca, clock: clockFrom(5000) });
  t.is(again.length, 2);
  const c = again.append({ op: 'ca.rotate', decision: 'allowed' });
  again.close();
  t.is(c.record.seq, 2);
  t.deepEqual(c.record.prev, b.hash);
  const r = verifyAuditLog(readFileSync(path), trust);
  t.true(r.ok);
  t.is(r.records.length, 3);
  t.is(r.signers.length, 2);
  t.deepEqual(
    r.records.map((x) => x.record.role),
    ['station', 'station', 'ca-operator'],
  );
});

test('a refused entry writes nothing and the log goes on', async (t) => {
  const path = fresh();
  const log = await AuditLog.open(path, { signer: station, clock: clockFrom(1) });
  log.append({ op: 'key.enroll', handle: 'h-1', decision: 'allowed' });
  const size = statSync(path).size;
  t.throws(() => log.append({ op: 'key.enroll', handle: 'x'.repeat(64), decision: 'allowed' }), { code: 'AUDIT_FIELD_REFUSED' });
  t.throws(() => log.append({ op: 'key.enroll', decision: 'maybe' as 'allowed' }), { code: 'AUDIT_FIELD_REFUSED' });
  t.throws(() => log.append({ op: 'key.enroll', decision: 'allowed', reason: 'mail bob@example.com' }), {
    code: 'AUDIT_FIELD_REFUSED',
  });
  t.is(statSync(path).size, size);
  log.append({ op: 'key.retire', handle: 'h-1', decision: 'allowed' });
  log.close();
  t.true(verifyAuditLog(readFileSync(path), trust).ok);
  const badClock = await AuditLog.open(path, { signer: station, clock: () => Number.NaN });
  t.throws(() => badClock.append({ op: 'key.enroll', decision: 'allowed' }), { code: 'AUDIT_FIELD_REFUSED' });
  badClock.close();
});

test('the lock: a live holder is AUDIT_LOCKED; a dead holder is taken over', async (t) => {
  const path = fresh();
  const first = await AuditLog.open(path, { signer: station, clock: clockFrom(1) });
  const e = await t.throwsAsync(AuditLog.open(path, { signer: ca, clock: clockFrom(1), lockTimeoutMs: 100 }), {
    code: 'AUDIT_LOCKED',
  });
  t.regex(e?.message ?? '', new RegExp(`process ${process.pid}`));
  first.close();
  const second = await AuditLog.open(path, { signer: ca, clock: clockFrom(1), lockTimeoutMs: 100 });
  second.close();

  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(`${path}.lock`, dead.stdout);
  const third = await AuditLog.open(path, { signer: station, clock: clockFrom(1), lockTimeoutMs: 100 });
  t.is(readFileSync(`${path}.lock`, 'utf8'), String(process.pid));
  third.close();
});

test('a waiting opener gets the lock when the holder closes', async (t) => {
  const path = fresh();
  const first = await AuditLog.open(path, { signer: station, clock: clockFrom(1) });
  first.append({ op: 'key.enroll', decision: 'allowed' });
  // generous: the wait must outlast the holder however late its close runs on a loaded machine
  const waiting = AuditLog.open(path, { signer: ca, clock: clockFrom(1), lockTimeoutMs: 60_000 });
  setTimeout(() => first.close(), 100);
  const second = await waiting;
  t.is(second.length, 1);
  second.close();
});

test('a torn tail is refused until repair truncates it and records the repair', async (t) => {
  const path = fresh();
  const log = await AuditLog.open(path, { signer: station, clock: clockFrom(1) });
  for (let i = 0; i < 4; i++) log.append({ op: 'key.enroll', handle: `h-${i}`, decision: 'allowed' });
  log.close();
  const full = readFileSync(path);
  const lastOffset = scanAuditFrames(full).frames[3]?.offset as number;
  truncateSync(path, full.length - 10);
  const torn = readFileSync(path);
  const e = await t.throwsAsync(AuditLog.open(path, { signer: station, clock: clockFrom(10) }), { code: 'AUDIT_LOG_TORN' });
  t.regex(e?.message ?? '', new RegExp(`at offset ${lastOffset}`));
  t.deepEqual(readFileSync(path), torn, 'refusing leaves the file as it was');
  t.false(existsSync(`${path}.lock`), 'and releases the lock');

  const repaired = await AuditLog.open(path, { signer: station, clock: clockFrom(10), repair: true });
  t.is(repaired.length, 4);
  repaired.append({ op: 'key.enroll', handle: 'h-3', decision: 'allowed', reason: 're-appended after repair' });
  repaired.close();
  const r = verifyAuditLog(readFileSync(path), trust);
  t.true(r.ok);
  t.deepEqual(
    r.records.map((x) => x.record.op),
    ['key.enroll', 'key.enroll', 'key.enroll', 'audit.repair', 'key.enroll'],
  );
  t.is(r.records[3]?.record.reason, `torn tail of ${torn.length - lastOffset} bytes removed at offset ${lastOffset}`);
});

test('a tampered log, a foreign file and a missing log (create: false) are refused', async (t) => {
  const path = fresh();
  const log = await AuditLog.open(path, { signer: station, clock: clockFrom(1) });
  for (let i = 0; i < 3; i++) log.append({ op: 'key.enroll', handle: `h-${i}`, decision: 'allowed' });
  log.close();
  const bytes = readFileSync(path);
  bytes[bytes.indexOf('h-1') + 2] = 0x39; // h-1 → h-9
  writeFileSync(path, bytes);
  const e = await t.throwsAsync(AuditLog.open(path, { signer: station, clock: clockFrom(1), repair: true }), {
    code: 'AUDIT_LOG_INVALID',
  });
  t.regex(e?.message ?? '', /edited at record 1/);
  t.deepEqual(readFileSync(path), bytes, 'repair never touches a tampered log');

  const foreign = fresh();
  writeFileSync(foreign, 'not an audit log at all');
  await t.throwsAsync(AuditLog.open(foreign, { signer: station, clock: clockFrom(1) }), { code: 'AUDIT_LOG_INVALID' });
  await t.throwsAsync(AuditLog.open(fresh(), { signer: station, clock: clockFrom(1), create: false }), {
    code: 'AUDIT_LOG_INVALID',
  });
  await t.throwsAsync(AuditLog.open(join(dir, 'no-such-dir', 'x.audit'), { signer: station, clock: clockFrom(1) }), {
    code: 'AUDIT_WRITE_FAILED',
  });
});

test('a crash between the repair truncation and its record: the journal makes the next open record it', async (t) => {
  const path = fresh();
  const log = await AuditLog.open(path, { signer: station, clock: clockFrom(1) });
  for (let i = 0; i < 2; i++) log.append({ op: 'key.enroll', handle: `h-${i}`, decision: 'allowed' });
  log.close();
  // as left by a repairer killed after truncating: a clean log and the journal
  writeFileSync(`${path}.repair`, 'torn tail of 17 bytes removed at offset 300\n');
  const next = await AuditLog.open(path, { signer: ca, clock: clockFrom(50) });
  t.is(next.length, 3);
  next.close();
  t.false(existsSync(`${path}.repair`));
  const r = verifyAuditLog(readFileSync(path), trust);
  t.true(r.ok);
  t.is(r.records[2]?.record.op, 'audit.repair');
  t.is(r.records[2]?.record.reason, 'torn tail of 17 bytes removed at offset 300');
  writeFileSync(`${path}.repair`, 'key AbCdEfGhIjKlMnOpQrStUvWxYz012345\n');
  await t.throwsAsync(AuditLog.open(path, { signer: ca, clock: clockFrom(60) }), { code: 'AUDIT_LOG_INVALID' });
});

test('a failed write (file-size limit) is rolled back; the log then refuses appends; the file verifies', async (t) => {
  const path = fresh();
  const fixture = fileURLToPath(new URL('./fixtures/audit-fill.ts', import.meta.url));
  const seedHex = '01'.repeat(32);
  const script = `ulimit -f 4; exec "$0" --import tsx "$1" "$2" "$3"`;
  // asynchronously: a synchronous child would stall the event loop of this file's other tests for its whole run
  const { stdout: out } = await promisify(execFile)('bash', ['-c', script, process.execPath, fixture, path, seedHex], {
    encoding: 'utf8',
  });
  const r = JSON.parse(out) as { appended: number; first: string; second: string };
  t.true(r.appended > 5, out);
  t.is(r.first, 'AUDIT_WRITE_FAILED');
  t.is(r.second, 'AUDIT_WRITE_FAILED');
  const v = verifyAuditLog(readFileSync(path), trust);
  t.true(v.ok, v.problem?.message);
  t.is(v.records.length, r.appended, 'every acknowledged record is there, nothing half-written');
});

test('property: open on random or damaged files fails only with its typed errors, and never changes them', async (t) => {
  const { default: fc } = await import('fast-check');
  const good = fresh();
  const log = await AuditLog.open(good, { signer: station, clock: clockFrom(1) });
  for (let i = 0; i < 3; i++) log.append({ op: 'key.enroll', handle: `h-${i}`, decision: 'allowed' });
  log.close();
  const base = readFileSync(good);
  const allowed = new Set(['AUDIT_LOG_INVALID', 'AUDIT_LOG_TORN']);
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 400 }),
        fc.tuple(fc.nat(base.length), fc.nat(base.length - 1), fc.integer({ min: 1, max: 255 })).map(([cut, at, x]) => {
          const b = Uint8Array.from(base);
          b[at] = (b[at] as number) ^ x;
          return b.subarray(0, Math.max(cut, 1));
        }),
      ),
      async (bytes) => {
        const path = fresh();
        writeFileSync(path, bytes);
        try {
          (await AuditLog.open(path, { signer: station, clock: clockFrom(1) })).close();
          return verifyAuditLog(bytes).ok;
        } catch (e) {
          const code = (e as { code?: string }).code ?? '';
          return allowed.has(code) && Buffer.compare(readFileSync(path), bytes) === 0;
        }
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});
