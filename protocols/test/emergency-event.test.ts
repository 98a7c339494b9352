/**
 * Emergency event records (protocols/src/emergency/event.ts, ack.ts): the start signed by the
 * identity key; records sealed to 1 and to 8 contacts and opened by each; every flipped byte
 * refused; a header changed or an envelope moved to another contact or record fails to open even
 * when re-signed with the event key (the HPKE aad binds them); a contact of an older set cannot
 * read a newer record; the end record must be signed by the identity key; acknowledgements.
 */
import test from 'ava';
import { decode, encode } from '../src/cbor/index.ts';
import { decodeSign1, signSign1 } from '../src/cose/index.ts';
import { ed25519Generate, ed25519Sign } from '../src/crypto/index.ts';
import {
  type ContactKeys,
  type ContactSet,
  contactKeygen,
  createEventStart,
  EmergencyRecord,
  EVENT_OUTCOMES,
  EVENT_RECORD_CONTENT_TYPE,
  type EventBody,
  EventEndRecord,
  type EventRecord,
  emergencyAad,
  openEventRecord,
  peekEventRecord,
  peekEventStart,
  sealEventRecord,
  signAck,
  verifyAck,
  verifyEventRecord,
  verifyEventStart,
} from '../src/emergency/index.ts';
import { ProtocolError, type ProtocolErrorCode } from '../src/errors.ts';

const identity = ed25519Generate();
const keys: ContactKeys[] = Array.from({ length: 9 }, () => contactKeygen());

function setOf(ks: ContactKeys[], version: number): ContactSet {
  return {
    version,
    issuedAt: 1,
    contacts: ks.map((k, i) => ({ alias: `c${i}`, hpkeKey: k.publicKey, signKey: k.signKey })),
  };
}

const where: EventBody = {
  kind: 'location',
  location: { lat: 45.764043, lon: 4.835659, accuracyM: 8, fixTime: 1_700_000_000_500, source: 'gnss' },
};
const status: EventBody = { kind: 'status', status: { battery: 41, phase: 'alerting', charging: false } };

function startFor(set: ContactSet) {
  return createEventStart(
    { contactSetVersion: set.version, time: 1_700_000_000_000, reason: 'gesture' },
    { seed: identity.seed },
  );
}

/** Decodes a signed record, lets `edit` change it, and re-signs it with `seed` (a compromised event key). */
function resign(bytes: Uint8Array, seed: Uint8Array, edit: (r: EventRecord) => EventRecord): Uint8Array {
  const s = decodeSign1(bytes);
  const r = edit(EmergencyRecord.fromMap(decode(s.payload as Uint8Array)));
  return signSign1({
    payload: encode(EmergencyRecord.toMap(r)),
    seed,
    externalAad: emergencyAad(r.eventId),
    extraProtected: new Map([[3, EVENT_RECORD_CONTENT_TYPE]]),
  });
}

async function failsWith(t: import('ava').ExecutionContext, p: Promise<unknown>, code: ProtocolErrorCode, what: string) {
  const e = await t.throwsAsync(p, { instanceOf: ProtocolError }, what);
  t.is(e?.code, code, `${what}: ${e?.message}`);
}

test('the start: signed by the identity key, fresh event id and key, refused under another key', (t) => {
  const set = setOf(keys.slice(0, 1), 3);
  const a = startFor(set);
  const b = startFor(set);
  t.notDeepEqual(a.start.eventId, b.start.eventId);
  t.notDeepEqual(a.start.eventKey, b.start.eventKey);
  t.deepEqual(verifyEventStart(a.bytes, identity.publicKey), a.start);
  t.deepEqual(peekEventStart(a.bytes), a.start);
  const e = t.throws(() => verifyEventStart(a.bytes, ed25519Generate().publicKey), { instanceOf: ProtocolError });
  t.is(e?.code, 'EMERGENCY_RECORD_INVALID');
  t.is(peekEventRecord(a.bytes), undefined, 'a start is not a record');
});

for (const n of [1, 8]) {
  test(`round trip to ${n} contact(s): each opens its own envelope; the header is clear, the body is not`, async (t) => {
    const set = setOf(keys.slice(0, n), 7);
    const { start, eventSeed } = startFor(set);
    const bytes = await sealEventRecord({ eventId: start.eventId, seq: 1, time: 1_700_000_001_000, body: where }, set, {
      seed: eventSeed,
    });
    const peek = peekEventRecord(bytes);
    t.deepEqual(
      peek?.contacts,
      Array.from({ length: n }, (_, i) => i),
    );
    t.is(peek?.seq, 1);
    t.is(peek?.kind, 'location');
    t.false(Buffer.from(bytes).includes(Buffer.from('gnss')), 'the body travels sealed');
    for (let i = 0; i < n; i++) {
      const k = keys[i] as ContactKeys;
      const r = await openEventRecord(bytes, {
        eventKey: start.eventKey,
        contactIndex: i,
        contactPrivateKey: k.privateKey,
        contactSetVersion: 7,
      });
      t.deepEqual(r.body, where);
      t.deepEqual(r.header, { eventId: start.eventId, seq: 1, kind: 'location', time: 1_700_000_001_000, contactSetVersion: 7 });
    }
    const st = await sealEventRecord({ eventId: start.eventId, seq: 2, time: 2, body: status }, set, { seed: eventSeed });
    const r2 = await openEventRecord(st, {
      eventKey: start.eventKey,
      contactIndex: n - 1,
      contactPrivateKey: (keys[n - 1] as ContactKeys).privateKey,
    });
    t.deepEqual(r2.body, status);
  });
}

test('every flipped byte of a record is refused (signature, structure or size), never accepted', async (t) => {
  const set = setOf(keys.slice(0, 2), 1);
  const { start, eventSeed } = startFor(set);
  const bytes = await sealEventRecord({ eventId: start.eventId, seq: 5, time: 9, body: status }, set, { seed: eventSeed });
  for (let i = 0; i < bytes.length; i++) {
    const bad = Uint8Array.from(bytes);
    bad[i] = (bad[i] as number) ^ 0x04;
    const e = await t.throwsAsync(
      openEventRecord(bad, { eventKey: start.eventKey, contactIndex: 0, contactPrivateKey: (keys[0] as ContactKeys).privateKey }),
      { instanceOf: ProtocolError },
      `byte ${i}`,
    );
    t.true(e?.code.startsWith('EMERGENCY_'), `byte ${i}: ${e?.code}`);
  }
});

test('header changes and envelope swaps: refused by the signature; re-signed, refused by the HPKE aad', async (t) => {
  const set = setOf(keys.slice(0, 3), 2);
  const { start, eventSeed } = startFor(set);
  const r1 = await sealEventRecord({ eventId: start.eventId, seq: 1, time: 10, body: where }, set, { seed: eventSeed });
  const r2 = await sealEventRecord({ eventId: start.eventId, seq: 2, time: 20, body: status }, set, { seed: eventSeed });
  const opts = { eventKey: start.eventKey, contactIndex: 0, contactPrivateKey: (keys[0] as ContactKeys).privateKey };
  const other = ed25519Generate().seed;
  // not re-signed with the event key: the signature fails first
  await failsWith(
    t,
    openEventRecord(
      resign(r1, other, (r) => ({ ...r, seq: 9 })),
      opts,
    ),
    'EMERGENCY_RECORD_INVALID',
    'foreign key',
  );
  // re-signed with the event key (a compromised event key, or a confused Key): the aad binds each field
  const edits: [string, (r: EventRecord) => EventRecord][] = [
    ['seq', (r) => ({ ...r, seq: 3 })],
    ['time', (r) => ({ ...r, time: 11 })],
    ['kind', (r) => ({ ...r, kind: 'battery-critical' })],
    ['eventId', (r) => ({ ...r, eventId: new Uint8Array(16) })],
    [
      'contact labels swapped',
      (r) => ({ ...r, envelopes: r.envelopes.map((e) => ({ ...e, contact: [1, 0, 2][e.contact] as number })) }),
    ],
    [
      'envelope contents swapped between contacts',
      (r) => ({
        ...r,
        envelopes: r.envelopes.map((e, i) => ({ ...(r.envelopes[[1, 0, 2][i] as number] as typeof e), contact: e.contact })),
      }),
    ],
  ];
  for (const [what, edit] of edits) {
    await failsWith(t, openEventRecord(resign(r1, eventSeed, edit), opts), 'EMERGENCY_DECRYPT_FAILED', what);
  }
  // contactSetVersion changed: a contact that states its version gets NOT_FOR_YOU, otherwise the aad fails
  const v3 = resign(r1, eventSeed, (r) => ({ ...r, contactSetVersion: 3 }));
  await failsWith(t, openEventRecord(v3, { ...opts, contactSetVersion: 2 }), 'EMERGENCY_NOT_FOR_YOU', 'version');
  await failsWith(t, openEventRecord(v3, opts), 'EMERGENCY_DECRYPT_FAILED', 'version, unstated');
  // an envelope moved from record 1 into record 2
  const moved = resign(r2, eventSeed, (r) => {
    const e1 = EmergencyRecord.fromMap(decode(decodeSign1(r1).payload as Uint8Array)).envelopes[0];
    return { ...r, envelopes: r.envelopes.map((e) => (e.contact === 0 ? (e1 as typeof e) : e)) };
  });
  await failsWith(t, openEventRecord(moved, opts), 'EMERGENCY_DECRYPT_FAILED', 'moved between records');
  // the untouched records still open
  t.is((await openEventRecord(r2, opts)).header.seq, 2);
});

test('a contact of an older set cannot read a newer record: NOT_FOR_YOU or DECRYPT_FAILED, never the body', async (t) => {
  const [a, b, c] = keys as [ContactKeys, ContactKeys, ContactKeys];
  const v1 = setOf([a, b], 1);
  const v2 = setOf([b, c], 2); // a removed; b moved to index 0
  const { start, eventSeed } = startFor(v2);
  const rec = await sealEventRecord({ eventId: start.eventId, seq: 1, time: 1, body: where }, v2, { seed: eventSeed });
  const asA = { eventKey: start.eventKey, contactIndex: 0, contactPrivateKey: a.privateKey };
  await failsWith(t, openEventRecord(rec, { ...asA, contactSetVersion: v1.version }), 'EMERGENCY_NOT_FOR_YOU', 'stated v1');
  await failsWith(t, openEventRecord(rec, asA), 'EMERGENCY_DECRYPT_FAILED', 'index 0 is now b');
  await failsWith(t, openEventRecord(rec, { ...asA, contactIndex: 5 }), 'EMERGENCY_NOT_FOR_YOU', 'no envelope');
  // b at its old index 1 holds c's envelope
  await failsWith(
    t,
    openEventRecord(rec, { ...asA, contactIndex: 1, contactPrivateKey: b.privateKey }),
    'EMERGENCY_DECRYPT_FAILED',
    'b, old index',
  );
  t.deepEqual((await openEventRecord(rec, { ...asA, contactPrivateKey: b.privateKey, contactSetVersion: 2 })).body, where);
});

test('the end record is signed by the identity key; one signed by the event key is refused', async (t) => {
  const set = setOf(keys.slice(0, 2), 4);
  const { start, eventSeed } = startFor(set);
  const body: EventBody = { kind: 'end', end: { outcome: 'cancelled' } };
  const end = await sealEventRecord({ eventId: start.eventId, seq: 3, time: 5, body }, set, { seed: identity.seed });
  const opts = { eventKey: start.eventKey, contactIndex: 1, contactPrivateKey: (keys[1] as ContactKeys).privateKey };
  t.deepEqual((await openEventRecord(end, { ...opts, identityPublicKey: identity.publicKey })).body, body);
  await failsWith(t, openEventRecord(end, opts), 'EMERGENCY_RECORD_INVALID', 'no identity key given');
  const forged = await sealEventRecord({ eventId: start.eventId, seq: 3, time: 5, body }, set, { seed: eventSeed });
  await failsWith(
    t,
    openEventRecord(forged, { ...opts, identityPublicKey: identity.publicKey }),
    'EMERGENCY_RECORD_INVALID',
    'event-key end',
  );
  // and a location signed by the identity key is not a record of this event key
  const loc = await sealEventRecord({ eventId: start.eventId, seq: 1, time: 5, body: where }, set, {
    signer: (m) => ed25519Sign(identity.seed, m),
  });
  t.throws(() => verifyEventRecord(loc, { eventKey: start.eventKey, identityPublicKey: identity.publicKey }), {
    instanceOf: ProtocolError,
  });
});

test('sealEventRecord refuses seq 0, a short event id, a body that does not fit its record', async (t) => {
  const set = setOf(keys.slice(0, 1), 1);
  const { start, eventSeed } = startFor(set);
  const by = { seed: eventSeed };
  await failsWith(
    t,
    sealEventRecord({ eventId: start.eventId, seq: 0, time: 1, body: status }, set, by),
    'EMERGENCY_RECORD_INVALID',
    'seq 0',
  );
  const bad = { kind: 'location', location: { lat: 91, lon: 0, accuracyM: 1, fixTime: 1 } } as EventBody;
  await failsWith(
    t,
    sealEventRecord({ eventId: start.eventId, seq: 1, time: 1, body: bad }, set, by),
    'MESSAGE_INVALID',
    'lat 91',
  );
  const short = new Uint8Array(15);
  await failsWith(
    t,
    sealEventRecord({ eventId: short, seq: 1, time: 1, body: status }, set, by),
    'EMERGENCY_RECORD_INVALID',
    'id',
  );
});

test('acks: signed by a contact of the set; a stranger, an older set, another event or a flipped byte are refused', (t) => {
  const set = setOf(keys.slice(0, 3), 6);
  const { start } = startFor(set);
  const k2 = keys[2] as ContactKeys;
  const ack = { eventId: start.eventId, seq: 4, time: 1_700_000_009_000 };
  const bytes = signAck(ack, k2.signSeed);
  t.deepEqual(verifyAck(bytes, set, { eventId: start.eventId }), { contactIndex: 2, ack });
  const invalid = (b: Uint8Array, s: ContactSet, what: string, eventId?: Uint8Array) => {
    const e = t.throws(() => verifyAck(b, s, eventId ? { eventId } : {}), { instanceOf: ProtocolError }, what);
    t.is(e?.code, 'EMERGENCY_ACK_INVALID', what);
  };
  invalid(signAck(ack, ed25519Generate().seed), set, 'stranger');
  invalid(bytes, setOf(keys.slice(0, 2), 5), 'older set without this contact');
  invalid(bytes, set, 'another event', new Uint8Array(16));
  for (let i = 0; i < bytes.length; i++) {
    const bad = Uint8Array.from(bytes);
    bad[i] = (bad[i] as number) ^ 0x10;
    t.throws(() => verifyAck(bad, set), { instanceOf: ProtocolError }, `byte ${i}`);
  }
});

test('end outcomes on the wire: cancelled 0, resolved 1, revoked 2 (each seals and opens); 3 is refused', async (t) => {
  t.deepEqual(EVENT_OUTCOMES, { cancelled: 0, resolved: 1, revoked: 2 });
  const set = setOf(keys.slice(0, 1), 1);
  const { start } = startFor(set);
  const opts = {
    eventKey: start.eventKey,
    identityPublicKey: identity.publicKey,
    contactIndex: 0,
    contactPrivateKey: (keys[0] as ContactKeys).privateKey,
  };
  for (const outcome of ['cancelled', 'resolved', 'revoked'] as const) {
    const body: EventBody = { kind: 'end', end: { outcome } };
    const end = await sealEventRecord({ eventId: start.eventId, seq: 2, time: 5, body }, set, { seed: identity.seed });
    t.deepEqual((await openEventRecord(end, opts)).body, body, outcome);
    t.deepEqual(EventEndRecord.toMap({ outcome }).get(1), EVENT_OUTCOMES[outcome]);
  }
  t.throws(() => EventEndRecord.fromMap(new Map([[1, 3]])), { instanceOf: ProtocolError });
});
