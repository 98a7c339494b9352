/**
 * One report outside the running agent, for `enigm posture report --once [--nonce N]`: the configured
 * collectors, the held policy and the TPM, signed with the agent's key from its state folder —
 * not published. When an agent already runs on the configured API socket, it is asked instead — for
 * its latest report, or for a fresh report answering the nonce (two writers of one sequence
 * counter could reuse a number).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { parseAssociationHandle } from '@enigm/attestation';
import { defaultCollectors } from './agent.ts';
import { queryAgent } from './api/server.ts';
import type { AgentConfig } from './config.ts';
import { evaluatePolicy, GraceTracker } from './policy/evaluate.ts';
import { PolicyStore } from './policy/store.ts';
import { buildReport } from './report/report.ts';
import { type Collector, collectAll } from './signals.ts';
import { AgentState } from './state.ts';
import { type QuoteSource, TpmQuoteSource } from './tpm/quote-source.ts';
import { AGENT_VERSION } from './version.ts';

/** A report made once. */
export interface OnceReport {
  /** The evidence (signed report + quote). */
  readonly evidence: Uint8Array;
  /** `agent`: the running agent's latest report; `local`: made here. */
  readonly from: 'agent' | 'local';
  /** The agent's public key (hex), for `enigm posture verify`. */
  readonly agentKey?: Uint8Array;
}

/**
 * Makes (or fetches) one report; see the module documentation.
 * @throws {@link AgentError} `STATE_*`, `REPORT_FAILED`
 */
export async function reportOnce(
  config: AgentConfig,
  deps: { collectors?: readonly Collector[]; quotes?: QuoteSource | null; mono?: () => number; nonce?: Uint8Array } = {},
): Promise<OnceReport> {
  const nonce = deps.nonce;
  try {
    const r = (await (nonce
      ? queryAgent(config.apiSocket, 'challenge', { nonce })
      : queryAgent(config.apiSocket, 'report', { timeoutMs: 2000 }))) as { evidence?: unknown };
    if (r.evidence instanceof Uint8Array) return { evidence: r.evidence, from: 'agent' };
  } catch (e) {
    // no agent running: make one here; an agent that answered with an error is reported
    if ((e as { code?: string }).code === 'API_REFUSED') throw e;
  }
  const state = AgentState.open(config.stateDir);
  const mono = deps.mono ?? (() => Math.floor(performance.now()));
  const tpm =
    config.tpm === 'off' ? undefined : new TpmQuoteSource({ spec: config.tpm, akBlobPath: state.path('ak'), pcrs: config.pcrs });
  const signals = await collectAll(deps.collectors ?? defaultCollectors(config, tpm), {
    now: mono,
    timeoutMs: config.collectTimeoutMs,
  });
  const store = new PolicyStore(state.path('policy'), config.policyKeys);
  store.load();
  const policy = store.policy;
  const quotes = deps.quotes === null || (deps.quotes === undefined && config.tpm === 'off') ? undefined : (deps.quotes ?? tpm);
  const now = mono();
  const built = await buildReport(
    {
      signals,
      monoMs: now,
      wallMs: Date.now(),
      runId: state.runId,
      seq: state.nextSeq(),
      id: new Uint8Array(randomBytes(16)),
      trigger: nonce ? 'challenge' : 'request',
      ...(nonce ? { nonce } : {}),
      version: AGENT_VERSION,
      compliance: evaluatePolicy(policy, signals, now, new GraceTracker()),
      ...(policy ? { policy: { id: policy.id, version: policy.version } } : {}),
    },
    { seed: state.seed, publicKey: state.publicKey, handle: parseAssociationHandle(config.handle) },
    quotes,
  );
  return { evidence: built.evidence, from: 'local', agentKey: state.publicKey };
}
