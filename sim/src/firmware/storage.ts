/**
 * Persistent storage of a simulated Key, behind an interface. The firmware model reads and writes
 * whole records synchronously, like a small flash region; the simulator backs it with a file so a
 * Key keeps its identity and state across restarts, tests back it with memory.
 *
 * @module
 */
import { decode, encode } from '@enigm/protocols/cbor';
import type { RecordValue } from '@enigm/protocols/messages';
import {
  defineRecord,
  EMERGENCY_EVENT_ID_LENGTH,
  EMERGENCY_PHASES,
  field,
  HOST_ROLES,
  LIFECYCLE_STATES,
  t,
} from '@enigm/protocols/messages';

/** A record store: one byte blob, read at boot, written on every persistent change. */
export interface KeyStorage {
  /** The stored bytes, or `undefined` on a blank Key. */
  read(): Uint8Array | undefined;
  /** Replaces the stored bytes atomically. */
  write(bytes: Uint8Array): void;
  /**
   * Resolves once every write made so far is durable, where the store makes writes durable
   * later than it makes them visible (the simulator's file storage: atomic at once, fsync in
   * groups). Absent: every write is durable when it returns.
   */
  synced?(): Promise<void>;
}

/** Most hosts a Key keeps paired. */
export const MAX_PAIRED_HOSTS = 8;

/** A paired host as the Key stores it. */
export const StoredHost = defineRecord('key.host', {
  publicKey: field(1, t.bytes(32, 32), false, "host's static X25519 public key"),
  role: field(2, t.enumOf('host role', HOST_ROLES), false, 'role'),
  label: field(3, t.text(32), true, 'label'),
  lastIk: field(4, t.uint(Number.MAX_SAFE_INTEGER), true, 'last IK timestamp accepted from this host'),
});

/** Most past emergency events a Key remembers. */
export const MAX_STORED_EVENTS = 8;

const phase = t.enumOf('emergency phase', EMERGENCY_PHASES);
const eventId = t.bytes(EMERGENCY_EVENT_ID_LENGTH, EMERGENCY_EVENT_ID_LENGTH);
const time = t.uint(Number.MAX_SAFE_INTEGER);

/** The running emergency event, stored so that it survives a restart; erased when it ends. */
export const StoredEvent = defineRecord('key.event', {
  id: field(1, eventId, false, 'event id'),
  startedAt: field(2, time, false, 'start, ms'),
  phase: field(3, phase, false, 'phase (triggered or active)'),
  seq: field(4, t.uint(), false, 'sequence number of the last record sent'),
  eventSeed: field(5, t.bytes(32, 32), false, 'the event key (Ed25519 seed): erased with this record when the event ends'),
  contactsVersion: field(6, t.uint(), true, 'version of the contact set the event seals to'),
  criticalSent: field(7, t.bool(), false, 'the battery-critical status was sent'),
  contactSet: field(
    8,
    t.bytes(64, 8192),
    true,
    'the signed contact set the event seals to (a newer one applies from the next event)',
  ),
});

/** One line of the bounded event log: never a location. */
export const PastEvent = defineRecord('key.past-event', {
  id: field(1, eventId, false, 'event id'),
  startedAt: field(2, time, false, 'start, ms'),
  endedAt: field(3, time, false, 'end, ms'),
  outcome: field(4, phase, false, 'cancelled, resolved or revoked'),
});

/** The persistent record of a Key (CBOR, integer keys). */
export const PersistentRecord = defineRecord('key.persistent', {
  handle: field(1, t.bytes(16, 16), false, 'device handle'),
  state: field(2, t.enumOf('lifecycle state', LIFECYCLE_STATES), false, 'lifecycle state'),
  bootCount: field(3, t.uint(), false, 'boots since manufacture'),
  hosts: field(4, t.array(t.record(StoredHost), MAX_PAIRED_HOSTS), false, 'paired hosts'),
  securityCounter: field(
    5,
    t.uint(),
    true,
    'legacy: no longer written or read (the security counter lives in the flash status ring only)',
  ),
  certChain: field(
    6,
    t.array(t.bytes(64, 1024), 3),
    true,
    "the Key's certificate chain (DER, leaf first), installed by cert.install; dropped by a factory reset",
  ),
  contactSet: field(7, t.bytes(64, 8192), true, 'the signed contact set (contacts.set)'),
  contactSigner: field(8, t.bytes(32, 32), true, 'the pinned contact-set signer (the first accepted); a factory reset clears it'),
  event: field(9, t.record(StoredEvent), true, 'the running emergency event'),
  pastEvents: field(10, t.array(t.record(PastEvent), MAX_STORED_EVENTS), true, 'the last events, oldest first'),
});

/** The decoded persistent record. */
export type Persistent = RecordValue<typeof PersistentRecord.schema>;

/**
 * Loads the persistent record, or `undefined` for a blank Key.
 * @throws ProtocolError if the stored bytes are corrupt (the simulator reports, never guesses)
 */
export function loadPersistent(storage: KeyStorage): Persistent | undefined {
  const b = storage.read();
  return b === undefined ? undefined : PersistentRecord.fromMap(decode(b));
}

/** Stores the persistent record. */
export function savePersistent(storage: KeyStorage, p: Persistent): void {
  storage.write(encode(PersistentRecord.toMap(p)));
}

/** Storage in memory, for tests. `bytes` is the current content. */
export class MemoryStorage implements KeyStorage {
  /** Current content; `undefined` when blank. */
  bytes: Uint8Array | undefined;
  /** Number of writes so far. */
  writes = 0;
  read(): Uint8Array | undefined {
    return this.bytes?.slice();
  }
  write(bytes: Uint8Array): void {
    this.bytes = bytes.slice();
    this.writes++;
  }
}
