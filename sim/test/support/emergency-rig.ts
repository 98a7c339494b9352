/**
 * An emergency test rig: a physical Key on a fake clock (`physicalRig`), its owner paired in a
 * session, contacts with their keys, a signed contact set, and everything the Key sends: link
 * events (decoded) and the records the uplink would get. Contact-side reading is
 * `@enigm/protocols/emergency`'s `EventReader`.
 */
import { decode } from '@enigm/protocols/cbor';
import {
  type ContactKeys,
  type ContactSet,
  contactKeygen,
  EventReader,
  type ReaderEvent,
  signContactSet,
} from '@enigm/protocols/emergency';
import { type BodyOf, decodeMessage } from '@enigm/protocols/messages';
import { seededRandom } from '../../src/testing.ts';
import { physicalRig } from './physical-rig.ts';
import { WireHost } from './wire-host.ts';

/** The owner's contact-set signing key (Ed25519 seed) and a stranger's. */
export const OWNER_SEED = new Uint8Array(32).fill(7);
export const FOREIGN_SEED = new Uint8Array(32).fill(9);

/** `n` contacts' keys, reproducible. */
export function contacts(n: number, seed = 40): ContactKeys[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => contactKeygen(r));
}

/** A contact set of `keys` with aliases `c0`, `c1`, …, signed by `seed`. */
export function contactSet(version: number, keys: readonly ContactKeys[], seed = OWNER_SEED): Uint8Array {
  const set: ContactSet = {
    version,
    issuedAt: 1_700_000_000_000,
    contacts: keys.map((k, i) => ({ alias: `c${i}`, hpkeKey: k.publicKey, signKey: k.signKey })),
  };
  return signContactSet(set, seed);
}

/** A dormant Key with an owner in a session, recording link events and uplink records. */
export function emergencyRig(options: { contacts?: number } = {}) {
  const r = physicalRig();
  const owner = new WireHost(r.fw, 11).connect().pair('owner');
  owner.ok('activate', {});
  const keys = contacts(options.contacts ?? 2);
  if (keys.length) owner.ok('contacts.set', { set: contactSet(1, keys) });
  const uplink: Uint8Array[] = [];
  r.fw.onEmergencyRecord((b) => uplink.push(b));
  const linkEvents: { name: string; body: Record<string, unknown> }[] = [];
  r.fw.onEvent((b) => {
    const m = decodeMessage(b);
    linkEvents.push({ name: m.name, body: m.body as Record<string, unknown> });
  });
  /** The `emergency.changed` events sent on links. */
  const changes = () =>
    linkEvents.filter((e) => e.name === 'emergency.changed').map((e) => e.body as BodyOf<'emergency.changed'>);
  /** The records sent on links (`emergency.record`). */
  const linkRecords = () => linkEvents.filter((e) => e.name === 'emergency.record').map((e) => e.body.record as Uint8Array);
  /** Reads every uplink record so far as contact `i` (all sealing settled first). */
  async function read(i = 0): Promise<{ reader: EventReader; events: ReaderEvent[] }> {
    await r.fw.emergency.settled();
    const k = keys[i] as ContactKeys;
    const reader = new EventReader({
      identityPublicKey: r.fw.secureElement.identityPublicKey,
      contactIndex: i,
      contactPrivateKey: k.privateKey,
    });
    const events: ReaderEvent[] = [];
    for (const b of uplink) events.push(...(await reader.feed(b)));
    return { reader, events };
  }
  /** The kinds of the records contact `i` read, in order (`start`, `location`, …). */
  async function kinds(i = 0): Promise<string[]> {
    const { events } = await read(i);
    return events.map((e) => (e.type === 'start' ? 'start' : e.type === 'record' ? e.body.kind : e.type));
  }
  return { ...r, owner, keys, uplink, linkEvents, changes, linkRecords, read, kinds, decode };
}
