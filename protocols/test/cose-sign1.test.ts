/**
 * Tests of COSE_Sign1 with EdDSA (protocols/src/cose/sign1.ts): RFC 9052 §4.2 (structure),
 * §4.4 (Sig_structure), §3 / §3.1 (header buckets, alg, crit, kid), RFC 9053 §2.2 (EdDSA).
 *
 * Checks:
 * - Interop with the COSE WG example set (vectors/cose/, from cose-wg/Examples): eddsa-sig-01
 *   (Ed25519) verifies, its Sig_structure equals the published ToBeSign, and our signer reproduces
 *   the published message byte for byte; eddsa-sig-02 (Ed448, also alg −8) parses but is refused.
 * - Interop with an independent implementation, `@auth0/cose` (cbor-x + jose): it verifies what we
 *   sign (with external AAD and detached payloads) and we verify what it signs; for equal inputs
 *   both produce identical bytes.
 * - Foreign, non-deterministic encodings (indefinite lengths, non-shortest heads, unsorted keys,
 *   a non-deterministic protected header) verify through the lenient path (`encoding: 'lenient'`).
 * - Policy: alg in the unprotected bucket, missing, or not −8 → COSE_UNSUPPORTED_ALG; a label in
 *   both buckets, unknown or misplaced crit, wrong header value types, detached-payload misuse →
 *   COSE_MALFORMED; wrong external_aad, tampered payload or protected header, wrong key →
 *   CRYPTO_BAD_SIGNATURE; a small-order or malformed key → CRYPTO_INVALID_KEY.
 * - Structure: every wrong shape, tag, truncation and garbage input is a typed ProtocolError.
 * - fast-check: random payload/aad round trip; any single-byte mutation never verifies; random
 *   bytes never raise anything but ProtocolError.
 */

import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Algorithms, Sign1 as Auth0Sign1, Headers, ProtectedHeaders, UnprotectedHeaders } from '@auth0/cose';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import fc from 'fast-check';
import { toHex } from '../src/bytes.ts';
import type { CborMap, CborValue } from '../src/cbor/index.ts';
import { encode, Tagged } from '../src/cbor/index.ts';
import { decodeSign1, HEADER_KID, signSign1, sigStructure1, verifySign1 } from '../src/cose/index.ts';
import { ed25519Generate, ed25519PrivateKeyToPem, ed25519PublicKeyToPem, ed25519Sign } from '../src/crypto/index.ts';
import { ProtocolError } from '../src/errors.ts';

const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const EMPTY = new Uint8Array(0);

function throwsCode(t: ExecutionContext, fn: () => unknown, code: ProtocolError['code'], message?: string): ProtocolError {
  const err = t.throws(fn, { instanceOf: ProtocolError }, message) as ProtocolError;
  t.is(err?.code, code, message);
  return err;
}

interface CoseWgVector {
  file: string;
  curve: string;
  plaintext: string;
  key: { kid: string; d_hex?: string; x_hex: string };
  ToBeSign_hex: string;
  cbor_hex: string;
}
const COSE_WG = JSON.parse(readFileSync(new URL('./vectors/cose/cose-wg-eddsa-sign1.json', import.meta.url), 'utf8')) as {
  vectors: CoseWgVector[];
};
const SIG01 = COSE_WG.vectors.find((v) => v.file.endsWith('eddsa-sig-01.json')) as CoseWgVector;
const SIG02 = COSE_WG.vectors.find((v) => v.file.endsWith('eddsa-sig-02.json')) as CoseWgVector;

const KEY = ed25519Generate();

/** Signs an arbitrary (possibly invalid) COSE_Sign1 by hand: protected bytes as given, payload or detached. */
function handSigned(
  protectedBytes: Uint8Array,
  unprotected: CborMap,
  payload: Uint8Array,
  opts: { aad?: Uint8Array; detached?: boolean; seed?: Uint8Array } = {},
): Uint8Array {
  const sig = ed25519Sign(opts.seed ?? KEY.seed, sigStructure1(protectedBytes, opts.aad ?? EMPTY, payload));
  return encode(new Tagged(18, [protectedBytes, unprotected, opts.detached ? null : payload, sig]));
}

const ALG_EDDSA = encode(new Map([[1, -8]]));

// ---- interop: cose-wg/Examples ------------------------------------------------------------------

test('cose-wg eddsa-sig-01 (Ed25519): verifies; Sig_structure equals ToBeSign_hex', (t) => {
  const s = verifySign1(bytes(SIG01.cbor_hex), bytes(SIG01.key.x_hex));
  t.true(s.tagged);
  t.is(s.encoding, 'deterministic');
  t.deepEqual(s.payload, utf8(SIG01.plaintext));
  t.deepEqual(
    [...s.protectedHeaders],
    [
      [1, -8],
      [3, 0],
    ],
  );
  t.deepEqual(s.unprotectedHeaders.get(HEADER_KID), utf8(SIG01.key.kid));
  t.is(toHex(sigStructure1(s.protectedBytes, EMPTY, s.payload as Uint8Array)), SIG01.ToBeSign_hex.toLowerCase());
});

test('cose-wg eddsa-sig-01: our signer reproduces the published message byte for byte', (t) => {
  const out = signSign1({
    payload: utf8(SIG01.plaintext),
    seed: bytes(SIG01.key.d_hex as string),
    kid: utf8(SIG01.key.kid),
    extraProtected: new Map([[3, 0]]),
  });
  t.is(toHex(out), SIG01.cbor_hex.toLowerCase());
});

test('cose-wg eddsa-sig-02 (Ed448, alg -8): parses, Sig_structure matches, but our Ed25519 verifier refuses it', (t) => {
  const msg = bytes(SIG02.cbor_hex);
  const s = decodeSign1(msg);
  t.is(s.signature.length, 114);
  t.is(toHex(sigStructure1(s.protectedBytes, EMPTY, s.payload as Uint8Array)), SIG02.ToBeSign_hex.toLowerCase());
  throwsCode(t, () => verifySign1(msg, bytes(SIG02.key.x_hex)), 'CRYPTO_INVALID_KEY'); // a 57-byte key
  throwsCode(t, () => verifySign1(msg, bytes(SIG01.key.x_hex)), 'CRYPTO_BAD_SIGNATURE'); // a 114-byte signature
});

// ---- interop: @auth0/cose -----------------------------------------------------------------------

const AUTH0_PRIVATE = createPrivateKey(ed25519PrivateKeyToPem(KEY.seed));
const AUTH0_PUBLIC = createPublicKey(ed25519PublicKeyToPem(KEY.publicKey));

test('@auth0/cose verifies what we sign: attached, with external AAD, detached, untagged', async (t) => {
  const payload = utf8('measured boot log digest');
  const aad = utf8('nonce-1234');
  const attached = Auth0Sign1.decode(signSign1({ payload, seed: KEY.seed, kid: utf8('k1') }));
  await attached.verify(AUTH0_PUBLIC);
  t.deepEqual(new Uint8Array(attached.payload), payload);
  t.deepEqual(attached.kid && new Uint8Array(attached.kid), utf8('k1'));

  const withAad = Auth0Sign1.decode(signSign1({ payload, seed: KEY.seed, externalAad: aad }));
  await withAad.verify(AUTH0_PUBLIC, { externalAAD: aad });
  await t.throwsAsync(withAad.verify(AUTH0_PUBLIC, { externalAAD: utf8('nonce-1235') }));
  await t.throwsAsync(withAad.verify(AUTH0_PUBLIC));

  const detached = Auth0Sign1.decode(signSign1({ payload, seed: KEY.seed, detached: true }));
  await detached.verify(AUTH0_PUBLIC, { detachedPayload: payload });
  await t.throwsAsync(detached.verify(AUTH0_PUBLIC, { detachedPayload: utf8('other') }));

  const untagged = Auth0Sign1.decode(signSign1({ payload, seed: KEY.seed, tagged: false }));
  await untagged.verify(AUTH0_PUBLIC);
});

test('we verify what @auth0/cose signs, and equal inputs give equal bytes', async (t) => {
  const payload = utf8('{"claims":"here"}');
  const theirs = await Auth0Sign1.sign(
    new ProtectedHeaders([[Headers.Algorithm, Algorithms.EdDSA]]),
    new UnprotectedHeaders([[Headers.KeyID, utf8('dev-7')]]),
    payload,
    AUTH0_PRIVATE,
  );
  const encoded = new Uint8Array(theirs.encode());
  const s = verifySign1(encoded, KEY.publicKey);
  t.deepEqual(s.payload, payload);
  t.deepEqual(s.unprotectedHeaders.get(HEADER_KID), utf8('dev-7'));
  t.is(toHex(signSign1({ payload, seed: KEY.seed, kid: utf8('dev-7') })), toHex(encoded));
  throwsCode(t, () => verifySign1(encoded, ed25519Generate().publicKey), 'CRYPTO_BAD_SIGNATURE');
});

// ---- foreign encodings: the lenient path --------------------------------------------------------

test('a non-deterministic re-encoding of eddsa-sig-01 verifies through the lenient path', (t) => {
  const sig01 = decodeSign1(bytes(SIG01.cbor_hex));
  const foreign = bytes(
    [
      'd2 9f', // tag 18, indefinite-length array
      '58 05 a201270300', // protected: bstr with a non-shortest (1-byte) length
      'bf 18 21 41 00 04 42 3131 ff', // unprotected: indefinite map, keys 33 then 4 (unsorted)
      `5f 4a ${toHex(utf8('This is th'))} 4a ${toHex(utf8('e content.'))} ff`, // payload in two chunks
      `59 0040 ${toHex(sig01.signature)}`, // signature: non-shortest 2-byte length
      'ff',
    ].join(''),
  );
  const s = verifySign1(foreign, bytes(SIG01.key.x_hex));
  t.is(s.encoding, 'lenient');
  t.deepEqual(s.payload, utf8(SIG01.plaintext));
  t.deepEqual(s.unprotectedHeaders.get(33), bytes('00'));
  t.deepEqual(s.signature, sig01.signature);
});

test('a non-deterministic protected header is signed and verified as its raw bytes', (t) => {
  const prot = bytes('a2 03 00 01 27'); // {3: 0, 1: -8}: keys unsorted
  const payload = utf8('hi');
  const msg = handSigned(prot, new Map(), payload);
  const s = verifySign1(msg, KEY.publicKey);
  t.is(s.encoding, 'lenient');
  t.deepEqual(s.protectedBytes, prot);
  t.is(s.protectedHeaders.get(1), -8);
  // re-encoding it canonically changes the signed bytes: no longer verifies
  const canonical = encode(new Tagged(18, [encode(s.protectedHeaders), new Map(), payload, s.signature]));
  throwsCode(t, () => verifySign1(canonical, KEY.publicKey), 'CRYPTO_BAD_SIGNATURE');
});

test('lenient path still refuses duplicate labels, undefined, and trailing bytes', (t) => {
  const sig = new Uint8Array(64);
  // indefinite-length unprotected map with key 4 twice
  const dup = bytes(`d2 9f 43 a10127 bf 04 41 00 04 41 01 ff 41 00 58 40 ${toHex(sig)} ff`);
  throwsCode(t, () => decodeSign1(dup), 'CBOR_DUPLICATE_KEY');
  const undef = bytes(`d2 9f 43 a10127 a0 f7 58 40 ${toHex(sig)} ff`);
  throwsCode(t, () => decodeSign1(undef), 'CBOR_UNSUPPORTED_SIMPLE');
  const trailing = bytes(`d2 9f 43 a10127 a0 41 00 58 40 ${toHex(sig)} ff 00`);
  throwsCode(t, () => decodeSign1(trailing), 'CBOR_TRAILING_BYTES');
});

// ---- algorithm and header policy ----------------------------------------------------------------

test('RFC 9052 §3.1: alg in the unprotected bucket, missing, or other than -8 is COSE_UNSUPPORTED_ALG', (t) => {
  const p = utf8('x');
  const cases: [string, Uint8Array][] = [
    ['alg only unprotected', handSigned(encode(new Map([[3, 0]])), new Map([[1, -8]]), p)],
    ['no protected header at all', handSigned(EMPTY, new Map(), p)],
    ['empty protected map', handSigned(encode(new Map()), new Map(), p)],
    ['alg -7 (ES256)', handSigned(encode(new Map([[1, -7]])), new Map(), p)],
    ['alg -35 (ES384)', handSigned(encode(new Map([[1, -35]])), new Map(), p)],
    ['alg as text "EdDSA"', handSigned(encode(new Map([[1, 'EdDSA']])), new Map(), p)],
    ['alg 8', handSigned(encode(new Map([[1, 8]])), new Map(), p)],
  ];
  for (const [name, msg] of cases) throwsCode(t, () => verifySign1(msg, KEY.publicKey), 'COSE_UNSUPPORTED_ALG', name);
});

test('a label in both buckets is COSE_MALFORMED (alg or kid twice)', (t) => {
  const p = utf8('x');
  throwsCode(t, () => decodeSign1(handSigned(ALG_EDDSA, new Map([[1, -8]]), p)), 'COSE_MALFORMED');
  const withKid = encode(
    new Map<number, CborValue>([
      [1, -8],
      [4, utf8('a')],
    ]),
  );
  throwsCode(t, () => verifySign1(handSigned(withKid, new Map([[4, utf8('b')]]), p), KEY.publicKey), 'COSE_MALFORMED');
});

test('crit: only understood labels, only in the protected bucket, never empty', (t) => {
  const p = utf8('x');
  const critProt = (labels: CborValue[], extra: [number, CborValue][] = []): Uint8Array =>
    encode(new Map<number, CborValue>([[1, -8], [2, labels], ...extra]));
  const unknown = handSigned(critProt([-65000], [[-65000, 1]]), new Map(), p);
  throwsCode(t, () => verifySign1(unknown, KEY.publicKey), 'COSE_MALFORMED');
  t.notThrows(() => verifySign1(unknown, KEY.publicKey, { understoodCritical: [-65000] }));
  t.notThrows(() => verifySign1(handSigned(critProt([3], [[3, 0]]), new Map(), p), KEY.publicKey));
  throwsCode(t, () => decodeSign1(handSigned(critProt([]), new Map(), p)), 'COSE_MALFORMED');
  throwsCode(t, () => decodeSign1(handSigned(critProt([utf8('x')]), new Map(), p)), 'COSE_MALFORMED');
  throwsCode(t, () => verifySign1(handSigned(ALG_EDDSA, new Map([[2, [3]]]), p), KEY.publicKey), 'COSE_MALFORMED');
});

test('RFC 9052 §3.1 value types: kid must be bytes, content type uint or text', (t) => {
  const p = utf8('x');
  throwsCode(t, () => decodeSign1(handSigned(ALG_EDDSA, new Map([[4, 'kid-as-text']]), p)), 'COSE_MALFORMED');
  const ctNeg = encode(
    new Map<number, CborValue>([
      [1, -8],
      [3, -1],
    ]),
  );
  throwsCode(t, () => decodeSign1(handSigned(ctNeg, new Map(), p)), 'COSE_MALFORMED');
  const ctText = encode(
    new Map<number, CborValue>([
      [1, -8],
      [3, 'application/cbor'],
    ]),
  );
  t.notThrows(() => verifySign1(handSigned(ctText, new Map(), p), KEY.publicKey));
});

// ---- signature failures -------------------------------------------------------------------------

test('wrong external_aad, tampered payload or protected header, or wrong key: CRYPTO_BAD_SIGNATURE', (t) => {
  const payload = utf8('firmware 1.2.3');
  const aad = utf8('session-42');
  const msg = signSign1({ payload, seed: KEY.seed, externalAad: aad, extraProtected: new Map([[3, 0]]) });
  t.notThrows(() => verifySign1(msg, KEY.publicKey, { externalAad: aad }));
  throwsCode(t, () => verifySign1(msg, KEY.publicKey), 'CRYPTO_BAD_SIGNATURE');
  throwsCode(t, () => verifySign1(msg, KEY.publicKey, { externalAad: utf8('session-43') }), 'CRYPTO_BAD_SIGNATURE');

  const s = decodeSign1(msg);
  const tamperedPayload = encode(new Tagged(18, [s.protectedBytes, s.unprotectedHeaders, utf8('firmware 1.2.4'), s.signature]));
  throwsCode(t, () => verifySign1(tamperedPayload, KEY.publicKey, { externalAad: aad }), 'CRYPTO_BAD_SIGNATURE');
  const prot = Uint8Array.from(s.protectedBytes);
  t.is(toHex(prot), 'a201270300');
  prot[4] = 1; // content type 0 -> 1
  const tamperedProt = encode(new Tagged(18, [prot, s.unprotectedHeaders, payload, s.signature]));
  throwsCode(t, () => verifySign1(tamperedProt, KEY.publicKey, { externalAad: aad }), 'CRYPTO_BAD_SIGNATURE');
  throwsCode(t, () => verifySign1(msg, ed25519Generate().publicKey, { externalAad: aad }), 'CRYPTO_BAD_SIGNATURE');
});

test('the unprotected bucket is not covered by the signature (documented): changing kid still verifies', (t) => {
  const msg = signSign1({ payload: utf8('p'), seed: KEY.seed, kid: utf8('a') });
  const s = decodeSign1(msg);
  const swapped = encode(new Tagged(18, [s.protectedBytes, new Map([[4, utf8('b')]]), s.payload, s.signature]));
  t.deepEqual(verifySign1(swapped, KEY.publicKey).unprotectedHeaders.get(4), utf8('b'));
});

test('bad public keys: small order or wrong length is CRYPTO_INVALID_KEY; wrong type is TypeError', (t) => {
  const msg = signSign1({ payload: utf8('p'), seed: KEY.seed });
  throwsCode(t, () => verifySign1(msg, bytes(`01${'00'.repeat(31)}`)), 'CRYPTO_INVALID_KEY');
  throwsCode(t, () => verifySign1(msg, new Uint8Array(31)), 'CRYPTO_INVALID_KEY');
  t.throws(() => verifySign1(msg, 'key' as unknown as Uint8Array), { instanceOf: TypeError });
});

test('the identity-point forgery wrapped in COSE is refused', (t) => {
  const identity = bytes(`01${'00'.repeat(31)}`);
  const forged = encode(new Tagged(18, [ALG_EDDSA, new Map(), utf8('anything'), bytes(`01${'00'.repeat(63)}`)]));
  throwsCode(t, () => verifySign1(forged, identity), 'CRYPTO_INVALID_KEY');
});

// ---- detached payloads, tagging, signer callback ------------------------------------------------

test('detached payloads: must be supplied, exactly once, and must match', (t) => {
  const payload = utf8('large file contents');
  const msg = signSign1({ payload, seed: KEY.seed, detached: true });
  const s = decodeSign1(msg);
  t.is(s.payload, null);
  t.is(verifySign1(msg, KEY.publicKey, { detachedPayload: payload }).payload, null);
  throwsCode(t, () => verifySign1(msg, KEY.publicKey), 'COSE_MALFORMED');
  throwsCode(t, () => verifySign1(msg, KEY.publicKey, { detachedPayload: utf8('other') }), 'CRYPTO_BAD_SIGNATURE');
  const attached = signSign1({ payload, seed: KEY.seed });
  throwsCode(t, () => verifySign1(attached, KEY.publicKey, { detachedPayload: payload }), 'COSE_MALFORMED');
});

test('RFC 9052 §2: tagged (18) by default, untagged on request; both accepted', (t) => {
  const payload = utf8('p');
  const tagged = signSign1({ payload, seed: KEY.seed });
  const untagged = signSign1({ payload, seed: KEY.seed, tagged: false });
  t.is(tagged[0], 0xd2);
  t.is(untagged[0], 0x84);
  t.deepEqual(tagged.subarray(1), untagged);
  t.true(verifySign1(tagged, KEY.publicKey).tagged);
  t.false(verifySign1(untagged, KEY.publicKey).tagged);
});

test('an external signer gives the same bytes as the seed; its output is checked', (t) => {
  const payload = utf8('p');
  const viaSeed = signSign1({ payload, seed: KEY.seed, unprotected: new Map([[-70010, KEY.publicKey]]) });
  let seen: Uint8Array | undefined;
  const viaSigner = signSign1({
    payload,
    signer: (tbs) => {
      seen = tbs;
      return ed25519Sign(KEY.seed, tbs);
    },
    unprotected: new Map([[-70010, KEY.publicKey]]),
  });
  t.is(toHex(viaSigner), toHex(viaSeed));
  t.is(toHex(seen as Uint8Array), toHex(sigStructure1(ALG_EDDSA, EMPTY, payload)));
  t.throws(() => signSign1({ payload, signer: () => new Uint8Array(63) }), { instanceOf: TypeError, message: /64-byte/ });
});

test('signSign1 option errors: seed xor signer, alg not settable, no label in both buckets', (t) => {
  const payload = utf8('p');
  t.throws(() => signSign1({ payload }), { instanceOf: TypeError, message: /exactly one of seed and signer/ });
  t.throws(() => signSign1({ payload, seed: KEY.seed, signer: () => new Uint8Array(64) }), { instanceOf: TypeError });
  t.throws(() => signSign1({ payload, seed: KEY.seed, extraProtected: new Map([[1, -7]]) }), { instanceOf: RangeError });
  t.throws(() => signSign1({ payload, seed: KEY.seed, unprotected: new Map([[1, -8]]) }), { instanceOf: RangeError });
  t.throws(() => signSign1({ payload, seed: KEY.seed, kid: utf8('a'), unprotected: new Map([[4, utf8('b')]]) }), {
    instanceOf: RangeError,
  });
  t.throws(() => signSign1({ payload, seed: KEY.seed, extraProtected: new Map([[4, utf8('a')]]), kid: utf8('a') }), {
    instanceOf: RangeError,
  });
  const err = t.throws(() => signSign1({ payload, seed: new Uint8Array(31) }), { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, 'CRYPTO_INVALID_KEY');
  for (const b of ['p', null, 1, [1]] as unknown[]) {
    const any = b as Uint8Array;
    t.throws(() => signSign1({ payload: any, seed: KEY.seed }), { instanceOf: TypeError, message: /^payload must be/ });
    t.throws(() => signSign1({ payload, seed: KEY.seed, externalAad: any }), { instanceOf: TypeError, message: /^externalAad/ });
    t.throws(() => signSign1({ payload, seed: KEY.seed, kid: any }), { instanceOf: TypeError, message: /^kid must be/ });
    t.throws(() => decodeSign1(any), { instanceOf: TypeError, message: /^bytes must be/ });
    if (b !== null) {
      // (null, like undefined, means "default: empty")
      t.throws(() => verifySign1(signSign1({ payload, seed: KEY.seed }), KEY.publicKey, { externalAad: any }), {
        instanceOf: TypeError,
      });
    }
  }
});

// ---- structure ----------------------------------------------------------------------------------

test('RFC 9052 §4.2 structure: every wrong shape is COSE_MALFORMED', (t) => {
  const sig = new Uint8Array(64);
  const cases: [string, CborValue][] = [
    ['a map', new Map([[1, 2]])],
    ['a byte string', utf8('x')],
    ['3 items', [ALG_EDDSA, new Map(), utf8('p')]],
    ['5 items', [ALG_EDDSA, new Map(), utf8('p'), sig, sig]],
    ['protected as a map', [new Map([[1, -8]]), new Map(), utf8('p'), sig]],
    ['protected bytes encode an array', [encode([1, -8]), new Map(), utf8('p'), sig]],
    ['protected bytes are not CBOR', [bytes('ff'), new Map(), utf8('p'), sig]],
    ['protected bytes have trailing bytes', [bytes('a1012700'), new Map(), utf8('p'), sig]],
    ['unprotected as bytes', [ALG_EDDSA, utf8('x'), utf8('p'), sig]],
    ['unprotected as an array', [ALG_EDDSA, [], utf8('p'), sig]],
    ['payload as text', [ALG_EDDSA, new Map(), 'p', sig]],
    ['payload as false', [ALG_EDDSA, new Map(), false, sig]],
    ['signature as nil', [ALG_EDDSA, new Map(), utf8('p'), null]],
    ['signature as text', [ALG_EDDSA, new Map(), utf8('p'), 'sig']],
    ['tag 98 (COSE_Sign)', new Tagged(98, [ALG_EDDSA, new Map(), utf8('p'), sig])],
    ['tag 17 (COSE_Mac0)', new Tagged(17, [ALG_EDDSA, new Map(), utf8('p'), sig])],
    ['tag 18 around a map', new Tagged(18, new Map([[1, 2]]))],
    ['tag 18 twice', new Tagged(18, new Tagged(18, [ALG_EDDSA, new Map(), utf8('p'), sig]))],
  ];
  for (const [name, value] of cases) {
    const err = t.throws(() => decodeSign1(encode(value)), { instanceOf: ProtocolError }, name) as ProtocolError;
    t.is(err.code, 'COSE_MALFORMED', `${name}: ${err.message}`);
  }
});

test('truncated, empty, garbage and oversized input: typed CBOR errors', (t) => {
  const msg = signSign1({ payload: utf8('truncate me'), seed: KEY.seed, kid: utf8('k') });
  for (let n = 0; n < msg.length; n++) {
    const err = t.throws(() => decodeSign1(msg.subarray(0, n)), { instanceOf: ProtocolError }, `prefix ${n}`) as ProtocolError;
    t.is(err.code, 'CBOR_TRUNCATED', `prefix ${n}: ${err.message}`);
  }
  throwsCode(t, () => decodeSign1(bytes('ffffffff')), 'CBOR_RESERVED');
  throwsCode(t, () => decodeSign1(bytes('d2')), 'CBOR_TRUNCATED');
  throwsCode(t, () => decodeSign1(Uint8Array.of(...msg, 0)), 'CBOR_TRAILING_BYTES');
  throwsCode(t, () => decodeSign1(msg, { maxBytes: 16 }), 'CBOR_TOO_LARGE');
  // declared lengths are checked before allocating: 4 GiB is over the bound, 1000 bytes past the input
  throwsCode(t, () => decodeSign1(bytes('d2 84 43 a10127 a0 5a ffffffff 00')), 'CBOR_TOO_LARGE');
  throwsCode(t, () => decodeSign1(bytes('d2 84 43 a10127 a0 59 03e8 00')), 'CBOR_TRUNCATED');
  throwsCode(t, () => decodeSign1(bytes('d2 9f 43 a10127 a0 5f 59 03e8 00')), 'CBOR_TRUNCATED'); // lenient path too
});

// ---- properties ---------------------------------------------------------------------------------

test('property: random payload and external_aad round trip (tagged or not, attached or detached)', (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 500 }),
      fc.uint8Array({ maxLength: 64 }),
      fc.boolean(),
      fc.boolean(),
      (payload, aad, tagged, detached) => {
        const msg = signSign1({ payload, seed: KEY.seed, externalAad: aad, tagged, detached });
        const s = verifySign1(msg, KEY.publicKey, { externalAad: aad, detachedPayload: detached ? payload : undefined });
        return s.tagged === tagged && (detached ? s.payload === null : toHex(s.payload as Uint8Array) === toHex(payload));
      },
    ),
    { numRuns: 150 },
  );
  t.pass();
});

test('property: any single-byte change of a message never verifies (only ProtocolErrors)', (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 80 }),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      fc.boolean(),
      (payload, at, x, withProtectedKid) => {
        const msg = signSign1({
          payload,
          seed: KEY.seed,
          extraProtected: withProtectedKid ? new Map([[4, utf8('kid')]]) : undefined,
        });
        const bad = Uint8Array.from(msg);
        const i = at % bad.length;
        bad[i] = (bad[i] as number) ^ x;
        try {
          verifySign1(bad, KEY.publicKey);
          return false;
        } catch (e) {
          return e instanceof ProtocolError;
        }
      },
    ),
    { numRuns: 400 },
  );
  t.pass();
});

test('property: random bytes never raise anything but ProtocolError', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (junk, prefix) => {
      const input = prefix ? Uint8Array.of(0xd2, 0x84, ...junk) : junk;
      try {
        decodeSign1(input);
        return true;
      } catch (e) {
        return e instanceof ProtocolError;
      }
    }),
    { numRuns: 1000 },
  );
  t.pass();
});
