/**
 * Checks `enigm contact keygen | set-make | open` (tools/src/commands/contact.ts) through the CLI
 * plumbing: keygen writes PREFIX.key (0600) and PREFIX.pub and refuses to overwrite; set-make
 * signs a set the library verifies (aliases checked, bad files exit 1, misuse exit 2); open
 * verifies and decrypts an event given as binary files or hex lines in any order, reports gaps,
 * duplicates, late records and the end, finds the contact's index by itself, refuses a record
 * for another set version or a foreign Key (exit 1), and --json gives one line per input.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '@enigm/protocols/bytes';
import { ed25519Generate, ed25519PrivateKeyToPem } from '@enigm/protocols/crypto';
import { type ContactSet, createEventStart, type EventBody, sealEventRecord, verifyContactSet } from '@enigm/protocols/emergency';
import test from 'ava';
import { contactCommands } from '../src/commands/contact.ts';
import { runCommand } from './run-command.ts';

let dir = '';
const p = (name: string): string => join(dir, name);
const enigm = (...argv: string[]) => runCommand(contactCommands, argv);
const owner = ed25519Generate();
const identity = ed25519Generate();

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'enigm-contact-cli-'));
  writeFileSync(p('owner.key'), ed25519PrivateKeyToPem(owner.seed));
  for (const name of ['alice', 'bob']) {
    const r = await enigm('contact', 'keygen', '--out', p(name));
    if (r.code !== 0) throw new Error(`keygen failed: ${r.stderr}`);
  }
});

test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Makes contacts.cose (v`version`: alice then bob) and returns the set. */
async function makeSet(version: number, file = 'contacts.cose'): Promise<ContactSet> {
  const r = await enigm(
    'contact',
    'set-make',
    '--owner-key',
    p('owner.key'),
    '--version',
    String(version),
    '--contact',
    `sister=${p('alice.pub')}`,
    '--contact',
    `neighbour_1=${p('bob.pub')}`,
    '--issued-at',
    '1700000000000',
    '--out',
    p(file),
  );
  if (r.code !== 0) throw new Error(`set-make failed: ${r.stderr}`);
  return verifyContactSet(readFileSync(p(file)), { trustedSigner: owner.publicKey }).set;
}

const at = (i: number): EventBody => ({
  kind: 'location',
  location: { lat: 45.76 + i / 1000, lon: 4.83, accuracyM: 9, fixTime: 1_700_000_000_000 + i },
});

/** An event sealed to `set`: start + n location records + end, each written as FILE. */
async function writeEvent(
  set: ContactSet,
  n: number,
  prefix: string,
  outcome: 'cancelled' | 'resolved' | 'revoked' = 'resolved',
) {
  const st = createEventStart(
    { contactSetVersion: set.version, time: 1_700_000_000_000, reason: 'gesture' },
    { seed: identity.seed },
  );
  writeFileSync(p(`${prefix}-start.cbor`), st.bytes);
  const recs: Uint8Array[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const b = await sealEventRecord({ eventId: st.start.eventId, seq, time: 1_700_000_001_000 + seq, body: at(seq) }, set, {
      seed: st.eventSeed,
    });
    recs.push(b);
    writeFileSync(p(`${prefix}-${seq}.cbor`), b);
  }
  const end = await sealEventRecord(
    { eventId: st.start.eventId, seq: n + 1, time: 1_700_000_009_000, body: { kind: 'end', end: { outcome } } },
    set,
    { seed: identity.seed },
  );
  writeFileSync(p(`${prefix}-end.cbor`), end);
  return { ...st, recs, end };
}

test.serial('keygen: PREFIX.key (0600, JSON) and PREFIX.pub; refuses to overwrite without --force', async (t) => {
  const r = await enigm('contact', 'keygen', '--out', p('carol'), '--json');
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { ok: boolean; hpkeKey: string; signKey: string; key: string; pub: string };
  t.true(j.ok);
  t.is(statSync(p('carol.key')).mode & 0o777, 0o600);
  const key = JSON.parse(readFileSync(p('carol.key'), 'utf8')) as Record<string, string>;
  const pub = JSON.parse(readFileSync(p('carol.pub'), 'utf8')) as Record<string, string>;
  t.is(key.type, 'enigm-contact-key');
  t.regex(key.hpkePrivateKey ?? '', /^[0-9a-f]{64}$/);
  t.deepEqual(pub, { type: 'enigm-contact-pub', v: 1, hpkeKey: j.hpkeKey, signKey: j.signKey });
  t.is(pub.hpkePrivateKey, undefined);
  const again = await enigm('contact', 'keygen', '--out', p('carol'));
  t.is(again.code, 2);
  t.regex(again.stderr, /exists; use --force/);
  t.is((await enigm('contact', 'keygen', '--out', p('carol'), '--force')).code, 0);
});

test.serial('set-make: a signed set in the given order; bad aliases and files refused', async (t) => {
  const set = await makeSet(3);
  t.is(set.version, 3);
  t.deepEqual(
    set.contacts.map((c) => c.alias),
    ['sister', 'neighbour_1'],
  );
  const alice = JSON.parse(readFileSync(p('alice.pub'), 'utf8')) as { hpkeKey: string };
  t.is(toHex(set.contacts[0]?.hpkeKey ?? new Uint8Array()), alice.hpkeKey);
  const base = ['contact', 'set-make', '--owner-key', p('owner.key'), '--version', '1', '--out', p('x.cose')];
  const badAlias = await enigm(...base, '--contact', `Alice Smith=${p('alice.pub')}`);
  t.is(badAlias.code, 2);
  t.regex(badAlias.stderr, /a-z 0-9 space _ -/);
  t.is((await enigm(...base, '--contact', 'noequals')).code, 2);
  const wrongFile = await enigm(...base, '--contact', `a=${p('alice.key')}`);
  t.is(wrongFile.code, 1);
  t.regex(wrongFile.stderr, /INPUT_INVALID/);
  const missing = await enigm(...base, '--contact', `a=${p('nobody.pub')}`);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /INPUT_NOT_FOUND/);
  t.is((await enigm('contact', 'set-make', '--owner-key', p('owner.key'), '--out', p('x.cose'))).code, 2, '--version missing');
  const dup = await enigm(...base, '--contact', `a=${p('alice.pub')}`, '--contact', `b=${p('alice.pub')}`);
  t.is(dup.code, 1);
  t.regex(dup.stderr, /EMERGENCY_CONTACTS_INVALID: contact set refused: duplicate/);
});

test.serial('open: files in any order, a replay and a gap; the index found by trial; --set gives it too', async (t) => {
  const set = await makeSet(4);
  await writeEvent(set, 4, 'ev');
  const files = ['ev-3.cbor', 'ev-start.cbor', 'ev-1.cbor', 'ev-1.cbor', 'ev-4.cbor', 'ev-end.cbor'].map(p);
  const r = await enigm('contact', 'open', '--key', p('bob.key'), '--identity', toHex(identity.publicKey), ...files);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.regex(lines[0] ?? '', /^start +event [0-9a-f]{32} .* contact set v4 +reason gesture/);
  t.regex(lines[1] ?? '', /^seq 3 +location .* lat 45\.763 lon 4\.83 ±9 m .*\[gap: seq 1, 2 missing\]/);
  t.regex(lines[2] ?? '', /^seq 1 +location .*\[late\]/);
  t.regex(lines[3] ?? '', /^seq 1 +duplicate, dropped$/);
  t.regex(lines[4] ?? '', /^seq 4 +location/);
  t.regex(lines[5] ?? '', /^seq 5 +end .* event ended: resolved/);
  t.regex(lines[6] ?? '', /received 4 record\(s\); missing seq 2; ended \(resolved\)/);
  const withSet = await enigm(
    'contact',
    'open',
    '--key',
    p('alice.key'),
    '--identity',
    toHex(identity.publicKey),
    '--set',
    p('contacts.cose'),
    '--start',
    p('ev-start.cbor'),
    p('ev-2.cbor'),
  );
  t.is(withSet.code, 0, withSet.stderr);
  t.regex(withSet.stdout, /seq 2 +location .*lat 45\.762/);
});

test.serial('open: an event the Key ended because it was revoked says so (outcome revoked), text and --json', async (t) => {
  const set = await makeSet(6);
  await writeEvent(set, 1, 'rv', 'revoked');
  const files = ['rv-start.cbor', 'rv-1.cbor', 'rv-end.cbor'].map(p);
  const r = await enigm('contact', 'open', '--key', p('alice.key'), '--identity', toHex(identity.publicKey), ...files);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^seq 2 +end .* event ended: revoked$/m);
  t.regex(r.stdout, /ended \(revoked\)/);
  const j = await enigm('contact', 'open', '--key', p('alice.key'), '--identity', toHex(identity.publicKey), '--json', ...files);
  t.like(JSON.parse(j.stdout.trim().split('\n').at(-1) as string), { ok: true, ended: 'revoked' });
});

test.serial('open: a file of hex lines and --json, one line per input and a summary', async (t) => {
  const set = await makeSet(5);
  const ev = await writeEvent(set, 2, 'hx');
  writeFileSync(p('hx.txt'), `${[ev.bytes, ...ev.recs, ev.end].map((b) => toHex(b)).join('\n')}\n`);
  const r = await enigm(
    'contact',
    'open',
    '--key',
    p('alice.key'),
    '--identity',
    toHex(identity.publicKey),
    '--index',
    '0',
    '--json',
    p('hx.txt'),
  );
  t.is(r.code, 0, r.stderr);
  const rows = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.deepEqual(
    rows.map((x) => x.type ?? 'summary'),
    ['start', 'record', 'record', 'record', 'summary'],
  );
  t.deepEqual(rows[1]?.body, (at(1) as { location: object }).location);
  t.deepEqual(rows[4], { ok: true, contactIndex: 0, received: [1, 2, 3], missing: [], ended: 'resolved' });
});

test.serial('open: a contact of an older set, a foreign Key, a missing start: refused, exit 1', async (t) => {
  const v6 = await makeSet(6, 'v6.cose');
  const ev = await writeEvent(v6, 1, 'old');
  // alice holds set v5 (contacts.cose was rewritten by the previous test): the record is for v6
  const stale = await enigm(
    'contact',
    'open',
    '--key',
    p('alice.key'),
    '--identity',
    toHex(identity.publicKey),
    '--set',
    p('contacts.cose'),
    p('old-start.cbor'),
    p('old-1.cbor'),
  );
  t.is(stale.code, 1);
  t.regex(stale.stdout, /seq 1 +REFUSED EMERGENCY_NOT_FOR_YOU: .*contact set version 6, you are a contact of version 5/);
  const foreign = await enigm(
    'contact',
    'open',
    '--key',
    p('alice.key'),
    '--identity',
    toHex(ed25519Generate().publicKey),
    '--index',
    '0',
    p('old-start.cbor'),
  );
  t.is(foreign.code, 1);
  t.regex(foreign.stdout, /REFUSED EMERGENCY_RECORD_INVALID: event start: not signed by this Key/);
  const noStart = await enigm(
    'contact',
    'open',
    '--key',
    p('alice.key'),
    '--identity',
    toHex(identity.publicKey),
    '--index',
    '0',
    p('old-1.cbor'),
  );
  t.is(noStart.code, 1);
  t.regex(noStart.stderr, /no event start among the inputs/);
  t.truthy(ev.recs.length);
  const usage = await enigm('contact', 'open', '--key', p('alice.key'), '--identity', toHex(identity.publicKey));
  t.is(usage.code, 2);
  const badKey = await enigm(
    'contact',
    'open',
    '--key',
    p('alice.pub'),
    '--identity',
    toHex(identity.publicKey),
    p('old-1.cbor'),
  );
  t.is(badKey.code, 1);
  t.regex(badKey.stderr, /INPUT_INVALID/);
});
