/**
 * Key evidence appraisal with a revocation list (`reference.revocation`, a `verifyRevocationList`
 * result): a Key listed by identity or by certificate serial is contraindicated with a
 * `revocation` check naming the reason; an unlisted Key is affirming; a stale, untrusted or
 * tampered list is contraindicated with its code (a list that cannot be used is not "nothing is
 * revoked").
 */
import { encode } from '@enigm/protocols/cbor';
import { signSign1 } from '@enigm/protocols/cose';
import { ed25519Generate } from '@enigm/protocols/crypto';
import { HEADER_IDENTITY_KEY, HEADER_X5CHAIN, KeyClaims } from '@enigm/protocols/evidence';
import test from 'ava';
import { appraiseKeyEvidence, appraiseKeyEvidenceWithRoots, type KeyAppraisalInput } from '../src/key/appraise.ts';
import { createCa, issueKeyCertificate } from '../src/pki/index.ts';
import {
  createRevocationList,
  type RevocationList,
  revocationSignerFromSeed,
  signRevocationList,
  verifyRevocationList,
} from '../src/revocation/index.ts';

const nonce = new Uint8Array(32).fill(5);
const key = ed25519Generate();
const other = ed25519Generate();
const revKey = ed25519Generate();
const signer = revocationSignerFromSeed(revKey.seed);
const NOW = Date.UTC(2026, 0, 10);
const DAY = 86_400_000;

function evidence(chain?: Uint8Array[]): Uint8Array {
  const claims = KeyClaims.toMap({
    nonce,
    ueid: new Uint8Array(17).fill(1),
    hwmodel: new TextEncoder().encode('enigm-key-1'),
    uptime: 1,
    bootcount: 1,
    swname: 'enigm-key-firmware',
    swversion: ['1.0.0'],
    lifecycle: 'dormant',
    securityCounter: 1,
    hostRole: 'owner',
    firmwareDigest: new Uint8Array(32),
  });
  return signSign1({
    payload: encode(claims),
    seed: key.seed,
    ...(chain ? { extraProtected: new Map([[HEADER_X5CHAIN, chain as never]]) } : {}),
    unprotected: new Map<number, never>([[HEADER_IDENTITY_KEY, key.publicKey as never]]),
  });
}

function list(entries: Parameters<typeof createRevocationList>[0]['entries'] = []): RevocationList {
  return createRevocationList({ issuerPublicKey: revKey.publicKey, issuedAt: NOW - DAY, nextUpdate: NOW + DAY, entries });
}
const verified = (l: RevocationList, now = NOW) =>
  verifyRevocationList(signRevocationList(l, signer), { trustedKeys: [revKey.publicKey], now });

const input = (revocation: ReturnType<typeof verifyRevocationList>, ev = evidence()): KeyAppraisalInput => ({
  evidence: ev,
  nonce,
  identity: key.publicKey,
  reference: { allowedFirmwareDigests: ['00'.repeat(32)], minSecurityCounter: 1, expectedStates: ['dormant'], revocation },
});
const rev = (a: { checks: { name: string; status: string; reason: string }[] }) => a.checks.find((c) => c.name === 'revocation');

test('an unlisted Key: revocation affirming, the appraisal unchanged', (t) => {
  const a = appraiseKeyEvidence(
    input(verified(list([{ subject: { identityKey: other.publicKey }, revokedAt: NOW - DAY, reason: 'lost' }]))),
  );
  t.is(a.status, 'affirming', JSON.stringify(a.checks));
  t.is(rev(a)?.status, 'affirming');
  t.regex(rev(a)?.reason ?? '', /version 1/);
  t.is(
    appraiseKeyEvidence({ ...input(verified(list())), reference: {} }).checks.find((c) => c.name === 'revocation'),
    undefined,
  );
});

test('a Key listed by identity: contraindicated, the reason named', (t) => {
  const a = appraiseKeyEvidence(
    input(verified(list([{ subject: { identityKey: key.publicKey }, revokedAt: NOW - DAY, reason: 'key-compromise' }]))),
  );
  t.is(a.status, 'contraindicated');
  t.is(rev(a)?.status, 'contraindicated');
  t.regex(rev(a)?.reason ?? '', /KEY_REVOKED.*identity.*key-compromise/);
});

test('a Key listed by certificate serial: contraindicated once the chain verified', async (t) => {
  const ca = await createCa();
  const leaf = await issueKeyCertificate(ca, { identityPublicKey: key.publicKey, model: 'enigm-key-1' });
  const chain = [leaf.der, ca.intermediate.certificate.der];
  const serial = new Uint8Array(Buffer.from(leaf.serial.length % 2 ? `0${leaf.serial}` : leaf.serial, 'hex'));
  const l = verified(list([{ subject: { serial }, revokedAt: NOW - DAY, reason: 'replaced' }]));
  const base = input(l, evidence(chain));
  const a = await appraiseKeyEvidenceWithRoots({
    ...base,
    reference: { ...base.reference, roots: ca.root.certificate.pem },
    at: new Date(),
  });
  t.is(a.status, 'contraindicated', JSON.stringify(a.checks));
  t.regex(rev(a)?.reason ?? '', /KEY_REVOKED.*serial.*replaced/);
  t.is(a.checks.filter((c) => c.name === 'revocation').length, 1);
  const clean = await appraiseKeyEvidenceWithRoots({
    ...input(verified(list()), evidence(chain)),
    reference: { ...base.reference, revocation: verified(list()), roots: ca.root.certificate.pem },
    at: new Date(),
  });
  t.is(rev(clean)?.status, 'affirming');
  t.regex(rev(clean)?.reason ?? '', /identity and serial/);
});

test('a stale, untrusted or tampered list: contraindicated with its code', (t) => {
  const stale = appraiseKeyEvidence(input(verified(list(), NOW + 2 * DAY)));
  t.is(stale.status, 'contraindicated');
  t.regex(rev(stale)?.reason ?? '', /^REVOCATION_STALE/);
  const bytes = signRevocationList(list(), signer);
  const untrusted = appraiseKeyEvidence(input(verifyRevocationList(bytes, { trustedKeys: [other.publicKey], now: NOW })));
  t.regex(rev(untrusted)?.reason ?? '', /^REVOCATION_UNTRUSTED/);
  const tampered = bytes.slice();
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
  const bad = appraiseKeyEvidence(input(verifyRevocationList(tampered, { trustedKeys: [revKey.publicKey], now: NOW })));
  t.is(bad.status, 'contraindicated');
  t.regex(rev(bad)?.reason ?? '', /^REVOCATION_SIGNATURE_INVALID/);
});
