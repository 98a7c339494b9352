/**
 * Certificates of the provisioning PKI as plain data: parsing PEM or DER, and what a certificate
 * says (subject, serial, validity, key identifiers, fingerprint) without any key material.
 * @module
 */

import { createHash, X509Certificate as NodeCertificate } from 'node:crypto';
import { toHex } from '@enigm/protocols/bytes';
import { AttestationError } from '../errors.ts';
import { loadX509 } from './x509.ts';

/** A certificate as DER and PEM. */
export interface CertificateData {
  /** DER encoding. */
  readonly der: Uint8Array;
  /** PEM text (one `CERTIFICATE` block, trailing newline). */
  readonly pem: string;
}

/** What a certificate says, for display and for `ca.json`: no key material. */
export interface CertificateSummary {
  readonly subject: string;
  readonly issuer: string;
  /** Serial number, lowercase hex. */
  readonly serial: string;
  /** ISO 8601. */
  readonly notBefore: string;
  /** ISO 8601. */
  readonly notAfter: string;
  /** subjectKeyIdentifier, lowercase hex (absent if the certificate has none). */
  readonly subjectKeyId?: string;
  /** authorityKeyIdentifier keyIdentifier, lowercase hex (absent if none). */
  readonly authorityKeyId?: string;
  /** SHA-256 of the DER, lowercase hex. */
  readonly fingerprint: string;
  /** Raw 32-byte Ed25519 public key, lowercase hex (absent if the key is not Ed25519). */
  readonly publicKey?: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The DER of an Ed25519 SubjectPublicKeyInfo is this 12-byte prefix and the 32-byte key. */
export const ED25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

/** A leaf just issued under an intermediate: its encodings, names, validity and chain. */
export interface IssuedLeaf {
  readonly der: Uint8Array;
  readonly pem: string;
  readonly subject: string;
  /** Serial number, lowercase hex. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The leaf then its intermediate, PEM. */
  readonly chainPem: string;
}

/**
 * What the issuers return for a certificate they just made (Key and TLS leaves alike).
 * @param cert - the issued certificate (`@peculiar/x509` X509Certificate)
 * @param issuerPem - the intermediate's PEM, appended for the chain
 */
export function issuedLeaf(
  cert: { rawData: ArrayBuffer; subject: string; serialNumber: string; notBefore: Date; notAfter: Date },
  issuerPem: string,
): IssuedLeaf {
  const der = new Uint8Array(cert.rawData);
  const pem = toPem(der);
  return {
    der,
    pem,
    subject: cert.subject,
    serial: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    chainPem: pem + issuerPem,
  };
}

/** PEM text of one DER block. */
export function toPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * Splits certificates out of PEM text (every `CERTIFICATE` block) or DER, without parsing them.
 * @throws {@link AttestationError} `PKI_CERT_MALFORMED` if there is none
 */
export function certificateDers(
  input: string | Uint8Array | readonly (string | Uint8Array)[],
  what = 'certificate',
): Uint8Array[] {
  if (Array.isArray(input)) return (input as readonly (string | Uint8Array)[]).flatMap((i) => certificateDers(i, what));
  const one = input as string | Uint8Array;
  const text = typeof one === 'string' ? one : Buffer.from(one).toString('latin1');
  const blocks = text.match(PEM_CERT);
  const ders: Uint8Array[] = [];
  if (blocks) {
    for (const b of blocks) {
      const body = b.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
      ders.push(new Uint8Array(Buffer.from(body, 'base64')));
    }
  } else if (typeof one !== 'string' && one.length > 0) ders.push(Uint8Array.from(one));
  if (ders.length === 0)
    throw new AttestationError('PKI_CERT_MALFORMED', `${what} holds no certificate (no PEM CERTIFICATE block)`);
  return ders;
}

/**
 * Parses certificates: every `CERTIFICATE` block of a PEM text, or DER certificates.
 * @param input - PEM text (or its bytes), one DER certificate, or a list of either
 * @param what - what the input is, for the message
 * @throws {@link AttestationError} `PKI_CERT_MALFORMED` if a block does not parse or there is none
 */
export function parseCertificateList(
  input: string | Uint8Array | readonly (string | Uint8Array)[],
  what = 'certificate',
): CertificateData[] {
  return certificateDers(input, what).map((der) => {
    try {
      const c = new NodeCertificate(Buffer.from(der));
      return { der: new Uint8Array(c.raw), pem: toPem(new Uint8Array(c.raw)) };
    } catch (e) {
      throw new AttestationError('PKI_CERT_MALFORMED', `${what} does not parse as X.509: ${(e as Error).message}`, { cause: e });
    }
  });
}

/** SHA-256 of a certificate's DER, lowercase hex. */
export function certificateSha256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** The raw Ed25519 key of a DER SubjectPublicKeyInfo, or undefined if it is not one. */
export function ed25519KeyFromSpki(spki: Uint8Array): Uint8Array | undefined {
  if (spki.length !== 44) return undefined;
  for (let i = 0; i < ED25519_SPKI_PREFIX.length; i++) if (spki[i] !== ED25519_SPKI_PREFIX[i]) return undefined;
  return spki.slice(12);
}

/**
 * What a certificate says: subject, issuer, serial, validity, key identifiers, fingerprint.
 * @throws {@link AttestationError} `PKI_CERT_MALFORMED` if it does not parse
 */
export async function summarizeCertificate(cert: CertificateData | Uint8Array): Promise<CertificateSummary> {
  const der = cert instanceof Uint8Array ? cert : cert.der;
  const x509 = await loadX509();
  let c: InstanceType<typeof x509.X509Certificate>;
  try {
    c = new x509.X509Certificate(Uint8Array.from(der));
  } catch (e) {
    throw new AttestationError('PKI_CERT_MALFORMED', `certificate does not parse as X.509: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const ski = c.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = c.getExtension(x509.AuthorityKeyIdentifierExtension);
  const key = ed25519KeyFromSpki(new Uint8Array(c.publicKey.rawData));
  return {
    subject: c.subject,
    issuer: c.issuer,
    serial: c.serialNumber.toLowerCase(),
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    ...(ski ? { subjectKeyId: ski.keyId.toLowerCase() } : {}),
    ...(aki?.keyId ? { authorityKeyId: aki.keyId.toLowerCase() } : {}),
    fingerprint: certificateSha256(der),
    ...(key ? { publicKey: toHex(key) } : {}),
  };
}
