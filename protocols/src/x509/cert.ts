/**
 * Reading X.509 certificates (RFC 5280) the way a Key needs to: the subject key, issuer and
 * subject names, validity and the signature — enough to check, before storing a chain, that the
 * leaf certifies its own identity key and that the next certificate signed it. Chain validation
 * against trust anchors is the verifier's job (`verifyKeyChain` in `@enigm/attestation`), never
 * the Key's.
 * @module
 */
import { bytesEqual } from '../bytes.ts';
import { ed25519Verify } from '../crypto/ed25519.ts';
import { ED25519_ALGORITHM, readEd25519Spki } from './csr.ts';
import { type Der, readBitString, readDer, readOid, readTime, sequence, TAG, X509Error } from './der.ts';

/** A parsed certificate (its signature not yet checked). */
export interface ParsedCertificate {
  /** The whole certificate's DER. */
  readonly der: Uint8Array;
  /** The signed `TBSCertificate` DER. */
  readonly tbs: Uint8Array;
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Raw Ed25519 subject key, or `undefined` for another algorithm. */
  readonly ed25519Key: Uint8Array | undefined;
  /** Whether the outer signature algorithm is Ed25519. */
  readonly signedWithEd25519: boolean;
  readonly signature: Uint8Array;
}

/**
 * Parses a DER certificate (v3 expected; v1 accepted).
 * @throws {@link X509Error} `X509_MALFORMED`
 */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const [tbs, alg, sig] = sequence(readDer(der, TAG.SEQUENCE), 'Certificate', 3);
  const fields = sequence(tbs, 'TBSCertificate', 6, 10);
  let i = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version
  const serial = fields[i++];
  if (serial?.tag !== TAG.INTEGER) throw new X509Error('X509_MALFORMED', 'certificate serial');
  i++; // inner signature algorithm
  const issuer = fields[i++] as Der;
  const validity = sequence(fields[i++], 'Validity', 2);
  const subject = fields[i++] as Der;
  const spki = fields[i++];
  if (issuer?.tag !== TAG.SEQUENCE || subject?.tag !== TAG.SEQUENCE || !spki)
    throw new X509Error('X509_MALFORMED', 'certificate names or key');
  sequence(spki, 'SubjectPublicKeyInfo', 2);
  let ed25519Key: Uint8Array | undefined;
  try {
    ed25519Key = readEd25519Spki(spki);
  } catch (e) {
    if (!(e instanceof X509Error) || e.code !== 'X509_UNSUPPORTED') throw e;
  }
  readOid(sequence(alg, 'AlgorithmIdentifier', 1, 2)[0]);
  return {
    der: der.slice(),
    tbs: (tbs as Der).encoded.slice(),
    issuer: issuer.encoded.slice(),
    subject: subject.encoded.slice(),
    notBefore: readTime(validity[0]),
    notAfter: readTime(validity[1]),
    ed25519Key,
    signedWithEd25519: alg !== undefined && bytesEqual(alg.encoded, ED25519_ALGORITHM),
    signature: readBitString(sig).slice(),
  };
}

/** Whether `cert` names `issuer` as its issuer and carries an Ed25519 signature by `issuer`'s key. */
export function issuedBy(cert: ParsedCertificate, issuer: ParsedCertificate): boolean {
  return (
    bytesEqual(cert.issuer, issuer.subject) &&
    cert.signedWithEd25519 &&
    issuer.ed25519Key !== undefined &&
    ed25519Verify(issuer.ed25519Key, cert.tbs, cert.signature)
  );
}
