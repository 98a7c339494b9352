/**
 * PKCS#10 certification requests (RFC 2986) for Ed25519 keys (RFC 8410), built and read without
 * dependencies. A Key builds one with its identity key inside its secure element: the request's
 * signature proves possession of the private key, which never leaves the element (the builder
 * only gets a sign callback). The subject is `CN=K-<first 16 bytes of SHA-256(key), hex>` — the
 * key certificate id, derived from the key alone; there are no attributes.
 *
 * ```
 * CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
 * CertificationRequestInfo ::= SEQUENCE { version INTEGER (0), subject Name,
 *                                         subjectPKInfo SubjectPublicKeyInfo, attributes [0] IMPLICIT SET OF Attribute }
 * ```
 * @module
 */
import { bytesEqual, toHex } from '../bytes.ts';
import { ed25519Verify } from '../crypto/ed25519.ts';
import { sha256 } from '../crypto/hash.ts';
import {
  bitString,
  children,
  type Der,
  oid,
  readBitString,
  readDer,
  readOid,
  sequence,
  smallInteger,
  TAG,
  tlv,
  X509Error,
} from './der.ts';

/** OID of Ed25519 (RFC 8410): key algorithm and signature algorithm alike. */
export const OID_ED25519 = '1.3.101.112';
/** OID of the commonName attribute. */
export const OID_COMMON_NAME = '2.5.4.3';

/** The `AlgorithmIdentifier` of Ed25519: a SEQUENCE of the OID alone (parameters absent). */
export const ED25519_ALGORITHM = tlv(TAG.SEQUENCE, oid(OID_ED25519));

/** The 32-byte raw Ed25519 key as a DER `SubjectPublicKeyInfo`. */
export function ed25519Spki(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== 32) throw new RangeError('an Ed25519 public key is 32 bytes');
  return tlv(TAG.SEQUENCE, ED25519_ALGORITHM, bitString(publicKey));
}

/**
 * The raw Ed25519 key of a DER `SubjectPublicKeyInfo`.
 * @throws {@link X509Error} `X509_MALFORMED`, `X509_UNSUPPORTED` (not Ed25519)
 */
export function readEd25519Spki(spki: Der | undefined): Uint8Array {
  const [alg, key] = sequence(spki, 'SubjectPublicKeyInfo', 2);
  const algParts = sequence(alg, 'AlgorithmIdentifier', 1, 2);
  if (readOid(algParts[0]) !== OID_ED25519 || algParts.length !== 1)
    throw new X509Error('X509_UNSUPPORTED', 'the key is not an Ed25519 key (RFC 8410, parameters absent)');
  const raw = readBitString(key);
  if (raw.length !== 32) throw new X509Error('X509_MALFORMED', 'an Ed25519 key is 32 bytes');
  return raw.slice();
}

/** The key certificate id of an identity key: `K-` and the first 16 bytes of its SHA-256, hex. */
export function keyIdOf(identityKey: Uint8Array): string {
  if (identityKey.length !== 32) throw new RangeError('an Ed25519 public key is 32 bytes');
  return `K-${toHex(sha256(identityKey).subarray(0, 16))}`;
}

/** A Name of one RDN: `CN=<cn>` as a UTF8String. */
export function commonNameOnly(cn: string): Uint8Array {
  const atv = tlv(TAG.SEQUENCE, oid(OID_COMMON_NAME), tlv(TAG.UTF8_STRING, new TextEncoder().encode(cn)));
  return tlv(TAG.SEQUENCE, tlv(TAG.SET, atv));
}

/**
 * Builds a PKCS#10 request for an Ed25519 identity key, signed through `sign`.
 * @param identityKey - the raw 32-byte Ed25519 public key
 * @param sign - Ed25519 signature (64 bytes) of the given bytes by the identity key (a secure element)
 * @returns the request's DER
 * @throws {@link X509Error} `X509_BAD_SIGNATURE` if `sign` returns a signature that does not verify
 */
export function buildEd25519Csr(identityKey: Uint8Array, sign: (message: Uint8Array) => Uint8Array): Uint8Array {
  const info = tlv(
    TAG.SEQUENCE,
    smallInteger(0),
    commonNameOnly(keyIdOf(identityKey)),
    ed25519Spki(identityKey),
    tlv(0xa0), // attributes: [0] IMPLICIT SET OF, empty
  );
  const signature = sign(info);
  if (signature.length !== 64 || !ed25519Verify(identityKey, info, signature))
    throw new X509Error('X509_BAD_SIGNATURE', 'the signer did not sign with the identity key');
  return tlv(TAG.SEQUENCE, info, ED25519_ALGORITHM, bitString(signature));
}

/** A parsed, verified Ed25519 request. */
export interface ParsedCsr {
  /** The raw Ed25519 key the request is for (its signature verified under it). */
  readonly publicKey: Uint8Array;
  /** The subject Name's DER. */
  readonly subject: Uint8Array;
  /** The signed `CertificationRequestInfo` DER. */
  readonly info: Uint8Array;
}

/**
 * Reads a DER PKCS#10 request with an Ed25519 key and signature and checks its signature under
 * its own key (proof of possession).
 * @throws {@link X509Error} `X509_MALFORMED`, `X509_UNSUPPORTED`, `X509_BAD_SIGNATURE`
 */
export function parseEd25519Csr(der: Uint8Array): ParsedCsr {
  const [info, alg, sig] = sequence(readDer(der), 'CertificationRequest', 3);
  const [version, subject, spki, attrs] = sequence(info, 'CertificationRequestInfo', 4);
  if (version?.tag !== TAG.INTEGER || !bytesEqual(version.content, Uint8Array.of(0)))
    throw new X509Error('X509_UNSUPPORTED', 'CSR version is not 0 (v1)');
  if (subject?.tag !== TAG.SEQUENCE || attrs?.tag !== 0xa0) throw new X509Error('X509_MALFORMED', 'CSR subject or attributes');
  children(attrs);
  const publicKey = readEd25519Spki(spki);
  if (!alg || !bytesEqual(alg.encoded, ED25519_ALGORITHM))
    throw new X509Error('X509_UNSUPPORTED', 'the CSR is not signed with Ed25519');
  const signature = readBitString(sig);
  const signed = (info as Der).encoded;
  if (signature.length !== 64 || !ed25519Verify(publicKey, signed, signature))
    throw new X509Error('X509_BAD_SIGNATURE', 'the CSR signature does not verify under its key (no proof of possession)');
  return { publicKey, subject: subject.encoded.slice(), info: signed.slice() };
}
