/**
 * The provisioning PKI's certificate profiles (RFC 5280): names, validity periods, serial
 * numbers and the Key certificate's subject. Pure: times and randomness are inputs.
 *
 * | certificate | validity | basicConstraints | keyUsage |
 * |---|---|---|---|
 * | root | 20 years | critical, cA, pathLen 1 | critical, keyCertSign, cRLSign |
 * | intermediate ("Key provisioning CA") | 5 years, capped at the root's notAfter | critical, cA, pathLen 0 | critical, keyCertSign, cRLSign |
 * | Key certificate | 20 years, capped at the intermediate's notAfter | critical, not a CA | critical, digitalSignature |
 *
 * Every certificate has a subjectKeyIdentifier (SHA-1 of the public key, RFC 5280 §4.2.1.2
 * method 1); every non-root one an authorityKeyIdentifier equal to its issuer's. Keys are Ed25519.
 * @module
 */

import { createHash } from 'node:crypto';
import { toHex } from '@enigm/protocols/bytes';
import { AttestationError } from '../errors.ts';

/** Validity of a root certificate, in years. */
export const ROOT_VALIDITY_YEARS = 20;
/** Validity of an intermediate (Key provisioning CA) certificate, in years (capped at the root's). */
export const INTERMEDIATE_VALIDITY_YEARS = 5;
/** Default validity of a Key certificate, in years (capped at its intermediate's). */
export const KEY_CERT_VALIDITY_YEARS = 20;
/** Bytes of randomness in a serial number (RFC 5280 §4.1.2.2: at most 20 octets; CA/B asks ≥ 64 bits). */
export const SERIAL_BYTES = 16;
/** Organization (O) of every subject. */
export const PKI_ORGANIZATION = 'Enigm';
/** The signature and key algorithm of every certificate in the hierarchy. */
export const PKI_ALGORITHM = { name: 'Ed25519' } as const;

/** A source of random bytes: `(n) => n random bytes` (injected so tests are reproducible). */
export type RandomSource = (n: number) => Uint8Array;

const MODEL = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;

/**
 * Checks a Key model name: 1–64 characters of `[A-Za-z0-9 ._-]`, starting with a letter or digit
 * (so it can stand in a distinguished name without escaping).
 * @throws {@link AttestationError} `PKI_MODEL_INVALID`
 */
export function checkModel(model: string): string {
  if (typeof model !== 'string' || !MODEL.test(model) || model.endsWith(' '))
    throw new AttestationError(
      'PKI_MODEL_INVALID',
      `model ${JSON.stringify(String(model).slice(0, 80))} must be 1-64 characters of [A-Za-z0-9 ._-], starting with a letter or digit`,
    );
  return model;
}

/**
 * A positive serial number of {@link SERIAL_BYTES} random bytes, as lowercase hex: the first
 * byte is forced into 0x01–0x7f, so the DER INTEGER is positive, minimal and 16 octets long.
 */
export function randomSerial(random: RandomSource): string {
  const b = random(SERIAL_BYTES);
  if (!(b instanceof Uint8Array) || b.length !== SERIAL_BYTES)
    throw new TypeError(`random(${SERIAL_BYTES}) returned the wrong length`);
  const s = Uint8Array.from(b);
  s[0] = (s[0] as number) & 0x7f || 0x01;
  return toHex(s);
}

/**
 * The Key's certificate id: `K-` and the first 16 bytes of SHA-256 over its 32-byte Ed25519
 * identity key, in hex. Derived from the key alone — the same in every account, so it is not a
 * device handle and never appears in backend topics; it names the Key in its certificate only.
 */
export function keyCertificateId(identityKey: Uint8Array): string {
  checkIdentityKey(identityKey);
  return `K-${createHash('sha256').update(identityKey).digest('hex').slice(0, 32)}`;
}

/**
 * Checks a raw Ed25519 public key.
 * @throws TypeError if it is not 32 bytes
 */
export function checkIdentityKey(identityKey: Uint8Array): Uint8Array {
  if (!(identityKey instanceof Uint8Array) || identityKey.length !== 32)
    throw new TypeError('identityPublicKey must be a 32-byte Ed25519 public key');
  return identityKey;
}

/** Subject of a root: `CN=Enigm Key Root CA, O=Enigm`. */
export function rootName(): string {
  return `CN=Enigm Key Root CA, O=${PKI_ORGANIZATION}`;
}

/** Subject of the intermediate of generation `generation` (1, 2, … one per rotation). */
export function intermediateName(generation: number): string {
  if (!Number.isInteger(generation) || generation < 1) throw new RangeError('generation must be a positive integer');
  return `CN=Enigm Key Provisioning CA G${generation}, O=${PKI_ORGANIZATION}`;
}

/** Subject of a Key certificate: `CN=<key certificate id>, OU=<model>, O=Enigm` — never an owner. */
export function keySubjectName(identityKey: Uint8Array, model: string): string {
  return `CN=${keyCertificateId(identityKey)}, OU=${checkModel(model)}, O=${PKI_ORGANIZATION}`;
}

/** `date` + `years` calendar years (UTC). */
export function addYears(date: Date, years: number): Date {
  const d = new Date(date.getTime());
  d.setUTCFullYear(d.getUTCFullYear() + years);
  return d;
}

/** `date` rounded down to a whole second (X.509 times have one-second resolution). */
export function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/**
 * The validity of a certificate issued under an issuer valid until `issuerNotAfter`: from
 * `notBefore`, `years` long by default, never past the issuer's notAfter.
 * @throws {@link AttestationError} `PKI_VALIDITY_INVALID` if an explicit `notAfter` is past the
 *   issuer's, or the period is empty, or `notBefore` is outside the issuer's validity
 */
export function validityUnder(
  issuer: { readonly notBefore: Date; readonly notAfter: Date },
  want: { readonly notBefore: Date; readonly notAfter?: Date | undefined; readonly years: number },
): { notBefore: Date; notAfter: Date } {
  const notBefore = wholeSeconds(want.notBefore);
  if (Number.isNaN(notBefore.getTime())) throw new AttestationError('PKI_VALIDITY_INVALID', 'notBefore is not a valid date');
  if (notBefore.getTime() >= issuer.notAfter.getTime())
    throw new AttestationError(
      'PKI_VALIDITY_INVALID',
      `the issuing CA certificate expired at ${issuer.notAfter.toISOString()}: rotate the CA (a new intermediate) first`,
    );
  let notAfter: Date;
  if (want.notAfter !== undefined) {
    notAfter = wholeSeconds(want.notAfter);
    if (Number.isNaN(notAfter.getTime())) throw new AttestationError('PKI_VALIDITY_INVALID', 'notAfter is not a valid date');
    if (notAfter.getTime() > issuer.notAfter.getTime())
      throw new AttestationError(
        'PKI_VALIDITY_INVALID',
        `notAfter ${notAfter.toISOString()} is past the issuing CA's notAfter ${issuer.notAfter.toISOString()}`,
      );
  } else {
    const wanted = addYears(notBefore, want.years);
    notAfter = wanted.getTime() > issuer.notAfter.getTime() ? new Date(issuer.notAfter.getTime()) : wanted;
  }
  if (notBefore.getTime() < issuer.notBefore.getTime())
    throw new AttestationError(
      'PKI_VALIDITY_INVALID',
      `notBefore ${notBefore.toISOString()} is before the issuing CA's notBefore ${issuer.notBefore.toISOString()}`,
    );
  if (notAfter.getTime() <= notBefore.getTime())
    throw new AttestationError(
      'PKI_VALIDITY_INVALID',
      `the validity ${notBefore.toISOString()} .. ${notAfter.toISOString()} is empty`,
    );
  return { notBefore, notAfter };
}
