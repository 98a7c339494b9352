/**
 * The dependency-free Ed25519 PKCS#10 builder and reader: checked against OpenSSL
 * (`openssl req -verify`), against the provisioning CA (`checkKeyCsr`, `issueFromCsr`), and
 * against tampering (a flipped bit, a foreign signer, a request for another key).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkKeyCsr, createCa, issueFromCsr, keyCertificateId, toPem } from '@enigm/attestation';
import { ed25519Generate, ed25519Sign } from '@enigm/protocols/crypto';
import { buildEd25519Csr, issuedBy, keyIdOf, parseCertificate, parseEd25519Csr, X509Error } from '@enigm/protocols/x509';
import test from 'ava';

const dir = mkdtempSync(join(tmpdir(), 'enigm-csr-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const keyPair = (b: number) => ed25519Generate((n) => new Uint8Array(n).fill(b));

test('the CSR verifies with openssl req -verify and names CN=K-<id>', (t) => {
  const k = keyPair(1);
  const der = buildEd25519Csr(k.publicKey, (m) => ed25519Sign(k.seed, m));
  const path = join(dir, 'a.csr');
  writeFileSync(path, toPem(der, 'CERTIFICATE REQUEST'));
  const out = execFileSync('openssl', ['req', '-in', path, '-noout', '-verify', '-subject'], { encoding: 'utf8', stdio: 'pipe' });
  t.regex(out, new RegExp(`subject=CN\\s?=\\s?${keyIdOf(k.publicKey)}`));
  t.is(keyIdOf(k.publicKey), keyCertificateId(k.publicKey));
  const parsed = parseEd25519Csr(der);
  t.deepEqual(parsed.publicKey, k.publicKey);
});

test('the CA accepts the CSR (proof of possession), refuses it for another expected key, and the certificate parses back', async (t) => {
  const k = keyPair(2);
  const other = keyPair(3);
  const der = buildEd25519Csr(k.publicKey, (m) => ed25519Sign(k.seed, m));
  t.deepEqual(await checkKeyCsr(der, k.publicKey), k.publicKey);
  const e = await t.throwsAsync(checkKeyCsr(der, other.publicKey));
  t.is((e as { code?: string }).code, 'PKI_KEY_MISMATCH');
  const ca = await createCa();
  const cert = await issueFromCsr(ca, der, { model: 'enigm-key-1', expectedIdentityKey: k.publicKey });
  const leaf = parseCertificate(cert.der);
  const inter = parseCertificate(ca.intermediate.certificate.der);
  t.deepEqual(leaf.ed25519Key, k.publicKey);
  t.true(issuedBy(leaf, inter));
  t.false(issuedBy(inter, leaf));
  t.true(leaf.notBefore.getTime() <= Date.now() && leaf.notAfter.getTime() > Date.now());
});

test('a tampered CSR, a foreign signer and garbage are named errors', async (t) => {
  const k = keyPair(4);
  const other = keyPair(5);
  t.throws(() => buildEd25519Csr(k.publicKey, (m) => ed25519Sign(other.seed, m)), {
    instanceOf: X509Error,
    message: /did not sign/,
  });
  const der = buildEd25519Csr(k.publicKey, (m) => ed25519Sign(k.seed, m));
  const flipped = der.slice();
  flipped[40] = (flipped[40] as number) ^ 1;
  const e = t.throws(() => parseEd25519Csr(flipped), { instanceOf: X509Error });
  t.true(['X509_BAD_SIGNATURE', 'X509_MALFORMED'].includes(e?.code ?? ''));
  const sig = der.slice();
  sig[sig.length - 1] = (sig[sig.length - 1] as number) ^ 1;
  t.is(t.throws(() => parseEd25519Csr(sig), { instanceOf: X509Error })?.code, 'X509_BAD_SIGNATURE');
  await t.throwsAsync(checkKeyCsr(sig));
  t.is(t.throws(() => parseEd25519Csr(der.subarray(0, der.length - 1)), { instanceOf: X509Error })?.code, 'X509_MALFORMED');
  t.is(t.throws(() => parseEd25519Csr(Uint8Array.of(0x30, 0x80, 0, 0)), { instanceOf: X509Error })?.code, 'X509_MALFORMED');
  t.is(t.throws(() => parseCertificate(der), { instanceOf: X509Error })?.code, 'X509_MALFORMED');
});
