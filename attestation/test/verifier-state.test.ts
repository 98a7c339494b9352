/**
 * The verifier state (issue 9, finding 5): single-use challenges with a time to live, nonce
 * sources (challenge, argument, evidence), replay of every accepted quote, Key evidence nonces,
 * and the file store (atomic write, lock, corrupt state).
 */

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromHex, toHex } from '@enigm/protocols/bytes';
import { buildEvidence } from '@enigm/sim/firmware';
import { makeTestKey } from '@enigm/sim/testing';
import test from 'ava';
import { evidenceToJson } from '../src/collect/evidence.ts';
import { makeSoftwareAk, makeSoftwareQuote } from '../src/collect/software-quote.ts';
import { AttestationError } from '../src/errors.ts';
import { ALG_SHA256 } from '../src/hash.ts';
import { appraiseKeyEvidence } from '../src/key/appraise.ts';
import { VerifierStore } from '../src/store/verifier-store.ts';
import { appraiseQuoteWithState } from '../src/verify/stateful.ts';
import {
  emptyVerifierState,
  issueChallenge,
  lookupNonce,
  markNonceUsed,
  NONCE_RETENTION_MS,
  nonceFromHex,
  verifierStateFromJson,
} from '../src/verify/verifier-state.ts';

const ak = makeSoftwareAk('ecc');
const pcrs = new Map([0, 7].map((i) => [i, new Uint8Array(32).fill(i)]));
const expect = { bank: ALG_SHA256, pcrs: [0, 7] };
const policy = { akNames: [toHex(ak.name)] };
const statusOf = (r: { checks: readonly { name: string; status: string }[] }, name: string) =>
  r.checks.find((c) => c.name === name)?.status;

/** A fake clock the test moves by hand. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** Deterministic "random" nonces. */
function counterRandom() {
  let i = 0;
  return (n: number) => new Uint8Array(n).fill(++i);
}

test('a challenge is single use: the first appraisal consumes it, the second is contraindicated', async (t) => {
  const c = clock();
  const store = VerifierStore.memory({ now: c.now, random: counterRandom() });
  const ch = await store.issueChallenge('tpm-quote', { ttlMs: 60_000 });
  t.is(ch.expiresAt - ch.issuedAt, 60_000);
  const evidence = makeSoftwareQuote(ak, { nonce: fromHex(ch.nonce), pcrs, clock: 5000n });
  c.advance(1000);
  const first = await store.appraiseQuote({ evidence, expect, policy, nonce: { from: 'challenge' } });
  t.is(first.status, 'affirming', JSON.stringify(first.checks));
  t.is(statusOf(first, 'challenge'), 'affirming');
  t.is(first.nonceStatus, 'pending');
  const second = await store.appraiseQuote({ evidence, expect, policy, nonce: { from: 'challenge' } });
  t.is(second.status, 'contraindicated');
  t.is(statusOf(second, 'challenge'), 'contraindicated');
  t.regex(second.checks.find((x) => x.name === 'challenge')!.reason, /already used/);
  t.is(statusOf(second, 'replay'), 'contraindicated');
  // naming the nonce explicitly does not help either
  const third = await store.appraiseQuote({ evidence, expect, policy, nonce: { from: 'argument', nonce: fromHex(ch.nonce) } });
  t.is(third.status, 'contraindicated');
});

test('a challenge past its TTL is contraindicated (expired), also when given explicitly', async (t) => {
  const c = clock();
  const store = VerifierStore.memory({ now: c.now, random: counterRandom() });
  const ch = await store.issueChallenge('tpm-quote', { ttlMs: 30_000 });
  const evidence = makeSoftwareQuote(ak, { nonce: fromHex(ch.nonce), pcrs });
  c.advance(30_001);
  const r = await store.appraiseQuote({ evidence, expect, policy, nonce: { from: 'argument', nonce: fromHex(ch.nonce) } });
  t.is(r.status, 'contraindicated');
  t.is(r.nonceStatus, 'expired');
  t.regex(r.checks.find((x) => x.name === 'challenge')!.reason, /expired/);
  // exactly at the TTL it is still valid
  const ch2 = await store.issueChallenge('tpm-quote', { ttlMs: 30_000 });
  c.advance(30_000);
  const ok = await store.appraiseQuote({
    evidence: makeSoftwareQuote(ak, { nonce: fromHex(ch2.nonce), pcrs, clock: 9000n }),
    expect,
    policy,
    nonce: { from: 'challenge' },
  });
  t.is(ok.status, 'affirming', JSON.stringify(ok.checks));
});

test('an expired challenge is remembered (never becomes an unknown nonce) until its retention ends', (t) => {
  const nonce = new Uint8Array(32).fill(7);
  const { state } = issueChallenge(emptyVerifierState(), { nonce, purpose: 'tpm-quote', now: 0, ttlMs: 1000 });
  t.is(lookupNonce(state, nonce, 'tpm-quote', 1001).status, 'expired');
  t.is(lookupNonce(state, nonce, 'tpm-quote', 1000 + NONCE_RETENTION_MS).status, 'expired');
  t.is(lookupNonce(state, nonce, 'key-evidence', 10).status, 'wrong-purpose');
  const used = markNonceUsed(state, nonce, 500);
  t.is(lookupNonce(used, nonce, 'tpm-quote', 600).status, 'used');
  t.throws(() => issueChallenge(used, { nonce, purpose: 'tpm-quote', now: 600 }), {
    instanceOf: AttestationError,
    code: 'NONCE_INVALID',
  });
});

test('without a challenge the quote is contraindicated; the evidence nonce gives at best a warning and is single use', (t) => {
  const nonce = new Uint8Array(32).fill(1);
  const evidence = makeSoftwareQuote(ak, { nonce, pcrs });
  const none = appraiseQuoteWithState(emptyVerifierState(), { evidence, expect, policy, nonce: { from: 'challenge' }, now: 0 });
  t.is(none.result.status, 'contraindicated');
  t.deepEqual(none.state.used, [], "an attester's unknown nonce is not recorded");
  t.regex(none.result.checks.find((x) => x.name === 'challenge')!.reason, /no challenge issued by this verifier/);
  const ev = appraiseQuoteWithState(emptyVerifierState(), { evidence, expect, policy, nonce: { from: 'evidence' }, now: 0 });
  t.is(ev.result.status, 'warning', JSON.stringify(ev.result.checks));
  t.is(statusOf(ev.result, 'challenge'), 'warning');
  // with a pending challenge behind it, still no better than warning
  const issued = issueChallenge(emptyVerifierState(), { nonce, purpose: 'tpm-quote', now: 0 }).state;
  t.is(
    appraiseQuoteWithState(issued, { evidence, expect, policy, nonce: { from: 'evidence' }, now: 1 }).result.status,
    'warning',
  );
  const again = appraiseQuoteWithState(ev.state, { evidence, expect, policy, nonce: { from: 'evidence' }, now: 1 });
  t.is(again.result.status, 'contraindicated');
});

test('replaying every previously accepted quote is contraindicated (issue 9 regression)', async (t) => {
  const c = clock();
  const store = VerifierStore.memory({ now: c.now, random: counterRandom() });
  const accepted = [];
  // quotes over a reboot (resetCount +1, clock back to small) and a resume (restartCount +1)
  const states = [
    { clock: 1000n, resetCount: 1, restartCount: 0 },
    { clock: 2000n, resetCount: 1, restartCount: 0 },
    { clock: 50n, resetCount: 2, restartCount: 0 },
    { clock: 40n, resetCount: 2, restartCount: 1 },
    { clock: 900n, resetCount: 2, restartCount: 1 },
  ];
  for (const s of states) {
    const ch = await store.issueChallenge('tpm-quote');
    const evidence = makeSoftwareQuote(ak, { nonce: fromHex(ch.nonce), pcrs, ...s });
    c.advance(100);
    const r = await store.appraiseQuote({ evidence, expect, policy, nonce: { from: 'challenge' } });
    t.is(r.status, 'affirming', JSON.stringify(r.checks));
    accepted.push({ evidence, nonce: fromHex(ch.nonce) });
  }
  for (const [i, a] of accepted.entries()) {
    for (const nonce of [{ from: 'challenge' as const }, { from: 'argument' as const, nonce: a.nonce }]) {
      const r = await store.appraiseQuote({ evidence: a.evidence, expect, policy, nonce });
      t.is(r.status, 'contraindicated', `quote ${i} replayed (${nonce.from})`);
      t.is(statusOf(r, 'replay'), 'contraindicated', `quote ${i} replay check`);
    }
    // even with a fresh challenge, re-presenting an old quote is refused by the replay check
    await store.issueChallenge('tpm-quote');
    const r = await store.appraiseQuote({ evidence: a.evidence, expect, policy, nonce: { from: 'evidence' } });
    t.is(r.status, 'contraindicated');
  }
});

test('the PCR selection remembered with the challenge binds the quote, not the list in the evidence file', async (t) => {
  const store = VerifierStore.memory({ random: counterRandom() });
  const ch = await store.issueChallenge('tpm-quote', { pcrs: [7, 0] });
  t.deepEqual(ch.pcrs, [0, 7]);
  // the attester quotes PCR 0 only and its evidence file claims that is what was asked
  const less = makeSoftwareQuote(ak, { nonce: fromHex(ch.nonce), pcrs: new Map([[0, pcrs.get(0)!]]) });
  const r = await store.appraiseQuote({ evidence: less, evidencePcrs: [0], policy, nonce: { from: 'challenge' } });
  t.is(r.status, 'contraindicated');
  t.is(statusOf(r, 'pcr-selection'), 'contraindicated');
  t.deepEqual(r.selection, { bank: ALG_SHA256, pcrs: [0, 7], from: 'challenge' });
  // without a selection in the challenge, the evidence list is used and the result says so
  const ch2 = await store.issueChallenge('tpm-quote');
  const r2 = await store.appraiseQuote({
    evidence: makeSoftwareQuote(ak, { nonce: fromHex(ch2.nonce), pcrs, clock: 7777n }),
    evidencePcrs: [0, 7],
    policy,
    nonce: { from: 'challenge' },
  });
  t.is(r2.status, 'affirming', JSON.stringify(r2.checks));
  t.is(r2.selection.from, 'evidence');
});

test('Key evidence: the verifier nonce must be a pending key-evidence challenge; single use; TTL bounds freshness', async (t) => {
  const c = clock();
  const { fw } = makeTestKey();
  const identity = fw.secureElement.identityPublicKey;
  const store = VerifierStore.memory({ now: c.now, random: counterRandom() });
  const ch = await store.issueChallenge('key-evidence', { ttlMs: 5000 });
  const nonce = fromHex(ch.nonce);
  const evidence = buildEvidence(fw, nonce, 'owner');
  c.advance(10);
  const first = await store.appraiseKeyEvidence({ evidence, nonce, identity });
  t.not(first.status, 'contraindicated', JSON.stringify(first.checks));
  t.is(statusOf(first, 'challenge'), 'affirming');
  t.is(statusOf(first, 'freshness'), 'affirming');
  const second = await store.appraiseKeyEvidence({ evidence, nonce, identity });
  t.is(second.status, 'contraindicated');
  t.is(statusOf(second, 'challenge'), 'contraindicated');
  // a nonce this verifier never issued
  const foreign = new Uint8Array(32).fill(0xee);
  const f = await store.appraiseKeyEvidence({ evidence: buildEvidence(fw, foreign, 'owner'), nonce: foreign, identity });
  t.is(f.status, 'contraindicated');
  // late: past the TTL
  const late = await store.issueChallenge('key-evidence', { ttlMs: 5000 });
  c.advance(5001);
  const l = await store.appraiseKeyEvidence({
    evidence: buildEvidence(fw, fromHex(late.nonce), 'owner'),
    nonce: fromHex(late.nonce),
    identity,
  });
  t.is(l.status, 'contraindicated');
  // a TPM-quote challenge cannot be used for Key evidence
  const q = await store.issueChallenge('tpm-quote');
  const w = await store.appraiseKeyEvidence({
    evidence: buildEvidence(fw, fromHex(q.nonce), 'owner'),
    nonce: fromHex(q.nonce),
    identity,
  });
  t.is(statusOf(w, 'challenge'), 'contraindicated');
});

test('Key evidence: an empty verifier nonce is contraindicated, whatever the evidence carries', (t) => {
  const { fw } = makeTestKey();
  const evidence = buildEvidence(fw, new Uint8Array(32).fill(5), 'owner');
  const r = appraiseKeyEvidence({ evidence, nonce: new Uint8Array(0), identity: fw.secureElement.identityPublicKey });
  t.is(r.status, 'contraindicated');
  t.regex(r.checks.find((x) => x.name === 'nonce')!.reason, /no verifier nonce/);
});

test('file store: state survives, is written atomically (no temp files left), and a legacy clock map is read', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-verifier-state-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'state.json');
  const c = clock();
  const ch = await VerifierStore.file(path, { now: c.now }).issueChallenge('tpm-quote');
  t.is(ch.nonce.length, 64);
  const evidence = makeSoftwareQuote(ak, { nonce: fromHex(ch.nonce), pcrs });
  const other = VerifierStore.file(path, { now: c.now });
  t.is((await other.appraiseQuote({ evidence, expect, policy, nonce: { from: 'challenge' } })).status, 'affirming');
  t.is((await other.appraiseQuote({ evidence, expect, policy, nonce: { from: 'challenge' } })).status, 'contraindicated');
  t.deepEqual(readdirSync(dir), ['state.json']);
  const withSel = await other.issueChallenge('tpm-quote', { pcrs: [7, 1], bank: ALG_SHA256 });
  const back = (await VerifierStore.file(path).read()).challenges.find((x) => x.nonce === withSel.nonce);
  t.deepEqual(back, withSel, 'the PCR selection survives the file');
  const saved = JSON.parse(readFileSync(path, 'utf8'));
  t.deepEqual(saved.clocks[toHex(ak.name)], { clock: 1000, resetCount: 1, restartCount: 0 });
  // legacy format: a bare map of AK Name → clock state
  writeFileSync(path, JSON.stringify({ [toHex(ak.name)]: { clock: 1000, resetCount: 1, restartCount: 0 } }));
  const legacy = await VerifierStore.file(path).appraiseQuote({
    evidence,
    expect,
    policy,
    nonce: { from: 'argument', nonce: new Uint8Array(fromHex(ch.nonce)) },
  });
  t.is(statusOf(legacy, 'replay'), 'contraindicated');
});

test('file store: corrupt state and a live lock are typed errors; a dead holder is stale', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-verifier-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'state.json');
  writeFileSync(path, '{not json');
  await t.throwsAsync(VerifierStore.file(path).issueChallenge('tpm-quote'), {
    instanceOf: AttestationError,
    code: 'STATE_INVALID',
  });
  writeFileSync(path, JSON.stringify({ version: 1, challenges: [{ nonce: 'zz' }], used: [], clocks: {} }));
  await t.throwsAsync(VerifierStore.file(path).read(), { code: 'STATE_INVALID', message: /challenges\[0\]/ });
  rmSync(path);
  writeFileSync(`${path}.lock`, String(process.pid)); // held by a live process (this one)
  await t.throwsAsync(VerifierStore.file(path, { lockTimeoutMs: 50 }).issueChallenge('tpm-quote'), {
    instanceOf: AttestationError,
    code: 'STATE_LOCKED',
  });
  writeFileSync(`${path}.lock`, ''); // a verifier died before writing its PID: waited for, then stale
  // dated ahead, so that no stall of this process between writing and reading it can make it stale yet
  utimesSync(`${path}.lock`, new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
  await t.throwsAsync(VerifierStore.file(path, { lockTimeoutMs: 50 }).read(), { code: 'STATE_LOCKED' });
  utimesSync(`${path}.lock`, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));
  await VerifierStore.file(path).read();
  writeFileSync(`${path}.lock`, '999999999'); // no such process: stale
  await VerifierStore.file(path).issueChallenge('tpm-quote');
  t.false(existsSync(`${path}.lock`));
  await t.throwsAsync(VerifierStore.file(join(dir, 'missing', 'state.json')).read(), { code: 'STATE_WRITE_FAILED' });
});

test('two verifier processes on one state file never both consume a challenge (the lock)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-verifier-race-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'state.json');
  const store = VerifierStore.file(path);
  const n = 40;
  // n challenges, answered by quotes from n different AKs (so the replay check cannot decide it)
  const aks = Array.from({ length: n }, () => makeSoftwareAk('ecc'));
  const evidence = [];
  for (const a of aks) {
    const ch = await store.issueChallenge('tpm-quote');
    evidence.push(evidenceToJson(makeSoftwareQuote(a, { nonce: fromHex(ch.nonce), pcrs })));
  }
  // each process is given its own AK pin list (all of them), the same evidence, in reverse orders
  const akNames = aks.map((a) => toHex(a.name));
  const lists = [evidence, [...evidence].reverse()].map((l, i) => {
    const f = join(dir, `list-${i}.json`);
    writeFileSync(f, JSON.stringify(l));
    return f;
  });
  const child = fileURLToPath(new URL('./helpers/appraise-child.ts', import.meta.url));
  const run = (list: string) =>
    new Promise<string[]>((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', child, path, list, akNames.join(',')], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.on('error', reject);
      // 'close', not 'exit': at the exit the last lines may still be in the pipe
      p.on('close', (code) => (code === 0 ? resolve(out.trim().split('\n')) : reject(new Error(`child exited ${code}`))));
    });
  const [a, b] = await Promise.all(lists.map(run));
  const accepted = [...a!, ...b!].filter((s) => s !== 'contraindicated');
  t.is(a!.length + b!.length, 2 * n);
  t.is(accepted.length, n, `each of the ${n} challenges accepted exactly once (got ${a} / ${b})`);
});

test('nonces: hex parsing and bounds are typed errors; the state JSON is validated', (t) => {
  t.deepEqual(nonceFromHex('0x0011'), new Uint8Array([0, 0x11]));
  for (const bad of ['', '0', 'zz', '00'.repeat(65)])
    t.throws(() => nonceFromHex(bad), { instanceOf: AttestationError, code: 'NONCE_INVALID' });
  t.throws(() => verifierStateFromJson([]), { code: 'STATE_INVALID' });
  t.throws(() => verifierStateFromJson({ version: 2 }), { code: 'STATE_INVALID' });
  t.throws(() => verifierStateFromJson({ ak: { clock: 'x' } }), { code: 'STATE_INVALID' });
});
