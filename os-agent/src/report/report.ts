/**
 * Building one posture report: signals → minimized claims (`@enigm/protocols/posture`) → COSE_Sign1
 * by the agent's key → TPM quote whose nonce is the report digest → the evidence envelope.
 *
 * Order: the claims are built first saying `quoted`, their digest is quoted; if the quote fails
 * (no TPM, lockout, error) the claims are rebuilt saying why, so what is signed is always true.
 * Signal times are turned into ages on the agent's monotonic clock, so a wrong wall clock changes
 * nothing but the `wallMs` claim (which verifiers treat as untrusted).
 * @module
 */
import { sha256 } from '@enigm/protocols/crypto';
import {
  type ComplianceDecision,
  type ComplianceReasonValue,
  encodePostureClaims,
  encodePostureEvidence,
  POSTURE_AGENT_NAME,
  type PostureClaimsValue,
  postureQuoteNonce,
  type QuoteRecordValue,
  type ReportSignalValue,
  type ReportTrigger,
  type SignalValue,
  signPostureClaims,
  type TpmBinding,
  ueidOfHandle,
} from '@enigm/protocols/posture';
import { AgentError } from '../errors.ts';
import type { Signal } from '../signals.ts';
import type { QuoteOutcome, QuoteSource } from '../tpm/quote-source.ts';

/** The agent's signing identity and device name. */
export interface ReportIdentity {
  /** Ed25519 seed (32 bytes). */
  readonly seed: Uint8Array;
  /** Ed25519 public key (32 bytes). */
  readonly publicKey: Uint8Array;
  /** The 16-byte association handle of the device. */
  readonly handle: Uint8Array;
}

/** The local compliance decision, as the report carries it. */
export interface Compliance {
  readonly decision: ComplianceDecision;
  readonly reasons: readonly ComplianceReasonValue[];
}

/** What one report is made of (everything but the key and the TPM). */
export interface ReportInput {
  readonly signals: readonly Signal[];
  /** Agent monotonic time now, ms (the clock the signals were collected with). */
  readonly monoMs: number;
  /** Wall clock now, ms (may be wrong). */
  readonly wallMs: number;
  readonly runId: Uint8Array;
  readonly seq: number;
  /** 16 random bytes: the report id and the outbox / de-duplication id. */
  readonly id: Uint8Array;
  readonly trigger: ReportTrigger;
  readonly version: string;
  readonly compliance: Compliance;
  readonly policy?: { readonly id: string; readonly version: number };
  /** A verifier's challenge nonce (8..64 bytes) this report answers. */
  readonly nonce?: Uint8Array;
}

/** A built report. */
export interface BuiltReport {
  /** The envelope to publish: signed report + quote. */
  readonly evidence: Uint8Array;
  readonly claims: PostureClaimsValue;
  readonly binding: TpmBinding;
  /** Why there is no quote, when there is none. */
  readonly tpmReason?: string;
}

/** Key id of the agent key: the first 8 bytes of SHA-256 of the public key. */
export function agentKeyId(publicKey: Uint8Array): Uint8Array {
  return sha256(publicKey).slice(0, 8);
}

/** A collected signal as a report signal: its age on the monotonic clock, never its source path. */
export function toReportSignal(s: Signal, monoMs: number): ReportSignalValue {
  const base = {
    name: s.name,
    status: s.status,
    source: s.source.slice(0, 64),
    ageMs: Math.max(0, Math.round(monoMs - s.collectedAt)),
    ttlMs: Math.max(0, Math.round(s.maxAgeMs)),
  };
  return s.status === 'ok'
    ? { ...base, value: s.value as SignalValue }
    : { ...base, reason: (s.reason ?? 'unknown').slice(0, 160) };
}

function claimsFor(input: ReportInput, identity: ReportIdentity, binding: TpmBinding, reason?: string): PostureClaimsValue {
  return {
    ...(input.nonce ? { nonce: input.nonce } : {}),
    ueid: ueidOfHandle(identity.handle),
    swname: POSTURE_AGENT_NAME,
    swversion: [input.version],
    id: input.id,
    seq: input.seq,
    monoMs: Math.max(0, Math.floor(input.monoMs)),
    runId: input.runId,
    wallMs: Math.max(0, Math.floor(input.wallMs)),
    signals: input.signals.map((s) => toReportSignal(s, input.monoMs)),
    ...(input.policy ? { policy: { id: input.policy.id, version: input.policy.version } } : {}),
    compliance: { decision: input.compliance.decision, reasons: [...input.compliance.reasons] },
    tpm: { binding, ...(reason ? { reason: reason.slice(0, 160) } : {}) },
    trigger: input.trigger,
  };
}

function quoteRecord(q: Extract<QuoteOutcome, { binding: 'quoted' }>): QuoteRecordValue {
  const e = q.evidence;
  return {
    akPublic: e.akPublic,
    ...(e.akParentQualifiedName ? { akParentQualifiedName: e.akParentQualifiedName } : {}),
    attest: e.attest,
    signature: e.signature,
    bank: e.pcrBank,
    pcrs: [...e.pcrs].sort((a, b) => a[0] - b[0]).map(([index, value]) => ({ index, value })),
  };
}

function encodeClaims(claims: PostureClaimsValue): Uint8Array {
  try {
    return encodePostureClaims(claims);
  } catch (e) {
    throw new AgentError('REPORT_FAILED', `the report does not fit its record: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Builds, signs and (when a TPM answers) quote-binds one report.
 * @param quotes - the TPM, or undefined when TPM binding is disabled
 * @throws {@link AgentError} `REPORT_FAILED` when the claims do not fit their record
 * @example const { evidence } = await buildReport(input, identity, tpm);
 */
export async function buildReport(input: ReportInput, identity: ReportIdentity, quotes?: QuoteSource): Promise<BuiltReport> {
  const kid = agentKeyId(identity.publicKey);
  const sign = (bytes: Uint8Array) => signPostureClaims(bytes, { seed: identity.seed }, kid);
  if (quotes) {
    const claims = claimsFor(input, identity, 'quoted');
    const bytes = encodeClaims(claims);
    const q = await quotes.quote(postureQuoteNonce(bytes));
    if (q.binding === 'quoted') {
      const evidence = encodePostureEvidence({ report: sign(bytes), quote: quoteRecord(q) });
      return { evidence, claims, binding: 'quoted' };
    }
    const c2 = claimsFor(input, identity, q.binding, q.reason);
    return {
      evidence: encodePostureEvidence({ report: sign(encodeClaims(c2)) }),
      claims: c2,
      binding: q.binding,
      tpmReason: q.reason,
    };
  }
  const claims = claimsFor(input, identity, 'disabled', 'TPM binding is disabled in the agent configuration');
  const evidence = encodePostureEvidence({ report: sign(encodeClaims(claims)) });
  return { evidence, claims, binding: 'disabled', tpmReason: claims.tpm.reason as string };
}
