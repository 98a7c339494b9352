/**
 * Tests of the signed firmware image format (docs/firmware.md "Image format", "Signing and
 * verification"): protocols/src/firmware/manifest.ts and image.ts.
 *
 * Checks:
 * - Round trips: signManifest → verifyManifest, buildImage → parseImage / verifyImage; signing is
 *   deterministic; the header layout is magic 'EKFW' ‖ version 1 ‖ u32 BE manifest length; a
 *   known-answer image (fixed seed) keeps its manifest id, so the format cannot drift silently.
 * - Signed-manifest form (RFC 9052 COSE_Sign1, EdDSA): tagged, deterministic, alg/content
 *   type/kid protected, empty unprotected bucket, attached payload, strict manifest record.
 * - Every rejection with its code: not COSE, wrong signer (FIRMWARE_UNTRUSTED_SIGNER), tampered
 *   signature (FIRMWARE_BAD_SIGNATURE), truncation at every offset, payload appended / removed /
 *   altered (FIRMWARE_DIGEST_MISMATCH), wrong model, downgrade, oversized, bad magic / version,
 *   zero and huge manifest length fields (FIRMWARE_MALFORMED).
 * - compareVersions follows SemVer 2.0.0 §11 precedence.
 * - inspectImage reports without throwing.
 * - docs/firmware.md's manifest table matches the Manifest record.
 * - fast-check: random manifests and payloads round-trip; any single-byte mutation of an image
 *   never verifies; random bytes only ever raise ProtocolError.
 */

import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Sign1 as Auth0Sign1 } from '@auth0/cose';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import * as cborg from 'cborg';
import fc from 'fast-check';
import { toHex } from '../src/bytes.ts';
import { encode } from '../src/cbor/index.ts';
import type { CborValue } from '../src/cbor/types.ts';
import { HEADER_CONTENT_TYPE, HEADER_KID, signSign1 } from '../src/cose/index.ts';
import { ed25519Generate, ed25519PublicKey, ed25519PublicKeyToPem, sha256 } from '../src/crypto/index.ts';
import { ProtocolError } from '../src/errors.ts';
import {
  buildImage,
  checkManifestPolicy,
  compareVersions,
  decodeManifest,
  encodeManifest,
  IMAGE_FORMAT_VERSION,
  IMAGE_HEADER_LENGTH,
  IMAGE_MAGIC,
  inspectImage,
  isValidVersion,
  MANIFEST_CONTENT_TYPE,
  MAX_SIGNED_MANIFEST_BYTES,
  Manifest,
  type ManifestValue,
  manifestId,
  manifestKid,
  parseImage,
  parseSignedManifest,
  signManifest,
  splitImage,
  verifyImage,
  verifyManifest,
} from '../src/firmware/index.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function throwsCode(t: ExecutionContext, fn: () => unknown, code: ProtocolError['code'], message?: string): ProtocolError {
  const err = t.throws(fn, { instanceOf: ProtocolError }, message) as ProtocolError;
  t.is(err?.code, code, message);
  return err;
}

const SEED_A = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const PUB_A = ed25519PublicKey(SEED_A);
const B = ed25519Generate();
const PAYLOAD = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) & 0xff);
const POLICY = { model: 'enigm-key-1', installedSecurityCounter: 5, maxPayloadSize: 4096 };

function manifestFor(payload: Uint8Array, over: Partial<ManifestValue> = {}): ManifestValue {
  return {
    model: 'enigm-key-1',
    version: '1.4.0',
    securityCounter: 7,
    payloadSize: payload.length,
    payloadDigest: sha256(payload),
    ...over,
  };
}

function imageFor(payload: Uint8Array = PAYLOAD, over: Partial<ManifestValue> = {}, seed: Uint8Array = SEED_A): Uint8Array {
  return buildImage(signManifest(manifestFor(payload, over), seed), payload);
}

/** Assembles image bytes by hand (no checks), for inputs buildImage refuses to make. */
function rawImage(signedManifest: Uint8Array, payload: Uint8Array, version = IMAGE_FORMAT_VERSION): Uint8Array {
  const out = new Uint8Array(9 + signedManifest.length + payload.length);
  out.set(IMAGE_MAGIC);
  out[4] = version;
  new DataView(out.buffer).setUint32(5, signedManifest.length);
  out.set(signedManifest, 9);
  out.set(payload, 9 + signedManifest.length);
  return out;
}

/** A COSE_Sign1 over `payload` with the manifest headers, adjustable. */
function coseManifest(
  payload: Uint8Array,
  opts: {
    seed?: Uint8Array;
    contentType?: CborValue;
    kid?: Uint8Array;
    unprotected?: Map<number, CborValue>;
    tagged?: boolean;
  } = {},
): Uint8Array {
  const seed = opts.seed ?? SEED_A;
  const prot = new Map<number, CborValue>();
  if (opts.contentType !== null) prot.set(HEADER_CONTENT_TYPE, opts.contentType ?? MANIFEST_CONTENT_TYPE);
  prot.set(HEADER_KID, opts.kid ?? manifestKid(ed25519PublicKey(seed)));
  return signSign1({
    payload,
    seed,
    extraProtected: prot,
    ...(opts.unprotected ? { unprotected: opts.unprotected } : {}),
    tagged: opts.tagged ?? true,
  });
}

// ---- round trips ----------------------------------------------------------------------------------

test('signManifest → verifyManifest round trip; deterministic; kid and content type protected', (t) => {
  const m = manifestFor(PAYLOAD, { createdAt: 1_700_000_000, description: 'Security fix for FIDO2 PIN retries' });
  const signed = signManifest(m, SEED_A);
  t.deepEqual(signManifest(m, SEED_A), signed);
  const v = verifyManifest(signed, [PUB_A]);
  t.deepEqual(v.manifest, m);
  t.deepEqual(v.signer, PUB_A);
  const p = parseSignedManifest(signed);
  t.deepEqual(p.kid, manifestKid(PUB_A));
  t.deepEqual(p.kid, sha256(PUB_A).subarray(0, 8));
  t.is(p.sign1.protectedHeaders.get(HEADER_KID) instanceof Uint8Array, true);
  t.is(p.sign1.protectedHeaders.get(HEADER_CONTENT_TYPE), MANIFEST_CONTENT_TYPE);
  t.is(p.sign1.unprotectedHeaders.size, 0);
  t.true(p.sign1.tagged);
  t.deepEqual(decodeManifest(p.sign1.payload as Uint8Array), m);
  t.deepEqual(manifestId(signed), sha256(signed));
});

test('buildImage → parseImage / verifyImage round trip; header layout', (t) => {
  const signed = signManifest(manifestFor(PAYLOAD), SEED_A);
  const image = buildImage(signed, PAYLOAD);
  t.is(toHex(image.subarray(0, 5)), '454b465701');
  t.is(new DataView(image.buffer, image.byteOffset).getUint32(5, false), signed.length);
  t.is(image.length, IMAGE_HEADER_LENGTH + signed.length + PAYLOAD.length);
  const p = parseImage(image);
  t.deepEqual(p.signedManifest, signed);
  t.deepEqual(p.payload, PAYLOAD);
  t.deepEqual(p.manifest, manifestFor(PAYLOAD));
  const v = verifyImage(image, [B.publicKey, PUB_A], POLICY);
  t.deepEqual(v.signer, PUB_A);
  t.deepEqual(v.payload, PAYLOAD);
  t.deepEqual(v.signedManifest, signed);
  t.deepEqual(v.manifest, manifestFor(PAYLOAD));
  t.deepEqual(splitImage(image).payload, PAYLOAD);
});

test('empty payload round-trips', (t) => {
  const empty = new Uint8Array(0);
  const v = verifyImage(imageFor(empty), [PUB_A], POLICY);
  t.is(v.payload.length, 0);
  t.is(v.manifest.payloadSize, 0);
});

test('known answer: fixed seed and manifest give a fixed image (format drift guard)', (t) => {
  const payload = utf8('enigm firmware\n');
  const m = manifestFor(payload, { version: '1.0.0', securityCounter: 1, createdAt: 1_700_000_000 });
  const signed = signManifest(m, SEED_A);
  const image = buildImage(signed, payload);
  t.is(toHex(manifestKid(PUB_A)), toHex(sha256(PUB_A).subarray(0, 8)));
  // d2 84 | 58 36 {1: -8, 3: content type, 4: kid} | a0 | 58 42 manifest | 58 40 signature
  t.is(
    toHex(signed),
    'd2845836a301270378266170706c69636174696f6e2f766e642e656e69676d2e66772d6d616e69666573742b63626f72044865b60673d6ed884b' +
      'a05842a6016b656e69676d2d6b65792d310265312e302e300301040f055820d25a88def8ee4079d9b7abb1749a01757770d22476fd2d4d34f8f7' +
      'b9253da9b1061a6553f100584083f05cd6ab5030c21c309997433bac173e4a51117f028d5ea7440ec12ac68676b994c1578930fb2ff0a2c1d76b' +
      'b81009d65ecb8fe1041d13fbc85c17100f920b',
  );
  t.is(toHex(manifestId(signed)), '987731e9383e08a92fcc9ebf2afc8a905a809daf3135d6a0a15031220e6a26e7');
  t.is(toHex(sha256(image)), '6d2d4a76c88d6a5564cefdfeb350f3e60f4eb7e228ea77ac538b8c5c08b6a210');
});

test('interop: @auth0/cose verifies a signed manifest; cborg decodes its payload to the same record', async (t) => {
  const m = manifestFor(PAYLOAD, { description: 'interop' });
  const signed = signManifest(m, SEED_A);
  const theirs = Auth0Sign1.decode(signed);
  await theirs.verify(createPublicKey(ed25519PublicKeyToPem(PUB_A)));
  const decoded = cborg.decode(new Uint8Array(theirs.payload), { useMaps: true }) as Map<number, unknown>;
  t.deepEqual([...decoded.keys()], [1, 2, 3, 4, 5, 7]);
  t.is(decoded.get(1), m.model);
  t.is(decoded.get(2), m.version);
  t.deepEqual(decoded.get(5), m.payloadDigest);
});

test('verifyManifest: match by kid first, then try every trusted key', (t) => {
  // kid naming no trusted key, but signed by a trusted one: accepted
  const oddKid = coseManifest(encodeManifest(manifestFor(PAYLOAD)), { kid: utf8('hsm-slot') });
  t.deepEqual(verifyManifest(oddKid, [B.publicKey, PUB_A]).signer, PUB_A);
  // no kid at all
  const s = signSign1({
    payload: encodeManifest(manifestFor(PAYLOAD)),
    seed: SEED_A,
    extraProtected: new Map([[HEADER_CONTENT_TYPE, MANIFEST_CONTENT_TYPE]]),
  });
  t.is(parseSignedManifest(s).kid, undefined);
  t.deepEqual(verifyManifest(s, [PUB_A]).signer, PUB_A);
});

// ---- rejections ---------------------------------------------------------------------------------

test('unsigned: bytes that are not a COSE_Sign1 in the manifest slot → FIRMWARE_MALFORMED', (t) => {
  const plain = encodeManifest(manifestFor(PAYLOAD));
  throwsCode(t, () => verifyImage(rawImage(plain, PAYLOAD), [PUB_A]), 'FIRMWARE_MALFORMED', 'bare manifest CBOR');
  throwsCode(t, () => parseImage(rawImage(plain, PAYLOAD)), 'FIRMWARE_MALFORMED');
  throwsCode(t, () => verifyImage(rawImage(utf8('not cose at all'), PAYLOAD), [PUB_A]), 'FIRMWARE_MALFORMED', 'text');
  throwsCode(t, () => verifyManifest(new Uint8Array([0xd2, 0x84]), [PUB_A]), 'FIRMWARE_MALFORMED', 'truncated COSE');
  const err = throwsCode(t, () => verifyManifest(plain, [PUB_A]), 'FIRMWARE_MALFORMED');
  t.true(err.cause instanceof ProtocolError);
});

test('signed-manifest form: content type, unprotected headers, tag, detached, extra headers, bad record', (t) => {
  const body = encodeManifest(manifestFor(PAYLOAD));
  t.notThrows(() => verifyManifest(coseManifest(body), [PUB_A]));
  const bad: [string, Uint8Array][] = [
    ['no content type', coseManifest(body, { contentType: null })],
    ['other content type', coseManifest(body, { contentType: 'application/cbor' })],
    ['numeric content type', coseManifest(body, { contentType: 60 })],
    ['unprotected header', coseManifest(body, { unprotected: new Map([[99, 1]]) })],
    ['untagged', coseManifest(body, { tagged: false })],
    [
      'detached',
      signSign1({
        payload: body,
        seed: SEED_A,
        detached: true,
        extraProtected: new Map([[HEADER_CONTENT_TYPE, MANIFEST_CONTENT_TYPE]]),
      }),
    ],
    [
      'extra protected header',
      signSign1({
        payload: body,
        seed: SEED_A,
        extraProtected: new Map<number, CborValue>([
          [HEADER_CONTENT_TYPE, MANIFEST_CONTENT_TYPE],
          [-70000, 1],
        ]),
      }),
    ],
    ['unknown manifest key', coseManifest(encode(new Map([...Manifest.toMap(manifestFor(PAYLOAD)), [8, 1]])))],
    ['manifest not a map', coseManifest(encode([1, 2]))],
    ['manifest with trailing bytes', coseManifest(Uint8Array.from([...body, 0]))],
    ['bad version in signed manifest', coseManifest(encode(Manifest.toMap(manifestFor(PAYLOAD, { version: '1.4' }))))],
    ['oversized', coseManifest(encode(new Map([[1, 'x'.repeat(MAX_SIGNED_MANIFEST_BYTES)]])))],
  ];
  for (const [name, signed] of bad) {
    throwsCode(t, () => verifyManifest(signed, [PUB_A]), 'FIRMWARE_MALFORMED', name);
    throwsCode(t, () => parseSignedManifest(signed), 'FIRMWARE_MALFORMED', name);
  }
});

test('wrongly signed (another key) → FIRMWARE_UNTRUSTED_SIGNER; no trusted keys → FIRMWARE_UNTRUSTED_SIGNER', (t) => {
  const image = imageFor(PAYLOAD, {}, B.seed);
  throwsCode(t, () => verifyImage(image, [PUB_A]), 'FIRMWARE_UNTRUSTED_SIGNER');
  throwsCode(t, () => verifyImage(imageFor(), []), 'FIRMWARE_UNTRUSTED_SIGNER');
  t.notThrows(() => parseImage(image), 'structure alone is fine');
});

test('tampered signature, or another key claiming a trusted kid → FIRMWARE_BAD_SIGNATURE', (t) => {
  const signed = signManifest(manifestFor(PAYLOAD), SEED_A);
  const tampered = Uint8Array.from(signed);
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 0x01;
  throwsCode(t, () => verifyManifest(tampered, [PUB_A]), 'FIRMWARE_BAD_SIGNATURE');
  const impostor = coseManifest(encodeManifest(manifestFor(PAYLOAD)), { seed: B.seed, kid: manifestKid(PUB_A) });
  throwsCode(t, () => verifyManifest(impostor, [PUB_A]), 'FIRMWARE_BAD_SIGNATURE');
});

test('a trusted key that is not an acceptable Ed25519 key → CRYPTO_INVALID_KEY; wrong types → TypeError', (t) => {
  const signed = signManifest(manifestFor(PAYLOAD), SEED_A);
  throwsCode(t, () => verifyManifest(signed, [new Uint8Array(32)]), 'CRYPTO_INVALID_KEY');
  throwsCode(t, () => verifyManifest(signed, [new Uint8Array(31)]), 'CRYPTO_INVALID_KEY');
  t.throws(() => verifyManifest(signed, ['00' as unknown as Uint8Array]), { instanceOf: TypeError, message: /trustedKeys\[0\]/ });
  t.throws(() => verifyManifest(signed, PUB_A as unknown as Uint8Array[]), { instanceOf: TypeError });
  t.throws(() => parseImage([1, 2] as unknown as Uint8Array), { instanceOf: TypeError, message: /image/ });
  t.throws(() => buildImage(signed, 'x' as unknown as Uint8Array), { instanceOf: TypeError, message: /payload/ });
  t.throws(() => signManifest(manifestFor(PAYLOAD), 'k' as unknown as Uint8Array), { instanceOf: TypeError, message: /seed/ });
  throwsCode(t, () => signManifest(manifestFor(PAYLOAD), new Uint8Array(31)), 'CRYPTO_INVALID_KEY');
});

test('truncated at every offset → FIRMWARE_MALFORMED (header, manifest) or FIRMWARE_DIGEST_MISMATCH (payload)', (t) => {
  const payload = PAYLOAD.subarray(0, 40);
  const image = imageFor(payload);
  const payloadStart = image.length - payload.length;
  for (let n = 0; n < image.length; n++) {
    const want = n < payloadStart ? 'FIRMWARE_MALFORMED' : 'FIRMWARE_DIGEST_MISMATCH';
    const cut = image.slice(0, n);
    const e1 = t.throws(() => verifyImage(cut, [PUB_A]), { instanceOf: ProtocolError }) as ProtocolError;
    const e2 = t.throws(() => parseImage(cut), { instanceOf: ProtocolError }) as ProtocolError;
    if (e1?.code !== want || e2?.code !== want) t.fail(`cut at ${n}: ${e1?.code} / ${e2?.code}, expected ${want}`);
  }
});

test('payload appended, removed or altered → FIRMWARE_DIGEST_MISMATCH', (t) => {
  const signed = signManifest(manifestFor(PAYLOAD), SEED_A);
  const cases: [string, Uint8Array][] = [
    ['one byte appended', Uint8Array.from([...PAYLOAD, 0])],
    ['one byte removed', PAYLOAD.subarray(0, -1)],
    ['payload removed', new Uint8Array(0)],
    ['doubled', Uint8Array.from([...PAYLOAD, ...PAYLOAD])],
    ['same length, other bytes', PAYLOAD.map((b, i) => (i === 500 ? b ^ 0x80 : b))],
  ];
  for (const [name, payload] of cases) {
    const image = rawImage(signed, payload);
    throwsCode(t, () => verifyImage(image, [PUB_A]), 'FIRMWARE_DIGEST_MISMATCH', name);
    throwsCode(t, () => parseImage(image), 'FIRMWARE_DIGEST_MISMATCH', name);
    throwsCode(t, () => buildImage(signed, payload), 'FIRMWARE_DIGEST_MISMATCH', name);
  }
});

test('policy: wrong model, downgrade, oversized; equal counter and exact size pass', (t) => {
  throwsCode(t, () => verifyImage(imageFor(PAYLOAD, { model: 'enigm-key-2' }), [PUB_A], POLICY), 'FIRMWARE_WRONG_MODEL');
  throwsCode(t, () => verifyImage(imageFor(PAYLOAD, { securityCounter: 4 }), [PUB_A], POLICY), 'FIRMWARE_DOWNGRADE');
  t.notThrows(() => verifyImage(imageFor(PAYLOAD, { securityCounter: 5 }), [PUB_A], POLICY));
  throwsCode(t, () => verifyImage(imageFor(), [PUB_A], { ...POLICY, maxPayloadSize: PAYLOAD.length - 1 }), 'FIRMWARE_TOO_LARGE');
  t.notThrows(() => verifyImage(imageFor(), [PUB_A], { ...POLICY, maxPayloadSize: PAYLOAD.length }));
  // policy applies before the payload is looked at: a wrong model wins over a wrong payload
  const wrongModel = rawImage(signManifest(manifestFor(PAYLOAD, { model: 'other' }), SEED_A), new Uint8Array(3));
  throwsCode(t, () => verifyImage(wrongModel, [PUB_A], POLICY), 'FIRMWARE_WRONG_MODEL');
  // the size check uses the signed payloadSize, so a Key can refuse before receiving anything
  const huge = manifestFor(PAYLOAD, { payloadSize: 0xffff_ffff });
  throwsCode(t, () => checkManifestPolicy(huge, POLICY), 'FIRMWARE_TOO_LARGE');
  t.throws(() => checkManifestPolicy(huge, { ...POLICY, model: 1 as unknown as string }), { instanceOf: TypeError });
});

test('bad magic, bad format version → FIRMWARE_MALFORMED', (t) => {
  const image = imageFor();
  for (let i = 0; i < 4; i++) {
    const bad = Uint8Array.from(image);
    bad[i] = (bad[i] as number) ^ 0x20;
    throwsCode(t, () => verifyImage(bad, [PUB_A]), 'FIRMWARE_MALFORMED', `magic byte ${i}`);
  }
  for (const v of [0, 2, 0xff]) {
    const bad = Uint8Array.from(image);
    bad[4] = v;
    const e = throwsCode(t, () => parseImage(bad), 'FIRMWARE_MALFORMED', `version ${v}`);
    t.regex(e.message, /format version/);
  }
});

test('manifest length field: zero, over the limit, huge, past the end → FIRMWARE_MALFORMED without allocating', (t) => {
  const signed = signManifest(manifestFor(PAYLOAD), SEED_A);
  const image = rawImage(signed, PAYLOAD);
  const withLength = (n: number): Uint8Array => {
    const b = Uint8Array.from(image);
    new DataView(b.buffer).setUint32(5, n);
    return b;
  };
  for (const n of [0, MAX_SIGNED_MANIFEST_BYTES + 1, 0x7fff_ffff, 0xffff_ffff, image.length]) {
    throwsCode(t, () => verifyImage(withLength(n), [PUB_A]), 'FIRMWARE_MALFORMED', `length ${n}`);
  }
  // just the 9-byte header claiming 4 GiB
  const header = Uint8Array.of(...IMAGE_MAGIC, 1, 0xff, 0xff, 0xff, 0xff);
  throwsCode(t, () => parseImage(header), 'FIRMWARE_MALFORMED');
  // a manifest length one off shifts the boundary: never accepted
  throwsCode(t, () => verifyImage(withLength(signed.length + 1), [PUB_A]), 'FIRMWARE_MALFORMED');
  throwsCode(t, () => verifyImage(withLength(signed.length - 1), [PUB_A]), 'FIRMWARE_MALFORMED');
});

test('buildImage refuses a signed manifest that is not one', (t) => {
  throwsCode(t, () => buildImage(utf8('nope'), PAYLOAD), 'FIRMWARE_MALFORMED');
});

test('signManifest validates the manifest: FIRMWARE_MALFORMED naming the field', (t) => {
  const bad: [string, Partial<ManifestValue>, RegExp][] = [
    ['version 1.4', { version: '1.4' }, /version/],
    ['version v1.4.0', { version: 'v1.4.0' }, /version/],
    ['version 01.4.0', { version: '01.4.0' }, /version/],
    ['version 1.4.0-', { version: '1.4.0-' }, /version/],
    ['version 1.4.0-01', { version: '1.4.0-01' }, /version/],
    ['version too long', { version: `1.0.0-${'a'.repeat(27)}` }, /version/],
    ['version with newline', { version: '1.4.0\n' }, /version/],
    ['empty model', { model: '' }, /model/],
    ['model with space', { model: 'enigm key' }, /model/],
    ['model too long', { model: 'k'.repeat(65) }, /model/],
    ['negative counter', { securityCounter: -1 }, /securityCounter/],
    ['fractional counter', { securityCounter: 1.5 }, /securityCounter/],
    ['counter ≥ 2^32', { securityCounter: 2 ** 32 }, /securityCounter/],
    ['short digest', { payloadDigest: new Uint8Array(31) }, /payloadDigest/],
    ['createdAt not an integer', { createdAt: 1.5 }, /createdAt/],
    ['description with escape', { description: 'ok\u001b[2J' }, /description/],
    ['description too long', { description: 'd'.repeat(129) }, /description/],
    ['missing version', { version: undefined as unknown as string }, /version/],
  ];
  for (const [name, over, why] of bad) {
    const e = throwsCode(t, () => signManifest(manifestFor(PAYLOAD, over), SEED_A), 'FIRMWARE_MALFORMED', name);
    t.regex(e.message, why, name);
  }
  for (const v of ['0.0.0', '1.4.0-rc.1', '1.4.0-0.3.7', '1.4.0+build.5', '1.0.0-x-y-z.--', '10.20.30']) {
    t.true(isValidVersion(v), v);
    t.notThrows(() => signManifest(manifestFor(PAYLOAD, { version: v }), SEED_A), v);
  }
});

// ---- versions -----------------------------------------------------------------------------------

test('compareVersions: SemVer 2.0.0 §11 precedence', (t) => {
  // semver.org §11 example chain, strictly increasing
  const chain = [
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.1',
    '1.1.0',
    '1.9.0',
    '1.10.0',
    '2.0.0',
    '10.0.0',
    '99999999999999999999.0.0',
  ];
  for (let i = 0; i < chain.length; i++) {
    for (let j = 0; j < chain.length; j++) {
      const a = chain[i] as string;
      const b = chain[j] as string;
      t.is(Math.sign(compareVersions(a, b)), Math.sign(i - j), `${a} vs ${b}`);
    }
  }
  t.is(compareVersions('1.0.0+build.1', '1.0.0+build.2'), 0, 'build metadata is ignored');
  t.true(compareVersions('1.0.0-2', '1.0.0-10') < 0, 'numeric identifiers compare numerically');
  t.true(compareVersions('1.0.0-10', '1.0.0-a') < 0, 'numeric below alphanumeric');
  t.throws(() => compareVersions('1.0', '1.0.0'), { instanceOf: RangeError, message: /^a / });
  t.throws(() => compareVersions('1.0.0', 'latest'), { instanceOf: RangeError, message: /^b / });
});

// ---- inspect ------------------------------------------------------------------------------------

test('inspectImage reports without throwing', (t) => {
  const image = imageFor();
  const unchecked = inspectImage(image);
  t.deepEqual(unchecked.signature, { checked: false });
  t.is(unchecked.error, undefined);
  t.true(unchecked.payloadMatches);
  t.deepEqual(unchecked.manifest, manifestFor(PAYLOAD));
  t.deepEqual(unchecked.kid, manifestKid(PUB_A));
  t.deepEqual(unchecked.manifestId, manifestId(splitImage(image).signedManifest));
  t.is(unchecked.payloadLength, PAYLOAD.length);

  const good = inspectImage(image, [PUB_A], POLICY);
  t.deepEqual(good.signature, { checked: true, valid: true, signer: PUB_A });
  t.is(good.error, undefined);

  const untrusted = inspectImage(image, [B.publicKey]);
  t.deepEqual(untrusted.signature, { checked: true, valid: false });
  t.is(untrusted.error?.code, 'FIRMWARE_UNTRUSTED_SIGNER');

  const policyFail = inspectImage(image, [PUB_A], { ...POLICY, installedSecurityCounter: 8 });
  t.true(policyFail.signature.checked && policyFail.signature.valid);
  t.is(policyFail.error?.code, 'FIRMWARE_DOWNGRADE');

  const grown = rawImage(splitImage(image).signedManifest, Uint8Array.from([...PAYLOAD, 1]));
  const mismatch = inspectImage(grown);
  t.false(mismatch.payloadMatches);
  t.is(mismatch.error?.code, 'FIRMWARE_DIGEST_MISMATCH');
  t.deepEqual(mismatch.manifest, manifestFor(PAYLOAD), 'the manifest is still shown');
  t.is(inspectImage(grown, [B.publicKey]).error?.code, 'FIRMWARE_UNTRUSTED_SIGNER', 'signature problems come first');

  const junk = inspectImage(utf8('hello'));
  t.is(junk.error?.code, 'FIRMWARE_MALFORMED');
  t.is(junk.manifest, undefined);
  t.is(junk.size, 5);
});

// ---- docs ---------------------------------------------------------------------------------------

test('docs/firmware.md manifest table matches the Manifest record', (t) => {
  const doc = readFileSync(new URL('../../docs/firmware.md', import.meta.url), 'utf8');
  const rows = [...doc.matchAll(/^\| (\d+) \| `(\w+)` \| ([^|]+) \| (yes|no) \|/gm)].map((m) => ({
    key: Number(m[1]),
    name: m[2],
    type: (m[3] as string).trim(),
    optional: m[4] === 'no',
  }));
  const fields = Object.entries(Manifest.schema).map(([name, f]) => ({
    key: f.key,
    name,
    type: f.type.describe,
    optional: f.optional,
  }));
  t.deepEqual(rows, fields);
  t.true(doc.includes(MANIFEST_CONTENT_TYPE));
  t.true(doc.includes(`${MAX_SIGNED_MANIFEST_BYTES}`));
});

// ---- properties ---------------------------------------------------------------------------------

const arbManifestInputs = fc.record({
  payload: fc.uint8Array({ maxLength: 600 }),
  model: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  version: fc
    .tuple(fc.nat(999), fc.nat(999), fc.nat(999), fc.option(fc.stringMatching(/^[a-z]{1,6}(\.[1-9][0-9]{0,3})?$/)))
    .map(([a, b, c, pre]) => `${a}.${b}.${c}${pre === null ? '' : `-${pre}`}`),
  securityCounter: fc.nat({ max: 0xffff_ffff }),
  createdAt: fc.option(fc.nat({ max: 0xffff_ffff }), { nil: undefined }),
  description: fc.option(
    fc.string({
      maxLength: 128,
      unit: fc.oneof(
        fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
        fc.constantFrom('é', '✓', '漢'),
      ),
    }),
    { nil: undefined },
  ),
});

type ManifestInputs = typeof arbManifestInputs extends fc.Arbitrary<infer T> ? T : never;

function manifestOf(x: ManifestInputs): ManifestValue {
  const m: ManifestValue = {
    model: x.model,
    version: x.version,
    securityCounter: x.securityCounter,
    payloadSize: x.payload.length,
    payloadDigest: sha256(x.payload),
  };
  if (x.createdAt !== undefined) m.createdAt = x.createdAt;
  if (x.description !== undefined) m.description = x.description;
  return m;
}

test('property: random manifests and payloads round-trip through sign, build, parse and verify', (t) => {
  fc.assert(
    fc.property(arbManifestInputs, (x) => {
      const m = manifestOf(x);
      const image = buildImage(signManifest(m, SEED_A), x.payload);
      const v = verifyImage(image, [B.publicKey, PUB_A], {
        model: m.model,
        installedSecurityCounter: m.securityCounter,
        maxPayloadSize: 600,
      });
      t.deepEqual(v.manifest, m);
      t.deepEqual(v.payload, x.payload);
      t.deepEqual(parseImage(image).manifest, m);
    }),
    { numRuns: 100 },
  );
});

test('property: any single-byte mutation of an image never verifies', (t) => {
  const images = [imageFor(PAYLOAD.subarray(0, 64)), imageFor(new Uint8Array(0), { description: 'empty' })];
  fc.assert(
    fc.property(fc.constantFrom(...images), fc.nat(), fc.integer({ min: 1, max: 255 }), (image, at, xor) => {
      const bad = Uint8Array.from(image);
      const i = at % bad.length;
      bad[i] = (bad[i] as number) ^ xor;
      const e = t.throws(() => verifyImage(bad, [PUB_A]), { instanceOf: ProtocolError });
      return e instanceof ProtocolError;
    }),
    { numRuns: 600 },
  );
  // and exhaustively for one bit flip at every offset of a small image
  const small = imageFor(utf8('x'));
  for (let i = 0; i < small.length; i++) {
    const bad = Uint8Array.from(small);
    bad[i] = (bad[i] as number) ^ 0x01;
    let threw = false;
    try {
      verifyImage(bad, [PUB_A]);
    } catch (e) {
      threw = e instanceof ProtocolError;
    }
    if (!threw) t.fail(`bit flip at ${i} verified or threw a non-ProtocolError`);
  }
});

test('property: random bytes after a valid header only ever raise ProtocolError', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (tail, withHeader) => {
      const input = withHeader ? Uint8Array.from([...IMAGE_MAGIC, 1, 0, 0, 0, Math.min(tail.length, 255), ...tail]) : tail;
      try {
        parseImage(input);
        verifyImage(input, [PUB_A]);
        return false;
      } catch (e) {
        return e instanceof ProtocolError;
      }
    }),
    { numRuns: 500 },
  );
  t.pass();
});
