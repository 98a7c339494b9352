/**
 * Key evidence appraisal with provisioning roots (`appraiseKeyEvidenceWithRoots`): the evidence's
 * `x5chain` must verify to a configured root for the key that signed the evidence. Affirming for
 * the Key's own chain (and the identity becomes certified), contraindicated for a chain for
 * another key, an untrusted or expired chain, a malformed or unprotected `x5chain`; a warning
 * without a chain; the synchronous appraisal fails closed when given roots.
 */
import { encode } from '@enigm/protocols/cbor';
import { signSign1 } from '@enigm/protocols/cose';
import { ed25519Generate } from '@enigm/protocols/crypto';
import { HEADER_IDENTITY_KEY, HEADER_X5CHAIN, KeyClaims } from '@enigm/protocols/evidence';
import test from 'ava';
import { appraiseKeyEvidence, appraiseKeyEvidenceWithRoots, type KeyAppraisalInput } from '../src/key/appraise.ts';
import { createCa, issueKeyCertificate } from '../src/pki/index.ts';

const nonce = new Uint8Array(32).fill(5);
const key = ed25519Generate();
const stranger = ed25519Generate();
const setup = (async () => {
  const ca = await createCa();
  const leaf = await issueKeyCertificate(ca, { identityPublicKey: key.publicKey, model: 'enigm-key-1' });
  const strangerLeaf = await issueKeyCertificate(ca, { identityPublicKey: stranger.publicKey, model: 'enigm-key-1' });
  return { ca, leaf, strangerLeaf, chain: [leaf.der, ca.intermediate.certificate.der] };
})();

function evidence(chain: unknown, where: 'protected' | 'unprotected' = 'protected'): Uint8Array {
  const claims = KeyClaims.toMap({
    nonce,
    ueid: new Uint8Array(17).fill(1),
    hwmodel: new TextEncoder().encode('enigm-key-1'),
    uptime: 1,
    bootcount: 1,
    swname: 'enigm-key-firmware',
    swversion: ['1.0.0'],
    lifecycle: 'factory',
    securityCounter: 1,
    hostRole: 'provisioning',
    firmwareDigest: new Uint8Array(32),
  });
  const x5 = chain === undefined ? [] : [[HEADER_X5CHAIN, chain] as [number, never]];
  return signSign1({
    payload: encode(claims),
    seed: key.seed,
    ...(where === 'protected' ? { extraProtected: new Map(x5) } : {}),
    unprotected: new Map<number, never>([[HEADER_IDENTITY_KEY, key.publicKey as never], ...(where === 'unprotected' ? x5 : [])]),
  });
}

const input = (ev: Uint8Array, roots: string, at?: Date): KeyAppraisalInput => ({
  evidence: ev,
  nonce,
  reference: { roots, allowedFirmwareDigests: ['00'.repeat(32)], minSecurityCounter: 1, expectedStates: ['factory'] },
  ...(at ? { at } : {}),
});
const cert = (a: { checks: { name: string; status: string; reason: string }[] }) =>
  a.checks.find((c) => c.name === 'certificate');

test("the Key's own chain to the root: affirming, identity certified", async (t) => {
  const { ca, chain } = await setup;
  const a = await appraiseKeyEvidenceWithRoots(input(evidence(chain), ca.root.certificate.pem));
  t.is(a.status, 'affirming', JSON.stringify(a.checks));
  t.is(cert(a)?.status, 'affirming');
  t.like(
    a.checks.find((c) => c.name === 'identity'),
    { status: 'affirming' },
  );
  t.deepEqual(a.chain, chain);
});

test('a chain for another key, an untrusted root, an expired chain: contraindicated with the PKI code', async (t) => {
  const { ca, strangerLeaf, chain } = await setup;
  const other = await appraiseKeyEvidenceWithRoots(
    input(evidence([strangerLeaf.der, ca.intermediate.certificate.der]), ca.root.certificate.pem),
  );
  t.is(other.status, 'contraindicated');
  t.regex(cert(other)?.reason ?? '', /PKI_KEY_MISMATCH/);
  const untrusted = await appraiseKeyEvidenceWithRoots(input(evidence(chain), (await createCa()).root.certificate.pem));
  t.regex(cert(untrusted)?.reason ?? '', /PKI_CHAIN_UNTRUSTED/);
  const late = await appraiseKeyEvidenceWithRoots(
    input(evidence(chain), ca.root.certificate.pem, new Date(Date.UTC(2090, 0, 1))),
  );
  t.regex(cert(late)?.reason ?? '', /PKI_CERT_EXPIRED/);
  // A bare leaf does not reach the root alone; with the intermediate given as `intermediates` it does.
  const bareEv = evidence(chain[0]);
  t.regex(cert(await appraiseKeyEvidenceWithRoots(input(bareEv, ca.root.certificate.pem)))?.reason ?? '', /PKI_CHAIN_UNTRUSTED/);
  const withInter = input(bareEv, ca.root.certificate.pem);
  const completed = await appraiseKeyEvidenceWithRoots({
    ...withInter,
    reference: { ...withInter.reference, intermediates: ca.intermediate.certificate.pem },
  });
  t.is(cert(completed)?.status, 'affirming');
});

test('no chain: warning; malformed or unprotected x5chain: contraindicated; sync appraisal with roots fails closed', async (t) => {
  const { ca, chain } = await setup;
  const none = await appraiseKeyEvidenceWithRoots(input(evidence(undefined), ca.root.certificate.pem));
  t.is(cert(none)?.status, 'warning');
  t.is(none.status, 'warning');
  const bad = await appraiseKeyEvidenceWithRoots(input(evidence(42), ca.root.certificate.pem));
  t.like(bad.checks[0], { name: 'structure', status: 'contraindicated' });
  const unprotected = await appraiseKeyEvidenceWithRoots(input(evidence(chain, 'unprotected'), ca.root.certificate.pem));
  t.like(unprotected.checks[0], { name: 'structure', status: 'contraindicated' });
  const sync = appraiseKeyEvidence(input(evidence(chain), ca.root.certificate.pem));
  t.is(sync.status, 'contraindicated');
  t.is(cert(sync)?.status, 'contraindicated');
  const noRoots = await appraiseKeyEvidenceWithRoots({ evidence: evidence(chain), nonce });
  t.is(cert(noRoots), undefined, 'without roots the chain is not judged');
});
