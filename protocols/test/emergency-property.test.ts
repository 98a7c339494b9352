/**
 * Property: garbage and mutated emergency messages (contact sets, starts, records, acks) never
 * make the parsers throw anything but a ProtocolError, never open as something else, and the
 * reader never throws at all.
 */
import test from 'ava';
import fc from 'fast-check';
import { ed25519Generate } from '../src/crypto/index.ts';
import {
  type ContactSet,
  contactKeygen,
  createEventStart,
  EventReader,
  openEventRecord,
  peekEventRecord,
  peekEventStart,
  sealEventRecord,
  signAck,
  signContactSet,
  verifyAck,
  verifyContactSet,
  verifyEventStart,
} from '../src/emergency/index.ts';
import { ProtocolError } from '../src/errors.ts';

const owner = ed25519Generate();
const identity = ed25519Generate();
const keys = [contactKeygen(), contactKeygen()];
const set: ContactSet = {
  version: 2,
  issuedAt: 1,
  contacts: keys.map((k, i) => ({ alias: `c${i}`, hpkeKey: k.publicKey, signKey: k.signKey })),
};
const k0 = keys[0] as (typeof keys)[number];

/** A mutation of `b`: flipped bytes, a cut, an insertion, or a splice of random bytes. */
function mutated(b: Uint8Array): fc.Arbitrary<Uint8Array> {
  const at = fc.nat({ max: b.length - 1 });
  return fc.oneof(
    fc.array(fc.tuple(at, fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }).map((flips) => {
      const c = Uint8Array.from(b);
      for (const [i, x] of flips) c[i] = (c[i] as number) ^ x;
      return c;
    }),
    at.map((i) => b.subarray(0, i)),
    fc
      .tuple(at, fc.uint8Array({ minLength: 1, maxLength: 8 }))
      .map(([i, ins]) => Uint8Array.from([...b.subarray(0, i), ...ins, ...b.subarray(i)])),
    fc.tuple(at, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([i, r]) => {
      const c = Uint8Array.from(b);
      c.set(r.subarray(0, c.length - i), i);
      return c;
    }),
  );
}

function onlyProtocolErrors(f: () => unknown): boolean {
  try {
    f();
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
  }
  return true;
}

test('property: contact sets, starts and acks: garbage or mutated bytes throw only ProtocolError', async (t) => {
  const setBytes = signContactSet(set, owner.seed);
  const start = createEventStart({ contactSetVersion: 2, time: 1 }, { seed: identity.seed });
  const ack = signAck({ eventId: start.start.eventId, seq: 1, time: 2 }, k0.signSeed);
  const input = fc.oneof(fc.uint8Array({ maxLength: 512 }), mutated(setBytes), mutated(start.bytes), mutated(ack));
  fc.assert(
    fc.property(input, (b) => {
      onlyProtocolErrors(() => verifyContactSet(b, { trustedSigner: owner.publicKey }));
      onlyProtocolErrors(() => verifyContactSet(b));
      onlyProtocolErrors(() => verifyEventStart(b, identity.publicKey));
      onlyProtocolErrors(() => verifyAck(b, set));
      peekEventStart(b);
      peekEventRecord(b);
      return true;
    }),
    { numRuns: 1500 },
  );
  t.pass();
});

test('property: mutated or garbage records are refused with a ProtocolError; the reader never throws', async (t) => {
  const start = createEventStart({ contactSetVersion: 2, time: 1 }, { seed: identity.seed });
  const rec = await sealEventRecord(
    {
      eventId: start.start.eventId,
      seq: 1,
      time: 2,
      body: { kind: 'location', location: { lat: 1.5, lon: 2, accuracyM: 3, fixTime: 4 } },
    },
    set,
    { seed: start.eventSeed },
  );
  const reader = new EventReader({ identityPublicKey: identity.publicKey, contactIndex: 0, contactPrivateKey: k0.privateKey });
  await reader.feed(start.bytes);
  const original = await openEventRecord(rec, {
    eventKey: start.start.eventKey,
    contactIndex: 0,
    contactPrivateKey: k0.privateKey,
  });
  const opts = {
    eventKey: start.start.eventKey,
    identityPublicKey: identity.publicKey,
    contactIndex: 0,
    contactPrivateKey: k0.privateKey,
  };
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 512 }), mutated(rec)), async (b) => {
      let opened: unknown;
      try {
        opened = await openEventRecord(b, opts);
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
      }
      // a mutation may only open if it means the same (a lenient re-encoding of the COSE array)
      if (opened !== undefined) t.deepEqual(opened, original);
      const evs = await reader.feed(b);
      return evs.every((e) => e.type !== 'record' || e.header.seq === 1);
    }),
    { numRuns: 400 },
  );
  t.pass();
});
