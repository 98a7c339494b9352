/**
 * The Key certificate written directly as DER (RFC 5280 §4.1), for the issuing hot path of the
 * provisioning station: the profile of a Key certificate is fixed (`ca.ts`
 * `issueKeyCertificate`), so its few fields are encoded here and the TBSCertificate is signed
 * with Node's Ed25519, instead of building ASN.1 objects through `@peculiar/x509` and parsing
 * the result back (~5 ms per certificate against ~0.3 ms). The output is byte for byte what
 * `@peculiar/x509` produces for the same fields (Ed25519 signatures are deterministic, so the
 * whole certificate is identical): `attestation/test/pki-leaf-der.test.ts` checks that.
 *
 * Only names `@peculiar/x509` writes as PrintableString are built here (every Key model of
 * `[A-Za-z0-9 .-]`); {@link printable} says when, and the caller falls back to the library
 * otherwise (a model with `_`).
 * @module
 */
import { createHash, KeyObject, sign } from 'node:crypto';
import { bitString, ED25519_ALGORITHM, ed25519Spki, oid, parseCertificate, TAG, tlv } from '@enigm/protocols/x509';

const OID_CN = '2.5.4.3';
const OID_OU = '2.5.4.11';
const OID_O = '2.5.4.10';
const BOOLEAN_TRUE = Uint8Array.of(0x01, 0x01, 0xff);

/** What a Key certificate holds (validity already decided, serial drawn). */
export interface LeafFields {
  /** Serial number, hex (a positive INTEGER without a leading zero byte, as `randomSerial` makes). */
  readonly serialHex: string;
  /** The intermediate's certificate (DER): its subject becomes the issuer name. */
  readonly issuerDer: Uint8Array;
  /** The intermediate's subjectKeyIdentifier, hex. */
  readonly issuerKeyId: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Subject attributes, in order. */
  readonly commonName: string;
  readonly organizationalUnit: string;
  readonly organization: string;
  /** The Key's raw 32-byte Ed25519 identity key. */
  readonly identityKey: Uint8Array;
}

/** Whether `s` is written as a PrintableString (X.680 §41.4: letters, digits, space and `'()+,-./:=?`). */
export function printable(s: string): boolean {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(s);
}

const text = (s: string) => new TextEncoder().encode(s);

function attribute(type: string, value: string): Uint8Array {
  if (!printable(value)) throw new RangeError(`not a PrintableString: ${JSON.stringify(value)}`);
  return tlv(TAG.SET, tlv(TAG.SEQUENCE, oid(type), tlv(TAG.PRINTABLE_STRING, text(value))));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(d: Date): Uint8Array {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = d.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new RangeError(`certificate time out of range: ${iso}`);
  return year < 2050 ? tlv(TAG.UTC_TIME, text(digits.slice(2))) : tlv(TAG.GENERALIZED_TIME, text(digits));
}

function extension(type: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical
    ? tlv(TAG.SEQUENCE, oid(type), BOOLEAN_TRUE, tlv(TAG.OCTET_STRING, value))
    : tlv(TAG.SEQUENCE, oid(type), tlv(TAG.OCTET_STRING, value));
}

function hexBytes(hex: string, what: string): Uint8Array {
  if (!/^([0-9a-f]{2})+$/i.test(hex)) throw new RangeError(`${what} must be hex`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** The issuing key as a Node key object (made once per CryptoKey). */
const signingKeys = new WeakMap<CryptoKey, KeyObject>();

/**
 * Encodes and signs a Key certificate: v3; the fields above; extensions basicConstraints (critical,
 * not a CA), keyUsage (critical, digitalSignature), subjectKeyIdentifier (SHA-1 of the key, RFC
 * 5280 §4.2.1.2 method 1), authorityKeyIdentifier (the issuer's key id). Ed25519 signature.
 * @param signingKey - the intermediate's private key (WebCrypto Ed25519)
 * @returns the certificate's DER
 * @throws RangeError for a field that cannot be written this way (the caller uses the library)
 */
export function buildKeyCertificateDer(fields: LeafFields, signingKey: CryptoKey): Uint8Array {
  const serial = hexBytes(fields.serialHex, 'serialHex');
  if (serial.length === 0 || (serial[0] as number) & 0x80 || (serial[0] === 0 && serial.length > 1))
    throw new RangeError('serialHex must be a positive, minimally encoded INTEGER');
  const issuerName = parseCertificate(fields.issuerDer).subject;
  const subject = tlv(
    TAG.SEQUENCE,
    attribute(OID_CN, fields.commonName),
    attribute(OID_OU, fields.organizationalUnit),
    attribute(OID_O, fields.organization),
  );
  const ski = createHash('sha1').update(fields.identityKey).digest();
  const extensions = tlv(
    TAG.SEQUENCE,
    extension('2.5.29.19', true, tlv(TAG.SEQUENCE)),
    extension('2.5.29.15', true, Uint8Array.of(0x03, 0x02, 0x07, 0x80)), // digitalSignature
    extension('2.5.29.14', false, tlv(TAG.OCTET_STRING, ski)),
    extension('2.5.29.35', false, tlv(TAG.SEQUENCE, tlv(0x80, hexBytes(fields.issuerKeyId, 'issuerKeyId')))),
  );
  const tbs = tlv(
    TAG.SEQUENCE,
    tlv(0xa0, tlv(TAG.INTEGER, Uint8Array.of(2))), // version v3
    tlv(TAG.INTEGER, serial),
    ED25519_ALGORITHM,
    issuerName,
    tlv(TAG.SEQUENCE, time(fields.notBefore), time(fields.notAfter)),
    subject,
    ed25519Spki(fields.identityKey),
    tlv(0xa3, extensions),
  );
  let key = signingKeys.get(signingKey);
  if (!key) {
    key = KeyObject.from(signingKey);
    signingKeys.set(signingKey, key);
  }
  return tlv(TAG.SEQUENCE, tbs, ED25519_ALGORITHM, bitString(new Uint8Array(sign(null, tbs, key))));
}
