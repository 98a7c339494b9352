/**
 * The owner's signed contact set (protocols/src/emergency/contacts.ts): a round trip, then every
 * refusal reason of verifyContactSet (unsigned, malformed, oversized, too many contacts, bad alias,
 * bad key, duplicate keys or aliases, foreign signer, bad signature, not newer, issued in the
 * future), each as EMERGENCY_CONTACTS_INVALID naming its reason; signContactSet refuses what a
 * Key would refuse.
 */
import test from 'ava';
import { decode, encode, Tagged } from '../src/cbor/index.ts';
import { signSign1 } from '../src/cose/index.ts';
import { ed25519Generate } from '../src/crypto/index.ts';
import {
  CONTACT_SET_AAD,
  CONTACT_SET_CONTENT_TYPE,
  type ContactSet,
  ContactSetRecord,
  contactKeygen,
  MAX_CONTACT_SET_BYTES,
  MAX_CONTACTS,
  signContactSet,
  verifyContactSet,
} from '../src/emergency/index.ts';
import { ProtocolError } from '../src/errors.ts';

const owner = ed25519Generate();
const stranger = ed25519Generate();
const keys = Array.from({ length: MAX_CONTACTS + 1 }, () => contactKeygen());

function makeSet(n: number, version = 5): ContactSet {
  return {
    version,
    issuedAt: 1_700_000_000_000,
    contacts: keys.slice(0, n).map((k, i) => ({ alias: `contact ${i}`, hpkeKey: k.publicKey, signKey: k.signKey })),
  };
}

/** Signs a payload as the owner would, bypassing the checks of signContactSet. */
function rawSign(payload: Uint8Array, seed = owner.seed, kid = owner.publicKey): Uint8Array {
  return signSign1({
    payload,
    seed,
    kid,
    externalAad: CONTACT_SET_AAD,
    extraProtected: new Map([[3, CONTACT_SET_CONTENT_TYPE]]),
  });
}

function refused(t: import('ava').ExecutionContext, f: () => unknown, reason: string): void {
  const e = t.throws(f, { instanceOf: ProtocolError }, reason);
  t.is(e?.code, 'EMERGENCY_CONTACTS_INVALID');
  t.regex(e?.message ?? '', new RegExp(`^contact set refused: ${reason}:`), reason);
}

test('a signed set verifies under the trusted owner and returns the set and the signer', (t) => {
  for (const n of [0, 1, MAX_CONTACTS]) {
    const bytes = signContactSet(makeSet(n), owner.seed);
    t.true(bytes.length <= MAX_CONTACT_SET_BYTES);
    const { set, signer } = verifyContactSet(bytes, { trustedSigner: owner.publicKey, newerThan: 4, now: 1_700_000_000_000 });
    t.deepEqual(set, makeSet(n));
    t.deepEqual(signer, owner.publicKey);
    t.deepEqual(verifyContactSet(bytes).signer, owner.publicKey, 'trust on first use: the kid');
  }
});

test('refusals: unsigned (a bare CBOR set, garbage, no kid)', (t) => {
  refused(t, () => verifyContactSet(encode(ContactSetRecord.toMap(makeSet(1)))), 'unsigned');
  refused(t, () => verifyContactSet(new Uint8Array([1, 2, 3])), 'unsigned');
  const noKid = signSign1({
    payload: encode(ContactSetRecord.toMap(makeSet(1))),
    seed: owner.seed,
    externalAad: CONTACT_SET_AAD,
    extraProtected: new Map([[3, CONTACT_SET_CONTENT_TYPE]]),
  });
  refused(t, () => verifyContactSet(noKid, { trustedSigner: owner.publicKey }), 'unsigned');
});

test('refusals: malformed (not a set, an extra key, the wrong content type)', (t) => {
  refused(t, () => verifyContactSet(rawSign(encode('hello'))), 'malformed');
  const extra = ContactSetRecord.toMap(makeSet(1));
  extra.set(9, 1);
  refused(t, () => verifyContactSet(rawSign(encode(extra))), 'malformed');
  const wrongType = signSign1({
    payload: encode(ContactSetRecord.toMap(makeSet(1))),
    seed: owner.seed,
    kid: owner.publicKey,
    externalAad: CONTACT_SET_AAD,
  });
  refused(t, () => verifyContactSet(wrongType), 'malformed');
  refused(t, () => verifyContactSet('x' as unknown as Uint8Array), 'malformed');
});

test('refusals: oversized (> 8 KiB), too many contacts (> 8)', (t) => {
  refused(t, () => verifyContactSet(new Uint8Array(MAX_CONTACT_SET_BYTES + 1)), 'oversized');
  const nine = ContactSetRecord.toMap(makeSet(MAX_CONTACTS));
  const k = keys[MAX_CONTACTS] as (typeof keys)[number];
  (nine.get(3) as unknown[]).push(
    new Map<number, string | Uint8Array>([
      [1, 'nine'],
      [2, k.publicKey],
      [3, k.signKey],
    ]),
  );
  refused(t, () => verifyContactSet(rawSign(encode(nine))), 'too-many-contacts');
  refused(t, () => signContactSet(makeSet(MAX_CONTACTS + 1), owner.seed), 'too-many-contacts');
});

test('refusals: bad alias (a name-like or a number-like alias is fine only in a-z 0-9 space _ -)', (t) => {
  for (const alias of ['', 'Alice', '+33 6 12 34 56 78', 'a'.repeat(33), 'émile', 'a.b']) {
    const s = makeSet(1);
    (s.contacts[0] as ContactSet['contacts'][number]).alias = alias;
    refused(t, () => signContactSet(s, owner.seed), alias === 'a'.repeat(33) ? 'malformed' : 'bad-alias');
    if (alias.length <= 32) refused(t, () => verifyContactSet(rawSign(encode(ContactSetRecord.toMap(s)))), 'bad-alias');
  }
});

test('refusals: bad key (signKey of small order, hpkeKey all zero)', (t) => {
  const a = makeSet(1);
  (a.contacts[0] as ContactSet['contacts'][number]).signKey = new Uint8Array(32);
  refused(t, () => verifyContactSet(rawSign(encode(ContactSetRecord.toMap(a)))), 'bad-key');
  const b = makeSet(1);
  (b.contacts[0] as ContactSet['contacts'][number]).hpkeKey = new Uint8Array(32);
  refused(t, () => signContactSet(b, owner.seed), 'bad-key');
});

test('refusals: duplicate aliases, hpke keys, sign keys', (t) => {
  const dupAlias = makeSet(2);
  (dupAlias.contacts[1] as ContactSet['contacts'][number]).alias = 'contact 0';
  const dupHpke = makeSet(2);
  (dupHpke.contacts[1] as ContactSet['contacts'][number]).hpkeKey = (
    dupHpke.contacts[0] as ContactSet['contacts'][number]
  ).hpkeKey;
  const dupSign = makeSet(2);
  (dupSign.contacts[1] as ContactSet['contacts'][number]).signKey = (
    dupSign.contacts[0] as ContactSet['contacts'][number]
  ).signKey;
  for (const s of [dupAlias, dupHpke, dupSign]) {
    refused(t, () => verifyContactSet(rawSign(encode(ContactSetRecord.toMap(s)))), 'duplicate');
    refused(t, () => signContactSet(s, owner.seed), 'duplicate');
  }
});

test('refusals: foreign signer (another kid, or the owner kid with a stranger signature), bad signature', (t) => {
  const foreign = signContactSet(makeSet(1), stranger.seed);
  refused(t, () => verifyContactSet(foreign, { trustedSigner: owner.publicKey }), 'foreign-signer');
  const forgedKid = rawSign(encode(ContactSetRecord.toMap(makeSet(1))), stranger.seed, owner.publicKey);
  refused(t, () => verifyContactSet(forgedKid, { trustedSigner: owner.publicKey }), 'foreign-signer');
  refused(t, () => verifyContactSet(forgedKid), 'bad-signature');
  // a flipped payload byte
  const good = signContactSet(makeSet(1), owner.seed);
  const v = decode(good, { allowedTags: new Set([18]) }) as Tagged;
  const arr = v.value as [Uint8Array, Map<number, Uint8Array>, Uint8Array, Uint8Array];
  const payload = Uint8Array.from(arr[2]);
  payload[payload.length - 1] = (payload[payload.length - 1] as number) ^ 1;
  const tampered = encode(new Tagged(18, [arr[0], arr[1], payload, arr[3]]));
  refused(t, () => verifyContactSet(tampered, { trustedSigner: owner.publicKey }), 'foreign-signer');
});

test('refusals: a version not newer than the one held; a set issued in the future', (t) => {
  const bytes = signContactSet(makeSet(1, 5), owner.seed);
  refused(t, () => verifyContactSet(bytes, { trustedSigner: owner.publicKey, newerThan: 5 }), 'not-newer');
  refused(t, () => verifyContactSet(bytes, { trustedSigner: owner.publicKey, newerThan: 6 }), 'not-newer');
  t.notThrows(() => verifyContactSet(bytes, { trustedSigner: owner.publicKey, newerThan: 4 }));
  refused(t, () => verifyContactSet(bytes, { now: 1_700_000_000_000 - 11 * 60 * 1000 }), 'future');
  t.notThrows(() => verifyContactSet(bytes, { now: 1_700_000_000_000 - 9 * 60 * 1000 }));
});
