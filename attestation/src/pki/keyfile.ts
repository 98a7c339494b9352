/**
 * CA private keys at rest: PKCS#8 encrypted with a passphrase (PBES2, AES-256-CBC, as Node's
 * `KeyObject.export({ type: 'pkcs8', cipher: 'aes-256-cbc', passphrase })` writes it: PBKDF2
 * with HMAC-SHA-256), and back to a WebCrypto key. The unencrypted PKCS#8 bytes only ever exist
 * in a buffer that is zeroed right after use; the passphrase is never in a message.
 * @module
 */
import { createPrivateKey, createPublicKey, type KeyObject, webcrypto } from 'node:crypto';
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

/**
 * Encrypts an extractable WebCrypto Ed25519 private key as an `ENCRYPTED PRIVATE KEY` PEM.
 * @throws {@link AttestationError} `CA_PASSPHRASE_WEAK`
 */
export async function encryptPrivateKey(privateKey: CryptoKey, passphrase: string): Promise<string> {
  checkNewPassphrase(passphrase);
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', privateKey));
  try {
    const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    return key.export({ type: 'pkcs8', format: 'pem', cipher: KEY_FILE_CIPHER, passphrase }) as string;
  } finally {
    der.fill(0);
  }
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
 * @throws {@link AttestationError} `CA_PASSPHRASE_WRONG` if the passphrase does not decrypt it;
 *   `CA_MALFORMED` if it is not an encrypted Ed25519 PKCS#8 key or not the certificate's key
 */
export async function decryptPrivateKey(
  pem: string,
  passphrase: string,
  what: string,
  spkiOfCertificate?: Uint8Array,
): Promise<CryptoKey> {
  if (!/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem))
    throw new AttestationError('CA_MALFORMED', `${what} is not an encrypted PKCS#8 key (ENCRYPTED PRIVATE KEY PEM)`);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem', passphrase });
  } catch (e) {
    if (isWrongPassphrase(e))
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
