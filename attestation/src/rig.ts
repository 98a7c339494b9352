/**
 * The lab rig: manufactures N swtpm instances (state with EK certificates from one local CA, on
 * free ports) and/or takes existing TPM addresses, then per TPM: reads and verifies the EK
 * certificate, enrolls (credential activation), quotes with a fresh nonce using the enrolled AK
 * and appraises with the enrollment trusted. Returns a JSON-ready report; every swtpm it started
 * is stopped whatever happens (also on SIGINT/SIGTERM with `handleSignals`). The report can be
 * signed as COSE_Sign1 over its CBOR form.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CborValue } from '@enigm/protocols/cbor';
import { encode } from '@enigm/protocols/cbor';
import { HEADER_CONTENT_TYPE, signSign1 } from '@enigm/protocols/cose';
import { collectQuote } from './collect/quote.ts';
import { activateEnrollment, collectEnrollment } from './enroll.ts';
import { AttestationError } from './errors.ts';
import { ALG_SHA256 } from './hash.ts';
import { createLocalCa, localCaCertificates, manufactureSwtpm, type SwtpmProcess, spawnSwtpm } from './lab/swtpm-lab.ts';
import { parsePublic } from './structures/public.ts';
import { TpmClient } from './tpm/client.ts';
import { openTpm } from './tpm/open.ts';
import { type AppraisalPolicy, appraise } from './verify/appraise.ts';
import { type EkTrustStore, parseCertificates, verifyEkCertificate } from './verify/ek-cert.ts';
import { beginEnrollment, finishEnrollment, policyFromEnrollments } from './verify/enrollment.ts';
import { type Check, overallStatus, type Status } from './verify/result.ts';

/** Rig options. */
export interface RigOptions {
  /** swtpm instances to manufacture and start (0..16). */
  readonly swtpm?: number;
  /** Existing TPMs (`swtpm:host=H,port=P` or `device[:PATH]`). */
  readonly tpms?: readonly string[];
  /** Manufacturer roots for the existing TPMs (the local CA is added for manufactured ones). */
  readonly store?: EkTrustStore;
  /** Appraisal policy; each TPM's enrolled AK is added to `akNames`. */
  readonly policy?: AppraisalPolicy;
  /** PCRs to quote (default 0..7, SHA-256 bank). */
  readonly pcrs?: readonly number[];
  /** Stop started swtpms on SIGINT/SIGTERM, then re-raise the signal (for the CLI). */
  readonly handleSignals?: boolean;
  /** Verification time (default: now, read once per TPM). */
  readonly now?: () => Date;
}

/** One step's outcome: ok, or the error code and message. */
export interface RigStep {
  readonly ok: boolean;
  readonly reason: string;
  readonly code?: string;
}

/** The result for one TPM. */
export interface RigTpmResult {
  readonly tpm: string;
  /** Whether this rig run started the TPM. */
  readonly manufactured: boolean;
  readonly ekCert: RigStep & { fingerprint?: string; model?: string };
  readonly enrolled: RigStep & { akName?: string };
  /** Appraisal status of the quote, or `error` when no quote was appraised. */
  readonly quote: { status: Status | 'error'; reason: string };
  /** The worst check of the appraisal (first among equals); `quote.reason` names it unless all passed. */
  readonly worst?: Check;
  readonly checks?: readonly Check[];
  readonly durationMs: number;
}

/** The rig report. */
export interface RigReport {
  readonly version: 1;
  readonly startedAt: string;
  readonly durationMs: number;
  /** True when every TPM's quote appraised as affirming or warning. */
  readonly ok: boolean;
  readonly tpms: readonly RigTpmResult[];
}

function step(e: unknown): RigStep {
  if (e instanceof AttestationError) return { ok: false, reason: e.message, code: e.code };
  return { ok: false, reason: e instanceof Error ? e.message : String(e) };
}

const RANK: Readonly<Record<Status, number>> = { none: 0, affirming: 1, warning: 2, contraindicated: 3 };

async function runOne(spec: string, manufactured: boolean, store: EkTrustStore, options: RigOptions): Promise<RigTpmResult> {
  const t0 = Date.now();
  const now = (options.now ?? (() => new Date()))();
  const pcrs = [...(options.pcrs ?? [0, 1, 2, 3, 4, 5, 6, 7])];
  const base = { tpm: spec, manufactured };
  const done = (r: Omit<RigTpmResult, 'tpm' | 'manufactured' | 'durationMs'>): RigTpmResult => ({
    ...base,
    ...r,
    durationMs: Date.now() - t0,
  });
  let tpm: TpmClient;
  try {
    tpm = new TpmClient(await openTpm(spec));
  } catch (e) {
    const s = step(e);
    return done({ ekCert: s, enrolled: { ok: false, reason: 'not run' }, quote: { status: 'error', reason: s.reason } });
  }
  try {
    let collected: Awaited<ReturnType<typeof collectEnrollment>>;
    let ekCert: RigTpmResult['ekCert'];
    try {
      collected = await collectEnrollment(tpm);
      const info = verifyEkCertificate({
        certificate: collected.request.ekCertificate,
        store,
        now,
        ek: parsePublic(collected.request.ekPublic),
      });
      ekCert = {
        ok: true,
        reason: `${info.issuer} → ${info.path.at(-1)}`,
        fingerprint: info.fingerprint,
        ...(info.tpm.model ? { model: info.tpm.model } : {}),
      };
    } catch (e) {
      const s = step(e);
      return done({ ekCert: s, enrolled: { ok: false, reason: 'not run' }, quote: { status: 'error', reason: 'not run' } });
    }
    let enrolled: RigTpmResult['enrolled'];
    let policy: AppraisalPolicy;
    try {
      const { challenge, pending } = beginEnrollment(collected.request, { store, now });
      const record = finishEnrollment(pending, await activateEnrollment(tpm, collected.akBlob, challenge));
      enrolled = { ok: true, reason: 'credential activated', akName: record.akName };
      policy = policyFromEnrollments([record], options.policy);
    } catch (e) {
      const s = step(e);
      return done({ ekCert, enrolled: s, quote: { status: 'error', reason: 'not run' } });
    }
    try {
      const nonce = new Uint8Array(randomBytes(32));
      const { evidence } = await collectQuote(tpm, { nonce, pcrs, akBlob: collected.akBlob });
      const r = appraise({ evidence, expect: { nonce, bank: ALG_SHA256, pcrs }, policy });
      let worst: Check | undefined;
      for (const c of r.checks) if (!worst || RANK[c.status] > RANK[worst.status]) worst = c;
      const status = overallStatus(r.checks);
      const applied = r.checks.filter((c) => c.status !== 'none').length;
      const reason =
        worst && RANK[worst.status] > RANK.affirming
          ? `${worst.name}: ${worst.reason}`
          : `${applied} checks affirming, ${r.checks.length - applied} not applicable`;
      return done({ ekCert, enrolled, quote: { status, reason }, ...(worst ? { worst } : {}), checks: r.checks });
    } catch (e) {
      return done({ ekCert, enrolled, quote: { status: 'error', reason: step(e).reason } });
    }
  } finally {
    await tpm.transport.close().catch(() => undefined);
  }
}

/**
 * Runs the rig.
 * @throws RangeError if `swtpm` is not in 0..16 or no TPM is given
 * @throws {@link AttestationError} if manufacturing or starting a swtpm fails (after stopping the others)
 * @example const report = await runRig({ swtpm: 3 }); report.ok;
 */
export async function runRig(options: RigOptions): Promise<RigReport> {
  const n = options.swtpm ?? 0;
  if (!Number.isInteger(n) || n < 0 || n > 16) throw new RangeError(`swtpm must be an integer in 0..16, got ${n}`);
  if (n === 0 && (options.tpms ?? []).length === 0) throw new RangeError('give swtpm > 0 or at least one TPM address');
  const started: SwtpmProcess[] = [];
  const startedAt = new Date();
  let dir: string | undefined;
  const stopAll = async () => {
    await Promise.all(started.map((p) => p.stop().catch(() => undefined)));
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    void stopAll().finally(() => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      process.kill(process.pid, sig);
    });
  };
  if (options.handleSignals) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  try {
    const roots = [...(options.store?.roots ?? [])];
    const intermediates = [...(options.store?.intermediates ?? [])];
    if (n > 0) {
      dir = mkdtempSync(join(tmpdir(), 'enigm-rig-'));
      const ca = createLocalCa(join(dir, 'ca'));
      for (let i = 0; i < n; i++) await manufactureSwtpm(ca, join(dir, `tpm${i}`));
      const certs = localCaCertificates(ca);
      roots.push(...parseCertificates(certs.root, 'local CA root'));
      intermediates.push(...parseCertificates(readFileSync(ca.issuerCert), 'local CA intermediate'));
      for (let i = 0; i < n; i++) started.push(await spawnSwtpm(join(dir, `tpm${i}`)));
    }
    const store: EkTrustStore = { roots, intermediates };
    const targets = [
      ...started.map((p) => ({ spec: p.spec, manufactured: true })),
      ...(options.tpms ?? []).map((spec) => ({ spec, manufactured: false })),
    ];
    const tpms = await Promise.all(targets.map((t) => runOne(t.spec, t.manufactured, store, options)));
    return {
      version: 1,
      startedAt: startedAt.toISOString(),
      durationMs: Date.now() - startedAt.getTime(),
      ok: tpms.every((t) => t.quote.status === 'affirming' || t.quote.status === 'warning'),
      tpms,
    };
  } finally {
    if (options.handleSignals) {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
    await stopAll();
  }
}

/** The report as a text table: TPM, EK cert, enrolled, quote status, and the worst check's reason (or the failed step's). */
export function formatRigTable(report: RigReport): string[] {
  const rows = report.tpms.map((t) => [
    t.tpm,
    t.ekCert.ok ? 'ok' : (t.ekCert.code ?? 'failed'),
    t.enrolled.ok ? 'yes' : (t.enrolled.code ?? 'no'),
    t.quote.status,
    t.ekCert.ok ? (t.enrolled.ok ? t.quote.reason : t.enrolled.reason) : t.ekCert.reason,
  ]);
  const head = ['TPM', 'EK cert', 'enrolled', 'quote', 'worst check'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ');
  return [fmt(head), ...rows.map(fmt), `${report.ok ? 'ok' : 'FAILED'}: ${report.tpms.length} TPM(s) in ${report.durationMs} ms`];
}

/** A JSON value as CBOR: objects become text-keyed maps, undefined members are left out. */
export function jsonToCbor(v: unknown): CborValue {
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return v;
  if (v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map(jsonToCbor);
  if (typeof v === 'object')
    return new Map(
      Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, jsonToCbor(x)]),
    );
  throw new TypeError(`no CBOR form for a ${typeof v}`);
}

/**
 * Signs the report: COSE_Sign1 (EdDSA) over its deterministic CBOR encoding, content type
 * `application/cbor`.
 * @param seed - Ed25519 private seed (32 bytes), e.g. from `ed25519PrivateKeyFromPem`
 */
export function signRigReport(report: RigReport, seed: Uint8Array): Uint8Array {
  return signSign1({
    payload: encode(jsonToCbor(report)),
    seed,
    extraProtected: new Map([[HEADER_CONTENT_TYPE, 'application/cbor']]),
  });
}
