/**
 * The revocation list (attestation/src/revocation/): built, signed and verified; a change to any
 * field (re-encoded under the old signature) or any byte is caught as tampering; a lower version
 * is a rollback; a list past nextUpdate is stale; an untrusted issuer is refused; random and
 * mutated bytes only ever give a typed failure; isRevoked by identity key and by serial.
 */
import { randomBytes } from 'node:crypto';
import {
  type AttestationError,
  addRevocationEntry,
  createRevocationList,
  decodeRevocationList,
  isRevoked,
  REVOCATION_MAX_ENTRIES,
  type RevocationList,
  RevocationListType,
  requireRevocationList,
  revocationKeyId,
  revocationListToJson,
  revocationSignerFromSeed,
  signRevocationList,
  verifyRevocationList,
} from '@enigm/attestation';
import { toHex } from '@enigm/protocols/bytes';
import { decode, encode, Tagged } from '@enigm/protocols/cbor';
import { sha256 } from '@enigm/protocols/crypto';
import test from 'ava';
import fc from 'fast-check';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 11, 1);
const signer = revocationSignerFromSeed(new Uint8Array(32).fill(3));
const other = revocationSignerFromSeed(new Uint8Array(32).fill(4));
const K1 = new Uint8Array(32).fill(0x11);
const K2 = new Uint8Array(32).fill(0x22);
const SERIAL = Uint8Array.of(0x01, 0x02, 0x03);

function sample(): RevocationList {
  return createRevocationList({
    issuerPublicKey: signer.publicKey,
    version: 3,
    issuedAt: T0,
    nextUpdate: T0 + 7 * DAY,
    entries: [
      { subject: { serial: SERIAL }, revokedAt: T0 - DAY, reason: 'retired' },
      { subject: { identityKey: K1 }, revokedAt: T0 - 2 * DAY, reason: 'key-compromise' },
    ],
  });
}
const opts = { trustedKeys: [signer.publicKey], now: T0 + DAY };

/** Re-assembles a COSE_Sign1 with another payload map, keeping the original signature. */
function withPayload(bytes: Uint8Array, change: (m: Map<number, unknown>) => void): Uint8Array {
  const cose = decode(bytes, { allowedTags: new Set([18]) }) as Tagged;
  const arr = [...(cose.value as unknown[])];
  const m = decode(arr[2] as Uint8Array) as Map<number, unknown>;
  change(m);
  arr[2] = encode(m as never);
  return encode(new Tagged(18, arr as never));
}

test('a signed list verifies, round-trips and answers isRevoked by identity key and by serial', (t) => {
  const list = sample();
  const bytes = signRevocationList(list, signer);
  const r = verifyRevocationList(bytes, opts);
  t.true(r.ok);
  if (!r.ok) return;
  t.deepEqual(r.list, list);
  t.deepEqual(decodeRevocationList(bytes), list);
  t.deepEqual(r.issuerKey, signer.publicKey);
  t.is(isRevoked(r.list, { identityKey: K1 })?.reason, 'key-compromise');
  t.is(isRevoked(r.list, { identityKey: K2 }), undefined);
  t.is(isRevoked(r.list, { serial: SERIAL })?.reason, 'retired');
  t.is(isRevoked(r.list, { serial: Uint8Array.of(0, 1, 2, 3) })?.reason, 'retired', 'a DER leading zero is ignored');
  t.is(isRevoked(r.list, { serial: Uint8Array.of(1, 2) }), undefined);
  t.is(isRevoked(r.list, { serial: new Uint8Array(0) }), undefined);
  t.is(isRevoked(r.list, { identityKey: K2, serial: SERIAL })?.reason, 'retired');
  t.deepEqual(r.list.entries[0]?.identity, sha256(K1), 'identity entries hold the hash, never the key');
  t.false(toHex(bytes).includes(toHex(K1)));
  t.deepEqual(requireRevocationList(bytes, opts), list);
  const json = revocationListToJson(list);
  t.is(json.version, 3);
  t.is(json.issuer, toHex(revocationKeyId(signer.publicKey)));
  t.is(json.entries.length, 2);
});

test('tampering with any field under the old signature is caught', (t) => {
  const bytes = signRevocationList(sample(), signer);
  const changes: [string, (m: Map<number, unknown>) => void][] = [
    ['version', (m) => m.set(2, 4)],
    ['issuedAt', (m) => m.set(3, T0 + 1)],
    ['nextUpdate', (m) => m.set(4, T0 + 365 * DAY)],
    ['entries removed', (m) => m.set(5, [])],
    ['one entry removed', (m) => m.set(5, (m.get(5) as unknown[]).slice(1))],
    ['reason', (m) => ((m.get(5) as Map<number, unknown>[])[0] as Map<number, unknown>).set(4, 0)],
    ['revokedAt', (m) => ((m.get(5) as Map<number, unknown>[])[0] as Map<number, unknown>).set(3, T0 - 3 * DAY)],
    ['identity', (m) => ((m.get(5) as Map<number, unknown>[])[0] as Map<number, unknown>).set(1, sha256(K2))],
  ];
  for (const [name, change] of changes) {
    const r = verifyRevocationList(withPayload(bytes, change), opts);
    t.false(r.ok, name);
    if (!r.ok) t.is(r.code, 'REVOCATION_SIGNATURE_INVALID', name);
  }
  // the issuer changed to another trusted key's id: that key's signature check fails
  const r = verifyRevocationList(
    withPayload(bytes, (m) => m.set(1, revocationKeyId(other.publicKey))),
    { ...opts, trustedKeys: [signer.publicKey, other.publicKey] },
  );
  t.false(r.ok);
  if (!r.ok) t.is(r.code, 'REVOCATION_SIGNATURE_INVALID');
  // a field breaking a rule (duplicate entry) is malformed before any signature check
  const dup = verifyRevocationList(
    withPayload(bytes, (m) => m.set(5, [...(m.get(5) as unknown[]), ...(m.get(5) as unknown[])])),
    opts,
  );
  t.false(dup.ok);
  if (!dup.ok) t.is(dup.code, 'REVOCATION_MALFORMED');
});

test('any flipped byte is refused with a typed code', (t) => {
  const bytes = signRevocationList(sample(), signer);
  const codes = new Set<string>();
  for (let i = 0; i < bytes.length; i++) {
    for (const mask of [0x01, 0x80]) {
      const b = Uint8Array.from(bytes);
      b[i] = (b[i] as number) ^ mask;
      const r = verifyRevocationList(b, opts);
      t.false(r.ok, `byte ${i} mask ${mask}`);
      if (!r.ok) codes.add(r.code);
    }
  }
  t.true(codes.has('REVOCATION_SIGNATURE_INVALID'));
  t.true(codes.has('REVOCATION_MALFORMED'));
});

test('rollback: a version below minVersion is refused; equal and higher pass', (t) => {
  const bytes = signRevocationList(sample(), signer);
  const r = verifyRevocationList(bytes, { ...opts, minVersion: 4 });
  t.false(r.ok);
  if (!r.ok) {
    t.is(r.code, 'REVOCATION_ROLLBACK');
    t.is(r.list?.version, 3);
  }
  t.true(verifyRevocationList(bytes, { ...opts, minVersion: 3 }).ok);
  t.true(verifyRevocationList(bytes, { ...opts, minVersion: 2 }).ok);
  const e = t.throws(() => requireRevocationList(bytes, { ...opts, minVersion: 9 })) as AttestationError;
  t.is(e.code, 'REVOCATION_ROLLBACK');
});

test('stale after nextUpdate, not yet valid before issuedAt minus the skew', (t) => {
  const bytes = signRevocationList(sample(), signer);
  t.true(verifyRevocationList(bytes, { ...opts, now: T0 + 7 * DAY }).ok, 'at nextUpdate it is still fresh');
  const stale = verifyRevocationList(bytes, { ...opts, now: T0 + 7 * DAY + 1 });
  t.false(stale.ok);
  if (!stale.ok) t.is(stale.code, 'REVOCATION_STALE');
  t.true(verifyRevocationList(bytes, { ...opts, now: T0 - 60_000 }).ok, 'within the skew');
  const early = verifyRevocationList(bytes, { ...opts, now: T0 - 10 * 60_000 });
  t.false(early.ok);
  if (!early.ok) t.is(early.code, 'REVOCATION_NOT_YET_VALID');
  const strict = verifyRevocationList(bytes, { ...opts, now: T0 - 1, maxSkewMs: 0 });
  t.false(strict.ok);
});

test('an untrusted issuer is refused; bad options are TypeErrors', (t) => {
  const bytes = signRevocationList(sample(), signer);
  const r = verifyRevocationList(bytes, { ...opts, trustedKeys: [other.publicKey] });
  t.false(r.ok);
  if (!r.ok) t.is(r.code, 'REVOCATION_UNTRUSTED');
  const none = verifyRevocationList(bytes, { ...opts, trustedKeys: [] });
  t.false(none.ok);
  t.throws(() => verifyRevocationList(bytes, { ...opts, trustedKeys: [new Uint8Array(31)] }), { instanceOf: TypeError });
  t.throws(() => verifyRevocationList(bytes, { ...opts, now: Number.NaN }), { instanceOf: TypeError });
  t.throws(() => verifyRevocationList(bytes, { ...opts, minVersion: -1 }), { instanceOf: TypeError });
  t.throws(() => verifyRevocationList('x' as unknown as Uint8Array, opts), { instanceOf: TypeError });
  // signing a list with another key than its issuer is refused
  t.is((t.throws(() => signRevocationList(sample(), other)) as AttestationError).code, 'REVOCATION_ENTRY_INVALID');
});

test('addRevocationEntry bumps the version, keeps entries sorted and refuses duplicates', (t) => {
  const list = sample();
  const next = addRevocationEntry(list, {
    subject: { identityKey: K2 },
    reason: 'lost',
    issuedAt: T0 + DAY,
    nextUpdate: T0 + 8 * DAY,
  });
  t.is(next.version, 4);
  t.is(next.entries.length, 3);
  t.is(isRevoked(next, { identityKey: K2 })?.revokedAt, T0 + DAY);
  const bytes = signRevocationList(next, signer);
  t.true(verifyRevocationList(bytes, { ...opts, minVersion: 4, now: T0 + 2 * DAY }).ok);
  const again = () =>
    addRevocationEntry(next, { subject: { identityKey: K2 }, reason: 'lost', issuedAt: T0 + DAY, nextUpdate: T0 + 8 * DAY });
  t.is((t.throws(again) as AttestationError).code, 'REVOCATION_ENTRY_INVALID');
  const dupSerial = () =>
    addRevocationEntry(next, {
      subject: { serial: Uint8Array.of(0, 1, 2, 3) },
      reason: 'lost',
      issuedAt: T0 + DAY,
      nextUpdate: T0 + 8 * DAY,
    });
  t.is((t.throws(dupSerial) as AttestationError).code, 'REVOCATION_ENTRY_INVALID');
  const backwards = () =>
    addRevocationEntry(next, { subject: { serial: Uint8Array.of(9) }, reason: 'lost', issuedAt: T0, nextUpdate: T0 + 8 * DAY });
  t.is((t.throws(backwards) as AttestationError).code, 'REVOCATION_ENTRY_INVALID');
  const zero = () =>
    addRevocationEntry(next, {
      subject: { serial: Uint8Array.of(0, 0) },
      reason: 'lost',
      issuedAt: T0 + DAY,
      nextUpdate: T0 + 8 * DAY,
    });
  t.is((t.throws(zero) as AttestationError).code, 'REVOCATION_ENTRY_INVALID');
  const badReason = () =>
    addRevocationEntry(next, {
      subject: { serial: Uint8Array.of(9) },
      reason: 'bored' as never,
      issuedAt: T0 + DAY,
      nextUpdate: T0 + 8 * DAY,
    });
  t.is((t.throws(badReason) as AttestationError).code, 'REVOCATION_ENTRY_INVALID');
});

test('createRevocationList refuses bad parameters', (t) => {
  const base = { issuerPublicKey: signer.publicKey, issuedAt: T0, nextUpdate: T0 + DAY };
  const cases: Parameters<typeof createRevocationList>[0][] = [
    { ...base, nextUpdate: T0 },
    { ...base, version: 0 },
    { ...base, version: 1.5 },
    { ...base, issuedAt: -1 },
    { ...base, entries: [{ subject: { identityKey: K1 }, revokedAt: T0 + 1, reason: 'lost' }] },
    {
      ...base,
      entries: [
        { subject: { identityKey: K1 }, revokedAt: T0, reason: 'lost' },
        { subject: { identityHash: sha256(K1) }, revokedAt: T0, reason: 'lost' },
      ],
    },
    { ...base, entries: [{ subject: { serial: new Uint8Array(21).fill(1) }, revokedAt: T0, reason: 'lost' }] },
    { ...base, entries: [{ subject: { identityKey: new Uint8Array(31) }, revokedAt: T0, reason: 'lost' }] },
  ];
  for (const c of cases) t.is((t.throws(() => createRevocationList(c)) as AttestationError).code, 'REVOCATION_ENTRY_INVALID');
});

test('bounds: a full list of 10,000 entries signs and verifies; one more is refused', (t) => {
  const entries = Array.from({ length: REVOCATION_MAX_ENTRIES }, (_, i) => ({
    subject: { serial: Uint8Array.of(1, i >> 8, i & 0xff) },
    revokedAt: T0,
    reason: 'retired' as const,
  }));
  const list = createRevocationList({ issuerPublicKey: signer.publicKey, issuedAt: T0, nextUpdate: T0 + DAY, entries });
  const bytes = signRevocationList(list, signer);
  const r = verifyRevocationList(bytes, opts);
  t.true(r.ok);
  const over = () =>
    addRevocationEntry(list, { subject: { serial: Uint8Array.of(7) }, reason: 'lost', issuedAt: T0, nextUpdate: T0 + DAY });
  t.is((t.throws(over) as AttestationError).code, 'REVOCATION_ENTRY_INVALID');
  // a payload with one entry too many (signed properly) is malformed
  const m = RevocationListType.toMap(list);
  const arr = m.get(5) as unknown[];
  m.set(5, [...arr, arr[0]] as never);
  const tooMany = verifyRevocationList(
    withPayload(bytes, (x) => x.set(5, m.get(5))),
    opts,
  );
  t.false(tooMany.ok);
  if (!tooMany.ok) t.is(tooMany.code, 'REVOCATION_MALFORMED');
});

test('fuzz: random bytes and mutated lists never throw, always a typed failure', (t) => {
  const bytes = signRevocationList(sample(), signer);
  const codes = new Set([
    'REVOCATION_MALFORMED',
    'REVOCATION_UNTRUSTED',
    'REVOCATION_SIGNATURE_INVALID',
    'REVOCATION_ROLLBACK',
    'REVOCATION_NOT_YET_VALID',
    'REVOCATION_STALE',
  ]);
  const mutated = fc
    .tuple(fc.nat(bytes.length - 1), fc.uint8Array({ minLength: 0, maxLength: 8 }), fc.nat(8))
    .map(([at, insert, del]) => {
      const b = [...bytes];
      b.splice(at, del, ...insert);
      return Uint8Array.from(b);
    });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), mutated), (b) => {
      const r = verifyRevocationList(b, opts);
      if (r.ok) return toHex(b) === toHex(bytes);
      return codes.has(r.code) && typeof r.message === 'string';
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 256 }), (b) => {
      try {
        decodeRevocationList(b);
        return false;
      } catch (e) {
        return (e as { code?: string }).code === 'REVOCATION_MALFORMED';
      }
    }),
  );
  t.pass();
});

test('a fresh random-key list round-trips (property over entries)', (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 20, selector: (k) => toHex(k) }),
      (keys) => {
        const list = createRevocationList({
          issuerPublicKey: signer.publicKey,
          issuedAt: T0,
          nextUpdate: T0 + DAY,
          entries: keys.map((k) => ({ subject: { identityKey: k }, revokedAt: T0, reason: 'retired' as const })),
        });
        const r = verifyRevocationList(signRevocationList(list, signer), opts);
        t.true(r.ok);
        if (r.ok) for (const k of keys) t.truthy(isRevoked(r.list, { identityKey: k }));
        t.falsy(isRevoked(list, { identityKey: new Uint8Array(randomBytes(32)) }));
      },
    ),
    { numRuns: 50 },
  );
});
