/**
 * Enrollment end to end on a swtpm manufactured with EK certificates from a local CA (TCG EK
 * Credential Profile 2.0; TPM 2.0 Part 1 §24): EK certificate chain and key match, AK attribute
 * checks, credential activation, the record, and a later quote by the enrolled AK appraising
 * `ak-identity` as affirming. Failure codes for each verifier step.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { collectQuote } from '../src/collect/quote.ts';
import { activateEnrollment, type CollectedEnrollment, collectEnrollment, enrollTpm } from '../src/enroll.ts';
import { AttestationError } from '../src/errors.ts';
import { ALG_SHA256 } from '../src/hash.ts';
import { useSwtpm } from '../src/lab/fixture.ts';
import { TPMA_OBJECT as A, TPM_HT } from '../src/structures/constants.ts';
import { marshalPublic, parsePublic } from '../src/structures/public.ts';
import { listHandles } from '../src/tpm/capability.ts';
import { appraise } from '../src/verify/appraise.ts';
import { type EkTrustStore, parseCertificates } from '../src/verify/ek-cert.ts';
import { beginEnrollment, enrollmentFromJson, finishEnrollment, policyFromEnrollments } from '../src/verify/enrollment.ts';

let store: EkTrustStore;
let collected: CollectedEnrollment;
const fx = useSwtpm(test, {
  manufactured: true,
  async setup({ sw, tpm }) {
    store = {
      roots: parseCertificates(readFileSync(sw.ca.rootCert)),
      intermediates: parseCertificates(readFileSync(sw.ca.issuerCert)),
    };
    collected = await collectEnrollment(tpm);
  },
});
const { tpmTest } = fx;

tpmTest('enrollment: EK cert chain, key match, activation; the enrolled AK then appraises as trusted', async (t) => {
  const { record, akBlob } = await enrollTpm(fx.tpm, { store, now: new Date() });
  t.regex(record.akName, /^000b[0-9a-f]{64}$/);
  t.regex(record.ekCertFingerprint, /^[0-9a-f]{64}$/);
  t.is(record.tpm.model, 'swtpm');
  t.deepEqual(record.ekCertPath, ['CN=swtpm-localca', 'CN=swtpm-localca-rootca']);
  t.deepEqual(enrollmentFromJson(JSON.parse(JSON.stringify(record))), record);
  const nonce = await fx.tpm.getRandom(32);
  const { evidence } = await collectQuote(fx.tpm, { nonce, akBlob, pcrs: [0, 7] });
  const r = appraise({ evidence, expect: { nonce, bank: ALG_SHA256, pcrs: [0, 7] }, policy: policyFromEnrollments([record]) });
  t.is(r.checks.find((c) => c.name === 'ak-identity')?.status, 'affirming');
  t.is(r.status, 'affirming', JSON.stringify(r.checks));
  t.deepEqual(await listHandles(fx.tpm, TPM_HT.TRANSIENT), []);
  t.deepEqual(await listHandles(fx.tpm, TPM_HT.POLICY_SESSION), []);
});

tpmTest('a wrong returned secret is CREDENTIAL_SECRET_MISMATCH; the right one enrolls', async (t) => {
  const { challenge, pending } = beginEnrollment(collected.request, { store, now: new Date() });
  const secret = await activateEnrollment(fx.tpm, collected.akBlob, challenge);
  const wrong = new Uint8Array(secret);
  wrong[0] = (wrong[0] ?? 0) ^ 1;
  t.throws(() => finishEnrollment(pending, wrong), { instanceOf: AttestationError, code: 'CREDENTIAL_SECRET_MISMATCH' });
  t.is(finishEnrollment(pending, secret).akPublic, Buffer.from(collected.request.akPublic).toString('hex'));
});

tpmTest('verifier refusals: untrusted root, another EK, a non-restricted AK, an edited record', (t) => {
  const now = new Date();
  t.throws(() => beginEnrollment(collected.request, { store: { roots: store.intermediates!.slice(0, 0) }, now }), {
    code: 'EK_CERT_UNTRUSTED',
  });
  t.throws(() => beginEnrollment(collected.request, { store: { roots: store.roots }, now }), { code: 'EK_CERT_UNTRUSTED' });
  t.throws(() => beginEnrollment(collected.request, { store, now: new Date(Date.UTC(10000, 0, 2)) }), {
    code: 'EK_CERT_EXPIRED',
  });
  const ek = parsePublic(collected.request.ekPublic);
  if (ek.type !== 0x0001) return t.fail('RSA EK expected');
  const modulus = new Uint8Array(ek.modulus);
  modulus[0] = (modulus[0] ?? 0) ^ 0x01;
  t.throws(() => beginEnrollment({ ...collected.request, ekPublic: marshalPublic({ ...ek, modulus }) }, { store, now }), {
    code: 'EK_KEY_MISMATCH',
  });
  t.throws(() => beginEnrollment({ ...collected.request, ekPublic: new Uint8Array([1, 2, 3]) }, { store, now }), {
    code: 'EK_KEY_MISMATCH',
  });
  const ak = parsePublic(collected.request.akPublic);
  for (const drop of [A.restricted, A.fixedTPM]) {
    const akPublic = marshalPublic({ ...ak, attributes: ak.attributes & ~drop });
    t.throws(() => beginEnrollment({ ...collected.request, akPublic }, { store, now }), { code: 'CREDENTIAL_AK_REFUSED' });
  }
  const { pending } = beginEnrollment(collected.request, { store, now });
  const record = finishEnrollment(pending, pending.secret);
  t.throws(() => enrollmentFromJson({ ...record, akName: `000b${'00'.repeat(32)}` }), { code: 'POLICY_INVALID' });
});
