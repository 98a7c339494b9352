/**
 * PEM import and export of Ed25519 and X25519 keys, interoperable with OpenSSL (`openssl pkey`).
 *
 * Export writes exactly what OpenSSL writes: private keys as unencrypted PKCS#8 v1 (RFC 5958,
 * RFC 8410 §7: `BEGIN PRIVATE KEY`, the 32-byte key wrapped in an OCTET STRING), public keys as
 * SubjectPublicKeyInfo (RFC 5280, RFC 8410 §4: `BEGIN PUBLIC KEY`), base64 in 64-column lines.
 *
 * Import parses with node:crypto (OpenSSL), so it also takes PKCS#8 v2 (with the public key
 * attached). The public-key loaders also accept a private-key PEM (the public key is derived) and
 * an X.509 certificate (its subject key). Everything else — another key type, an encrypted or
 * malformed PEM, a public PEM where a private one is needed, an Ed25519 public key of small order
 * — is `CRYPTO_INVALID_KEY` with a message saying which.
 *
 * @module
 */

import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { ProtocolError } from '../errors.ts';
import { ED25519_KEY_LENGTH, isAcceptableEd25519PublicKey } from './ed25519.ts';
import { asBuffer, assertBytes, fromBase64Url } from './util.ts';
import { X25519_KEY_LENGTH } from './x25519.ts';

type Curve = 'ed25519' | 'x25519';

const CURVE_NAME: Record<Curve, string> = { ed25519: 'Ed25519', x25519: 'X25519' };

/** DER prefixes (RFC 8410 §7 and §4): the 32 raw key bytes follow. OIDs 1.3.101.112 / 1.3.101.110. */
const PKCS8_PREFIX: Record<Curve, Uint8Array> = {
  ed25519: Uint8Array.from(Buffer.from('302e020100300506032b657004220420', 'hex')),
  x25519: Uint8Array.from(Buffer.from('302e020100300506032b656e04220420', 'hex')),
};
const SPKI_PREFIX: Record<Curve, Uint8Array> = {
  ed25519: Uint8Array.from(Buffer.from('302a300506032b6570032100', 'hex')),
  x25519: Uint8Array.from(Buffer.from('302a300506032b656e032100', 'hex')),
};

function toPem(label: string, prefix: Uint8Array, raw: Uint8Array): string {
  const der = Buffer.concat([prefix, asBuffer(raw)]);
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  der.fill(0);
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function checkRaw(raw: Uint8Array, field: string, curve: Curve): void {
  assertBytes(raw, field);
  const want = curve === 'ed25519' ? ED25519_KEY_LENGTH : X25519_KEY_LENGTH;
  if (raw.length !== want) {
    throw new ProtocolError('CRYPTO_INVALID_KEY', `${CURVE_NAME[curve]} ${field} must be ${want} bytes, got ${raw.length}`);
  }
}

function checkPem(pem: unknown): asserts pem is string {
  if (typeof pem !== 'string') throw new TypeError(`pem must be a string, got ${pem === null ? 'null' : typeof pem}`);
}

/** A human name of a key's type, e.g. "an X25519 key", "an RSA key". */
function describe(key: KeyObject): string {
  const t = key.asymmetricKeyType ?? 'unknown';
  const names: Record<string, string> = {
    ed25519: 'an Ed25519',
    x25519: 'an X25519',
    ed448: 'an Ed448',
    x448: 'an X448',
    rsa: 'an RSA',
    'rsa-pss': 'an RSA-PSS',
    ec: 'an EC (ECDSA/ECDH)',
    dsa: 'a DSA',
    dh: 'a DH',
  };
  return `${names[t] ?? `a ${t}`} key`;
}

function importPrivate(pem: string, curve: Curve): Uint8Array {
  checkPem(pem);
  const name = CURVE_NAME[curve];
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (cause) {
    let why = `not a PEM private key ('-----BEGIN PRIVATE KEY-----', PKCS#8)`;
    if (pem.includes('ENCRYPTED PRIVATE KEY') || (cause as { code?: string }).code === 'ERR_MISSING_PASSPHRASE') {
      why = 'an encrypted private key; decrypt it first (openssl pkey -in KEY)';
    } else if (/-----BEGIN (PUBLIC KEY|CERTIFICATE)-----/.test(pem) && !pem.includes('PRIVATE KEY-----')) {
      why = 'a public key or certificate, where a private key is needed';
    }
    throw new ProtocolError('CRYPTO_INVALID_KEY', `cannot load ${name} private key: ${why}`, { cause });
  }
  if (key.asymmetricKeyType !== curve) {
    throw new ProtocolError('CRYPTO_INVALID_KEY', `expected an ${name} private key, got ${describe(key)}`);
  }
  return fromBase64Url(key.export({ format: 'jwk' }).d as string);
}

function importPublic(pem: string, curve: Curve): Uint8Array {
  checkPem(pem);
  const name = CURVE_NAME[curve];
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (cause) {
    const why = pem.includes('ENCRYPTED PRIVATE KEY')
      ? 'an encrypted private key; decrypt it first (openssl pkey -in KEY)'
      : `not a PEM public key ('-----BEGIN PUBLIC KEY-----', SubjectPublicKeyInfo) nor a private key`;
    throw new ProtocolError('CRYPTO_INVALID_KEY', `cannot load ${name} public key: ${why}`, { cause });
  }
  if (key.asymmetricKeyType !== curve) {
    throw new ProtocolError('CRYPTO_INVALID_KEY', `expected an ${name} public key, got ${describe(key)}`);
  }
  const raw = fromBase64Url(key.export({ format: 'jwk' }).x as string);
  if (curve === 'ed25519' && !isAcceptableEd25519PublicKey(raw)) {
    throw new ProtocolError('CRYPTO_INVALID_KEY', 'Ed25519 public key is not a canonical curve point of large order');
  }
  return raw;
}

/**
 * PEM (PKCS#8, `BEGIN PRIVATE KEY`) of an Ed25519 seed, as `openssl genpkey -algorithm ed25519` writes.
 * @throws {TypeError} if `seed` is not a Uint8Array
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `seed` is not 32 bytes
 * @example
 * writeFileSync('device.key', ed25519PrivateKeyToPem(seed), { mode: 0o600 });
 */
export function ed25519PrivateKeyToPem(seed: Uint8Array): string {
  checkRaw(seed, 'seed', 'ed25519');
  return toPem('PRIVATE KEY', PKCS8_PREFIX.ed25519, seed);
}

/**
 * PEM (SubjectPublicKeyInfo, `BEGIN PUBLIC KEY`) of an Ed25519 public key, as `openssl pkey -pubout` writes.
 * @throws {TypeError} if `publicKey` is not a Uint8Array
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `publicKey` is not 32 bytes
 * @example
 * writeFileSync('device.pub', ed25519PublicKeyToPem(publicKey));
 */
export function ed25519PublicKeyToPem(publicKey: Uint8Array): string {
  checkRaw(publicKey, 'publicKey', 'ed25519');
  return toPem('PUBLIC KEY', SPKI_PREFIX.ed25519, publicKey);
}

/**
 * The 32-byte seed of an Ed25519 private key PEM (PKCS#8 v1 or v2, unencrypted).
 * @throws {TypeError} if `pem` is not a string
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `pem` is not an unencrypted Ed25519 private key PEM
 * @example
 * const seed = ed25519PrivateKeyFromPem(readFileSync('device.key', 'utf8'));
 */
export function ed25519PrivateKeyFromPem(pem: string): Uint8Array {
  return importPrivate(pem, 'ed25519');
}

/**
 * The 32-byte Ed25519 public key of a PEM: a public key (SPKI), a private key (derived), or a certificate.
 * @throws {TypeError} if `pem` is not a string
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `pem` holds no Ed25519 key, or one of small order
 * @example
 * const publicKey = ed25519PublicKeyFromPem(readFileSync('device.pub', 'utf8'));
 */
export function ed25519PublicKeyFromPem(pem: string): Uint8Array {
  return importPublic(pem, 'ed25519');
}

/**
 * PEM (PKCS#8, `BEGIN PRIVATE KEY`) of an X25519 private key, as `openssl genpkey -algorithm x25519` writes.
 * @throws {TypeError} if `privateKey` is not a Uint8Array
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `privateKey` is not 32 bytes
 * @example
 * writeFileSync('static.key', x25519PrivateKeyToPem(privateKey), { mode: 0o600 });
 */
export function x25519PrivateKeyToPem(privateKey: Uint8Array): string {
  checkRaw(privateKey, 'privateKey', 'x25519');
  return toPem('PRIVATE KEY', PKCS8_PREFIX.x25519, privateKey);
}

/**
 * PEM (SubjectPublicKeyInfo, `BEGIN PUBLIC KEY`) of an X25519 public key.
 * @throws {TypeError} if `publicKey` is not a Uint8Array
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `publicKey` is not 32 bytes
 * @example
 * writeFileSync('static.pub', x25519PublicKeyToPem(publicKey));
 */
export function x25519PublicKeyToPem(publicKey: Uint8Array): string {
  checkRaw(publicKey, 'publicKey', 'x25519');
  return toPem('PUBLIC KEY', SPKI_PREFIX.x25519, publicKey);
}

/**
 * The 32-byte X25519 private key of a PEM (PKCS#8 v1 or v2, unencrypted).
 * @throws {TypeError} if `pem` is not a string
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `pem` is not an unencrypted X25519 private key PEM
 * @example
 * const privateKey = x25519PrivateKeyFromPem(readFileSync('static.key', 'utf8'));
 */
export function x25519PrivateKeyFromPem(pem: string): Uint8Array {
  return importPrivate(pem, 'x25519');
}

/**
 * The 32-byte X25519 public key of a PEM: a public key (SPKI), a private key (derived), or a certificate.
 * @throws {TypeError} if `pem` is not a string
 * @throws {ProtocolError} `CRYPTO_INVALID_KEY` if `pem` holds no X25519 key
 * @example
 * const publicKey = x25519PublicKeyFromPem(readFileSync('static.pub', 'utf8'));
 */
export function x25519PublicKeyFromPem(pem: string): Uint8Array {
  return importPublic(pem, 'x25519');
}
