/**
 * `enigm audit append | show | verify` (tools/src/commands/audit.ts) through the CLI plumbing:
 * append signs and syncs records (keys from files only), show renders a table or JSON lines with
 * key ids and never key material, verify exits 0 for an intact log and 1 with the kind and record
 * index for an edit, a deletion, a torn tail, an unknown signer and a cut against --expect-head;
 * append refuses a torn log until --repair; bad option values exit 2, a missing file exits 1.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_FILE_HEADER, encodeAuditFrame, scanAuditFrames } from '@enigm/attestation';
import { toHex } from '@enigm/protocols/bytes';
import { ed25519PrivateKeyToPem, ed25519PublicKey, ed25519PublicKeyToPem } from '@enigm/protocols/crypto';
import test from 'ava';
import { auditCommands } from '../src/commands/audit.ts';
import { runCommand } from './run-command.ts';

let dir = '';
const p = (name: string): string => join(dir, name);
const enigm = (...argv: string[]) => runCommand(auditCommands, argv);
const seed = new Uint8Array(32).fill(5);
const otherSeed = new Uint8Array(32).fill(6);
const pub = ed25519PublicKey(seed);

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'enigm-audit-cli-'));
  writeFileSync(p('op.key'), ed25519PrivateKeyToPem(seed), { mode: 0o600 });
  writeFileSync(p('op.pub'), ed25519PublicKeyToPem(pub));
  writeFileSync(p('other.pub'), ed25519PublicKeyToPem(ed25519PublicKey(otherSeed)));
});
test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function appendThree(log: string): Promise<void> {
  const entries = [
    ['--op', 'key.enroll', '--handle', '7f3a9c2e', '--decision', 'allowed'],
    ['--op', 'key.suspend', '--handle', '7f3a9c2e', '--decision', 'refused', '--reason', 'KEY_WRONG_STATE'],
    ['--op', 'ca.rotate', '--decision', 'allowed', '--role', 'ca-operator'],
  ];
  for (const e of entries) {
    const r = await enigm('audit', 'append', '--key', p('op.key'), ...e, log);
    if (r.code !== 0) throw new Error(`append failed: ${r.stderr}`);
  }
}

test.serial('append, show (table and JSON lines) and verify an intact log; no key material printed', async (t) => {
  const log = p('a.audit');
  const first = await enigm(
    'audit',
    'append',
    '--key',
    p('op.key'),
    '--op',
    'key.enroll',
    '--handle',
    'h-1',
    '--decision',
    'allowed',
    '--json',
    log,
  );
  t.is(first.code, 0, first.stderr);
  const j = JSON.parse(first.stdout) as { ok: boolean; seq: number; actor: string; hash: string };
  t.true(j.ok);
  t.is(j.seq, 0);
  t.regex(j.actor, /^[0-9a-f]{16}$/);
  await appendThree(log);

  const show = await enigm('audit', 'show', log);
  t.is(show.code, 0, show.stderr);
  const lines = show.stdout.trim().split('\n');
  t.is(lines.length, 5);
  t.regex(lines[0] as string, /^SEQ +TIME +ROLE +ACTOR +OP +HANDLE +DECISION +REASON$/);
  t.regex(lines[2] as string, /^1 +\d{4}-\d\d-\d\dT[\d:.]+Z +operator +[0-9a-f]{16} +key\.enroll +7f3a9c2e +allowed$/);
  t.regex(lines[3] as string, /key\.suspend +7f3a9c2e +refused +KEY_WRONG_STATE$/);
  t.regex(lines[4] as string, / ca-operator .* ca\.rotate +- +allowed$/);

  const json = await enigm('audit', 'show', '--json', log);
  t.is(json.code, 0);
  const rows = json.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.deepEqual(
    rows.map((r) => r.seq),
    [0, 1, 2, 3],
  );
  t.deepEqual(Object.keys(rows[2] as object), [
    'seq',
    'time',
    'timeMs',
    'role',
    'actor',
    'op',
    'handle',
    'decision',
    'reason',
    'prev',
    'hash',
  ]);
  t.is(rows[1]?.prev, rows[0]?.hash);
  for (const out of [show.stdout, json.stdout, first.stdout]) {
    t.false(out.includes(toHex(pub)), 'no public key');
    t.false(out.includes(toHex(seed)), 'no private key');
    t.false(out.includes(Buffer.from(pub).toString('base64').slice(0, 20)), 'no PEM');
  }

  const v = await enigm('audit', 'verify', '--trust', p('op.pub'), log);
  t.is(v.code, 0, v.stderr);
  t.regex(v.stdout, /^intact: 4 records, signatures checked, 1 signer\(s\); head 3:[0-9a-f]{64} \(seq:hash, for --expect-head\)/);
  const vj = await enigm('audit', 'verify', '--trust', p('op.pub'), '--json', log);
  const report = JSON.parse(vj.stdout) as {
    ok: boolean;
    records: number;
    signatures: string;
    head: { seq: number; hash: string };
  };
  t.deepEqual([report.ok, report.records, report.signatures, report.head.seq], [true, 4, 'checked', 3]);
  t.is(report.head.hash, rows[3]?.hash as string);
  const unchecked = await enigm('audit', 'verify', log);
  t.is(unchecked.code, 0);
  t.regex(unchecked.stderr, /signatures not checked/);
  t.is((await enigm('audit', 'verify', '--trust', p('op.pub'), '--expect-head', `3:${report.head.hash}`, log)).code, 0);
});

test.serial('verify: an edit, a deletion, an unknown signer and a boundary cut exit 1 with kind and index', async (t) => {
  const log = p('b.audit');
  await appendThree(log);
  const bytes = readFileSync(log);

  const edited = Buffer.from(bytes);
  edited[edited.indexOf('key.suspend') + 4] = 0x53; // key.suspend → key.Suspend
  writeFileSync(p('edited.audit'), edited);
  const e = await enigm('audit', 'verify', '--trust', p('op.pub'), p('edited.audit'));
  t.is(e.code, 1);
  t.regex(e.stdout, /^NOT INTACT: edited at record 1 \(offset \d+\)/);
  const ej = await enigm('audit', 'verify', '--trust', p('op.pub'), '--json', p('edited.audit'));
  t.is(ej.code, 1);
  t.like(JSON.parse(ej.stdout), { ok: false, records: 1, problem: { kind: 'edited', index: 1 } });
  const es = await enigm('audit', 'show', p('edited.audit'));
  t.is(es.code, 1);
  t.regex(es.stderr, /edited at record 1/);

  const frames = scanAuditFrames(bytes).frames.map((f) => f.bytes);
  writeFileSync(
    p('deleted.audit'),
    Buffer.concat([AUDIT_FILE_HEADER, encodeAuditFrame(frames[0] as Uint8Array), encodeAuditFrame(frames[2] as Uint8Array)]),
  );
  const d = await enigm('audit', 'verify', '--trust', p('op.pub'), '--json', p('deleted.audit'));
  t.is(d.code, 1);
  t.like(JSON.parse(d.stdout), { problem: { kind: 'deleted', index: 1 } });

  const u = await enigm('audit', 'verify', '--trust', p('other.pub'), log);
  t.is(u.code, 1);
  t.regex(u.stdout, /unknown-signer at record 0/);

  const head = JSON.parse((await enigm('audit', 'verify', '--trust', p('op.pub'), '--json', log)).stdout).head as {
    seq: number;
    hash: string;
  };
  const cut = bytes.subarray(0, scanAuditFrames(bytes).frames[2]?.offset);
  writeFileSync(p('cut.audit'), cut);
  t.is(
    (await enigm('audit', 'verify', '--trust', p('op.pub'), p('cut.audit'))).code,
    0,
    'a boundary cut alone looks like a shorter log',
  );
  const c = await enigm('audit', 'verify', '--trust', p('op.pub'), '--expect-head', `${head.seq}:${head.hash}`, p('cut.audit'));
  t.is(c.code, 1);
  t.regex(c.stdout, /truncated at record 2/);
});

test.serial('a torn tail: verify reports it, append refuses until --repair, which records the repair', async (t) => {
  const log = p('c.audit');
  await appendThree(log);
  const size = readFileSync(log).length;
  truncateSync(log, size - 7);
  const v = await enigm('audit', 'verify', '--trust', p('op.pub'), log);
  t.is(v.code, 1);
  t.regex(v.stdout, /torn-tail at record 2/);
  const refused = await enigm('audit', 'append', '--key', p('op.key'), '--op', 'key.enroll', '--decision', 'allowed', log);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /AUDIT_LOG_TORN/);
  const repaired = await enigm(
    'audit',
    'append',
    '--key',
    p('op.key'),
    '--op',
    'key.enroll',
    '--decision',
    'allowed',
    '--repair',
    log,
  );
  t.is(repaired.code, 0, repaired.stderr);
  t.regex(repaired.stdout, /appended seq 3 /);
  const show = await enigm('audit', 'show', '--json', log);
  const ops = show.stdout
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { op: string }).op);
  t.deepEqual(ops, ['key.enroll', 'key.suspend', 'audit.repair', 'key.enroll']);
  t.is((await enigm('audit', 'verify', '--trust', p('op.pub'), log)).code, 0);
});

test.serial('misuse exits 2; a missing file or key exits 1', async (t) => {
  const log = p('d.audit');
  const base = ['audit', 'append', '--key', p('op.key')];
  const usage = [
    [...base, '--decision', 'allowed', log],
    [...base, '--op', 'key.enroll', log],
    [...base, '--op', 'key.enroll', '--decision', 'maybe', log],
    [...base, '--op', 'Key Enroll', '--decision', 'allowed', log],
    [...base, '--op', 'key.enroll', '--decision', 'allowed', '--handle', toHex(pub), log],
    [...base, '--op', 'key.enroll', '--decision', 'allowed', '--reason', 'contact alice@example.org', log],
    [...base, '--op', 'key.enroll', '--decision', 'allowed', '--reason', `key ${toHex(seed)}`, log],
    ['audit', 'append', '--op', 'key.enroll', '--decision', 'allowed', log],
    ['audit', 'verify'],
    ['audit', 'verify', '--expect-head', '3:zz', log],
  ];
  for (const argv of usage) {
    const r = await enigm(...argv);
    t.is(r.code, 2, argv.join(' '));
    t.false(r.stderr.includes(toHex(seed)), 'a refused reason is not echoed');
  }
  const refusedReason = await enigm(
    ...base,
    '--op',
    'key.enroll',
    '--decision',
    'allowed',
    '--reason',
    'contact alice@example.org',
    log,
  );
  t.regex(refusedReason.stderr, /AUDIT_FIELD_REFUSED/);
  const missing = await enigm('audit', 'verify', p('nope.audit'));
  t.is(missing.code, 1);
  t.regex(missing.stderr, /INPUT_NOT_FOUND/);
  const noKey = await enigm('audit', 'append', '--key', p('nope.key'), '--op', 'key.enroll', '--decision', 'allowed', log);
  t.is(noKey.code, 1);
  t.regex(noKey.stderr, /INPUT_NOT_FOUND/);
  const help = await enigm('audit', 'append', '--help');
  t.is(help.code, 0);
  t.regex(help.stdout, /never a key on the command/);
});
