/**
 * Verification of a Key certificate chain against configured provisioning roots (RFC 5280 §6.1,
 * the parts this hierarchy uses). Pure: no file, no network, no clock — the time is an input.
 *
 * Checks, in order (the first failure is the result):
 * 1. every certificate parses (`PKI_CERT_MALFORMED`);
 * 2. the leaf is a Key certificate: Ed25519 key and signature, basicConstraints not a CA,
 *    keyUsage present with digitalSignature (`PKI_PROFILE`); its key is the expected identity
 *    key when one is given (`PKI_KEY_MISMATCH`);
 * 3. path building from the leaf: an issuer is a certificate of the chain (or of
 *    `intermediates`) or a root whose subject is the certificate's issuer and whose
 *    subjectKeyIdentifier matches its authorityKeyIdentifier; the issuer's signature must verify
 *    (Node's `X509Certificate.verify`, not the library that issued it) — `PKI_CHAIN_INVALID`; a
 *    path that ends anywhere but a configured root, or is longer than 4, is `PKI_CHAIN_UNTRUSTED`;
 * 4. every issuer is a CA (basicConstraints cA), may sign certificates (keyUsage keyCertSign when
 *    keyUsage is present), and its pathLenConstraint covers the CA certificates below it; no
 *    certificate has a critical extension this verifier does not process (`PKI_CHAIN_INVALID`);
 * 5. every certificate on the path, root included, is valid at `at` (`PKI_CERT_NOT_YET_VALID`,
 *    `PKI_CERT_EXPIRED`).
 * @module
 */
import { type KeyObject, X509Certificate as NodeCertificate } from 'node:crypto';
import { AttestationError, type AttestationErrorCode } from '../errors.ts';
import { certificateDers, certificateSha256, ed25519KeyFromSpki } from './certs.ts';
import { loadX509, type X509Module } from './x509.ts';

/** Longest path followed, leaf to root. */
export const MAX_KEY_CHAIN_LENGTH = 4;

/** Extensions this verifier processes; any other one marked critical fails the chain. */
const PROCESSED_EXTENSIONS = new Set(['2.5.29.19', '2.5.29.15', '2.5.29.14', '2.5.29.35']);

/** Certificates given as PEM text, DER, or a list of either. */
export type CertificateInput = string | Uint8Array | readonly (string | Uint8Array)[];

/** Options of {@link verifyKeyChain}. */
export interface KeyChainOptions {
  /** The configured provisioning roots (trust anchors). */
  readonly roots: CertificateInput;
  /** Verification time. */
  readonly at: Date;
  /** When given, the leaf's key must be this raw 32-byte Ed25519 identity key. */
  readonly expectedIdentityKey?: Uint8Array;
  /** Extra untrusted CA certificates for path building (e.g. retired intermediates). */
  readonly intermediates?: CertificateInput;
}

/** One certificate of a verified path. */
export interface KeyChainLink {
  readonly subject: string;
  /** Serial number, lowercase hex. */
  readonly serial: string;
  /** SHA-256 of the DER, lowercase hex. */
  readonly fingerprint: string;
  /** ISO 8601. */
  readonly notAfter: string;
}

/** A chain that verified. */
export interface KeyChainValid {
  readonly valid: true;
  /** The Key's raw Ed25519 identity key. */
  readonly identityKey: Uint8Array;
  /** The model (OU of the leaf's subject). */
  readonly model: string;
  /** The leaf's subject CN (the key certificate id). */
  readonly keyId: string;
  /** Leaf first, the root last. */
  readonly path: readonly KeyChainLink[];
}

/** A chain that did not verify: the first failed check. */
export interface KeyChainInvalid {
  readonly valid: false;
  readonly code: AttestationErrorCode;
  /** Human reason naming the certificate. */
  readonly reason: string;
}

/** The result of {@link verifyKeyChain}. */
export type KeyChainResult = KeyChainValid | KeyChainInvalid;

type Lib = X509Module;
type PCert = InstanceType<Lib['X509Certificate']>;

interface Parsed {
  readonly der: Uint8Array;
  readonly node: NodeCertificate;
  readonly lib: PCert;
}

/** A distinguished name as Node prints it (one RDN per line), on one line. */
function show(name: string): string {
  return name.replace(/\n/g, ', ');
}

function fail(code: AttestationErrorCode, reason: string): never {
  throw new AttestationError(code, reason);
}

/** CA certificates (roots, intermediates) parsed before, by their exact DER (see {@link parseAll}). */
const parsedCas = new Map<string, Parsed>();
/** How many CA certificates {@link parsedCas} keeps (the least recently used one goes first). */
const PARSED_CA_CACHE = 32;

function parseOne(x509: Lib, der: Uint8Array, what: string): Parsed {
  try {
    const nodeCert = new NodeCertificate(Buffer.from(der));
    const exact = new Uint8Array(nodeCert.raw);
    return { der: exact, node: nodeCert, lib: new x509.X509Certificate(exact) };
  } catch (e) {
    throw new AttestationError('PKI_CERT_MALFORMED', `${what} does not parse as X.509: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Parses certificates. With `reuse` (roots and intermediates: the same few certificates on every
 * call of a batch), a certificate parsed before from the very same DER bytes is taken from a
 * small cache instead of being parsed again (both parsers; every check still runs on each call).
 * A Key certificate is parsed afresh every time.
 */
function parseAll(x509: Lib, input: CertificateInput, what: string, reuse = false): Parsed[] {
  return certificateDers(input, what).map((der) => {
    if (!reuse) return parseOne(x509, der, what);
    const id = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
    const hit = parsedCas.get(id);
    if (hit && Buffer.compare(Buffer.from(hit.der), Buffer.from(der)) === 0) {
      parsedCas.delete(id);
      parsedCas.set(id, hit); // most recently used last
      return hit;
    }
    const parsed = parseOne(x509, der, what);
    if (Buffer.compare(Buffer.from(parsed.der), Buffer.from(der)) === 0) {
      parsedCas.set(id, parsed);
      if (parsedCas.size > PARSED_CA_CACHE) parsedCas.delete(parsedCas.keys().next().value as string);
    }
    return parsed;
  });
}

function ski(x509: Lib, c: PCert): string | undefined {
  return c.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId.toLowerCase();
}

function aki(x509: Lib, c: PCert): string | undefined {
  return c.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId?.toLowerCase();
}

function checkCriticalExtensions(c: Parsed): void {
  for (const e of c.lib.extensions)
    if (e.critical && !PROCESSED_EXTENSIONS.has(e.type))
      fail('PKI_CHAIN_INVALID', `'${show(c.node.subject)}' has a critical extension ${e.type} this verifier does not process`);
}

function checkLeaf(x509: Lib, leaf: Parsed, expected: Uint8Array | undefined): Uint8Array {
  const key = ed25519KeyFromSpki(new Uint8Array(leaf.lib.publicKey.rawData));
  if (!key) fail('PKI_PROFILE', `Key certificate '${show(leaf.node.subject)}' does not hold an Ed25519 key`);
  if (leaf.lib.signatureAlgorithm.name !== 'Ed25519')
    fail('PKI_PROFILE', `Key certificate '${show(leaf.node.subject)}' is not signed with Ed25519`);
  const bc = leaf.lib.getExtension(x509.BasicConstraintsExtension);
  if (bc?.ca) fail('PKI_PROFILE', `Key certificate '${show(leaf.node.subject)}' is a CA certificate (basicConstraints cA)`);
  const ku = leaf.lib.getExtension(x509.KeyUsagesExtension);
  if (!ku || (ku.usages & x509.KeyUsageFlags.digitalSignature) === 0)
    fail('PKI_PROFILE', `Key certificate '${show(leaf.node.subject)}' has no keyUsage digitalSignature`);
  checkCriticalExtensions(leaf);
  if (expected !== undefined && Buffer.compare(Buffer.from(key), Buffer.from(expected)) !== 0)
    fail('PKI_KEY_MISMATCH', `Key certificate '${show(leaf.node.subject)}' is for another identity key than the expected one`);
  return key;
}

/** Issuers' public keys, made once per parsed certificate (cached CA certificates keep theirs). */
const publicKeys = new WeakMap<Parsed, KeyObject>();

function signedBy(child: Parsed, parent: Parsed): boolean {
  try {
    let key = publicKeys.get(parent);
    if (!key) {
      key = parent.node.publicKey;
      publicKeys.set(parent, key);
    }
    return child.node.verify(key);
  } catch {
    return false;
  }
}

/** Finds the issuer of `cur` among `candidates`: name and key identifier match, signature verifies. */
function findIssuer(x509: Lib, cur: Parsed, candidates: readonly Parsed[]): { found?: Parsed; nameMatched: boolean } {
  const wantKeyId = aki(x509, cur.lib);
  let nameMatched = false;
  for (const c of candidates) {
    if (c.node.subject !== cur.node.issuer) continue;
    const keyId = ski(x509, c.lib);
    if (wantKeyId !== undefined && keyId !== undefined && keyId !== wantKeyId) continue;
    nameMatched = true;
    if (signedBy(cur, c)) return { found: c, nameMatched };
  }
  return { nameMatched };
}

function checkIssuer(x509: Lib, issuer: Parsed, casBelow: number): void {
  const bc = issuer.lib.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) fail('PKI_CHAIN_INVALID', `issuer '${show(issuer.node.subject)}' is not a CA (basicConstraints cA is not set)`);
  const ku = issuer.lib.getExtension(x509.KeyUsagesExtension);
  if (ku && (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0)
    fail('PKI_CHAIN_INVALID', `issuer '${show(issuer.node.subject)}' may not sign certificates (no keyUsage keyCertSign)`);
  if (bc.pathLength !== undefined && casBelow > bc.pathLength)
    fail(
      'PKI_CHAIN_INVALID',
      `issuer '${show(issuer.node.subject)}' has pathLenConstraint ${bc.pathLength} but ${casBelow} CA certificate(s) follow it`,
    );
  checkCriticalExtensions(issuer);
}

function checkTime(c: Parsed, at: Date): void {
  if (at.getTime() < c.lib.notBefore.getTime())
    fail('PKI_CERT_NOT_YET_VALID', `'${show(c.node.subject)}' is not valid before ${c.lib.notBefore.toISOString()}`);
  if (at.getTime() > c.lib.notAfter.getTime())
    fail('PKI_CERT_EXPIRED', `'${show(c.node.subject)}' expired at ${c.lib.notAfter.toISOString()}`);
}

function link(c: Parsed): KeyChainLink {
  return {
    subject: show(c.node.subject),
    serial: c.lib.serialNumber.toLowerCase(),
    fingerprint: certificateSha256(c.der),
    notAfter: c.lib.notAfter.toISOString(),
  };
}

async function verify(chain: CertificateInput, options: KeyChainOptions): Promise<KeyChainValid> {
  const x509 = await loadX509();
  if (!(options.at instanceof Date) || Number.isNaN(options.at.getTime())) throw new TypeError('at must be a valid Date');
  const ders = certificateDers(chain, 'Key certificate chain');
  const certs = [
    ...parseAll(x509, ders.slice(0, 1), 'Key certificate chain'),
    ...parseAll(x509, ders.slice(1), 'Key certificate chain', true),
  ];
  const roots = parseAll(x509, options.roots, 'provisioning root', true);
  const extra = options.intermediates === undefined ? [] : parseAll(x509, options.intermediates, 'intermediate', true);
  const leaf = certs[0] as Parsed;
  const identityKey = checkLeaf(x509, leaf, options.expectedIdentityKey);
  const isRoot = (c: Parsed): boolean => roots.some((r) => Buffer.compare(Buffer.from(r.der), Buffer.from(c.der)) === 0);
  const pool = [...certs.slice(1), ...extra].filter((c) => !isRoot(c));
  const path: Parsed[] = [leaf];
  let cur = leaf;
  for (;;) {
    if (path.length > MAX_KEY_CHAIN_LENGTH)
      fail('PKI_CHAIN_UNTRUSTED', `no configured root within ${MAX_KEY_CHAIN_LENGTH} certificates of the Key certificate`);
    const byRoot = findIssuer(x509, cur, roots);
    if (byRoot.found) {
      path.push(byRoot.found);
      break;
    }
    const byPool = findIssuer(
      x509,
      cur,
      pool.filter((c) => !path.includes(c)),
    );
    if (byPool.found) {
      path.push(byPool.found);
      cur = byPool.found;
      continue;
    }
    if (byRoot.nameMatched || byPool.nameMatched)
      fail('PKI_CHAIN_INVALID', `'${show(cur.node.subject)}' is not signed by the key of its issuer '${show(cur.node.issuer)}'`);
    fail(
      'PKI_CHAIN_UNTRUSTED',
      `the issuer '${show(cur.node.issuer)}' of '${show(cur.node.subject)}' is neither in the chain nor a configured root`,
    );
  }
  for (let i = 1; i < path.length; i++) checkIssuer(x509, path[i] as Parsed, i - 1);
  for (const c of path) checkTime(c, options.at);
  const subject = leaf.lib.subjectName;
  return {
    valid: true,
    identityKey,
    model: subject.getField('OU')[0] ?? '',
    keyId: subject.getField('CN')[0] ?? '',
    path: path.map(link),
  };
}

/**
 * Verifies a Key certificate chain (leaf first, then its intermediate) to a configured root at
 * time `at`. Never throws for a bad chain: the result says `valid: false` with the code and
 * reason of the first failed check (see the module comment for the order).
 * @param chain - PEM text with the leaf first, or DER certificates, leaf first
 * @throws TypeError if `at` is not a valid date
 * @example
 * const r = await verifyKeyChain(chainPem, { roots: rootPem, at: new Date(), expectedIdentityKey });
 * if (!r.valid) console.log(r.code, r.reason);
 */
export async function verifyKeyChain(chain: CertificateInput, options: KeyChainOptions): Promise<KeyChainResult> {
  try {
    return await verify(chain, options);
  } catch (e) {
    if (e instanceof AttestationError) return { valid: false, code: e.code, reason: e.message };
    throw e;
  }
}

/**
 * {@link verifyKeyChain}, throwing on a bad chain.
 * @throws {@link AttestationError} with the code of the first failed check
 */
export async function assertKeyChain(chain: CertificateInput, options: KeyChainOptions): Promise<KeyChainValid> {
  return verify(chain, options);
}
