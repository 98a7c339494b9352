/**
 * Key attestation evidence: build + sign (the Key's side: EAT claims, COSE_Sign1 by the identity
 * key) and appraise (the verifier's side: decode, signature, nonce, reference values), per second.
 * Baseline: one raw node:crypto Ed25519 sign + verify of the same payload size, in the same run.
 * @module
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { appraiseKeyEvidence } from '@enigm/attestation';
import { buildEvidence } from '@enigm/sim/firmware';
import { makeTestKey } from '@enigm/sim/testing';
import { type BenchResult, opsPerSecond, result } from './harness.ts';

/** Runs the evidence benchmark. */
export async function benchEvidence(ms = 1000): Promise<BenchResult[]> {
  const { fw } = makeTestKey();
  const nonce = new Uint8Array(32).fill(3);
  const identity = fw.secureElement.identityPublicKey;
  const reference = { allowedFirmwareDigests: [Buffer.from(fw.firmwareDigest).toString('hex')], minSecurityCounter: 1 };
  const sample = buildEvidence(fw, nonce, 'owner');
  const signVerify = opsPerSecond(() => {
    const ev = buildEvidence(fw, nonce, 'owner');
    if (appraiseKeyEvidence({ evidence: ev, nonce, identity, reference }).status === 'contraindicated') throw new Error('bad');
  }, ms);
  const signOnly = opsPerSecond(() => buildEvidence(fw, nonce, 'owner'), ms);
  const verifyOnly = opsPerSecond(() => appraiseKeyEvidence({ evidence: sample, nonce, identity, reference }), ms);
  // Baseline: raw Ed25519 sign + verify over the same number of bytes with cached KeyObjects.
  const priv = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, 7)]),
    format: 'der',
    type: 'pkcs8',
  });
  const pub = createPublicKey(priv);
  const data = Buffer.alloc(sample.length, 1);
  const raw = opsPerSecond(() => nodeVerify(null, data, pub, nodeSign(null, data, priv)), ms);
  return [
    result('evidence.sign+appraise', signVerify, 'ops/s', raw),
    result('evidence.sign', signOnly, 'ops/s'),
    result('evidence.appraise', verifyOnly, 'ops/s'),
  ];
}
