/**
 * EK certificates (TCG EK Credential Profile 2.0 §2.2.1; TPM 2.0 Part 3 §31.13 NV_ReadPublic,
 * §31.13 NV_Read): read from the NV index of a swtpm manufactured by swtpm_setup with a local CA
 * (chunked reads), then the pure chain, validity and key-match checks with each failure code.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AttestationError } from '../src/errors.ts';
import { useSwtpm } from '../src/lab/fixture.ts';
import { EK_CERT_NV_INDEX, TPM_HT, TPM_PT, TPM_RH } from '../src/structures/constants.ts';
import type { RsaPublic, TpmPublic } from '../src/structures/public.ts';
import { getTpmProperty, listHandles } from '../src/tpm/capability.ts';
import { nvRead, nvReadPublic, readEkCertificate } from '../src/tpm/nv.ts';
import { ekTemplate } from '../src/tpm/templates.ts';
import { type EkTrustStore, parseCertificates, verifyEkCertificate } from '../src/verify/ek-cert.ts';

let der: Uint8Array;
let ek: TpmPublic;
let store: EkTrustStore;
let other = '';
let NOW = new Date();
const fx = useSwtpm(test, {
  manufactured: true,
  async setup({ sw, tpm }) {
    der = await readEkCertificate(tpm, 'rsa2048');
    NOW = new Date();
    const o = await tpm.createPrimary(ekTemplate('rsa'), { hierarchy: TPM_RH.ENDORSEMENT });
    await tpm.flushContext(o.handle);
    ek = o.public;
    store = {
      roots: parseCertificates(readFileSync(sw.ca.rootCert), 'root'),
      intermediates: parseCertificates(readFileSync(sw.ca.issuerCert), 'intermediate'),
    };
    other = mkdtempSync(join(tmpdir(), 'enigm-otherca-'));
  },
  teardown() {
    if (other) rmSync(other, { recursive: true, force: true });
  },
});
const { tpmTest } = fx;

/** A self-signed RSA-2048 CA certificate made by openssl (RSA: OpenSSL only matches issuers whose key type fits the signature). */
function opensslCa(name: string, subject: string, extra: string[] = []): string {
  const key = join(other, `${name}.key`);
  const crt = join(other, `${name}.pem`);
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key], { stdio: 'ignore' });
  execFileSync('openssl', ['req', '-x509', '-new', '-key', key, '-subj', subject, '-days', '2', '-out', crt, ...extra], {
    stdio: 'ignore',
  });
  return readFileSync(crt, 'utf8');
}

const code = (
  t: { throws: (fn: () => unknown, e: { instanceOf: typeof AttestationError; code: string }) => unknown },
  c: string,
  fn: () => unknown,
) => t.throws(fn, { instanceOf: AttestationError, code: c });

tpmTest('the EK certificate NV index reads whole and in small chunks; NV buffer max and NV handles are reported', async (t) => {
  t.is(await getTpmProperty(fx.tpm, TPM_PT.NV_BUFFER_MAX), 1024);
  const nv = await listHandles(fx.tpm, TPM_HT.NV_INDEX);
  t.true(nv.includes(EK_CERT_NV_INDEX.rsa2048), nv.map((h) => h.toString(16)).join(','));
  const pub = await nvReadPublic(fx.tpm, EK_CERT_NV_INDEX.rsa2048);
  t.true(pub.dataSize >= der.length);
  const chunked = await nvRead(fx.tpm, EK_CERT_NV_INDEX.rsa2048, { chunk: 100 });
  t.deepEqual(chunked.subarray(0, der.length), der);
  t.is(der[0], 0x30);
});

tpmTest('a swtpm EK certificate verifies to the local CA root and matches the EK made from the TCG template', (t) => {
  const info = verifyEkCertificate({ certificate: der, store, now: NOW, ek });
  t.is(info.issuer, 'CN=swtpm-localca');
  t.deepEqual(info.path, ['CN=swtpm-localca', 'CN=swtpm-localca-rootca']);
  t.is(info.tpm.model, 'swtpm');
  t.is(info.tpm.manufacturer, 'id:00001014');
  t.regex(info.fingerprint, /^[0-9a-f]{64}$/);
  // the intermediate as a trust anchor is enough, too
  t.deepEqual(verifyEkCertificate({ certificate: der, store: { roots: store.intermediates! }, now: NOW }).path, [
    'CN=swtpm-localca',
  ]);
});

tpmTest('no certificate in the ECC P-256 index is EK_CERT_MISSING', async (t) => {
  const e = await t.throwsAsync(readEkCertificate(fx.tpm, 'eccP256'), { instanceOf: AttestationError });
  t.is(e?.code, 'EK_CERT_MISSING');
});

tpmTest('an unknown root, a missing intermediate or no roots is EK_CERT_UNTRUSTED', (t) => {
  const foreign = parseCertificates(opensslCa('foreign', '/CN=Foreign TPM Root CA'));
  code(t, 'EK_CERT_UNTRUSTED', () =>
    verifyEkCertificate({ certificate: der, store: { roots: foreign, intermediates: store.intermediates! }, now: NOW }),
  );
  code(t, 'EK_CERT_UNTRUSTED', () => verifyEkCertificate({ certificate: der, store: { roots: store.roots }, now: NOW }));
  code(t, 'EK_CERT_UNTRUSTED', () => verifyEkCertificate({ certificate: der, store: { roots: [] }, now: NOW }));
});

tpmTest('an intermediate with the right name but another key is EK_CERT_CHAIN', (t) => {
  const forged = parseCertificates(opensslCa('forged', '/CN=swtpm-localca', ['-addext', 'subjectKeyIdentifier=none']));
  code(t, 'EK_CERT_CHAIN', () =>
    verifyEkCertificate({ certificate: der, store: { roots: store.roots, intermediates: forged }, now: NOW }),
  );
  code(t, 'EK_CERT_CHAIN', () => verifyEkCertificate({ certificate: der, store: { roots: forged }, now: NOW }));
});

tpmTest('outside the validity period is EK_CERT_EXPIRED', (t) => {
  code(t, 'EK_CERT_EXPIRED', () => verifyEkCertificate({ certificate: der, store, now: new Date('2000-01-01T00:00:00Z') }));
  code(t, 'EK_CERT_EXPIRED', () => verifyEkCertificate({ certificate: der, store, now: new Date(Date.UTC(10000, 0, 2)) }));
});

tpmTest('another key than the certified one is EK_KEY_MISMATCH; garbage is EK_CERT_MALFORMED', (t) => {
  const rsa = ek as RsaPublic;
  const modulus = new Uint8Array(rsa.modulus);
  modulus[10] = (modulus[10] ?? 0) ^ 1;
  code(t, 'EK_KEY_MISMATCH', () => verifyEkCertificate({ certificate: der, store, now: NOW, ek: { ...rsa, modulus } }));
  code(t, 'EK_CERT_MALFORMED', () => verifyEkCertificate({ certificate: der.subarray(0, 200), store, now: NOW }));
  code(t, 'EK_CERT_MALFORMED', () => parseCertificates('not a pem'));
});
