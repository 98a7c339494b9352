/**
 * A stand-in firmware signer for tests and simulator development: manifests are JSON followed by
 * a 32-byte SHA-256 "signature" keyed by a secret. It implements {@link ImageVerifier} so the
 * update model can be exercised without the real COSE manifests; it offers no security at all.
 *
 * Errors follow the real verifier's codes: `FIRMWARE_MALFORMED`, `FIRMWARE_BAD_SIGNATURE`.
 *
 * @module
 */

import { toHex } from '@enigm/protocols/bytes';
import { sha256 } from '@enigm/protocols/crypto';
import { ProtocolError } from '@enigm/protocols/errors';
import type { ImageVerifier, ManifestFields } from './image.ts';

/** A test signer and the verifier that trusts it. */
export interface TestSigner {
  /** Verifies manifests signed by this signer (and SHA-256). */
  readonly verifier: ImageVerifier;
  /** Signs a manifest describing `payload` (size and digest computed here). */
  sign(fields: { model: string; version: string; securityCounter: number }, payload: Uint8Array): Uint8Array;
  /** Signs arbitrary manifest fields (e.g. a digest that does not match). */
  signFields(fields: ManifestFields): Uint8Array;
}

const TAG = 32;

/**
 * A test signer keyed by `secret`; verifiers of different secrets reject each other's manifests
 * (`FIRMWARE_BAD_SIGNATURE`), which models a wrong signer.
 * @example
 * const { verifier, sign } = createTestSigner();
 * const manifest = sign({ model: 'enigm-key-1', version: '1.0.0', securityCounter: 1 }, payload);
 */
export function createTestSigner(secret = 'enigm test signer'): TestSigner {
  const key = new TextEncoder().encode(secret);
  const signFields = (f: ManifestFields): Uint8Array => {
    const body = new TextEncoder().encode(
      JSON.stringify({
        model: f.model,
        version: f.version,
        securityCounter: f.securityCounter,
        payloadSize: f.payloadSize,
        payloadDigest: toHex(f.payloadDigest),
      }),
    );
    const out = new Uint8Array(body.length + TAG);
    out.set(body);
    out.set(sha256(key, body), body.length);
    return out;
  };
  const verifier: ImageVerifier = {
    sha256,
    verifyManifest(signed) {
      if (!(signed instanceof Uint8Array) || signed.length <= TAG)
        throw new ProtocolError('FIRMWARE_MALFORMED', 'test manifest too short');
      const body = signed.subarray(0, signed.length - TAG);
      if (toHex(sha256(key, body)) !== toHex(signed.subarray(signed.length - TAG)))
        throw new ProtocolError('FIRMWARE_BAD_SIGNATURE', 'test manifest signature does not verify');
      const j = JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>;
      return {
        model: String(j.model),
        version: String(j.version),
        securityCounter: Number(j.securityCounter),
        payloadSize: Number(j.payloadSize),
        payloadDigest: new Uint8Array(Buffer.from(String(j.payloadDigest), 'hex')),
      };
    },
  };
  return {
    verifier,
    signFields,
    sign: (fields, payload) => signFields({ ...fields, payloadSize: payload.length, payloadDigest: sha256(payload) }),
  };
}
