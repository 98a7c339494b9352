/**
 * A contact's EventReader (protocols/src/emergency/reader.ts): records before the start are held
 * and released once the start verifies; replays are dropped as duplicates (and two different
 * records with one seq are flagged); gaps are reported when they appear and filled out of order;
 * records for another contact set version, another event, after the end, signed by a stranger or
 * garbage are refused with a typed error; the end is only accepted from the identity key.
 */
import test from 'ava';
import { ed25519Generate } from '../src/crypto/index.ts';
import {
  type ContactKeys,
  type ContactSet,
  contactKeygen,
  createEventStart,
  type EventBody,
  EventReader,
  type ReaderEvent,
  sealEventRecord,
} from '../src/emergency/index.ts';

const identity = ed25519Generate();
const keys: ContactKeys[] = [contactKeygen(), contactKeygen()];
const set: ContactSet = {
  version: 3,
  issuedAt: 1,
  contacts: keys.map((k, i) => ({ alias: `c${i}`, hpkeKey: k.publicKey, signKey: k.signKey })),
};
const loc = (i: number): EventBody => ({ kind: 'location', location: { lat: i, lon: -i, accuracyM: 10, fixTime: i } });

async function event(n: number, s = set) {
  const st = createEventStart({ contactSetVersion: s.version, time: 0 }, { seed: identity.seed });
  const recs: Uint8Array[] = [];
  for (let seq = 1; seq <= n; seq++) {
    recs.push(
      await sealEventRecord({ eventId: st.start.eventId, seq, time: seq * 1000, body: loc(seq) }, s, { seed: st.eventSeed }),
    );
  }
  const end = await sealEventRecord(
    { eventId: st.start.eventId, seq: n + 1, time: (n + 1) * 1000, body: { kind: 'end', end: { outcome: 'resolved' } } },
    s,
    { seed: identity.seed },
  );
  return { ...st, recs, end };
}

const reader = (o: Partial<ConstructorParameters<typeof EventReader>[0]> = {}) =>
  new EventReader({
    identityPublicKey: identity.publicKey,
    contactIndex: 1,
    contactPrivateKey: (keys[1] as ContactKeys).privateKey,
    ...o,
  });

const summary = (evs: ReaderEvent[]) =>
  evs.map((e) =>
    e.type === 'record'
      ? `record ${e.header.seq}${e.outOfOrder ? ' late' : ''}${e.gaps.length ? ` gaps ${e.gaps.join(',')}` : ''}`
      : e.type === 'refused'
        ? `refused ${e.error.code}`
        : e.type === 'duplicate'
          ? `duplicate ${e.seq}${e.identical ? '' : ' conflicting'}`
          : e.type === 'pending'
            ? `pending ${e.seq}`
            : 'start',
  );

test('in order: start, records, end; nothing missing', async (t) => {
  const ev = await event(3);
  const r = reader();
  t.deepEqual(summary(await r.feed(ev.bytes)), ['start']);
  for (const b of ev.recs) t.is((await r.feed(b)).length, 1);
  const last = await r.feed(ev.end);
  t.deepEqual(summary(last), ['record 4']);
  t.deepEqual(r.ended, { outcome: 'resolved' });
  t.deepEqual(r.missing(), []);
  t.deepEqual(r.received(), [1, 2, 3, 4]);
  const first = (await reader().feed(ev.bytes)) as ReaderEvent[];
  t.is(first[0]?.type, 'start');
});

test('replays and duplicates are dropped; a re-sent start is a duplicate', async (t) => {
  const ev = await event(2);
  const r = reader();
  await r.feed(ev.bytes);
  t.deepEqual(summary(await r.feed(ev.recs[0] as Uint8Array)), ['record 1']);
  t.deepEqual(summary(await r.feed(ev.recs[0] as Uint8Array)), ['duplicate 1']);
  t.deepEqual(summary(await r.feed(ev.bytes)), ['duplicate 0']);
  // the Key (or whoever holds the event key) signs a second, different record 1: flagged
  const other = await sealEventRecord({ eventId: ev.start.eventId, seq: 1, time: 5, body: loc(9) }, set, { seed: ev.eventSeed });
  t.deepEqual(summary(await r.feed(other)), ['duplicate 1 conflicting']);
  t.deepEqual(r.received(), [1]);
});

test('gaps are reported when they appear, then filled out of order', async (t) => {
  const ev = await event(5);
  const r = reader();
  await r.feed(ev.bytes);
  t.deepEqual(summary(await r.feed(ev.recs[0] as Uint8Array)), ['record 1']);
  t.deepEqual(summary(await r.feed(ev.recs[3] as Uint8Array)), ['record 4 gaps 2,3']);
  t.deepEqual(r.missing(), [2, 3]);
  t.deepEqual(summary(await r.feed(ev.recs[2] as Uint8Array)), ['record 3 late']);
  t.deepEqual(r.missing(), [2]);
  t.deepEqual(summary(await r.feed(ev.recs[4] as Uint8Array)), ['record 5']);
  t.deepEqual(summary(await r.feed(ev.recs[1] as Uint8Array)), ['record 2 late']);
  t.deepEqual(r.missing(), []);
  t.is(r.highestSeq, 5);
});

test('records before the start are held, then released in seq order once the start verifies', async (t) => {
  const ev = await event(3);
  const r = reader();
  t.deepEqual(summary(await r.feed(ev.recs[2] as Uint8Array)), ['pending 3']);
  t.deepEqual(summary(await r.feed(ev.recs[0] as Uint8Array)), ['pending 1']);
  t.is(r.pendingCount, 2);
  t.deepEqual(summary(await r.feed(ev.bytes)), ['start', 'record 1', 'record 3 gaps 2']);
  t.is(r.pendingCount, 0);
  const small = reader({ maxPending: 1 });
  await small.feed(ev.recs[0] as Uint8Array);
  t.deepEqual(summary(await small.feed(ev.recs[1] as Uint8Array)), ['refused EMERGENCY_RECORD_INVALID']);
});

test('refused: another set version (clear error), another event, a stranger signature, after the end, garbage', async (t) => {
  const ev = await event(2);
  // a contact of set version 2 reading an event sealed to version 3
  const old = reader({ contactSetVersion: 2 });
  await old.feed(ev.bytes);
  const [e] = await old.feed(ev.recs[0] as Uint8Array);
  t.is(e?.type, 'refused');
  if (e?.type === 'refused') {
    t.is(e.error.code, 'EMERGENCY_NOT_FOR_YOU');
    t.regex(e.error.message, /contact set version 3, you are a contact of version 2/);
    t.is(e.seq, 1);
  }
  const r = reader();
  await r.feed(ev.bytes);
  const ev2 = await event(1);
  t.deepEqual(summary(await r.feed(ev2.recs[0] as Uint8Array)), ['refused EMERGENCY_RECORD_INVALID'], 'another event');
  t.deepEqual(summary(await r.feed(ev2.bytes)), ['refused EMERGENCY_RECORD_INVALID'], 'another start');
  const stranger = ed25519Generate();
  const forged = await sealEventRecord({ eventId: ev.start.eventId, seq: 2, time: 1, body: loc(1) }, set, {
    seed: stranger.seed,
  });
  t.deepEqual(summary(await r.feed(forged)), ['refused EMERGENCY_RECORD_INVALID'], 'stranger');
  const forgedStart = createEventStart({ contactSetVersion: 3, time: 0 }, { seed: stranger.seed });
  t.deepEqual(summary(await reader().feed(forgedStart.bytes)), ['refused EMERGENCY_RECORD_INVALID'], 'stranger start');
  t.deepEqual(summary(await r.feed(new Uint8Array([0xa0]))), ['refused EMERGENCY_RECORD_INVALID'], 'garbage');
  // the end (seq 3) then a late record 4 signed by the event key
  t.deepEqual(summary(await r.feed(ev.end)), ['record 3 gaps 1,2']);
  const after = await sealEventRecord({ eventId: ev.start.eventId, seq: 4, time: 1, body: loc(1) }, set, { seed: ev.eventSeed });
  t.deepEqual(summary(await r.feed(after)), ['refused EMERGENCY_RECORD_INVALID'], 'after the end');
  t.deepEqual(summary(await r.feed(ev.recs[1] as Uint8Array)), ['record 2 late'], 'a late record before the end still counts');
  t.deepEqual(r.missing(), [1]);
  // an end signed by the event key is refused
  const fakeEnd = await sealEventRecord(
    { eventId: ev.start.eventId, seq: 3, time: 1, body: { kind: 'end', end: { outcome: 'cancelled' } } },
    set,
    { seed: ev.eventSeed },
  );
  const r2 = reader();
  await r2.feed(ev.bytes);
  t.deepEqual(summary(await r2.feed(fakeEnd)), ['refused EMERGENCY_RECORD_INVALID']);
  t.is(r2.ended, undefined);
});
