/**
 * Pure checks of an EK certificate (TCG EK Credential Profile 2.0): the certificate parses, its
 * chain reaches a configured manufacturer root, every certificate on the path is valid at the
 * given time, and the EK the TPM presented is the key in the certificate. No device, no network
 * (no AIA fetching), no clock: the verification time is an input. The checks, in order:
 *
 * - the EK certificate (DER or PEM) parses (`EK_CERT_MALFORMED`);
 * - path building, leaf upwards: an issuer is a root or intermediate whose subject (and key
 *   identifier) matches the certificate's issuer; its signature over the certificate must verify
 *   and it must be a CA (basicConstraints cA) — otherwise `EK_CERT_CHAIN`; the path stops at the
 *   first configured root; a path that ends anywhere else is `EK_CERT_UNTRUSTED`; at most 8 hops;
 * - every certificate on the path, root included, has notBefore ≤ now ≤ notAfter (`EK_CERT_EXPIRED`);
 * - the certificate's SubjectPublicKeyInfo equals the EK's public key, compared as DER SPKI
 *   (`EK_KEY_MISMATCH`).
 *
 * EK certificates routinely carry extensions a generic RFC 5280 validator rejects: a critical
 * subjectAltName holding a directoryName with the TPM manufacturer, model and version (TCG OIDs
 * 2.23.133.2.1–3) and an empty subject, a subjectDirectoryAttributes with the TPM specification,
 * and the tcg-kp-EKCertificate extended key usage (2.23.133.8.1). These are accepted, not
 * processed; the SAN's TPM identity is returned for display.
 *
 * @module
 */

import { createHash, X509Certificate } from 'node:crypto';
import { toHex } from '@enigm/protocols/bytes';
import { AttestationError } from '../errors.ts';
import type { TpmPublic } from '../structures/public.ts';
import { tpmPublicKey } from './keys.ts';

/** Longest certificate path followed (leaf to root). */
export const MAX_CHAIN_LENGTH = 8;

/** Manufacturer trust anchors and untrusted helper certificates for path building. */
export interface EkTrustStore {
  /** Trust anchors: a path that reaches one of these is trusted (self-signed or not). */
  readonly roots: readonly X509Certificate[];
  /** Untrusted intermediate CA certificates that may complete a path. */
  readonly intermediates?: readonly X509Certificate[];
}

/** TPM identity from the EK certificate's subjectAltName (TCG OIDs 2.23.133.2.1–3). */
export interface TpmIdentity {
  readonly manufacturer?: string;
  readonly model?: string;
  readonly version?: string;
}

/** What a verified EK certificate says. */
export interface EkCertificateInfo {
  /** SHA-256 of the certificate DER, lowercase hex. */
  readonly fingerprint: string;
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  /** ISO time. */
  readonly notAfter: string;
  /** Subjects from the leaf's issuer up to the trust anchor that ends the path. */
  readonly path: readonly string[];
  readonly tpm: TpmIdentity;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Parses certificates: one DER certificate, or every `CERTIFICATE` block of a PEM text.
 * @param what - what the data is, for the error message
 * @throws {@link AttestationError} `EK_CERT_MALFORMED` if nothing parses
 * @example const roots = parseCertificates(readFileSync('ca.pem'), 'root CA file');
 */
export function parseCertificates(data: Uint8Array | string, what = 'certificate'): X509Certificate[] {
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
  const blocks = text.match(PEM_CERT);
  try {
    if (blocks) return blocks.map((b) => new X509Certificate(b));
    if (typeof data === 'string') throw new Error('no PEM CERTIFICATE block');
    return [new X509Certificate(Buffer.from(data))];
  } catch (e) {
    throw new AttestationError('EK_CERT_MALFORMED', `${what} does not parse as X.509: ${(e as Error).message}`, { cause: e });
  }
}

/** SHA-256 fingerprint (lowercase hex) of a certificate's DER. */
export function certificateFingerprint(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}

function checkTime(c: X509Certificate, now: Date): void {
  const from = Date.parse(c.validFrom);
  const to = Date.parse(c.validTo);
  if (!(now.getTime() >= from))
    throw new AttestationError('EK_CERT_EXPIRED', `certificate '${c.subject}' is not valid before ${c.validFrom}`);
  if (!(now.getTime() <= to)) throw new AttestationError('EK_CERT_EXPIRED', `certificate '${c.subject}' expired at ${c.validTo}`);
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return child.checkIssued(parent);
}

function checkSignedBy(child: X509Certificate, parent: X509Certificate): void {
  let ok = false;
  try {
    ok = child.verify(parent.publicKey);
  } catch {
    ok = false;
  }
  if (!ok)
    throw new AttestationError('EK_CERT_CHAIN', `'${child.subject}' is not signed by the key of its issuer '${parent.subject}'`);
  if (!parent.ca) throw new AttestationError('EK_CERT_CHAIN', `issuer '${parent.subject}' is not a CA (basicConstraints)`);
}

/**
 * Builds and checks the path from the EK certificate to a configured root.
 * @returns the subjects on the path, leaf's issuer first
 * @throws {@link AttestationError} `EK_CERT_CHAIN`, `EK_CERT_UNTRUSTED`, `EK_CERT_EXPIRED`
 */
export function verifyCertificatePath(leaf: X509Certificate, store: EkTrustStore, now: Date): string[] {
  if (store.roots.length === 0) throw new AttestationError('EK_CERT_UNTRUSTED', 'no manufacturer roots are configured');
  checkTime(leaf, now);
  const path: string[] = [];
  let cur = leaf;
  for (let hop = 0; hop < MAX_CHAIN_LENGTH; hop++) {
    const root = store.roots.find((r) => issuedBy(cur, r));
    if (root) {
      checkSignedBy(cur, root);
      checkTime(root, now);
      path.push(root.subject);
      return path;
    }
    const next = (store.intermediates ?? []).find((i) => issuedBy(cur, i) && i.raw.compare(cur.raw) !== 0);
    if (!next) {
      const selfSigned = cur.checkIssued(cur);
      throw new AttestationError(
        'EK_CERT_UNTRUSTED',
        selfSigned
          ? `the path ends at '${cur.subject}', which is not a configured root`
          : `no configured root or intermediate issued '${cur.subject}' (issuer '${cur.issuer}')`,
      );
    }
    checkSignedBy(cur, next);
    checkTime(next, now);
    path.push(next.subject);
    cur = next;
  }
  throw new AttestationError('EK_CERT_CHAIN', `no root within ${MAX_CHAIN_LENGTH} certificates`);
}

/** Reads the TPM manufacturer, model and version from a subjectAltName directoryName, if present. */
export function tpmIdentity(cert: X509Certificate): TpmIdentity {
  const san = cert.subjectAltName ?? '';
  const out: Record<string, string> = {};
  const keys: Record<string, string> = { '1': 'manufacturer', '2': 'model', '3': 'version' };
  for (const m of san.matchAll(/2\.23\.133\.2\.([123])=(#[0-9A-Fa-f]+|[^,"\\]+)/g)) {
    const v = m[2]!;
    out[keys[m[1]!]!] = v.startsWith('#') ? derString(Buffer.from(v.slice(1), 'hex')) : v;
  }
  return out;
}

/** The content of a short DER string (UTF8String, PrintableString, IA5String), else its hex. */
function derString(b: Buffer): string {
  if (b.length >= 2 && [0x0c, 0x13, 0x16].includes(b[0]!) && b[1]! < 0x80 && b[1]! + 2 === b.length)
    return b.subarray(2).toString('utf8');
  return toHex(b);
}

/**
 * Checks that a TPM key is the key of a certificate (DER SubjectPublicKeyInfo equality).
 * @throws {@link AttestationError} `EK_KEY_MISMATCH` if they differ or the TPM key is invalid
 */
export function checkEkMatchesCertificate(ek: TpmPublic, cert: X509Certificate): void {
  let spki: Buffer;
  try {
    spki = tpmPublicKey(ek).export({ type: 'spki', format: 'der' });
  } catch (e) {
    throw new AttestationError('EK_KEY_MISMATCH', `the EK public area is not a usable key: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const certSpki = cert.publicKey.export({ type: 'spki', format: 'der' });
  if (!spki.equals(certSpki))
    throw new AttestationError('EK_KEY_MISMATCH', `the EK is not the key certified by '${cert.subject}' (${cert.issuer})`);
}

/** Inputs of {@link verifyEkCertificate}. */
export interface EkCertificateInput {
  /** The EK certificate, DER (as read from NV) or PEM. Untrusted. */
  readonly certificate: Uint8Array | string;
  readonly store: EkTrustStore;
  /** Verification time. */
  readonly now: Date;
  /** The EK public area created from the TCG template, to compare with the certificate. */
  readonly ek?: TpmPublic;
}

/**
 * Verifies an EK certificate: parse, path to a configured root, validity of every certificate on
 * the path at `now`, and (if `ek` is given) the EK key equals the certified key. Pure.
 * @throws {@link AttestationError} `EK_CERT_MALFORMED`, `EK_CERT_CHAIN`, `EK_CERT_UNTRUSTED`,
 *   `EK_CERT_EXPIRED`, `EK_KEY_MISMATCH`
 * @example
 * const info = verifyEkCertificate({ certificate: der, store: { roots }, now: new Date(), ek });
 * info.fingerprint; // sha256 of the DER, hex
 */
export function verifyEkCertificate(input: EkCertificateInput): EkCertificateInfo {
  const all = parseCertificates(input.certificate, 'EK certificate');
  const cert = all[0]!;
  const path = verifyCertificatePath(cert, input.store, input.now);
  if (input.ek) checkEkMatchesCertificate(input.ek, cert);
  return {
    fingerprint: certificateFingerprint(cert),
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notAfter: new Date(Date.parse(cert.validTo)).toISOString(),
    path,
    tpm: tpmIdentity(cert),
  };
}
