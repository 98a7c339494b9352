/**
 * The posture verifier consumer (attestation/src/posture): a signed posture report and its quote
 * appraised together (quote nonce = SHA-256 of the report digest, TPM 2.0 Part 3 §18.4 Quote via
 * the software attester), single-use `device-posture` challenges, sequence replay, staleness with
 * a wrong device clock, and the device-trust decision a protected operation requires.
 */
import { toHex } from '@enigm/protocols/bytes';
import { ed25519Generate } from '@enigm/protocols/crypto';
import { formatAssociationHandle } from '@enigm/protocols/handle';
import {
  encodePostureClaims,
  encodePostureEvidence,
  type PostureClaimsValue,
  postureQuoteNonce,
  type QuoteRecordValue,
  signPostureClaims,
  ueidOfHandle,
} from '@enigm/protocols/posture';
import test from 'ava';
import type { QuoteEvidence } from '../src/collect/evidence.ts';
import { makeSoftwareAk, makeSoftwareQuote } from '../src/collect/software-quote.ts';
import { AttestationError } from '../src/errors.ts';
import {
  appraisePostureReport,
  appraisePostureWithState,
  DeviceTrustRegistry,
  requireTrustedDevice,
} from '../src/posture/index.ts';
import { VerifierStore } from '../src/store/verifier-store.ts';
import { emptyVerifierState, issueChallenge, type VerifierState, verifierStateFromJson } from '../src/verify/verifier-state.ts';

const agent = ed25519Generate();
const handleBytes = new Uint8Array(16).fill(3);
const ak = makeSoftwareAk('ecc');
const akName = toHex(ak.name);
const NOW = 1_760_000_000_000;
const pcrs = new Map([
  [0, new Uint8Array(32).fill(1)],
  [7, new Uint8Array(32).fill(2)],
]);
const handle = formatAssociationHandle(handleBytes);

function claims(over: Partial<PostureClaimsValue> = {}): PostureClaimsValue {
  return {
    ueid: ueidOfHandle(handleBytes),
    swname: 'enigm-posture-agent',
    swversion: ['0.1.0'],
    id: new Uint8Array(16).fill(over.seq ?? 1),
    seq: 1,
    monoMs: 100,
    runId: new Uint8Array(16).fill(4),
    wallMs: NOW - 1000,
    signals: [{ name: 'secureboot', status: 'ok', value: 'enabled', source: 'linux:/sys/firmware/efi', ageMs: 1, ttlMs: 60_000 }],
    compliance: { decision: 'compliant', reasons: [] },
    tpm: { binding: 'quoted' },
    trigger: 'periodic',
    ...over,
  };
}

function quoteRecord(e: QuoteEvidence): QuoteRecordValue {
  return {
    akPublic: e.akPublic,
    ...(e.akParentQualifiedName ? { akParentQualifiedName: e.akParentQualifiedName } : {}),
    attest: e.attest,
    signature: e.signature,
    bank: e.pcrBank,
    pcrs: [...e.pcrs].map(([index, value]) => ({ index, value })),
  };
}

let clock = 1000n;
/** Signed report + software quote over its digest (or over `quoteNonce` when given). */
function evidence(c: PostureClaimsValue, opts: { quote?: boolean; quoteNonce?: Uint8Array; seed?: Uint8Array } = {}): Uint8Array {
  const bytes = encodePostureClaims(c);
  const report = signPostureClaims(bytes, { seed: opts.seed ?? agent.seed });
  if (opts.quote === false) return encodePostureEvidence({ report });
  clock += 1000n;
  const q = makeSoftwareQuote(ak, { nonce: opts.quoteNonce ?? postureQuoteNonce(bytes), pcrs, clock });
  return encodePostureEvidence({ report, quote: quoteRecord(q) });
}

const base = { agentKey: agent.publicKey, handle, akNames: [akName], now: NOW };
const status = (r: { checks: readonly { name: string; status: string }[] }, name: string) =>
  r.checks.find((c) => c.name === name)?.status;

test('a signed report with a quote over its digest, by a pinned AK, is trusted', (t) => {
  const { result, state } = appraisePostureWithState(emptyVerifierState(), { ...base, evidence: evidence(claims()) });
  t.is(result.trust.decision, 'trusted', JSON.stringify(result.checks));
  t.is(status(result, 'quote'), 'affirming');
  t.is(result.handle, handle);
  t.is(state.posture?.[toHex(agent.publicKey)]?.seq, 1);
  t.truthy(state.clocks[akName]);
});

test('tampering: another signer, another device, a quote of another report, a stripped quote are untrusted', (t) => {
  const s0 = emptyVerifierState();
  const other = ed25519Generate();
  const r1 = appraisePostureWithState(s0, { ...base, evidence: evidence(claims(), { seed: other.seed }) }).result;
  t.is(r1.trust.decision, 'untrusted');
  t.is(status(r1, 'signature'), 'contraindicated');
  const otherHandle = formatAssociationHandle(new Uint8Array(16).fill(8));
  const r2 = appraisePostureWithState(s0, { ...base, handle: otherHandle, evidence: evidence(claims()) }).result;
  t.is(status(r2, 'device'), 'contraindicated');
  t.is(r2.trust.decision, 'untrusted');
  const otherDigest = postureQuoteNonce(encodePostureClaims(claims({ seq: 9 })));
  const r3 = appraisePostureWithState(s0, { ...base, evidence: evidence(claims(), { quoteNonce: otherDigest }) }).result;
  t.is(status(r3, 'quote'), 'contraindicated');
  t.is(r3.trust.decision, 'untrusted');
  const r4 = appraisePostureWithState(s0, { ...base, evidence: evidence(claims(), { quote: false }) }).result;
  t.regex(r4.checks.find((c) => c.name === 'quote')!.reason, /says quoted but no quote/);
  t.is(r4.trust.decision, 'untrusted');
  const r5 = appraisePostureWithState(s0, { ...base, evidence: Uint8Array.of(0xa0, 0xff) }).result;
  t.is(r5.trust.decision, 'untrusted');
});

test('replay: a report whose sequence is not above the last accepted is refused', (t) => {
  const first = appraisePostureWithState(emptyVerifierState(), { ...base, evidence: evidence(claims({ seq: 5 })) });
  const again = appraisePostureWithState(first.state, { ...base, evidence: evidence(claims({ seq: 5 })) });
  t.is(status(again.result, 'sequence'), 'contraindicated');
  t.is(again.result.trust.decision, 'untrusted');
  const older = appraisePostureWithState(first.state, { ...base, evidence: evidence(claims({ seq: 4 })) });
  t.is(older.result.trust.decision, 'untrusted');
  const next = appraisePostureWithState(first.state, { ...base, evidence: evidence(claims({ seq: 6 })) });
  t.is(next.result.trust.decision, 'trusted');
});

test('challenge: a report answering a pending device-posture challenge is fresh even with a wrong device clock; the nonce is single use', (t) => {
  const nonce = new Uint8Array(32).fill(0x42);
  const { state } = issueChallenge(emptyVerifierState(), { nonce, purpose: 'device-posture', now: NOW - 10_000 });
  const ev = evidence(claims({ nonce, wallMs: NOW - 5 * 3_600_000 })); // device clock 5 h behind
  const r = appraisePostureWithState(state, { ...base, evidence: ev });
  t.is(status(r.result, 'challenge'), 'affirming');
  t.is(status(r.result, 'freshness'), 'warning');
  t.is(r.result.trust.decision, 'trusted');
  const replay = appraisePostureWithState(r.state, { ...base, evidence: evidence(claims({ nonce, seq: 2 })) });
  t.is(status(replay.result, 'challenge'), 'contraindicated');
  t.is(replay.result.trust.decision, 'untrusted');
  const wrong = issueChallenge(emptyVerifierState(), { nonce, purpose: 'tpm-quote', now: NOW });
  const w = appraisePostureWithState(wrong.state, { ...base, evidence: ev });
  t.is(status(w.result, 'challenge'), 'contraindicated');
});

test('stale: without a challenge, a report older than the bound by the device clock is unknown, not trusted', (t) => {
  const r = appraisePostureWithState(emptyVerifierState(), { ...base, evidence: evidence(claims({ wallMs: NOW - 3_600_000 })) });
  t.is(status(r.result, 'freshness'), 'contraindicated');
  t.is(r.result.trust.decision, 'unknown');
  const req = appraisePostureWithState(emptyVerifierState(), { ...base, requireChallenge: true, evidence: evidence(claims()) });
  t.is(req.result.trust.decision, 'untrusted');
});

test('no TPM: allowed with a warning unless a quote is required (then unknown); noncompliance is untrusted', (t) => {
  const noTpm = claims({ tpm: { binding: 'absent', reason: 'no TPM: the device is missing' } });
  const r = appraisePostureWithState(emptyVerifierState(), { ...base, evidence: evidence(noTpm, { quote: false }) });
  t.is(status(r.result, 'quote'), 'warning');
  t.is(r.result.trust.decision, 'trusted');
  const req = appraisePostureWithState(emptyVerifierState(), {
    ...base,
    requireQuote: true,
    evidence: evidence(noTpm, { quote: false }),
  });
  t.is(req.result.trust.decision, 'unknown');
  const bad = claims({
    compliance: { decision: 'noncompliant', reasons: [{ signal: 'secureboot', code: 'mismatch', message: 'x' }] },
  });
  const nc = appraisePostureWithState(emptyVerifierState(), { ...base, evidence: evidence(bad) });
  t.is(nc.result.trust.decision, 'untrusted');
  t.regex(nc.result.trust.reasons.join(), /secureboot: mismatch/);
});

test('a protected operation requires a recent trusted decision (registry and gate)', (t) => {
  const reg = new DeviceTrustRegistry();
  t.throws(() => reg.require(handle, { now: NOW, maxAgeMs: 60_000 }), {
    instanceOf: AttestationError,
    code: 'POSTURE_UNTRUSTED',
  });
  const r = appraisePostureWithState(emptyVerifierState(), { ...base, evidence: evidence(claims()) }).result;
  reg.record(handle, r.trust);
  t.is(reg.require(handle, { now: NOW, maxAgeMs: 60_000 }).decision, 'trusted');
  t.is(reg.decision(handle, NOW + 120_000, 60_000).decision, 'unknown');
  t.throws(() => reg.require(handle, { now: NOW + 120_000, maxAgeMs: 60_000 }), { code: 'POSTURE_UNTRUSTED' });
  t.throws(() => requireTrustedDevice({ decision: 'untrusted', reasons: ['x'], at: NOW }, { now: NOW, maxAgeMs: 1 }), {
    code: 'POSTURE_UNTRUSTED',
  });
});

test('the store persists the consumed challenge and the sequence between appraisals', async (t) => {
  let now = NOW;
  const store = VerifierStore.memory({ now: () => now, random: (n) => new Uint8Array(n).fill(0x33) });
  const c = await store.issueChallenge('device-posture');
  const nonce = Uint8Array.from(Buffer.from(c.nonce, 'hex'));
  const ev = evidence(claims({ nonce, seq: 10 }));
  now += 1000;
  t.is((await appraisePostureReport(store, { ...base, evidence: ev })).trust.decision, 'trusted');
  t.is((await appraisePostureReport(store, { ...base, evidence: ev })).trust.decision, 'untrusted');
  const s: VerifierState = await store.read();
  t.is(s.posture?.[toHex(agent.publicKey)]?.seq, 10);
});

test('the quote must cover the PCRs the verifier asks for and match its reference values', (t) => {
  const ok = appraisePostureWithState(emptyVerifierState(), {
    ...base,
    pcrs: [0, 7],
    referencePcrs: { '7': toHex(new Uint8Array(32).fill(2)) },
    evidence: evidence(claims()),
  }).result;
  t.is(ok.trust.decision, 'trusted', JSON.stringify(ok.checks));
  const missing = appraisePostureWithState(emptyVerifierState(), {
    ...base,
    pcrs: [0, 4, 7],
    evidence: evidence(claims()),
  }).result;
  t.is(missing.trust.decision, 'untrusted');
  const wrongRef = appraisePostureWithState(emptyVerifierState(), {
    ...base,
    referencePcrs: { '7': toHex(new Uint8Array(32).fill(9)) },
    evidence: evidence(claims()),
  }).result;
  t.is(wrongRef.trust.decision, 'untrusted');
  t.regex(wrongRef.checks.find((c) => c.name === 'quote')?.reason ?? '', /reference/);
});

test('the posture marks survive the state file round trip and are validated when read', (t) => {
  const { state } = appraisePostureWithState(emptyVerifierState(), { ...base, evidence: evidence(claims({ seq: 12 })) });
  const back = verifierStateFromJson(JSON.parse(JSON.stringify(state)));
  t.deepEqual(back.posture, state.posture);
  t.throws(() => verifierStateFromJson({ ...JSON.parse(JSON.stringify(state)), posture: { nothex: { seq: 1, at: 1 } } }), {
    instanceOf: AttestationError,
    code: 'STATE_INVALID',
  });
  t.deepEqual(verifierStateFromJson({ version: 1, challenges: [], used: [], clocks: {} }).posture, undefined);
});
