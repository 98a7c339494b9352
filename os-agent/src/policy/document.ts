/**
 * The posture policy document, as Enigm Command issues it: a typed CBOR record with integer keys,
 * signed as a COSE_Sign1 (EdDSA) by an Enigm Command key, with external AAD
 * `enigm-posture-policy-v1` (so no other signed record of the suite can pass for a policy).
 *
 * ```
 * Policy = { 1: id, 2: version, 3: issuedAt ms, 4: [Rule], ? 5: [risk signal names], ? 6: reportIntervalS }
 * Rule   = { 1: signal name, 2: [allowed values], 3: graceMs, ? 4: unknownAllowed }
 * ```
 *
 * A value is allowed when its deterministic CBOR encoding equals one of the allowed values'
 * (records compare field by field, lists in order).
 * @module
 */
import { decode, encode } from '@enigm/protocols/cbor';
import { signSign1, verifySign1 } from '@enigm/protocols/cose';
import { sha256 } from '@enigm/protocols/crypto';
import { defineRecord, field, type RecordValue, t } from '@enigm/protocols/messages';
import { SIGNAL_VALUE_TYPE } from '@enigm/protocols/posture';
import { AgentError } from '../errors.ts';

/** External AAD of a policy's COSE_Sign1. */
export const POLICY_AAD = 'enigm-posture-policy-v1';
/** Largest policy document accepted, bytes. */
export const POLICY_MAX_BYTES = 64 * 1024;

/** One rule: the values a signal may have, and how long a departure is tolerated. */
export const PolicyRule = defineRecord('posture.policy.rule', {
  signal: field(1, t.text(64), false, 'signal name'),
  allowed: field(2, t.array(SIGNAL_VALUE_TYPE, 16), false, 'allowed values (any of)'),
  graceMs: field(3, t.uint(Number.MAX_SAFE_INTEGER), false, 'how long a departure is tolerated before noncompliance, ms'),
  unknownAllowed: field(4, t.bool(), true, 'an unknown value is compliant (default false: unknown past grace)'),
});
/** A decoded {@link PolicyRule}. */
export type PolicyRuleValue = RecordValue<typeof PolicyRule.schema>;

/** The policy record. */
export const PolicyRecord = defineRecord('posture.policy', {
  id: field(1, t.text(64), false, 'policy id'),
  version: field(2, t.uint(Number.MAX_SAFE_INTEGER), false, 'version; a device accepts only a newer one'),
  issuedAt: field(3, t.uint(Number.MAX_SAFE_INTEGER), false, 'when Enigm Command issued it, ms since the Unix epoch'),
  rules: field(4, t.array(t.record(PolicyRule), 64), false, 'required signal values'),
  riskSignals: field(5, t.array(t.text(64), 16), true, 'signals the device may publish on its risk topic'),
  reportIntervalS: field(6, t.uint(86_400), true, 'periodic report interval, s'),
});
/** A decoded policy. */
export type Policy = RecordValue<typeof PolicyRecord.schema>;

const AAD = new TextEncoder().encode(POLICY_AAD);

function refused(why: string, cause?: unknown): AgentError {
  return new AgentError('POLICY_REFUSED', why, cause === undefined ? undefined : { cause });
}

/** The key id of an Enigm Command key: the first 8 bytes of SHA-256 of the public key. */
export function commandKeyId(publicKey: Uint8Array): Uint8Array {
  return sha256(publicKey).slice(0, 8);
}

/**
 * Signs a policy (what Enigm Command does; here for tests, examples and `enigm`).
 * @throws {@link AgentError} `POLICY_REFUSED` when the policy does not fit its record
 */
export function signPolicy(policy: Policy, seed: Uint8Array, publicKey: Uint8Array): Uint8Array {
  let payload: Uint8Array;
  try {
    const map = PolicyRecord.toMap(policy);
    PolicyRecord.fromMap(map);
    payload = encode(map);
  } catch (e) {
    throw refused(`the policy does not fit its record: ${(e as Error).message}`, e);
  }
  return signSign1({ payload, seed, externalAad: AAD, kid: commandKeyId(publicKey) });
}

/**
 * Verifies a policy document against the trusted Enigm Command keys and decodes it strictly.
 * @throws {@link AgentError} `POLICY_REFUSED`: oversized, not a COSE_Sign1, signed by no trusted
 *   key (or unsigned / tampered), or a payload that is not a policy record
 */
export function verifyPolicy(bytes: Uint8Array, trustedKeys: readonly Uint8Array[]): Policy {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw refused('the policy document is empty');
  if (bytes.length > POLICY_MAX_BYTES) throw refused(`the policy document is over ${POLICY_MAX_BYTES} bytes`);
  if (trustedKeys.length === 0) throw refused('no trusted Enigm Command key is configured');
  let payload: Uint8Array | null = null;
  let last: unknown;
  for (const key of trustedKeys) {
    try {
      payload = verifySign1(bytes, key, { externalAad: AAD, maxBytes: POLICY_MAX_BYTES }).payload;
      break;
    } catch (e) {
      last = e;
    }
  }
  if (payload === null)
    throw refused(
      `the policy is not signed by a trusted Enigm Command key (${(last as { code?: string })?.code ?? 'detached'})`,
      last,
    );
  try {
    const policy = PolicyRecord.fromMap(decode(payload, { maxBytes: POLICY_MAX_BYTES }));
    const names = new Set<string>();
    for (const r of policy.rules) {
      if (names.has(r.signal)) throw new Error(`signal ${r.signal} has two rules`);
      names.add(r.signal);
    }
    return policy;
  } catch (e) {
    throw refused(`the signed payload is not a policy: ${(e as Error).message}`, e);
  }
}
