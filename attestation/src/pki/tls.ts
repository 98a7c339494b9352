/**
 * TLS certificates from the provisioning CA, for the MQTT brokers and their clients (mutual TLS):
 * a server certificate for the broker (SAN `IP:127.0.0.1`, `DNS:localhost` or the names given,
 * EKU serverAuth) and client certificates whose CN is the broker username — a Key's handle, or a
 * host's or backend's name (EKU clientAuth; mosquitto's `use_identity_as_username` reads the CN).
 *
 * | certificate | validity | basicConstraints | keyUsage | extKeyUsage |
 * |---|---|---|---|---|
 * | TLS server / client | 1 year by default, capped at the intermediate's notAfter | critical, not a CA | critical, digitalSignature | serverAuth or clientAuth |
 *
 * Leaf keys are ECDSA P-256 ({@link createTlsKeyPair}): every TLS stack takes them for client and
 * server authentication (OpenSSL 3 and mosquitto 2.0, Node's TLS, embedded mbedTLS clients),
 * while Ed25519 leaf keys are refused by many TLS 1.2-only clients. The CA itself stays Ed25519:
 * OpenSSL 1.1.1+ and Node verify Ed25519 signatures on certificates in TLS 1.2 and 1.3 alike.
 * @module
 */
import { randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import type { IssuingCa } from './ca.ts';
import { type IssuedLeaf, issuedLeaf, toPem } from './certs.ts';
import { PKI_ALGORITHM, PKI_ORGANIZATION, type RandomSource, randomSerial, validityUnder, wholeSeconds } from './profile.ts';
import { loadX509 } from './x509.ts';

/** Default validity of a TLS certificate, in years (capped at its intermediate's notAfter). */
export const TLS_CERT_VALIDITY_YEARS = 1;

/** The key algorithm of TLS leaf keys: ECDSA on P-256. */
export const TLS_KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** A TLS common name: 1–64 of `[A-Za-z0-9._-]`, starting with a letter or digit (handles and client names fit). */
const COMMON_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A DNS name in a SAN: labels of letters, digits and `-`, optionally a leading `*.`. */
const DNS_NAME = /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** A subjectAltName entry. */
export type TlsAltName = { readonly dns: string } | { readonly ip: string };

/** The SANs of a broker on this machine: `DNS:localhost`, `IP:127.0.0.1`, `IP:::1`. */
export const LOOPBACK_ALT_NAMES: readonly TlsAltName[] = [{ dns: 'localhost' }, { ip: '127.0.0.1' }, { ip: '::1' }];

/** Options of {@link issueTlsCertificate}. */
export interface TlsCertificateRequest {
  /** CN of the subject: the broker's name, or the client's broker username (handle, host or backend name). */
  readonly commonName: string;
  /** `server`: EKU serverAuth (default SANs {@link LOOPBACK_ALT_NAMES}); `client`: EKU clientAuth (no SANs by default). */
  readonly usage: 'server' | 'client';
  /** The leaf's public key: a WebCrypto key or the DER SubjectPublicKeyInfo (ECDSA P-256 recommended). */
  readonly publicKey: CryptoKey | Uint8Array;
  /** subjectAltName entries (replacing the default). */
  readonly subjectAltNames?: readonly TlsAltName[];
  /** Start of validity (default: now). Must not be before the intermediate's notBefore. */
  readonly notBefore?: Date;
  /** End of validity (default: {@link TLS_CERT_VALIDITY_YEARS}, capped at the intermediate's). Past dates are allowed (tests of expiry). */
  readonly notAfter?: Date;
  /** Current time (default `() => new Date()`). */
  readonly now?: () => Date;
  /** Random bytes for the serial number (default `crypto.randomBytes`). */
  readonly random?: RandomSource;
}

/**
 * An issued TLS certificate: the {@link IssuedLeaf} fields; `chainPem` (leaf then intermediate) is
 * what a TLS peer presents (`cert` / `certfile`).
 */
export type TlsCertificate = IssuedLeaf;

/** A TLS key pair: the WebCrypto keys and the private key as unencrypted PKCS#8 PEM (`key` / `keyfile`). */
export interface TlsKeyPair {
  readonly publicKey: CryptoKey;
  readonly privateKey: CryptoKey;
  /** `-----BEGIN PRIVATE KEY-----` PEM: keep it mode 0600. */
  readonly privateKeyPem: string;
}

/** A fresh ECDSA P-256 key pair for a TLS leaf, with its private key as PKCS#8 PEM. */
export async function createTlsKeyPair(): Promise<TlsKeyPair> {
  const keys = (await webcrypto.subtle.generateKey(TLS_KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const privateKeyPem = toPem(pkcs8, 'PRIVATE KEY');
  pkcs8.fill(0);
  return { publicKey: keys.publicKey, privateKey: keys.privateKey, privateKeyPem };
}

function checkAltNames(names: readonly TlsAltName[]): { type: 'dns' | 'ip'; value: string }[] {
  return names.map((n) => {
    if ('dns' in n) {
      if (typeof n.dns !== 'string' || n.dns.length > 253 || !DNS_NAME.test(n.dns))
        throw new TypeError(`subjectAltNames: ${JSON.stringify(String(n.dns).slice(0, 80))} is not a DNS name`);
      return { type: 'dns', value: n.dns };
    }
    if ('ip' in n && typeof n.ip === 'string' && isIP(n.ip) !== 0) return { type: 'ip', value: n.ip };
    throw new TypeError(`subjectAltNames: ${JSON.stringify(n).slice(0, 80)} is neither { dns } nor { ip } with a valid address`);
  });
}

/**
 * Issues a TLS server or client certificate under the intermediate: subject `CN=<commonName>,
 * O=Enigm`, basicConstraints not-a-CA, keyUsage digitalSignature, extKeyUsage serverAuth or
 * clientAuth, subjectAltName, subject and authority key identifiers, a random serial number.
 * @throws TypeError for a malformed common name, SAN entry or public key
 * @throws {@link AttestationError} `PKI_VALIDITY_INVALID` for an empty validity, or one outside the intermediate's
 * @example
 * const keys = await createTlsKeyPair();
 * const cert = await issueTlsCertificate(ca, { commonName: 'mqtt', usage: 'server', publicKey: keys.publicKey });
 */
export async function issueTlsCertificate(ca: IssuingCa, request: TlsCertificateRequest): Promise<TlsCertificate> {
  const x509 = await loadX509();
  const { commonName, usage } = request;
  if (typeof commonName !== 'string' || !COMMON_NAME.test(commonName))
    throw new TypeError(`commonName must be 1-64 characters of [A-Za-z0-9._-], starting with a letter or digit`);
  if (usage !== 'server' && usage !== 'client') throw new TypeError("usage must be 'server' or 'client'");
  const issuer = ca.intermediate.certificate;
  const now = wholeSeconds((request.now ?? (() => new Date()))());
  const random = request.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  const validity = validityUnder(issuer, {
    notBefore: request.notBefore ?? now,
    notAfter: request.notAfter,
    years: TLS_CERT_VALIDITY_YEARS,
  });
  let spki: Uint8Array<ArrayBuffer>;
  if (request.publicKey instanceof Uint8Array) spki = Uint8Array.from(request.publicKey);
  else if (request.publicKey && typeof request.publicKey === 'object' && 'type' in request.publicKey)
    spki = new Uint8Array(await webcrypto.subtle.exportKey('spki', request.publicKey));
  else throw new TypeError('publicKey must be a WebCrypto public key or a DER SubjectPublicKeyInfo');
  const alt = checkAltNames(request.subjectAltNames ?? (usage === 'server' ? LOOPBACK_ALT_NAMES : []));
  const ekus = [usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(random),
    subject: `CN=${commonName}, O=${PKI_ORGANIZATION}`,
    issuer: issuer.subject,
    ...validity,
    signingAlgorithm: PKI_ALGORITHM,
    publicKey: spki,
    signingKey: ca.intermediate.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(ekus, false),
      ...(alt.length > 0 ? [new x509.SubjectAlternativeNameExtension(alt, false)] : []),
      await x509.SubjectKeyIdentifierExtension.create(spki),
      new x509.AuthorityKeyIdentifierExtension(issuer.keyId),
    ],
  });
  return issuedLeaf(cert, issuer.pem);
}
