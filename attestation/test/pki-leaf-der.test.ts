/**
 * RFC 5280 §4.1 Key certificates written directly as DER (`src/pki/leaf-der.ts`, the issuing
 * path of `issueKeyCertificate`) are byte for byte what `@peculiar/x509` writes for the same
 * fields — serial, validity (UTCTime and, from 2050, GeneralizedTime), names, key, the four
 * extensions and the Ed25519 signature (deterministic) — for arbitrary identity keys, serials,
 * models and times (fast-check); a model outside PrintableString (`_`) takes the library's path.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import fc from 'fast-check';
import { createCa, type IssuingCa, issueKeyCertificate } from '../src/pki/ca.ts';
import { printable } from '../src/pki/leaf-der.ts';
import { keySubjectName } from '../src/pki/profile.ts';
import { loadX509 } from '../src/pki/x509.ts';

let ca: IssuingCa;
test.before(async () => {
  ca = await createCa({ now: () => new Date('2026-01-01T00:00:00Z') });
});

/** The library's certificate for the same fields (what `issueKeyCertificate` built before). */
async function byLibrary(ca: IssuingCa, identity: Uint8Array, model: string, serial: string, notBefore: Date, notAfter: Date) {
  const x509 = await loadX509();
  const issuer = ca.intermediate.certificate;
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), identity]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: keySubjectName(identity, model),
    issuer: issuer.subject,
    notBefore,
    notAfter,
    signingAlgorithm: { name: 'Ed25519' },
    publicKey: new Uint8Array(spki),
    signingKey: ca.intermediate.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.SubjectKeyIdentifierExtension(createHash('sha1').update(identity).digest('hex')),
      new x509.AuthorityKeyIdentifierExtension(issuer.keyId),
    ],
  });
  return { der: new Uint8Array(cert.rawData), subject: cert.subject, serial: cert.serialNumber.toLowerCase() };
}

test('RFC 5280 §4.1: the directly written Key certificate equals the library’s, byte for byte', async (t) => {
  const start = ca.intermediate.certificate.notBefore.getTime();
  const end = ca.intermediate.certificate.notAfter.getTime();
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9 .-]{0,20}[A-Za-z0-9.-])?$/), // a valid model (checkModel)
      fc.integer({ min: 0, max: 1000 }),
      async (identity, serialBytes, model, days) => {
        const random = () => Uint8Array.from(serialBytes);
        const now = new Date(start + days * 86_400_000);
        const leaf = await issueKeyCertificate(ca, { identityPublicKey: identity, model, now: () => now, random });
        const ref = await byLibrary(ca, identity, model, leaf.serial, leaf.notBefore, leaf.notAfter);
        t.deepEqual(Buffer.from(leaf.der).toString('hex'), Buffer.from(ref.der).toString('hex'));
        t.is(leaf.subject, ref.subject);
        t.is(leaf.serial, ref.serial);
        t.true(leaf.notAfter.getTime() <= end);
      },
    ),
    { numRuns: 40 },
  );
});

test('RFC 5280 §4.1.2.5: a validity past 2049 is GeneralizedTime, as the library writes it', async (t) => {
  const late = await createCa({ now: () => new Date('2045-06-01T12:00:00Z') });
  const identity = new Uint8Array(32).fill(9);
  const leaf = await issueKeyCertificate(late, {
    identityPublicKey: identity,
    model: 'enigm-key-1',
    now: () => new Date('2045-06-02T00:00:00Z'),
    random: () => new Uint8Array(16).fill(0x42),
  });
  t.true(leaf.notAfter.getUTCFullYear() >= 2050, 'the certificate ends after 2049');
  const ref = await byLibrary(late, identity, 'enigm-key-1', leaf.serial, leaf.notBefore, leaf.notAfter);
  t.is(Buffer.from(leaf.der).toString('hex'), Buffer.from(ref.der).toString('hex'));
});

test('a model outside PrintableString (an underscore) is issued by the library, the same certificate', async (t) => {
  t.false(printable('enigm_key'));
  t.true(printable('enigm-key-1'));
  for (const model of ['enigm_key', 'Key_2 b']) {
    const identity = new Uint8Array(32).fill(3);
    const leaf = await issueKeyCertificate(ca, {
      identityPublicKey: identity,
      model,
      now: () => new Date('2026-02-01T00:00:00Z'),
      random: () => new Uint8Array(16).fill(0x11),
    });
    const ref = await byLibrary(ca, identity, model, leaf.serial, leaf.notBefore, leaf.notAfter);
    t.is(Buffer.from(leaf.der).toString('hex'), Buffer.from(ref.der).toString('hex'), model);
  }
});
