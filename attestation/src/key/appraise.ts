/**
 * Appraisal of Key attestation evidence: pure functions, no device access. Given the evidence
 * bytes, the nonce the verifier issued, and reference values, it runs every check below and
 * returns an EAR-style result: an overall status (the worst of the checks) and one status and
 * reason per check. It never throws on bad evidence; malformed input is a contraindicated result.
 *
 * | check | affirming | warning | contraindicated |
 * |---|---|---|---|
 * | `structure` | COSE_Sign1 and claims decode | — | malformed evidence |
 * | `signature` | verifies with the identity key | — | does not verify |
 * | `identity` | matches the pinned/certified identity | no pinned identity: key taken from the evidence itself | differs from the pinned identity |
 * | `nonce` | equals the nonce the verifier issued (`input.nonce`, never the evidence's own) | — | differs (replayed or foreign evidence), or no verifier nonce given |
 * | `freshness` | received within `maxAgeMs` of issuing the nonce | — | too old |
 * | `firmware` | digest in the allowed list | no list given | digest not allowed |
 * | `security-counter` | ≥ the minimum | no minimum given | below the minimum (rollback) |
 * | `lifecycle` | state in the expected list | no list given, or not expected | revoked or retired |
 * | `host-role` | the role the verifier asked with | no role given | a different role |
 * | `revocation` (only with `reference.revocation`) | the Key's identity (and, once the chain verified, its certificate serial) is not on the verified list | — | the Key is listed (`KEY_REVOKED`, with the list's reason), or the list did not verify (its code: `REVOCATION_STALE`, `REVOCATION_UNTRUSTED`, `REVOCATION_SIGNATURE_INVALID`, …): a list that cannot be used is not "nothing is revoked" |
 * | `certificate` (only with `reference.roots`, in {@link appraiseKeyEvidenceWithRoots}) | the evidence's `x5chain` verifies to a configured root, for the key that signed the evidence (`identity` then becomes affirming: certified) | no chain in the evidence | a chain for another key, a bad or untrusted chain, or a certificate not valid at `at` |
 *
 * The chain check is asynchronous (certificate parsing), so it is in
 * {@link appraiseKeyEvidenceWithRoots}; the synchronous {@link appraiseKeyEvidence} fails closed
 * (`certificate` contraindicated) when it is given roots it cannot check.
 *
 * Single use: this function only compares. To make a nonce single-use with a time to live, issue
 * it with `VerifierStore.issueChallenge('key-evidence', { ttlMs })` and appraise with
 * `VerifierStore.appraiseKeyEvidence(...)` (or the pure `appraiseKeyEvidenceWithState`), which
 * consume it and add a `challenge` check.
 * @module
 */
import { bytesEqual, toHex } from '@enigm/protocols/bytes';
import { decode } from '@enigm/protocols/cbor';
import { decodeSign1, verifySign1 } from '@enigm/protocols/cose';
import { HEADER_IDENTITY_KEY, HEADER_X5CHAIN, KeyClaims, type KeyClaimsValue, x5chainOf } from '@enigm/protocols/evidence';
import type { HostRole, LifecycleState } from '@enigm/protocols/messages';
import { type CertificateInput, verifyKeyChain } from '../pki/verify.ts';
import { isRevoked, type RevocationEntry } from '../revocation/list.ts';
import type { RevocationVerifyResult } from '../revocation/verify.ts';

/** Appraisal status, ordered from best to worst (EAR trust tiers plus `none`). */
export type AppraisalStatus = 'affirming' | 'warning' | 'contraindicated' | 'none';

const RANK: Record<AppraisalStatus, number> = { none: 0, affirming: 1, warning: 2, contraindicated: 3 };

/** One check's outcome. */
export interface CheckResult {
  name: string;
  status: AppraisalStatus;
  reason: string;
}

/** Reference values and context of an appraisal. */
export interface KeyReferenceValues {
  /** Allowed firmware image digests (SHA-256, hex). */
  allowedFirmwareDigests?: readonly string[];
  /** Minimum firmware security counter. */
  minSecurityCounter?: number;
  /** Lifecycle states that are acceptable. */
  expectedStates?: readonly LifecycleState[];
  /**
   * Provisioning roots (trust anchors, PEM or DER). When set, the evidence's certificate chain
   * must verify to one of them for the evidence's signing key ({@link appraiseKeyEvidenceWithRoots}).
   */
  roots?: CertificateInput;
  /** Extra untrusted CA certificates for path building (e.g. retired intermediates). */
  intermediates?: CertificateInput;
  /**
   * A revocation list as {@link verifyRevocationList} returned it (trusted keys, the appraisal
   * time, the highest version seen). A Key listed by identity or certificate serial is
   * contraindicated; a list that did not verify (stale, untrusted, tampered, rolled back) is too.
   */
  revocation?: RevocationVerifyResult;
}

/** Inputs of {@link appraiseKeyEvidence}. */
export interface KeyAppraisalInput {
  evidence: Uint8Array;
  /** The nonce the verifier issued (its own copy, never taken from the evidence). Empty = contraindicated. */
  nonce: Uint8Array;
  /** Pinned or certified identity public key (Ed25519). Without it the identity is only self-asserted. */
  identity?: Uint8Array;
  /** When the nonce was issued and when the evidence arrived (ms, same clock) and the maximum age. */
  issuedAt?: number;
  receivedAt?: number;
  maxAgeMs?: number;
  /** Role the verifier's host holds on the Key. */
  hostRole?: HostRole;
  reference?: KeyReferenceValues;
  /** Time the chain is checked at: the verifier's clock, never the Key's (default: now). */
  at?: Date;
}

/** The appraisal result. */
export interface KeyAppraisal {
  status: AppraisalStatus;
  checks: CheckResult[];
  /** Decoded claims, when the evidence could be decoded (untrusted unless status is affirming). */
  claims?: KeyClaimsValue;
  /** The certificate chain the evidence carries (`x5chain`, DER, leaf first), if any; untrusted unless `certificate` is affirming. */
  chain?: Uint8Array[];
  /** The key the signature was checked under (pinned, or taken from the evidence). */
  signingKey?: Uint8Array;
}

function revokedReason(e: RevocationEntry, by: string): string {
  return `KEY_REVOKED: ${by} is on the revocation list (reason ${e.reason}, since ${new Date(e.revokedAt).toISOString()})`;
}

/** The `revocation` check for a Key (identity key and, when known, certificate serial). */
export function revocationCheck(r: RevocationVerifyResult, key: { identityKey?: Uint8Array; serial?: Uint8Array }): CheckResult {
  const name = 'revocation';
  if (!r.ok) return { name, status: 'contraindicated', reason: `${r.code}: ${r.message}` };
  if (key.identityKey) {
    const e = isRevoked(r.list, { identityKey: key.identityKey });
    if (e) return { name, status: 'contraindicated', reason: revokedReason(e, 'identity') };
  }
  if (key.serial) {
    const e = isRevoked(r.list, { serial: key.serial });
    if (e) return { name, status: 'contraindicated', reason: revokedReason(e, `certificate serial ${toHex(key.serial)}`) };
  }
  return {
    name,
    status: 'affirming',
    reason: `not on revocation list version ${r.list.version} (${key.serial ? 'identity and serial' : 'identity'} checked)`,
  };
}

const worst = (checks: readonly CheckResult[]): AppraisalStatus =>
  checks.reduce<AppraisalStatus>((w, c) => (RANK[c.status] > RANK[w] ? c.status : w), 'none');

/**
 * Appraises Key evidence like {@link appraiseKeyEvidence} and, when `reference.roots` is set,
 * checks the certificate chain the evidence carries (`x5chain`) with `verifyKeyChain`: to one of
 * the roots, at `input.at`, for the key the evidence is signed with. A chain that verifies makes
 * the identity certified (`identity` affirming even when nothing was pinned). Never throws on bad
 * evidence.
 */
export async function appraiseKeyEvidenceWithRoots(input: KeyAppraisalInput): Promise<KeyAppraisal> {
  const roots = input.reference?.roots;
  const { roots: _r, ...reference } = input.reference ?? {};
  const base = appraiseKeyEvidence({ ...input, reference });
  if (roots === undefined) return base;
  return addCertificateCheck(base, { ...reference, roots }, input.at);
}

/**
 * Adds the `certificate` check to an appraisal made without roots (e.g. the stateful, single-use
 * nonce appraisal of a `VerifierStore`): the evidence's chain must verify to `reference.roots` at
 * `at` for the key the evidence is signed with; see {@link appraiseKeyEvidenceWithRoots}.
 * @example const r = await addCertificateCheck(await store.appraiseKeyEvidence(input), { roots });
 */
export async function addCertificateCheck(
  base: KeyAppraisal,
  reference: KeyReferenceValues & { roots: CertificateInput },
  at?: Date,
): Promise<KeyAppraisal> {
  const roots = reference.roots;
  if (!base.signingKey || base.checks.some((c) => c.name === 'signature' && c.status !== 'affirming')) return base;
  const checks = [...base.checks];
  if (!base.chain) checks.push({ name: 'certificate', status: 'warning', reason: 'no certificate chain in the evidence' });
  else {
    const r = await verifyKeyChain(base.chain, {
      roots,
      at: at ?? new Date(),
      expectedIdentityKey: base.signingKey,
      ...(reference.intermediates !== undefined ? { intermediates: reference.intermediates } : {}),
    });
    if (r.valid) {
      const rev = reference.revocation;
      const serialHex = r.path[0]?.serial;
      if (rev !== undefined && serialHex) {
        const i = checks.findIndex((c) => c.name === 'revocation');
        const c = revocationCheck(rev, {
          identityKey: base.signingKey,
          serial: new Uint8Array(Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, 'hex')),
        });
        if (i >= 0) checks[i] = c;
        else checks.push(c);
      }
      checks.push({
        name: 'certificate',
        status: 'affirming',
        reason: `${r.keyId} (model ${r.model}) chains to ${r.path[r.path.length - 1]?.subject ?? 'a root'}`,
      });
      const i = checks.findIndex((c) => c.name === 'identity' && c.status === 'warning');
      if (i >= 0)
        checks[i] = { name: 'identity', status: 'affirming', reason: `identity certified by the provisioning PKI (${r.keyId})` };
    } else checks.push({ name: 'certificate', status: 'contraindicated', reason: `${r.code}: ${r.reason}` });
  }
  return { ...base, status: worst(checks), checks };
}

/** Appraises Key evidence. Pure; never throws. */
export function appraiseKeyEvidence(input: KeyAppraisalInput): KeyAppraisal {
  const checks: CheckResult[] = [];
  const add = (name: string, status: AppraisalStatus, reason: string) => checks.push({ name, status, reason });
  let chain: Uint8Array[] | undefined;
  let signingKey: Uint8Array | undefined;
  const done = (claims?: KeyClaimsValue): KeyAppraisal => ({
    status: worst(checks),
    checks,
    ...(claims ? { claims } : {}),
    ...(chain ? { chain } : {}),
    ...(signingKey ? { signingKey } : {}),
  });

  let headerKey: Uint8Array | undefined;
  let claims: KeyClaimsValue;
  try {
    const s = decodeSign1(input.evidence);
    const k = s.unprotectedHeaders.get(HEADER_IDENTITY_KEY);
    headerKey = k instanceof Uint8Array ? k : undefined;
    if (s.unprotectedHeaders.has(HEADER_X5CHAIN)) throw new Error('x5chain must be in the protected header');
    chain = x5chainOf(s.protectedHeaders.get(HEADER_X5CHAIN));
    claims = KeyClaims.fromMap(decode(s.payload ?? new Uint8Array(0)));
    add('structure', 'affirming', 'COSE_Sign1 over a valid Key claims set');
  } catch (e) {
    add('structure', 'contraindicated', `malformed evidence: ${(e as Error).message}`);
    return done();
  }

  const key = input.identity ?? headerKey;
  if (!key) {
    add('identity', 'contraindicated', 'no identity key: none pinned and none in the evidence');
    return done(claims);
  }
  if (input.identity && headerKey && !bytesEqual(input.identity, headerKey))
    add('identity', 'contraindicated', `evidence names identity ${toHex(headerKey)}, pinned is ${toHex(input.identity)}`);
  else if (input.identity) add('identity', 'affirming', 'identity matches the pinned key');
  else add('identity', 'warning', 'identity is self-asserted by the evidence (not pinned or certified)');

  try {
    verifySign1(input.evidence, key);
    signingKey = key;
    add('signature', 'affirming', 'EdDSA signature verifies');
  } catch (e) {
    add('signature', 'contraindicated', `signature does not verify: ${(e as Error).message}`);
    return done(claims);
  }

  if (input.nonce.length === 0)
    add('nonce', 'contraindicated', 'no verifier nonce given: the nonce in the evidence alone proves no freshness');
  else if (bytesEqual(claims.nonce, input.nonce)) add('nonce', 'affirming', 'nonce matches');
  else add('nonce', 'contraindicated', 'nonce differs from the one issued (replayed or foreign evidence)');

  if (input.issuedAt !== undefined && input.receivedAt !== undefined && input.maxAgeMs !== undefined) {
    const age = input.receivedAt - input.issuedAt;
    if (age >= 0 && age <= input.maxAgeMs) add('freshness', 'affirming', `answered ${age} ms after the nonce`);
    else add('freshness', 'contraindicated', `answered ${age} ms after the nonce (limit ${input.maxAgeMs} ms)`);
  }

  const ref = input.reference ?? {};
  const fw = toHex(claims.firmwareDigest);
  if (!ref.allowedFirmwareDigests) add('firmware', 'warning', `firmware ${fw} not checked: no allowed list`);
  else if (ref.allowedFirmwareDigests.map((d) => d.toLowerCase()).includes(fw))
    add('firmware', 'affirming', `firmware ${fw} is allowed`);
  else add('firmware', 'contraindicated', `firmware ${fw} is not in the allowed list`);

  if (ref.minSecurityCounter === undefined) add('security-counter', 'warning', 'no minimum security counter given');
  else if (claims.securityCounter >= ref.minSecurityCounter)
    add('security-counter', 'affirming', `security counter ${claims.securityCounter} ≥ ${ref.minSecurityCounter}`);
  else
    add(
      'security-counter',
      'contraindicated',
      `security counter ${claims.securityCounter} < ${ref.minSecurityCounter} (rollback)`,
    );

  if (claims.lifecycle === 'revoked' || claims.lifecycle === 'retired')
    add('lifecycle', 'contraindicated', `Key is ${claims.lifecycle}`);
  else if (!ref.expectedStates) add('lifecycle', 'warning', `state ${claims.lifecycle} not checked: no expected states`);
  else if (ref.expectedStates.includes(claims.lifecycle)) add('lifecycle', 'affirming', `state ${claims.lifecycle} is expected`);
  else add('lifecycle', 'warning', `state ${claims.lifecycle} is not among ${ref.expectedStates.join(', ')}`);

  if (!input.hostRole) add('host-role', 'none', 'asking role not given');
  else if (claims.hostRole === input.hostRole) add('host-role', 'affirming', `asked as ${claims.hostRole}`);
  else add('host-role', 'contraindicated', `evidence says it was asked by ${claims.hostRole}, not ${input.hostRole}`);

  if (ref.revocation !== undefined) checks.push(revocationCheck(ref.revocation, { identityKey: key }));

  if (ref.roots !== undefined)
    add('certificate', 'contraindicated', 'roots given, but the chain is checked only by appraiseKeyEvidenceWithRoots');

  return done(claims);
}
