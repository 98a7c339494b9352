/**
 * Association handles (attestation/src/association/handle.ts): frozen vectors (cross-checked with
 * Python's hmac and base64 modules), different accounts give different handles, the text form is
 * canonical and parses back (property-tested), and malformed text is refused with a typed error.
 */
import { randomBytes } from 'node:crypto';
import {
  ACCOUNT_SECRET_LENGTH,
  type AttestationError,
  associationHandle,
  associationHandleText,
  checkAuditHandle,
  formatAssociationHandle,
  isAssociationHandle,
  newAccountSecret,
  parseAssociationHandle,
} from '@enigm/attestation';
import { fromHex, toHex } from '@enigm/protocols/bytes';
import { ed25519PublicKey } from '@enigm/protocols/crypto';
import test from 'ava';
import fc from 'fast-check';

const S1 = new Uint8Array(32).map((_, i) => i + 1);
const S2 = new Uint8Array(32).fill(0xa5);
const K1 = ed25519PublicKey(new Uint8Array(32).fill(7));
const K2 = ed25519PublicKey(new Uint8Array(32).fill(9));
const rnd = (n: number) => new Uint8Array(randomBytes(n));

test('frozen vectors: HMAC-SHA256(secret, "enigm-association-v1" ‖ key)[0..16], eh1- base32', (t) => {
  t.is(toHex(K1), 'ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c');
  t.is(toHex(K2), 'fd1724385aa0c75b64fb78cd602fa1d991fdebf76b13c58ed702eac835e9f618');
  const vectors: [Uint8Array, Uint8Array, string, string][] = [
    [S1, K1, 'cff8cc0661024863c145fd536fad1df0', 'eh1-z74mybtbajeghqkf7vjw7li56a'],
    [S1, K2, 'e2b984d205e85add657b4a0b92bd0619', 'eh1-4k4yjuqf5bnn2zl3jifzfpigde'],
    [S2, K1, '9fc8d4bbc327ab4819688aa0ed42fb88', 'eh1-t7enjo6de6vuqglirkqo2qx3ra'],
    [S2, K2, 'f85c5b8950d3141a61cedcabdae5890b', 'eh1-7bofxckq2mkbuyoo3sv5vzmjbm'],
  ];
  for (const [s, k, hex, text] of vectors) {
    t.is(toHex(associationHandle(s, k)), hex);
    t.is(associationHandleText(s, k), text);
    t.is(formatAssociationHandle(fromHex(hex)), text);
    t.is(toHex(parseAssociationHandle(text)), hex);
  }
  t.is(formatAssociationHandle(new Uint8Array(16)), 'eh1-aaaaaaaaaaaaaaaaaaaaaaaaaa');
  t.is(formatAssociationHandle(new Uint8Array(16).fill(0xff)), 'eh1-77777777777777777777777774');
});

test('the same Key has different handles in different accounts; different Keys differ in one account', (t) => {
  t.not(associationHandleText(S1, K1), associationHandleText(S2, K1));
  t.not(associationHandleText(S1, K1), associationHandleText(S1, K2));
  const key = ed25519PublicKey(rnd(32));
  const handles = new Set(Array.from({ length: 200 }, () => associationHandleText(newAccountSecret(rnd), key)));
  t.is(handles.size, 200);
});

test('a handle is deterministic and does not contain the identity key or the secret', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (s, k) => {
      const a = associationHandle(s, k);
      t.deepEqual(a, associationHandle(Uint8Array.from(s), Uint8Array.from(k)));
      const hex = toHex(a);
      return !toHex(k).includes(hex) && !toHex(s).includes(hex);
    }),
  );
});

test('property: every handle text is well formed, a valid audit handle, and parses back to its bytes', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (h) => {
      const text = formatAssociationHandle(h);
      t.regex(text, /^eh1-[a-z2-7]{26}$/);
      t.is(checkAuditHandle(text), text);
      t.true(isAssociationHandle(text));
      t.deepEqual(parseAssociationHandle(text), h);
    }),
  );
});

/** The message parse gives for `text`, or '' when it parses. */
const messageOf = (text: string): string => {
  try {
    parseAssociationHandle(text);
    return '';
  } catch (e) {
    return (e as Error).message;
  }
};
/** The message for any text of `length` that is not handle-shaped (NULs: no piece of it can be echoed unseen). */
const notHandleMessage = (length: number) => messageOf('\0'.repeat(length));
/** The message for handle-shaped text whose last character has padding bits set. */
const PADDING_MESSAGE = messageOf(`eh1-${'a'.repeat(25)}b`);

test('property: parse accepts exactly the canonical forms (any other text is a typed error)', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.stringMatching(/^eh1-[a-z2-7]{26}$/)), (text) => {
      let canonical: boolean;
      try {
        canonical = formatAssociationHandle(parseAssociationHandle(text)) === text;
      } catch (e) {
        t.is((e as AttestationError).code, 'ASSOCIATION_HANDLE_INVALID');
        // never echoes the input: the message is the one any text of that length gets (a random
        // text can itself be a piece of that message, e.g. "eh1-", so "does not contain it" is no test)
        t.true([notHandleMessage(text.length), PADDING_MESSAGE].includes((e as Error).message), (e as Error).message);
        return;
      }
      t.true(canonical);
    }),
  );
});

test('malformed handle text is refused', (t) => {
  const good = associationHandleText(S1, K1);
  const bad = [
    '',
    good.toUpperCase(),
    good.replace('eh1-', 'eh2-'),
    good.slice(0, -1),
    `${good}a`,
    good.replace(/.$/, '1'),
    `${good.slice(0, -1)}b`, // non-zero padding bits
    ` ${good}`,
  ];
  for (const b of bad) {
    const e = t.throws(() => parseAssociationHandle(b)) as AttestationError;
    t.is(e.code, 'ASSOCIATION_HANDLE_INVALID', b);
    t.false(isAssociationHandle(b));
  }
  for (const b of [null, undefined, 42, new Uint8Array(16)]) {
    t.is((t.throws(() => parseAssociationHandle(b)) as AttestationError).code, 'ASSOCIATION_HANDLE_INVALID');
  }
});

test('argument guards: wrong lengths and types are TypeError/RangeError; a broken random source is refused', (t) => {
  t.throws(() => associationHandle(new Uint8Array(31), K1), { instanceOf: RangeError });
  t.throws(() => associationHandle(S1, new Uint8Array(33)), { instanceOf: RangeError });
  t.throws(() => associationHandle('x' as unknown as Uint8Array, K1), { instanceOf: TypeError });
  t.throws(() => formatAssociationHandle(new Uint8Array(15)), { instanceOf: RangeError });
  t.throws(() => newAccountSecret((n) => new Uint8Array(n)), { instanceOf: RangeError });
  t.throws(() => newAccountSecret(() => new Uint8Array(16)), { instanceOf: RangeError });
  const s = newAccountSecret(rnd);
  t.is(s.length, ACCOUNT_SECRET_LENGTH);
  t.notDeepEqual(s, newAccountSecret(rnd));
});
