/**
 * The pure quote verifier and appraisal (TPM 2.0 Part 2 §10.12 TPMS_ATTEST, Part 3 §18.4 Quote;
 * EAR-style results): every check on valid software-made quotes in the TPM's exact formats, one
 * tampering per check, the per-AK clock rules, event-log replay after the quote, reference values.
 */

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromHex, toHex } from '@enigm/protocols/bytes';
import test from 'ava';
import type { QuoteEvidence } from '../src/collect/evidence.ts';
import { evidenceFromJson, evidenceToJson } from '../src/collect/evidence.ts';
import { makeSoftwareAk, makeSoftwareQuote } from '../src/collect/software-quote.ts';
import { encodeEventLog } from '../src/eventlog/encode.ts';
import { EV_IPL, EV_SEPARATOR } from '../src/eventlog/event-types.ts';
import { parseEventLog } from '../src/eventlog/parse.ts';
import { ALG_SHA1, ALG_SHA256 } from '../src/hash.ts';
import { type AppraisalPolicy, appraise } from '../src/verify/appraise.ts';
import { checkReplay } from '../src/verify/quote.ts';
import type { AppraisalResult } from '../src/verify/result.ts';
import { readPcrsSection } from './helpers/pcrs-yaml.ts';

/** The repository's copied test vectors, found relative to this file. */
const TESTDATA = fileURLToPath(new URL('../../testdata/', import.meta.url));

const ecc = makeSoftwareAk('ecc');
const rsa = makeSoftwareAk('rsa');
const nonce = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
const pcrs = new Map([0, 1, 7].map((i) => [i, new Uint8Array(32).fill(i)]));
const expect = { nonce, bank: ALG_SHA256, pcrs: [0, 1, 7] };
const pin = (name: Uint8Array): AppraisalPolicy => ({ akNames: [toHex(name)] });

function statusOf(r: AppraisalResult, name: string): string | undefined {
  return r.checks.find((c) => c.name === name)?.status;
}

for (const ak of [ecc, rsa]) {
  test(`a valid ${ak.kind} quote from a pinned AK is affirming`, (t) => {
    const r = appraise({ evidence: makeSoftwareQuote(ak, { nonce, pcrs }), expect, policy: pin(ak.name) });
    t.is(r.status, 'affirming', JSON.stringify(r.checks));
    t.deepEqual(
      r.checks.filter((c) => c.status === 'affirming').map((c) => c.name),
      [
        'ak-public',
        'ak-identity',
        'signature',
        'magic',
        'attest-type',
        'qualified-signer',
        'nonce',
        'pcr-selection',
        'pcr-digest',
        'safe',
      ],
    );
    t.deepEqual(r.clockState, { clock: 1000, resetCount: 1, restartCount: 0 });
    t.is(r.akName, toHex(ak.name));
  });
}

test('an unpinned AK is a warning, not affirming', (t) => {
  const r = appraise({ evidence: makeSoftwareQuote(ecc, { nonce, pcrs }), expect });
  t.is(r.status, 'warning');
  t.is(statusOf(r, 'ak-identity'), 'warning');
});

const good = makeSoftwareQuote(ecc, { nonce, pcrs });
const tamperings: [string, string, () => QuoteEvidence, object?][] = [
  ['a different nonce', 'nonce', () => good, { nonce: Buffer.alloc(16) }],
  ['an edited PCR value', 'pcr-digest', () => ({ ...good, pcrs: new Map([...pcrs, [7, new Uint8Array(32)]]) })],
  ['a flipped byte in TPMS_ATTEST', 'signature', () => ({ ...good, attest: flip(good.attest, 40) })],
  ['a flipped byte in the signature', 'signature', () => ({ ...good, signature: flip(good.signature, 10) })],
  ['another key', 'signature', () => ({ ...good, akPublic: makeSoftwareAk('ecc').publicArea })],
  ['a non-restricted AK', 'ak-public', () => ({ ...good, akPublic: flip(good.akPublic, 5, 0x01) })],
  ['an unparseable AK', 'ak-public', () => ({ ...good, akPublic: good.akPublic.subarray(0, 20) })],
  ['a selection other than asked', 'pcr-selection', () => good, { pcrs: [0, 7] }],
  ['a different bank', 'pcr-selection', () => good, { bank: ALG_SHA1 }],
  ['values not covering the selection', 'pcr-selection', () => ({ ...good, pcrs: new Map([...pcrs].slice(0, 2)) })],
  ['a wrong magic', 'magic', () => makeSoftwareQuote(ecc, { nonce, pcrs, magic: 0x12345678 })],
  ['a certify instead of a quote', 'attest-type', () => makeSoftwareQuote(ecc, { nonce, pcrs, type: 0x8017 })],
  ['a wrong parent Qualified Name', 'qualified-signer', () => ({ ...good, akParentQualifiedName: new Uint8Array(34) })],
  ['an AK pinned to another Name', 'ak-identity', () => good, { akNames: ['000b00'] }],
];

for (const [what, name, make, extra] of tamperings) {
  test(`${what} is contraindicated by check ${name}`, (t) => {
    const { akNames, ...ex } = (extra ?? {}) as { akNames?: string[] };
    const r = appraise({ evidence: make(), expect: { ...expect, ...ex }, policy: { akNames: akNames ?? [toHex(ecc.name)] } });
    t.is(r.status, 'contraindicated');
    t.is(statusOf(r, name), 'contraindicated', JSON.stringify(r.checks));
    if (name !== 'ak-identity') t.is(r.clockState, undefined, 'no new clock state from an unverified quote');
  });
}

function flip(b: Uint8Array, at: number, x = 0x80): Uint8Array {
  const c = b.slice();
  c[at]! ^= x;
  return c;
}

test('replay: rollback and equal state are contraindicated; reboot, resume and a later clock are fine (RFC 1982 wrap)', (t) => {
  const prev = { clock: 5000, resetCount: 10, restartCount: 3 };
  t.is(checkReplay(prev, undefined).status, 'none');
  t.is(checkReplay({ ...prev, clock: 5001 }, prev).status, 'affirming');
  // the same clock state again is the same quote again (issue 9, finding 5)
  t.is(checkReplay(prev, prev).status, 'contraindicated');
  t.regex(checkReplay(prev, prev).reason, /replayed quote/);
  t.is(checkReplay({ ...prev, clock: 4000 }, prev).status, 'contraindicated');
  t.is(checkReplay({ ...prev, resetCount: 9, clock: 9999 }, prev).status, 'contraindicated');
  t.is(checkReplay({ ...prev, restartCount: 2, clock: 9999 }, prev).status, 'contraindicated');
  // reboot: the clock may go back; resume: the clock is not compared
  t.regex(checkReplay({ clock: 10, resetCount: 11, restartCount: 0 }, prev).reason, /reset 1 time/);
  t.is(checkReplay({ clock: 10, resetCount: 11, restartCount: 0 }, prev).status, 'affirming');
  t.regex(checkReplay({ ...prev, restartCount: 4, clock: 1 }, prev).reason, /restarted 1 time/);
  t.is(
    checkReplay({ clock: 1, resetCount: 0, restartCount: 0 }, { clock: 9, resetCount: 0xffffffff, restartCount: 5 }).status,
    'affirming',
  );
});

test('a quote appraised again against its own stored state is contraindicated by replay (issue 9 regression)', (t) => {
  const first = appraise({ evidence: good, expect, policy: pin(ecc.name) });
  t.is(first.status, 'affirming');
  const again = appraise({ evidence: good, expect: { ...expect, previous: first.clockState! }, policy: pin(ecc.name) });
  t.is(again.status, 'contraindicated');
  t.is(statusOf(again, 'replay'), 'contraindicated');
  t.is(again.clockState, undefined, 'a replayed quote yields no new clock state');
  const later = makeSoftwareQuote(ecc, { nonce, pcrs, clock: 1001n });
  t.is(
    appraise({ evidence: later, expect: { ...expect, previous: first.clockState! }, policy: pin(ecc.name) }).status,
    'affirming',
  );
});

test('a quote replayed against a later state of the same AK is contraindicated; safe=NO is a warning', (t) => {
  const later = { clock: 2000, resetCount: 2, restartCount: 0 };
  const r = appraise({ evidence: good, expect: { ...expect, previous: later }, policy: pin(ecc.name) });
  t.is(statusOf(r, 'replay'), 'contraindicated');
  const unsafe = appraise({ evidence: makeSoftwareQuote(ecc, { nonce, pcrs, safe: false }), expect, policy: pin(ecc.name) });
  t.is(unsafe.status, 'warning');
  t.is(statusOf(unsafe, 'safe'), 'warning');
});

// A ~100-event log over PCRs 0..7 and the quote of its PCR values. The expected values are folded
// here, independently of replayEventLog: PCR_i = SHA-256(PCR_i ‖ SHA-256(data)), starting at zeros.
const bootEvents: { pcr: number; type: number; data: Buffer }[] = [];
for (let i = 0; i < 96; i++) bootEvents.push({ pcr: i % 8, type: EV_IPL, data: Buffer.from(`component ${i}`) });
for (let p = 0; p < 8; p++) bootEvents.push({ pcr: p, type: EV_SEPARATOR, data: Buffer.alloc(4) });
const log = encodeEventLog(['sha1', 'sha256'], bootEvents);
const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const replayed = new Map<number, Uint8Array>([...Array(8).keys()].map((i) => [i, new Uint8Array(32)]));
for (const e of bootEvents) replayed.set(e.pcr, sha256(replayed.get(e.pcr)!, sha256(e.data)));
const all = { nonce, bank: ALG_SHA256, pcrs: [0, 1, 2, 3, 4, 5, 6, 7] };

test('event log: replay after the quote matches, data-bound events check out', (t) => {
  const r = appraise({
    evidence: makeSoftwareQuote(ecc, { nonce, pcrs: replayed, eventLog: log }),
    expect: all,
    policy: pin(ecc.name),
  });
  t.is(r.status, 'affirming', JSON.stringify(r.checks));
  t.is(statusOf(r, 'event-log'), 'affirming');
  t.is(statusOf(r, 'event-data'), 'affirming');
});

test('event log: an edited digest breaks the replay; an edited separator breaks event-data', (t) => {
  const parsed = parseEventLog(log);
  const ipl = parsed.events[5]!;
  const d = ipl.digests[1]!.digest;
  const edited = flip(log, d.byteOffset - log.byteOffset);
  const r = appraise({
    evidence: makeSoftwareQuote(ecc, { nonce, pcrs: replayed, eventLog: edited }),
    expect: all,
    policy: pin(ecc.name),
  });
  t.is(statusOf(r, 'event-log'), 'contraindicated');
  t.regex(r.checks.find((c) => c.name === 'event-log')!.reason, new RegExp(`\\[${ipl.pcr}\\]`));

  // a separator with other data but the original digests: replay still matches, data does not
  const sep = parsed.events.find((e) => e.type === EV_SEPARATOR)!;
  const sepEdited = flip(log, sep.data.byteOffset - log.byteOffset, 0xff);
  const s = appraise({
    evidence: makeSoftwareQuote(ecc, { nonce, pcrs: replayed, eventLog: sepEdited }),
    expect: all,
    policy: pin(ecc.name),
  });
  t.is(statusOf(s, 'event-log'), 'affirming');
  t.is(statusOf(s, 'event-data'), 'contraindicated');
});

test('event log: not replayed when the quote fails (quote first)', (t) => {
  const ev = makeSoftwareQuote(ecc, { nonce, pcrs: replayed, eventLog: log });
  const r = appraise({ evidence: { ...ev, attest: flip(ev.attest, 30) }, expect: all, policy: pin(ecc.name) });
  t.is(statusOf(r, 'event-log'), 'none');
  t.is(statusOf(r, 'reference-values'), 'none');
});

test('event log: a real firmware log (tpm2-tools event-bootorder.bin) appraises against the PCRs tpm2_eventlog lists', (t) => {
  const dir = join(TESTDATA, 'eventlogs', 'tpm2-tools');
  const real = new Uint8Array(readFileSync(join(dir, 'event-bootorder.bin')));
  // expected values from tpm2-tools' own replay (the `pcrs:` section of its YAML), not from ours
  const listed = readPcrsSection(readFileSync(join(dir, 'event-bootorder.bin.yaml'), 'utf8')).get('sha256')!;
  const quoted = new Map([...listed].filter(([i]) => i < 8).map(([i, v]) => [i, fromHex(v)]));
  t.is(quoted.size, 8);
  const r = appraise({
    evidence: makeSoftwareQuote(rsa, { nonce, pcrs: quoted, eventLog: real }),
    expect: { nonce, bank: ALG_SHA256, pcrs: [...quoted.keys()] },
    policy: pin(rsa.name),
  });
  t.is(r.status, 'affirming', JSON.stringify(r.checks));
  t.regex(r.checks.find((c) => c.name === 'event-log')!.reason, /unquoted PCRs \[8,9\]/);
  // one listed value off by a bit: the replay no longer explains the quote
  const off = new Map(quoted);
  off.set(4, flip(quoted.get(4)!, 0, 1));
  const bad = appraise({
    evidence: makeSoftwareQuote(rsa, { nonce, pcrs: off, eventLog: real }),
    expect: { nonce, bank: ALG_SHA256, pcrs: [...off.keys()] },
    policy: pin(rsa.name),
  });
  t.regex(bad.checks.find((c) => c.name === 'event-log')!.reason, /does not match quoted PCRs \[4\]/);
});

test('reference values: equal is affirming; different or unquoted is contraindicated', (t) => {
  const evidence = makeSoftwareQuote(ecc, { nonce, pcrs });
  const ok = appraise({
    evidence,
    expect,
    policy: { ...pin(ecc.name), referencePcrs: { 7: [toHex(new Uint8Array(32)), toHex(pcrs.get(7)!)] } },
  });
  t.is(statusOf(ok, 'reference-values'), 'affirming');
  const bad = appraise({
    evidence,
    expect,
    policy: { ...pin(ecc.name), referencePcrs: { 7: toHex(new Uint8Array(32)), 9: '00' } },
  });
  t.is(statusOf(bad, 'reference-values'), 'contraindicated');
  t.regex(bad.checks.find((c) => c.name === 'reference-values')!.reason, /7, 9 \(not quoted\)/);
  const req = appraise({ evidence, expect, policy: { ...pin(ecc.name), requireEventLog: true } });
  t.is(statusOf(req, 'event-log'), 'contraindicated');
});

test('results and evidence are JSON: evidence round-trips, results stringify', (t) => {
  const ev = makeSoftwareQuote(ecc, { nonce, pcrs, eventLog: log });
  const back = evidenceFromJson(JSON.parse(JSON.stringify(evidenceToJson(ev))));
  t.deepEqual(appraise({ evidence: back, expect }), appraise({ evidence: ev, expect }));
  const r = JSON.parse(JSON.stringify(appraise({ evidence: back, expect })));
  t.is(r.status, 'contraindicated'); // the log does not explain these made-up PCR values
  t.is(r.checks.find((c: { name: string }) => c.name === 'event-log').status, 'contraindicated');
  t.throws(() => evidenceFromJson({ ...evidenceToJson(ev), attest: 'zz' }), { message: /evidence.attest/ });
});
