/**
 * What the Key checks before it stores a certificate chain (`cert.install`), and the request it
 * signs (`csr`). The Key is not a verifier — it holds no trust anchor, and whoever appraises its
 * evidence checks the chain to a root at the verifier's own time — but it refuses to store a
 * chain that could only mislead: one whose leaf certifies another key (`CERT_KEY_MISMATCH`), one
 * that does not parse, is too large, or whose certificates do not sign each other in order
 * (`CERT_INVALID`), one outside its validity at the Key's time as the station set it
 * (`CERT_NOT_VALID`), or any chain while the Key's clock is unset since boot (`TIME_NOT_SET`: the
 * Key keeps no trusted time across boots, so a fresh Key's wrong clock can never make a good
 * certificate look "not yet valid" — it only ever uses the station's time). A Key that already
 * holds a chain takes only a newer one (`CERT_STALE` otherwise; the same chain again is a no-op).
 * @module
 */
import { bytesEqual } from '@enigm/protocols/bytes';
import { MAX_CERT_CHAIN_BYTES } from '@enigm/protocols/messages';
import { buildEd25519Csr, issuedBy, type ParsedCertificate, parseCertificate, X509Error } from '@enigm/protocols/x509';
import { type WireError, wireError } from './result.ts';
import type { SecureElement } from './secure-element.ts';

/** A PKCS#10 request for the element's identity key, signed inside the element. */
export function identityCsr(se: SecureElement): Uint8Array {
  return buildEd25519Csr(se.identityPublicKey, (m) => se.sign(m));
}

/** A chain the Key accepted: the DER certificates and the leaf's validity. */
export interface AcceptedChain {
  readonly chain: Uint8Array[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * Checks a chain for `cert.install`.
 * @param chain - DER certificates, leaf first
 * @param identityKey - the Key's identity public key
 * @param nowMs - the Key's wall clock (set by `time.set`), or `undefined` if unset since boot
 */
export function checkChain(
  chain: readonly Uint8Array[],
  identityKey: Uint8Array,
  nowMs: number | undefined,
): AcceptedChain | WireError {
  if (chain.length === 0) return wireError('CERT_INVALID', 'the chain is empty');
  const total = chain.reduce((n, c) => n + c.length, 0);
  if (total > MAX_CERT_CHAIN_BYTES)
    return wireError('CERT_INVALID', `the chain is ${total} bytes (at most ${MAX_CERT_CHAIN_BYTES})`);
  const parsed: ParsedCertificate[] = [];
  for (const [i, der] of chain.entries()) {
    try {
      parsed.push(parseCertificate(der));
    } catch (e) {
      if (e instanceof X509Error) return wireError('CERT_INVALID', `certificate ${i} does not parse: ${e.message}`.slice(0, 256));
      throw e;
    }
  }
  const leaf = parsed[0] as ParsedCertificate;
  if (!leaf.ed25519Key || !bytesEqual(leaf.ed25519Key, identityKey))
    return wireError('CERT_KEY_MISMATCH', "the leaf certificate is for another key than this Key's identity key");
  for (let i = 0; i + 1 < parsed.length; i++)
    if (!issuedBy(parsed[i] as ParsedCertificate, parsed[i + 1] as ParsedCertificate))
      return wireError('CERT_INVALID', `certificate ${i} is not signed (Ed25519) by certificate ${i + 1}`);
  if (nowMs === undefined) return wireError('TIME_NOT_SET');
  for (const [i, c] of parsed.entries())
    if (nowMs < c.notBefore.getTime() || nowMs > c.notAfter.getTime())
      return wireError(
        'CERT_NOT_VALID',
        `certificate ${i} is valid ${c.notBefore.toISOString()} … ${c.notAfter.toISOString()}, the Key's time is ${new Date(nowMs).toISOString()}`,
      );
  return { chain: chain.map((c) => c.slice()), notBefore: leaf.notBefore, notAfter: leaf.notAfter };
}

/**
 * Whether a checked chain may replace the one the Key holds (re-provisioning in factory state):
 * the same chain again is a no-op (`'same'`: a retried install), a chain whose leaf starts later
 * replaces it (`'newer'`: a re-issued certificate), and any other — an older certificate, or
 * another one issued at the same second — is `CERT_STALE`, so a captured or outdated
 * `cert.install` can never roll the Key back to an earlier certificate.
 * @param stored - the chain the Key holds (DER, leaf first), or undefined
 */
export function replaceChain(
  stored: readonly Uint8Array[] | undefined,
  next: AcceptedChain,
): 'new' | 'same' | 'newer' | WireError {
  if (!stored || stored.length === 0) return 'new';
  if (stored.length === next.chain.length && stored.every((c, i) => bytesEqual(c, next.chain[i] as Uint8Array))) return 'same';
  let held: Date;
  try {
    held = parseCertificate(stored[0] as Uint8Array).notBefore;
  } catch {
    return 'newer'; // an unreadable stored chain (never written by this Key) is replaced
  }
  if (next.notBefore.getTime() > held.getTime()) return 'newer';
  return wireError(
    'CERT_STALE',
    `the Key holds a certificate valid from ${held.toISOString()}; this one starts ${next.notBefore.toISOString()}`,
  );
}
