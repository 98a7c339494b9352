/**
 * The provisioning CA in memory: an offline root, the intermediate "Key provisioning CA" it
 * signs (a new one per rotation), and the Key certificates the intermediate issues — for an
 * identity key given directly or in a PKCS#10 request signed by it (proof of possession).
 *
 * Keys are Ed25519 (WebCrypto); certificates are built with `@peculiar/x509` to the profiles of
 * `profile.ts`. Clock and randomness (serial numbers) are injectable; the key pairs themselves
 * come from the platform's CSPRNG. Nothing here touches a file: `store.ts` does.
 * @module
 */
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { parseEd25519Csr, X509Error } from '@enigm/protocols/x509';
import { AttestationError } from '../errors.ts';
import { type CertificateData, ED25519_SPKI_PREFIX, ed25519KeyFromSpki, issuedLeaf, toPem } from './certs.ts';
import { buildKeyCertificateDer, printable } from './leaf-der.ts';
import {
  addYears,
  checkIdentityKey,
  checkModel,
  INTERMEDIATE_VALIDITY_YEARS,
  intermediateName,
  KEY_CERT_VALIDITY_YEARS,
  keyCertificateId,
  keySubjectName,
  PKI_ALGORITHM,
  PKI_ORGANIZATION,
  type RandomSource,
  ROOT_VALIDITY_YEARS,
  randomSerial,
  rootName,
  validityUnder,
  wholeSeconds,
} from './profile.ts';
import { loadX509, type X509Module } from './x509.ts';

/** A CA certificate with what the issuer needs to know about it. */
export interface CaCertificate extends CertificateData {
  readonly subject: string;
  /** Serial number, lowercase hex. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** subjectKeyIdentifier, lowercase hex. */
  readonly keyId: string;
}

/** A CA certificate and its private key (a WebCrypto Ed25519 key). */
export interface CaKeyPair {
  readonly certificate: CaCertificate;
  /** Extractable when just generated (so it can be stored encrypted); not when loaded to issue. */
  readonly privateKey: CryptoKey;
}

/** A provisioning CA: the root and the current intermediate. */
export interface ProvisioningCa {
  /** The root; its private key is only needed to create or rotate an intermediate. */
  readonly root: CaKeyPair;
  /** The current Key provisioning CA (issues Key certificates). */
  readonly intermediate: CaKeyPair;
  /** Generation of the current intermediate: 1 after `createCa`, +1 per rotation. */
  readonly generation: number;
}

/** What issuing needs: the current intermediate and its key. */
export interface IssuingCa {
  readonly intermediate: CaKeyPair;
}

/** Clock and randomness of CA operations. */
export interface CaEnvironment {
  /** Current time (default `() => new Date()`). */
  readonly now?: () => Date;
  /** Random bytes for serial numbers (default `crypto.randomBytes`). */
  readonly random?: RandomSource;
}

/** Options of {@link issueKeyCertificate}. */
export interface KeyCertificateRequest extends CaEnvironment {
  /** The Key's raw 32-byte Ed25519 identity public key. */
  readonly identityPublicKey: Uint8Array;
  /** The Key's model (OU of the subject): 1–64 characters of `[A-Za-z0-9 ._-]`. */
  readonly model: string;
  /** Start of validity (default: now). Must not be before the intermediate's notBefore. */
  readonly notBefore?: Date;
  /** End of validity (default: 20 years, capped at the intermediate's notAfter; never past it). */
  readonly notAfter?: Date;
}

/** An issued Key certificate. */
export interface KeyCertificate extends CertificateData {
  readonly subject: string;
  /** Serial number, lowercase hex. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The leaf then its intermediate, PEM: what a Key stores and presents. */
  readonly chainPem: string;
}

const defaultRandom: RandomSource = (n) => new Uint8Array(randomBytes(n));

function env(e: CaEnvironment): { now: Date; random: RandomSource } {
  return { now: wholeSeconds((e.now ?? (() => new Date()))()), random: e.random ?? defaultRandom };
}

async function caCertificate(x509: X509Module, cert: InstanceType<X509Module['X509Certificate']>): Promise<CaCertificate> {
  const der = new Uint8Array(cert.rawData);
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski) throw new AttestationError('CA_MALFORMED', `CA certificate '${cert.subject}' has no subjectKeyIdentifier`);
  return {
    der,
    pem: toPem(der),
    subject: cert.subject,
    serial: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    keyId: ski.keyId.toLowerCase(),
  };
}

/**
 * A {@link CaCertificate} from DER or PEM (for a CA loaded from files).
 * @throws {@link AttestationError} `CA_MALFORMED` if it does not parse or has no key identifier
 */
export async function caCertificateFrom(data: Uint8Array | string): Promise<CaCertificate> {
  const x509 = await loadX509();
  let cert: InstanceType<X509Module['X509Certificate']>;
  try {
    cert = new x509.X509Certificate(typeof data === 'string' ? data : Uint8Array.from(data));
  } catch (e) {
    throw new AttestationError('CA_MALFORMED', `CA certificate does not parse: ${(e as Error).message}`, { cause: e });
  }
  return caCertificate(x509, cert);
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(PKI_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/**
 * Creates a root certificate and key: `CN=Enigm Key Root CA, O=Enigm`, 20 years, basicConstraints
 * cA with pathLen 1, keyUsage keyCertSign and cRLSign, subjectKeyIdentifier.
 */
export async function createRootCa(options: CaEnvironment = {}): Promise<CaKeyPair> {
  const x509 = await loadX509();
  const { now, random } = env(options);
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(random),
    name: rootName(),
    notBefore: now,
    notAfter: addYears(now, ROOT_VALIDITY_YEARS),
    signingAlgorithm: PKI_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate: await caCertificate(x509, cert), privateKey: keys.privateKey };
}

/**
 * Creates an intermediate "Key provisioning CA" signed by `root`: generation `generation` in its
 * name, 5 years (capped at the root's notAfter), basicConstraints cA with pathLen 0, keyUsage
 * keyCertSign and cRLSign, subject and authority key identifiers.
 * @throws {@link AttestationError} `PKI_VALIDITY_INVALID` if the root is no longer valid now
 */
export async function createIntermediateCa(root: CaKeyPair, generation: number, options: CaEnvironment = {}): Promise<CaKeyPair> {
  const x509 = await loadX509();
  const { now, random } = env(options);
  const validity = validityUnder(root.certificate, { notBefore: now, years: INTERMEDIATE_VALIDITY_YEARS });
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(random),
    subject: intermediateName(generation),
    issuer: root.certificate.subject,
    ...validity,
    signingAlgorithm: PKI_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: root.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.AuthorityKeyIdentifierExtension(root.certificate.keyId),
    ],
  });
  return { certificate: await caCertificate(x509, cert), privateKey: keys.privateKey };
}

/**
 * Creates a provisioning CA: a root and its first intermediate (generation 1).
 * @example const ca = await createCa(); const leaf = await issueKeyCertificate(ca, { identityPublicKey, model: 'EK1' });
 */
export async function createCa(options: CaEnvironment = {}): Promise<ProvisioningCa> {
  const root = await createRootCa(options);
  const intermediate = await createIntermediateCa(root, 1, options);
  return { root, intermediate, generation: 1 };
}

/**
 * Rotates: a new intermediate (next generation) signed by the root. The old intermediate stays
 * valid for what it issued until its own notAfter; keep its certificate to verify those chains.
 */
export async function rotateIntermediate(
  ca: Pick<ProvisioningCa, 'root' | 'generation'>,
  options: CaEnvironment = {},
): Promise<ProvisioningCa> {
  const generation = ca.generation + 1;
  const intermediate = await createIntermediateCa(ca.root, generation, options);
  return { root: ca.root, intermediate, generation };
}

/**
 * Issues a Key certificate: subject `CN=K-<id from the key>, OU=<model>, O=Enigm` (no owner,
 * no account, no handle), the Key's Ed25519 identity key, basicConstraints not-a-CA, keyUsage
 * digitalSignature, subject and authority key identifiers, a random serial number.
 * @throws TypeError if the identity key is not 32 bytes
 * @throws {@link AttestationError} `PKI_MODEL_INVALID`, `PKI_VALIDITY_INVALID`
 */
export async function issueKeyCertificate(ca: IssuingCa, request: KeyCertificateRequest): Promise<KeyCertificate> {
  const x509 = await loadX509();
  const identity = checkIdentityKey(request.identityPublicKey);
  const subject = keySubjectName(identity, request.model);
  const { now, random } = env(request);
  const issuer = ca.intermediate.certificate;
  const validity = validityUnder(issuer, {
    notBefore: request.notBefore ?? now,
    notAfter: request.notAfter,
    years: KEY_CERT_VALIDITY_YEARS,
  });
  const serialNumber = randomSerial(random);
  const model = checkModel(request.model);
  if (printable(model)) {
    // The fixed profile written directly (leaf-der.ts): the same bytes the library writes, ~15x faster.
    const der = buildKeyCertificateDer(
      {
        serialHex: serialNumber,
        issuerDer: issuer.der,
        issuerKeyId: issuer.keyId,
        ...validity,
        commonName: keyCertificateId(identity),
        organizationalUnit: model,
        organization: PKI_ORGANIZATION,
        identityKey: identity,
      },
      ca.intermediate.privateKey,
    );
    return issuedLeaf({ rawData: der.buffer as ArrayBuffer, subject, serialNumber, ...validity }, issuer.pem);
  }
  const spki = new Uint8Array(44);
  spki.set(ED25519_SPKI_PREFIX, 0);
  spki.set(identity, 12);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject,
    issuer: issuer.subject,
    ...validity,
    signingAlgorithm: PKI_ALGORITHM,
    publicKey: spki,
    signingKey: ca.intermediate.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.SubjectKeyIdentifierExtension(createHash('sha1').update(identity).digest('hex')),
      new x509.AuthorityKeyIdentifierExtension(issuer.keyId),
    ],
  });
  return issuedLeaf(cert, issuer.pem);
}

/** Options of {@link issueFromCsr}. */
export interface CsrIssueOptions extends CaEnvironment {
  /** The Key's model (OU of the subject). The CSR's own subject is ignored. */
  readonly model: string;
  /** When given, the CSR's key must be this 32-byte Ed25519 identity key. */
  readonly expectedIdentityKey?: Uint8Array;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

/** The start of a PEM certificate request (RFC 7468 §7; the legacy `NEW` label too). */
const PEM_CSR = /^\s*-----BEGIN (NEW )?CERTIFICATE REQUEST-----/;

/**
 * Checks a PKCS#10 request from a Key: it parses, its key is Ed25519, its signature verifies
 * under that key (proof of possession) and, when expected, the key is the expected identity key.
 * @param csr - DER, or PEM text (as a string or its bytes)
 * @returns the raw 32-byte identity key from the request
 * @throws {@link AttestationError} `PKI_CSR_INVALID`, `PKI_KEY_MISMATCH`
 */
export async function checkKeyCsr(csr: Uint8Array | string, expectedIdentityKey?: Uint8Array): Promise<Uint8Array> {
  const fast = typeof csr === 'string' ? undefined : strictEd25519Csr(csr);
  if (fast) return expectedKey(fast, expectedIdentityKey);
  const x509 = await loadX509();
  let req: InstanceType<X509Module['Pkcs10CertificateRequest']>;
  try {
    const text =
      typeof csr === 'string'
        ? csr
        : PEM_CSR.test(Buffer.from(csr.subarray(0, 64)).toString('latin1'))
          ? Buffer.from(csr).toString('latin1')
          : undefined;
    req = new x509.Pkcs10CertificateRequest(text ?? Uint8Array.from(csr as Uint8Array));
  } catch (e) {
    throw new AttestationError('PKI_CSR_INVALID', `the CSR does not parse as PKCS#10: ${(e as Error).message}`, { cause: e });
  }
  const key = ed25519KeyFromSpki(new Uint8Array(req.publicKey.rawData));
  if (!key) throw new AttestationError('PKI_CSR_INVALID', 'the CSR key is not an Ed25519 key');
  if (req.signatureAlgorithm.name !== 'Ed25519')
    throw new AttestationError('PKI_CSR_INVALID', `the CSR is signed with ${req.signatureAlgorithm.name}, not Ed25519`);
  let ok = false;
  try {
    ok = await req.verify();
  } catch {
    ok = false;
  }
  if (!ok)
    throw new AttestationError('PKI_CSR_INVALID', 'the CSR signature does not verify under its key (no proof of possession)');
  return expectedKey(key, expectedIdentityKey);
}

/**
 * The CSR's key when it is a DER PKCS#10 request with an Ed25519 key and signature whose signature
 * verifies (proof of possession), read by the strict parser of `@enigm/protocols/x509` (what a
 * Key sends; ~10x cheaper than the library); undefined for anything else, which then takes the
 * library's path and gets its precise refusal.
 */
function strictEd25519Csr(der: Uint8Array): Uint8Array | undefined {
  try {
    return parseEd25519Csr(der).publicKey;
  } catch (e) {
    if (e instanceof X509Error) return undefined;
    throw e;
  }
}

function expectedKey(key: Uint8Array, expectedIdentityKey: Uint8Array | undefined): Uint8Array {
  if (expectedIdentityKey !== undefined) {
    checkIdentityKey(expectedIdentityKey);
    if (Buffer.compare(Buffer.from(key), Buffer.from(expectedIdentityKey)) !== 0)
      throw new AttestationError('PKI_KEY_MISMATCH', 'the CSR is for another identity key than the expected one');
  }
  return key;
}

/**
 * Issues a Key certificate from a PKCS#10 request signed by the Key's identity key. Only the
 * CSR's key is used: subject, attributes and requested extensions are ignored (the profile
 * decides them).
 * @throws {@link AttestationError} `PKI_CSR_INVALID`, `PKI_KEY_MISMATCH`, and as {@link issueKeyCertificate}
 */
export async function issueFromCsr(ca: IssuingCa, csr: Uint8Array | string, options: CsrIssueOptions): Promise<KeyCertificate> {
  const identityPublicKey = await checkKeyCsr(csr, options.expectedIdentityKey);
  return issueKeyCertificate(ca, { ...options, identityPublicKey });
}

/**
 * Makes a PKCS#10 request signed by an Ed25519 key (what a Key does with its identity key; used
 * by tests and tools). `keys` is a WebCrypto Ed25519 key pair (the public key exportable); the
 * subject is `CN=<key certificate id>` and carries nothing else.
 * @returns the request's DER
 */
export async function createKeyCsr(keys: CryptoKeyPair): Promise<Uint8Array> {
  const x509 = await loadX509();
  const raw = new Uint8Array(await webcrypto.subtle.exportKey('raw', keys.publicKey));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${keyCertificateId(raw)}`,
    keys,
    signingAlgorithm: PKI_ALGORITHM,
  });
  return new Uint8Array(csr.rawData);
}
