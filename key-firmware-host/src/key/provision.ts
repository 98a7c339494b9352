/**
 * The Key side of provisioning, as the facade runs it in a session: get a certification request
 * signed by the Key's identity key (checked here against the pinned identity), set the Key's
 * clock, install the certificate chain the CA issued. The Key itself refuses a chain for another
 * key (`CERT_KEY_MISMATCH`) and stores an accepted one durably.
 * @module
 */
import { bytesEqual, toHex } from '@enigm/protocols/bytes';
import { MAX_CERT_CHAIN_BYTES, TIME_SET_BOUNDS } from '@enigm/protocols/messages';
import { parseEd25519Csr, X509Error } from '@enigm/protocols/x509';
import type { SecureSession } from '../session/secure-session.ts';
import { KeyFacadeError } from './errors.ts';

/**
 * `csr`: the request, checked (parses, proof of possession, for the session's pinned identity).
 * @throws {@link KeyFacadeError} `KEY_CSR_INVALID`, `KEY_IDENTITY_MISMATCH`
 */
export async function requestCsr(session: SecureSession): Promise<Uint8Array> {
  const { csr } = await session.request('csr', {});
  let key: Uint8Array;
  try {
    key = parseEd25519Csr(csr).publicKey;
  } catch (e) {
    if (e instanceof X509Error) throw new KeyFacadeError('KEY_CSR_INVALID', e.message, { cause: e });
    throw e;
  }
  const identity = session.peer.identity;
  if (!identity || !bytesEqual(identity, key))
    throw new KeyFacadeError(
      'KEY_IDENTITY_MISMATCH',
      `the Key's request is for key ${toHex(key)}, not the pinned identity ${identity ? toHex(identity) : '(none)'}`,
    );
  return csr;
}

/**
 * `cert.install`: stores the chain on the Key.
 * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT` (empty, more than 3, or over the size bound)
 */
export async function installCertificate(session: SecureSession, chainDer: readonly Uint8Array[]): Promise<{ notAfter: Date }> {
  const total = chainDer.reduce((n, c) => n + c.length, 0);
  if (chainDer.length < 1 || chainDer.length > 3 || total > MAX_CERT_CHAIN_BYTES)
    throw new KeyFacadeError(
      'KEY_BAD_ARGUMENT',
      `a chain is 1–3 DER certificates of at most ${MAX_CERT_CHAIN_BYTES} bytes in all (got ${chainDer.length}, ${total} bytes)`,
    );
  const { notAfter } = await session.request('cert.install', { chain: chainDer.map((c) => Uint8Array.from(c)) });
  return { notAfter: new Date(notAfter) };
}

/**
 * `time.set`: the Key's wall clock until its next boot.
 * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT` (outside 2024 … 2100)
 */
export async function setKeyTime(session: SecureSession, unixMs: number): Promise<void> {
  const ms = Math.floor(unixMs);
  if (!Number.isFinite(ms) || ms < TIME_SET_BOUNDS.min || ms > TIME_SET_BOUNDS.max)
    throw new KeyFacadeError('KEY_BAD_ARGUMENT', `time ${unixMs} is outside 2024 … 2100`);
  await session.request('time.set', { unixMs: ms });
}
