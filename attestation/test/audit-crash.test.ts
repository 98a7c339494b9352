/**
 * Crash safety of the audit log: a child process appends in a loop (each frame written in 1-byte
 * pieces, so a kill can land inside a record) and is SIGKILLed at random moments, round after
 * round. After every kill the log verifies either clean or with exactly a torn tail at its end;
 * every record fully appended before survives unchanged; the next round's open repairs the torn
 * tail and records the repair. 8 rounds; in every 4th the child stops 5 bytes into a record before
 * the kill, so the torn-tail path is exercised in every run (a random kill tears only about one
 * time in seven: "until 2 torn tails, at most 60 rounds" failed about once in a thousand). And the
 * lock across processes: while the child appends, another process's open is AUDIT_LOCKED naming
 * the child's PID; once the child is killed its lock is stale and taken over.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditLog, auditSignerFromSeed, verifyAuditLog } from '@enigm/attestation';
import { bytesEqual } from '@enigm/protocols/bytes';
import test from 'ava';

const SEED = '11'.repeat(32);
const signer = auditSignerFromSeed('station', new Uint8Array(Buffer.from(SEED, 'hex')));
const fixture = fileURLToPath(new URL('./fixtures/audit-appender.ts', import.meta.url));

/**
 * Starts the appender, waits until it appended for `ms` (or, with `tear`, until it stopped inside a
 * record), kills it with SIGKILL.
 */
async function runAndKill(path: string, ms: number, tear = false): Promise<string> {
  const args = [fixture, path, SEED, '1', ...(tear ? ['tear'] : [])];
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const until = tear ? /\nmid\n/ : /\n/;
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (until.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`appender exited (${code}) before ${tear ? 'mid' : 'ready'}: ${err}`)));
  });
  if (!tear) await new Promise((r) => setTimeout(r, ms));
  child.kill('SIGKILL');
  await exited;
  return out.split('\n')[0]!;
}

test('kill -9 mid-append: the log is clean or has exactly a torn tail; appended records survive', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-audit-crash-'));
  const path = join(dir, 'audit.log');
  const trust = { trustedKeys: [signer.publicKey] };
  let good: Uint8Array[] = [];
  let torn = 0;
  let rounds = 0;
  try {
    while (rounds < 8) {
      rounds++;
      const tear = rounds % 4 === 0;
      const ready = await runAndKill(path, 20 + Math.floor(Math.random() * 200), tear);
      const r = verifyAuditLog(readFileSync(path), trust);
      if (tear) t.false(r.ok, `round ${rounds}: killed 5 bytes into a record`);
      if (!r.ok) {
        t.is(r.problem?.kind, 'torn-tail', `round ${rounds}: ${r.problem?.message}`);
        t.is(r.problem?.index, r.records.length, `round ${rounds}: the torn record is the last one`);
        t.is(r.problem?.offset, r.end);
        torn++;
      }
      t.true(r.records.length >= good.length, `round ${rounds}: no record lost`);
      t.true(
        good.every((b, i) => bytesEqual(b, r.records[i]?.bytes ?? new Uint8Array(0))),
        `round ${rounds}: every earlier record unchanged`,
      );
      t.regex(ready, /^ready \d+$/);
      good = r.records.map((x) => Uint8Array.from(x.bytes));
    }
    t.log(`${rounds} rounds, ${torn} torn tails, ${good.length} records`);
    t.true(torn >= 2, `only ${torn} torn tails in ${rounds} rounds`);
    // the last tear, if any, is still there; a final open repairs it; every tear was recorded
    await runAndKill(path, 50);
    const final = verifyAuditLog(readFileSync(path), trust);
    const repairs = final.records.filter((x) => x.record.op === 'audit.repair').length;
    t.true(repairs >= torn, `${repairs} repair records for ${torn} torn tails`);
    t.true(final.ok || final.problem?.kind === 'torn-tail');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the lock across processes: a live appender excludes others; its lock is taken over once it is killed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-audit-lock-'));
  const path = join(dir, 'audit.log');
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, path, SEED, '64'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const e = await t.throwsAsync(AuditLog.open(path, { signer, clock: Date.now, lockTimeoutMs: 300 }), { code: 'AUDIT_LOCKED' });
    t.regex(e?.message ?? '', new RegExp(`process ${child.pid}\\b`));
    child.kill('SIGKILL');
    await exited;
    const log = await AuditLog.open(path, { signer, clock: Date.now, lockTimeoutMs: 300, repair: true });
    t.true(log.length > 0);
    log.append({ op: 'key.enroll', handle: 'h-after', decision: 'allowed' });
    log.close();
    t.true(verifyAuditLog(readFileSync(path), { trustedKeys: [signer.publicKey] }).ok);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
