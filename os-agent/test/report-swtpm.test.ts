/**
 * Reports bound to a real TPM (swtpm; TPM 2.0 Part 3 §18.4 Quote): the agent builds and signs a
 * report, quotes its digest with a persistent AK (flushed after each quote: swtpm has three
 * transient slots), and the attestation verifier appraises both together as trusted. A missing
 * TPM gives a report without a quote that says why, and the agent goes on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appraisePostureWithState, emptyVerifierState } from '@enigm/attestation';
import { useSwtpm } from '@enigm/attestation/lab';
import { formatAssociationHandle } from '@enigm/protocols/handle';
import test from 'ava';
import { buildReport, type ReportInput } from '../src/report/report.ts';
import { okSignal } from '../src/signals.ts';
import { AgentState } from '../src/state.ts';
import { TpmQuoteSource } from '../src/tpm/quote-source.ts';
import { closedPort } from './support/closed-port.ts';

const fx = useSwtpm(test, { connect: false });
const dir = mkdtempSync(join(tmpdir(), 'enigm-agent-tpm-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const handle = new Uint8Array(16).fill(9);

function input(state: AgentState, seq: number): ReportInput {
  return {
    signals: [okSignal('secureboot', 'enabled', { source: 'linux:/sys/firmware/efi', now: 10 })],
    monoMs: 50,
    wallMs: Date.now(),
    runId: state.runId,
    seq,
    id: new Uint8Array(16).fill(seq),
    trigger: 'periodic',
    version: '0.1.0',
    compliance: { decision: 'compliant', reasons: [] },
  };
}

fx.tpmTest('a report quoted by swtpm is verified together with its quote as trusted, by the same AK every time', async (t) => {
  const state = AgentState.open(join(dir, 'a'));
  const tpm = new TpmQuoteSource({ spec: fx.sw.spec, akBlobPath: state.path('ak'), pcrs: [0, 7] });
  const identity = { seed: state.seed, publicKey: state.publicKey, handle };
  const one = await buildReport(input(state, state.nextSeq()), identity, tpm);
  t.is(one.binding, 'quoted');
  const a = appraisePostureWithState(emptyVerifierState(), {
    evidence: one.evidence,
    agentKey: state.publicKey,
    handle: formatAssociationHandle(handle),
    now: Date.now(),
  });
  t.is(a.result.trust.decision, 'trusted', JSON.stringify(a.result.checks));
  const akName = Object.keys(a.state.clocks)[0] as string;
  // The AK is pinned from now on; the next report must be by it and must advance the TPM clock.
  const two = await buildReport(input(state, state.nextSeq()), identity, tpm);
  const b = appraisePostureWithState(a.state, {
    evidence: two.evidence,
    agentKey: state.publicKey,
    akNames: [akName],
    now: Date.now(),
  });
  t.is(b.result.trust.decision, 'trusted', JSON.stringify(b.result.checks));
  t.is(b.result.checks.find((c) => c.name === 'quote')?.status, 'affirming');
  // Several quotes in a row leave no transient object behind (swtpm would answer OBJECT_MEMORY).
  for (let i = 0; i < 4; i++) t.is((await buildReport(input(state, state.nextSeq()), identity, tpm)).binding, 'quoted');
});

test('a missing TPM gives a signed report without a quote that says why', async (t) => {
  const state = AgentState.open(join(dir, 'b'));
  const { port, release } = await closedPort(); // no TPM there, and no other process can listen there
  t.teardown(release);
  const tpm = new TpmQuoteSource({ spec: `swtpm:host=127.0.0.1,port=${port}`, akBlobPath: state.path('ak') });
  const r = await buildReport(input(state, state.nextSeq()), { seed: state.seed, publicKey: state.publicKey, handle }, tpm);
  t.is(r.binding, 'absent');
  t.regex(r.tpmReason ?? '', /no TPM/);
  t.is(r.claims.tpm.binding, 'absent');
  const a = appraisePostureWithState(emptyVerifierState(), { evidence: r.evidence, agentKey: state.publicKey, now: Date.now() });
  t.is(a.result.checks.find((c) => c.name === 'quote')?.status, 'warning');
  t.is(a.result.trust.decision, 'trusted');
});

test('the sequence survives a restart of the agent state (never reused)', (t) => {
  const s1 = AgentState.open(join(dir, 'c'));
  s1.nextSeq();
  s1.nextSeq();
  const s2 = AgentState.open(join(dir, 'c'));
  t.is(s2.seq, 2);
  t.is(s2.nextSeq(), 3);
  t.deepEqual(s2.publicKey, s1.publicKey);
  t.notDeepEqual(s2.runId, s1.runId);
});
