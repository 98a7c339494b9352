/**
 * The provisioning PKI's certificates (RFC 5280): §4.1.2.2 serial numbers, §4.1.2.5 validity,
 * §4.1.2.6 subject, §4.2.1.1/§4.2.1.2 authority and subject key identifiers, §4.2.1.3 key usage,
 * §4.2.1.9 basic constraints and path length — each read back with Node's `X509Certificate` and
 * `openssl x509`, not with the library that wrote them — and chain verification (§6.1) with every
 * refusal; `openssl verify -CAfile root.pem -untrusted intermediate.pem leaf.pem` accepts what we
 * issue (fails, not skips, under CI=true without openssl). PKCS#10 requests (RFC 2986) as proof
 * of possession of the identity key.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { AttestationError, AttestationErrorCode } from '../src/errors.ts';
import {
  type CaKeyPair,
  createCa,
  createKeyCsr,
  createRootCa,
  issueFromCsr,
  issueKeyCertificate,
  type KeyChainResult,
  keyCertificateId,
  type ProvisioningCa,
  rotateIntermediate,
  verifyKeyChain,
} from '../src/pki/index.ts';
import { loadX509 } from '../src/pki/x509.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
const DAY = 86_400_000;

/** Deterministic random bytes: SHA-256 of a seed and a counter. */
function seeded(seed: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 32) {
      const h = createHash('sha256').update(`${seed}/${counter++}`).digest();
      out.set(h.subarray(0, Math.min(32, n - i)), i);
    }
    return out;
  };
}

async function ed25519Keys(): Promise<{ keys: CryptoKeyPair; raw: Uint8Array }> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  return { keys, raw: new Uint8Array(await webcrypto.subtle.exportKey('raw', keys.publicKey)) };
}

const node = (pem: string) => new X509Certificate(pem);

function hasOpenssl(): boolean {
  return spawnSync('openssl', ['version']).status === 0;
}

/** `openssl x509 -ext NAME` as text (OpenSSL ≥ 1.1.1). */
function opensslExt(pem: string, ext: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-ext', ext], { input: pem }).toString();
}

function expectInvalid(t: ExecutionContext, r: KeyChainResult, code: AttestationErrorCode): void {
  t.false(r.valid);
  if (!r.valid) t.is(r.code, code, r.reason);
}

let ca: ProvisioningCa;
let identity: { keys: CryptoKeyPair; raw: Uint8Array };
let leafPem = '';
let chainPem = '';

test.before(async () => {
  ca = await createCa({ now: () => NOW, random: seeded('ca') });
  identity = await ed25519Keys();
  const leaf = await issueKeyCertificate(ca, {
    identityPublicKey: identity.raw,
    model: 'EK1',
    now: () => NOW,
    random: seeded('leaf'),
  });
  leafPem = leaf.pem;
  chainPem = leaf.chainPem;
});

test('RFC 5280 §4.2.1.9: the root and intermediate are CAs with path lengths 1 and 0; a Key certificate is not a CA', (t) => {
  t.true(node(ca.root.certificate.pem).ca);
  t.true(node(ca.intermediate.certificate.pem).ca);
  t.false(node(leafPem).ca);
  if (!hasOpenssl()) return t.pass('path lengths need openssl (checked by the openssl test under CI)');
  t.regex(opensslExt(ca.root.certificate.pem, 'basicConstraints'), /critical\s+CA:TRUE, pathlen:1/);
  t.regex(opensslExt(ca.intermediate.certificate.pem, 'basicConstraints'), /critical\s+CA:TRUE, pathlen:0/);
  t.regex(opensslExt(leafPem, 'basicConstraints'), /critical\s+CA:FALSE/);
});

test('RFC 5280 §4.2.1.3: keyUsage is critical: keyCertSign and cRLSign on CAs, digitalSignature only on a Key certificate', (t) => {
  if (!hasOpenssl()) return t.pass('needs openssl');
  for (const pem of [ca.root.certificate.pem, ca.intermediate.certificate.pem])
    t.regex(opensslExt(pem, 'keyUsage'), /Key Usage: critical\s+Certificate Sign, CRL Sign\s*$/);
  t.regex(opensslExt(leafPem, 'keyUsage'), /Key Usage: critical\s+Digital Signature\s*$/);
});

test('RFC 5280 §4.2.1.1, §4.2.1.2: each authorityKeyIdentifier is its issuer’s subjectKeyIdentifier (SHA-1 of the key)', (t) => {
  if (!hasOpenssl()) return t.pass('needs openssl');
  const keyId = (pem: string, ext: string) =>
    (/([0-9A-F]{2}(?::[0-9A-F]{2}){19})/.exec(opensslExt(pem, ext))?.[1] ?? '').replace(/:/g, '').toLowerCase();
  const rootSki = keyId(ca.root.certificate.pem, 'subjectKeyIdentifier');
  const intSki = keyId(ca.intermediate.certificate.pem, 'subjectKeyIdentifier');
  t.is(rootSki.length, 40);
  t.is(keyId(ca.intermediate.certificate.pem, 'authorityKeyIdentifier'), rootSki);
  t.is(keyId(leafPem, 'authorityKeyIdentifier'), intSki);
  t.is(keyId(leafPem, 'subjectKeyIdentifier'), createHash('sha1').update(identity.raw).digest('hex'));
  t.is(ca.intermediate.certificate.keyId, intSki);
});

test('RFC 5280 §4.1.2.5: root 20 years, intermediate 5 years, Key certificate capped at its intermediate', (t) => {
  const years = (pem: string) => {
    const c = node(pem);
    return [new Date(c.validFrom).toISOString(), new Date(c.validTo).toISOString()];
  };
  t.deepEqual(years(ca.root.certificate.pem), ['2026-03-01T12:00:00.000Z', '2046-03-01T12:00:00.000Z']);
  t.deepEqual(years(ca.intermediate.certificate.pem), ['2026-03-01T12:00:00.000Z', '2031-03-01T12:00:00.000Z']);
  t.deepEqual(years(leafPem), ['2026-03-01T12:00:00.000Z', '2031-03-01T12:00:00.000Z']);
});

test('RFC 5280 §4.1.2.5: an explicit notAfter past the intermediate, an empty period or an expired intermediate is PKI_VALIDITY_INVALID', async (t) => {
  const base = { identityPublicKey: identity.raw, model: 'EK1', now: () => NOW };
  const e1 = await t.throwsAsync(issueKeyCertificate(ca, { ...base, notAfter: new Date('2031-03-02T00:00:00Z') }));
  t.is((e1 as AttestationError).code, 'PKI_VALIDITY_INVALID');
  const e2 = await t.throwsAsync(issueKeyCertificate(ca, { ...base, notBefore: NOW, notAfter: NOW }));
  t.is((e2 as AttestationError).code, 'PKI_VALIDITY_INVALID');
  const e3 = await t.throwsAsync(issueKeyCertificate(ca, { ...base, now: () => new Date('2031-03-01T12:00:00Z') }));
  t.is((e3 as AttestationError).code, 'PKI_VALIDITY_INVALID');
  t.regex((e3 as Error).message, /expired at 2031-03-01T12:00:00.000Z: rotate/);
  const until = new Date('2030-01-01T00:00:00Z');
  const ok = await issueKeyCertificate(ca, { ...base, notAfter: until });
  t.is(new Date(node(ok.pem).validTo).getTime(), until.getTime());
});

test('RFC 5280 §4.1.2.2: serial numbers are positive 16-byte integers from the injected randomness, distinct per certificate', async (t) => {
  const serials = [ca.root.certificate, ca.intermediate.certificate].map((c) => node(c.pem).serialNumber);
  serials.push(node(leafPem).serialNumber);
  for (const s of serials) {
    t.is(s.length, 32, s);
    t.true(Number.parseInt(s.slice(0, 2), 16) >= 1 && Number.parseInt(s.slice(0, 2), 16) <= 0x7f);
  }
  t.is(new Set(serials).size, 3);
  const again = await createCa({ now: () => NOW, random: seeded('ca') });
  t.is(again.root.certificate.serial, ca.root.certificate.serial, 'same randomness, same serial');
  const zero = await createRootCa({ now: () => NOW, random: (n) => new Uint8Array(n) });
  t.is(zero.certificate.serial.slice(0, 2), '01', 'an all-zero first byte is forced positive and minimal');
});

test('RFC 5280 §4.1.2.6: a Key certificate names the model and a key-derived id, never an owner; each link is issued by the next', (t) => {
  const leaf = node(leafPem);
  t.is(leaf.subject, `CN=${keyCertificateId(identity.raw)}\nOU=EK1\nO=Enigm`);
  t.is(leaf.subjectAltName, undefined);
  t.deepEqual(new Uint8Array(leaf.publicKey.export({ format: 'der', type: 'spki' })).slice(12), identity.raw);
  const int = node(ca.intermediate.certificate.pem);
  const root = node(ca.root.certificate.pem);
  t.true(leaf.checkIssued(int) && leaf.verify(int.publicKey));
  t.true(int.checkIssued(root) && int.verify(root.publicKey));
  t.true(root.checkIssued(root) && root.verify(root.publicKey));
  t.false(leaf.verify(root.publicKey));
});

test('openssl verify -CAfile root.pem -untrusted intermediate.pem leaf.pem accepts an issued Key certificate, and refuses a tampered one', async (t) => {
  if (!hasOpenssl()) {
    if (process.env.CI === 'true') return t.fail('openssl is missing (scripts/setup.sh installs it)');
    return t.pass('openssl is not installed');
  }
  const live = await createCa();
  const { raw } = await ed25519Keys();
  const leaf = await issueKeyCertificate(live, { identityPublicKey: raw, model: 'EK1' });
  const dir = mkdtempSync(join(tmpdir(), 'enigm-pki-'));
  try {
    writeFileSync(join(dir, 'root.pem'), live.root.certificate.pem);
    writeFileSync(join(dir, 'intermediate.pem'), live.intermediate.certificate.pem);
    writeFileSync(join(dir, 'leaf.pem'), leaf.pem);
    const ok = spawnSync('openssl', ['verify', '-CAfile', 'root.pem', '-untrusted', 'intermediate.pem', 'leaf.pem'], {
      cwd: dir,
    });
    t.is(ok.status, 0, ok.stderr.toString());
    t.regex(ok.stdout.toString(), /leaf\.pem: OK/);
    const der = Buffer.from(leaf.der);
    der[der.length - 1] = (der[der.length - 1] as number) ^ 0x01;
    writeFileSync(join(dir, 'tampered.der'), der);
    execFileSync('openssl', ['x509', '-inform', 'DER', '-in', 'tampered.der', '-out', 'tampered.pem'], { cwd: dir });
    const bad = spawnSync('openssl', ['verify', '-CAfile', 'root.pem', '-untrusted', 'intermediate.pem', 'tampered.pem'], {
      cwd: dir,
    });
    t.not(bad.status, 0);
    const rotated = await rotateIntermediate(live);
    const leaf2 = await issueKeyCertificate(rotated, { identityPublicKey: raw, model: 'EK1' });
    writeFileSync(join(dir, 'intermediate2.pem'), rotated.intermediate.certificate.pem);
    writeFileSync(join(dir, 'leaf2.pem'), leaf2.pem);
    const ok2 = spawnSync('openssl', ['verify', '-CAfile', 'root.pem', '-untrusted', 'intermediate2.pem', 'leaf2.pem'], {
      cwd: dir,
    });
    t.is(ok2.status, 0, ok2.stderr.toString());
    const old = spawnSync('openssl', ['verify', '-CAfile', 'root.pem', '-untrusted', 'intermediate.pem', 'leaf.pem'], {
      cwd: dir,
    });
    t.is(old.status, 0, 'the old intermediate still verifies what it issued');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('RFC 5280 §6.1: a Key chain verifies to its root at a time inside every validity period', async (t) => {
  const r = await verifyKeyChain(chainPem, {
    roots: ca.root.certificate.pem,
    at: new Date(NOW.getTime() + DAY),
    expectedIdentityKey: identity.raw,
  });
  t.true(r.valid, r.valid ? '' : r.reason);
  if (!r.valid) return;
  t.deepEqual(r.identityKey, identity.raw);
  t.is(r.model, 'EK1');
  t.is(r.keyId, keyCertificateId(identity.raw));
  t.deepEqual(
    r.path.map((l) => l.subject),
    [
      `CN=${keyCertificateId(identity.raw)}, OU=EK1, O=Enigm`,
      'CN=Enigm Key Provisioning CA G1, O=Enigm',
      'CN=Enigm Key Root CA, O=Enigm',
    ],
  );
  const der = await verifyKeyChain([node(leafPem).raw, node(ca.intermediate.certificate.pem).raw], {
    roots: [node(ca.root.certificate.pem).raw],
    at: NOW,
  });
  t.true(der.valid, 'DER input');
});

test('RFC 5280 §6.1: a chain to another root is PKI_CHAIN_UNTRUSTED; a missing intermediate too', async (t) => {
  const other = await createCa({ now: () => NOW });
  expectInvalid(t, await verifyKeyChain(chainPem, { roots: other.root.certificate.pem, at: NOW }), 'PKI_CHAIN_UNTRUSTED');
  expectInvalid(t, await verifyKeyChain(leafPem, { roots: ca.root.certificate.pem, at: NOW }), 'PKI_CHAIN_UNTRUSTED');
});

test('RFC 5280 §6.1.3 (a)(2): after notAfter a chain is PKI_CERT_EXPIRED; before notBefore PKI_CERT_NOT_YET_VALID', async (t) => {
  const roots = ca.root.certificate.pem;
  expectInvalid(t, await verifyKeyChain(chainPem, { roots, at: new Date('2031-03-01T12:00:01Z') }), 'PKI_CERT_EXPIRED');
  expectInvalid(t, await verifyKeyChain(chainPem, { roots, at: new Date(NOW.getTime() - 1000) }), 'PKI_CERT_NOT_YET_VALID');
  t.true((await verifyKeyChain(chainPem, { roots, at: new Date('2031-03-01T12:00:00Z') })).valid, 'notAfter itself is inside');
});

test('a Key certificate for another identity key than the expected one is PKI_KEY_MISMATCH', async (t) => {
  const other = await ed25519Keys();
  expectInvalid(
    t,
    await verifyKeyChain(chainPem, { roots: ca.root.certificate.pem, at: NOW, expectedIdentityKey: other.raw }),
    'PKI_KEY_MISMATCH',
  );
});

test('RFC 5280 §4.1.1.3: a tampered signature (leaf or intermediate) is PKI_CHAIN_INVALID', async (t) => {
  for (const which of [0, 1]) {
    const pems = [leafPem, ca.intermediate.certificate.pem].map((p) => Buffer.from(node(p).raw));
    const der = pems[which] as Buffer;
    der[der.length - 5] = (der[der.length - 5] as number) ^ 0x40;
    expectInvalid(t, await verifyKeyChain(pems, { roots: ca.root.certificate.pem, at: NOW }), 'PKI_CHAIN_INVALID');
  }
  const bad = await verifyKeyChain('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', {
    roots: ca.root.certificate.pem,
    at: NOW,
  });
  expectInvalid(t, bad, 'PKI_CERT_MALFORMED');
  expectInvalid(t, await verifyKeyChain('no pem here', { roots: ca.root.certificate.pem, at: NOW }), 'PKI_CERT_MALFORMED');
});

/** A certificate signed by `issuer` with the given constraints (for the refusal tests only). */
async function craft(
  issuer: CaKeyPair,
  subject: string,
  opts: { ca: boolean; pathLen?: number; keyCertSign?: boolean; keys?: CryptoKeyPair },
): Promise<CaKeyPair> {
  const x509 = await loadX509();
  const keys = opts.keys ?? (await ed25519Keys()).keys;
  const usage = opts.keyCertSign === false ? x509.KeyUsageFlags.digitalSignature : x509.KeyUsageFlags.keyCertSign;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0102',
    subject,
    issuer: issuer.certificate.subject,
    notBefore: NOW,
    notAfter: new Date(NOW.getTime() + 365 * DAY),
    signingAlgorithm: { name: 'Ed25519' },
    publicKey: keys.publicKey,
    signingKey: issuer.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(opts.ca, opts.pathLen, true),
      new x509.KeyUsagesExtension(usage, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.AuthorityKeyIdentifierExtension(issuer.certificate.keyId),
    ],
  });
  const der = new Uint8Array(cert.rawData);
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? '';
  return {
    certificate: {
      der,
      pem: cert.toString('pem'),
      subject: cert.subject,
      serial: '0102',
      notBefore: NOW,
      notAfter: cert.notAfter,
      keyId: ski,
    },
    privateKey: keys.privateKey,
  };
}

test('RFC 5280 §6.1.4 (k): an intermediate without the CA flag cannot issue (PKI_CHAIN_INVALID)', async (t) => {
  const notCa = await craft(ca.root, 'CN=Not a CA, O=Enigm', { ca: false });
  const leaf = await issueKeyCertificate(
    { intermediate: notCa },
    { identityPublicKey: identity.raw, model: 'EK1', now: () => NOW },
  );
  const r = await verifyKeyChain(leaf.chainPem, { roots: ca.root.certificate.pem, at: NOW });
  expectInvalid(t, r, 'PKI_CHAIN_INVALID');
  t.regex(r.valid ? '' : r.reason, /not a CA/);
});

test('RFC 5280 §6.1.4 (n): an issuer whose keyUsage lacks keyCertSign is PKI_CHAIN_INVALID', async (t) => {
  const noSign = await craft(ca.root, 'CN=No keyCertSign, O=Enigm', { ca: true, pathLen: 0, keyCertSign: false });
  const leaf = await issueKeyCertificate(
    { intermediate: noSign },
    { identityPublicKey: identity.raw, model: 'EK1', now: () => NOW },
  );
  expectInvalid(t, await verifyKeyChain(leaf.chainPem, { roots: ca.root.certificate.pem, at: NOW }), 'PKI_CHAIN_INVALID');
});

test('RFC 5280 §6.1.4 (l), (m): a CA below the pathLen-0 intermediate exceeds the path length (PKI_CHAIN_INVALID)', async (t) => {
  const sub = await craft(ca.intermediate, 'CN=Sub CA, O=Enigm', { ca: true });
  const leaf = await issueKeyCertificate(
    { intermediate: sub },
    { identityPublicKey: identity.raw, model: 'EK1', now: () => NOW },
  );
  const r = await verifyKeyChain(leaf.chainPem + ca.intermediate.certificate.pem, { roots: ca.root.certificate.pem, at: NOW });
  expectInvalid(t, r, 'PKI_CHAIN_INVALID');
  t.regex(r.valid ? '' : r.reason, /pathLenConstraint 0/);
});

test('a leaf that is a CA certificate is not a Key certificate (PKI_PROFILE)', async (t) => {
  const { keys } = await ed25519Keys();
  const leafCa = await craft(ca.intermediate, 'CN=K-x, OU=EK1, O=Enigm', { ca: true, keys });
  expectInvalid(
    t,
    await verifyKeyChain(leafCa.certificate.pem + ca.intermediate.certificate.pem, { roots: ca.root.certificate.pem, at: NOW }),
    'PKI_PROFILE',
  );
});

test('rotation: the new intermediate is the next generation; chains of the old and the new one both verify until the old one expires', async (t) => {
  const later = new Date(NOW.getTime() + 400 * DAY);
  const rotated = await rotateIntermediate(ca, { now: () => later });
  t.is(rotated.generation, 2);
  t.is(rotated.intermediate.certificate.subject, 'CN=Enigm Key Provisioning CA G2, O=Enigm');
  t.not(rotated.intermediate.certificate.keyId, ca.intermediate.certificate.keyId);
  const fresh = await issueKeyCertificate(rotated, { identityPublicKey: identity.raw, model: 'EK1', now: () => later });
  const roots = ca.root.certificate.pem;
  t.true((await verifyKeyChain(fresh.chainPem, { roots, at: later })).valid);
  t.true((await verifyKeyChain(chainPem, { roots, at: later })).valid);
  const afterOld = new Date('2031-06-01T00:00:00Z');
  expectInvalid(t, await verifyKeyChain(chainPem, { roots, at: afterOld }), 'PKI_CERT_EXPIRED');
  t.true((await verifyKeyChain(fresh.chainPem, { roots, at: afterOld })).valid);
  // the leaf alone finds its retired intermediate among the extra helpers
  const allInts = ca.intermediate.certificate.pem + rotated.intermediate.certificate.pem;
  t.true((await verifyKeyChain(leafPem, { roots, at: later, intermediates: allInts })).valid);
  t.true((await verifyKeyChain(fresh.pem, { roots, at: later, intermediates: allInts })).valid);
});

test('RFC 2986: a CSR signed by the identity key is issued for that key (proof of possession)', async (t) => {
  const csr = await createKeyCsr(identity.keys);
  const leaf = await issueFromCsr(ca, csr, { model: 'EK2', expectedIdentityKey: identity.raw, now: () => NOW });
  const r = await verifyKeyChain(leaf.chainPem, { roots: ca.root.certificate.pem, at: NOW, expectedIdentityKey: identity.raw });
  t.true(r.valid);
  if (r.valid) t.is(r.model, 'EK2');
  const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(csr).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  t.true(
    (
      await verifyKeyChain((await issueFromCsr(ca, pem, { model: 'EK1', now: () => NOW })).chainPem, {
        roots: ca.root.certificate.pem,
        at: NOW,
      })
    ).valid,
  );
});

test('RFC 2986: a CSR for another key than the expected one is PKI_KEY_MISMATCH; a bad signature or a non-Ed25519 key PKI_CSR_INVALID', async (t) => {
  const other = await ed25519Keys();
  const csr = await createKeyCsr(other.keys);
  const e1 = await t.throwsAsync(issueFromCsr(ca, csr, { model: 'EK1', expectedIdentityKey: identity.raw }));
  t.is((e1 as AttestationError).code, 'PKI_KEY_MISMATCH');
  const tampered = Uint8Array.from(csr);
  tampered[tampered.length - 3] = (tampered[tampered.length - 3] as number) ^ 0x10;
  const e2 = await t.throwsAsync(issueFromCsr(ca, tampered, { model: 'EK1' }));
  t.is((e2 as AttestationError).code, 'PKI_CSR_INVALID');
  t.regex((e2 as Error).message, /proof of possession/);
  const e3 = await t.throwsAsync(issueFromCsr(ca, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), { model: 'EK1' }));
  t.is((e3 as AttestationError).code, 'PKI_CSR_INVALID');
  const x509 = await loadX509();
  const ec = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const ecCsr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=ec',
    keys: ec,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  const e4 = await t.throwsAsync(issueFromCsr(ca, new Uint8Array(ecCsr.rawData), { model: 'EK1' }));
  t.is((e4 as AttestationError).code, 'PKI_CSR_INVALID');
  t.regex((e4 as Error).message, /not an Ed25519 key/);
});

test('a model outside [A-Za-z0-9 ._-] is PKI_MODEL_INVALID (no DN injection); an identity key of the wrong length a TypeError', async (t) => {
  for (const model of ['', 'EK1, O=Evil', 'x'.repeat(65), 'EK+1', ' EK']) {
    const e = await t.throwsAsync(issueKeyCertificate(ca, { identityPublicKey: identity.raw, model }));
    t.is((e as AttestationError).code, 'PKI_MODEL_INVALID', model);
  }
  await t.throwsAsync(issueKeyCertificate(ca, { identityPublicKey: new Uint8Array(31), model: 'EK1' }), {
    instanceOf: TypeError,
  });
});
