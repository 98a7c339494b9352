/**
 * The audit trail: records appended per second (sign, chain, write, fsync each one) and records
 * verified per second (decode, signature, chain). Baselines in the same run: a bare write + fsync
 * of a frame-sized buffer to the same folder (the disk's floor for append), and a bare node:crypto
 * Ed25519 verify of a record-sized message (the crypto floor for verify).
 * @module
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AUDIT_FILE_HEADER,
  AUDIT_GENESIS_PREV,
  AuditLog,
  type AuditSigner,
  auditKeyId,
  auditRecordHash,
  auditSignerFromSeed,
  encodeAuditFrame,
  signAuditRecord,
  verifyAuditLog,
} from '@enigm/attestation';
import { type BenchResult, opsPerSecond, result } from './harness.ts';

/** A log of `n` records built in memory (the same bytes `AuditLog` writes, without n fsyncs). */
function buildLog(signer: AuditSigner, n: number): Uint8Array {
  const parts: Uint8Array[] = [AUDIT_FILE_HEADER];
  let prev: Uint8Array = AUDIT_GENESIS_PREV;
  const actor = auditKeyId(signer.publicKey);
  for (let seq = 0; seq < n; seq++) {
    const bytes = signAuditRecord(
      {
        seq,
        time: 1_760_000_000_000 + seq,
        role: signer.role,
        actor,
        op: 'key.enroll',
        handle: `h-${seq}`,
        decision: 'allowed',
        reason: 'KEY_PROVISIONED',
        prev,
      },
      signer,
    );
    parts.push(encodeAuditFrame(bytes));
    prev = auditRecordHash(bytes);
  }
  return Buffer.concat(parts);
}

/** Appends for about `ms`; returns records/s. */
function appendRate(log: AuditLog, ms: number): number {
  let i = 0;
  return opsPerSecond(() => {
    log.append({ op: 'key.enroll', handle: `h-${i++}`, decision: 'allowed', reason: 'KEY_PROVISIONED' });
  }, ms);
}

/** Runs the audit benchmark. */
export async function benchAudit(ms = 1000, records = 5000): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-bench-audit-'));
  try {
    const signer = auditSignerFromSeed('station', new Uint8Array(32).fill(4));
    const log = await AuditLog.open(join(dir, 'append.audit'), { signer, clock: Date.now });
    const sample = log.append({ op: 'key.enroll', handle: 'h-sample', decision: 'allowed', reason: 'KEY_PROVISIONED' });
    const append = appendRate(log, ms);
    log.close();

    const rawFd = openSync(join(dir, 'raw.bin'), 'a');
    const frame = Buffer.alloc(sample.bytes.length + 8, 1);
    const rawAppend = opsPerSecond(() => {
      writeSync(rawFd, frame);
      fsyncSync(rawFd);
    }, ms);
    closeSync(rawFd);

    const bytes = buildLog(signer, records);
    const t0 = performance.now();
    const r = verifyAuditLog(bytes, { trustedKeys: [signer.publicKey] });
    const checkedMs = performance.now() - t0;
    if (!r.ok) throw new Error(`verify failed: ${r.problem?.message}`);
    const t1 = performance.now();
    verifyAuditLog(bytes);
    const uncheckedMs = performance.now() - t1;

    const priv = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, 7)]),
      format: 'der',
      type: 'pkcs8',
    });
    const pub = createPublicKey(priv);
    const msg = Buffer.alloc(sample.bytes.length, 2);
    const sig = nodeSign(null, msg, priv);
    const rawVerify = opsPerSecond(() => nodeVerify(null, msg, pub, sig), ms);
    return [
      result('audit.append+fsync', append, 'records/s', rawAppend),
      result('audit.verify', (r.records.length / checkedMs) * 1000, 'records/s', rawVerify),
      result('audit.verify-chain-only', (r.records.length / uncheckedMs) * 1000, 'records/s'),
      result('audit.record-bytes', sample.bytes.length, 'bytes'),
      result('audit.verify-records', r.records.length, 'records'),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchAudit()) process.stdout.write(`${JSON.stringify(r)}\n`);
}
