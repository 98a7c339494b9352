/**
 * CA private keys at rest: PKCS#8 encrypted with a passphrase (PBES2: PBKDF2-HMAC-SHA256 with
 * 600,000 iterations, AES-256-CBC), read back with Node's `createPrivateKey({ passphrase })`
 * into a WebCrypto key. The unencrypted PKCS#8 bytes only ever exist
 * in a buffer that is zeroed right after use; the passphrase is never in a message.
 * @module
 */
import {
  createCipheriv,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  pbkdf2Sync,
  randomBytes,
  webcrypto,
} from 'node:crypto';
import { AttestationError } from '../errors.ts';
import { PKI_ALGORITHM } from './profile.ts';

/** Shortest passphrase accepted for a new CA. */
export const MIN_PASSPHRASE_LENGTH = 12;

/** The cipher of the encrypted PKCS#8 files. */
export const KEY_FILE_CIPHER = 'aes-256-cbc';

/**
 * Checks a passphrase for a new CA key.
 * @throws {@link AttestationError} `CA_PASSPHRASE_WEAK` if shorter than {@link MIN_PASSPHRASE_LENGTH}
 */
export function checkNewPassphrase(passphrase: string): void {
  if (typeof passphrase !== 'string' || [...passphrase].length < MIN_PASSPHRASE_LENGTH)
    throw new AttestationError('CA_PASSPHRASE_WEAK', `the CA passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters`);
}

/** PBKDF2-HMAC-SHA256 iterations of a new key file (OWASP's 2023 figure for this PRF). */
export const KDF_ITERATIONS = 600_000;

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

function derInteger(n: number): Buffer {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (bytes.length === 0 || (bytes[0] as number) & 0x80) bytes.unshift(0);
  return tlv(0x02, Buffer.from(bytes));
}

/** OIDs (DER TLV) of PKCS#5 v2.1 (RFC 8018) and NIST AES. */
const OID = {
  pbes2: Buffer.from('06092a864886f70d01050d', 'hex'),
  pbkdf2: Buffer.from('06092a864886f70d01050c', 'hex'),
  hmacWithSha256: Buffer.from('06082a864886f70d0209', 'hex'),
  aes256Cbc: Buffer.from('060960864801650304012a', 'hex'),
};

/**
 * Encrypts an extractable WebCrypto Ed25519 private key as an `ENCRYPTED PRIVATE KEY` PEM:
 * RFC 5958 `EncryptedPrivateKeyInfo` with PBES2 (RFC 8018): PBKDF2-HMAC-SHA256 with a 16-byte
 * random salt and {@link KDF_ITERATIONS} iterations, AES-256-CBC with a random IV — the format
 * of `KeyObject.export({ type: 'pkcs8', cipher: 'aes-256-cbc', passphrase })`, which OpenSSL and
 * Node read, but with a work factor that export cannot set (it uses OpenSSL's 2,048).
 * @param iterations - PBKDF2 iterations (default {@link KDF_ITERATIONS}; at least 100,000)
 * @throws {@link AttestationError} `CA_PASSPHRASE_WEAK`
 */
export async function encryptPrivateKey(privateKey: CryptoKey, passphrase: string, iterations = KDF_ITERATIONS): Promise<string> {
  checkNewPassphrase(passphrase);
  if (!Number.isInteger(iterations) || iterations < 100_000 || iterations > 10_000_000)
    throw new RangeError('iterations must be an integer in [100000, 10000000]');
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', privateKey));
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(passphrase, salt, iterations, 32, 'sha256');
  try {
    const cipher = createCipheriv(KEY_FILE_CIPHER, key, iv);
    const encrypted = Buffer.concat([cipher.update(der), cipher.final()]);
    const kdf = tlv(
      0x30,
      OID.pbkdf2,
      tlv(0x30, tlv(0x04, salt), derInteger(iterations), tlv(0x30, OID.hmacWithSha256, Buffer.from([0x05, 0x00]))),
    );
    const scheme = tlv(0x30, OID.aes256Cbc, tlv(0x04, iv));
    const info = tlv(0x30, tlv(0x30, OID.pbes2, tlv(0x30, kdf, scheme)), tlv(0x04, encrypted));
    const b64 = info.toString('base64').match(/.{1,64}/g) ?? [];
    return `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${b64.join('\n')}\n-----END ENCRYPTED PRIVATE KEY-----\n`;
  } finally {
    der.fill(0);
    key.fill(0);
  }
}

/** Most PBKDF2 iterations a key file may ask for before it is decrypted (bounds the work). */
export const MAX_KDF_ITERATIONS = 10_000_000;

/** One DER TLV at `at`: its tag, where its content starts and ends (undefined if truncated). */
function readTlv(b: Buffer, at: number): { tag: number; start: number; end: number } | undefined {
  if (at + 2 > b.length) return undefined;
  const tag = b[at] as number;
  let len = b[at + 1] as number;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > b.length) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (b[start + i] as number);
    start += n;
  }
  return start + len > b.length ? undefined : { tag, start, end: start + len };
}

/**
 * The PBKDF2 iteration count of a PBES2 `EncryptedPrivateKeyInfo` PEM, or undefined when the
 * file uses another scheme (then OpenSSL decides). Read before decrypting, so a file asking for
 * billions of iterations is refused instead of hanging the CLI.
 */
export function pbkdf2Iterations(pem: string): number | undefined {
  const body = pem.replace(/-----(BEGIN|END) ENCRYPTED PRIVATE KEY-----/g, '').replace(/\s+/g, '');
  const b = Buffer.from(body, 'base64');
  const outer = readTlv(b, 0);
  const alg = outer && readTlv(b, outer.start);
  const oid = alg && readTlv(b, alg.start);
  if (!oid || !b.subarray(oid.start - 2, oid.end).equals(OID.pbes2)) return undefined;
  const params = readTlv(b, oid.end);
  const kdf = params && readTlv(b, params.start);
  const kdfOid = kdf && readTlv(b, kdf.start);
  if (!kdfOid || !b.subarray(kdfOid.start - 2, kdfOid.end).equals(OID.pbkdf2)) return undefined;
  const kdfParams = readTlv(b, kdfOid.end);
  const salt = kdfParams && readTlv(b, kdfParams.start);
  const iter = salt && readTlv(b, salt.end);
  if (iter === undefined || iter.tag !== 0x02 || iter.end - iter.start > 6) return Number.POSITIVE_INFINITY;
  let n = 0;
  for (let i = iter.start; i < iter.end; i++) n = n * 256 + (b[i] as number);
  return n;
}

function isWrongPassphrase(e: unknown): boolean {
  const x = e as { code?: unknown; message?: unknown };
  const code = typeof x?.code === 'string' ? x.code : '';
  const message = typeof x?.message === 'string' ? x.message : '';
  return /BAD_DECRYPT|bad decrypt/i.test(`${code} ${message}`);
}

/**
 * Decrypts an encrypted PKCS#8 PEM into a non-extractable WebCrypto Ed25519 signing key, and
 * checks it is the key of `spkiOfCertificate` (the certificate it belongs to) when given.
 * @param what - which key, for messages (e.g. `'intermediate.key'`)
 * @throws {@link AttestationError} `CA_PASSPHRASE_WRONG` if the passphrase does not decrypt it
 *   (or the encrypted part is damaged: the two cannot be told apart); `CA_MALFORMED` if it is not an
 *   encrypted Ed25519 PKCS#8 key or not the certificate's key
 */
export async function decryptPrivateKey(
  pem: string,
  passphrase: string,
  what: string,
  spkiOfCertificate?: Uint8Array,
): Promise<CryptoKey> {
  if (!/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem))
    throw new AttestationError('CA_MALFORMED', `${what} is not an encrypted PKCS#8 key (ENCRYPTED PRIVATE KEY PEM)`);
  const iterations = pbkdf2Iterations(pem);
  if (iterations !== undefined && iterations > MAX_KDF_ITERATIONS)
    throw new AttestationError('CA_MALFORMED', `${what} asks for more than ${MAX_KDF_ITERATIONS} PBKDF2 iterations`);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem', passphrase });
  } catch (e) {
    // A PBES2 envelope we read (its iteration count above) that does not decrypt to a key: a wrong
    // passphrase. AES-CBC padding alone catches 255 wrong passphrases in 256; the last one decrypts
    // to bytes with valid padding that are no PKCS#8 key, and OpenSSL names that a parse error.
    if (isWrongPassphrase(e) || iterations !== undefined)
      throw new AttestationError(
        'CA_PASSPHRASE_WRONG',
        `the passphrase does not decrypt ${what} (a wrong passphrase, or a damaged file)`,
      );
    throw new AttestationError('CA_MALFORMED', `${what} does not parse as an encrypted PKCS#8 key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new AttestationError('CA_MALFORMED', `${what} is not an Ed25519 key`);
  if (spkiOfCertificate !== undefined) {
    const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
    if (Buffer.compare(spki, Buffer.from(spkiOfCertificate)) !== 0)
      throw new AttestationError('CA_MALFORMED', `${what} is not the key of its certificate`);
  }
  const der = key.export({ type: 'pkcs8', format: 'der' }) as Buffer;
  try {
    return await webcrypto.subtle.importKey('pkcs8', der, PKI_ALGORITHM, false, ['sign']);
  } finally {
    der.fill(0);
  }
}
