/**
 * A backend's view of emergency events on the fleet's uplink: a Key sends each record of a running
 * event (the signed start, then `location`, `status`, `battery-critical` and `end` records) as an
 * uplink record of kind {@link EMERGENCY_UPLINK_KIND} on its `up` channel, priority `emergency`,
 * whose body is the start or record bytes (`@enigm/protocols/emergency`).
 *
 * {@link EmergencyTimeline} follows every event it is fed, per Key handle and event id, and says
 * for each record: kind, seq, the Key's time and the time since the start, the record's size and
 * each envelope's ciphertext size — what anyone reading the topics sees. Given one contact's
 * X25519 private key and the Key's identity public key, it also verifies and decrypts (finding
 * the contact's index by trying the envelopes, then reading with `EventReader`: gaps, late
 * records and replays flagged). Without them nothing is decrypted. Never throws on bad input.
 * @module
 */
import { toHex } from '@enigm/protocols/bytes';
import { decode } from '@enigm/protocols/cbor';
import { decodeSign1 } from '@enigm/protocols/cose';
import {
  EmergencyRecord,
  type EventBody,
  EventReader,
  type EventRecord,
  type EventStart,
  MAX_EVENT_RECORD_BYTES,
  openVerifiedRecord,
  peekEventRecord,
  peekEventStart,
  type ReaderEvent,
  verifyEventRecord,
  verifyEventStart,
} from '@enigm/protocols/emergency';

/** The uplink record kind of emergency records (the simulator's uplink and the firmware's). */
export const EMERGENCY_UPLINK_KIND = 'emergency';

/** What became of one record in a {@link EmergencyTimeline}. */
export type EmergencyEntryStatus =
  /** seen, not decrypted (no contact key, or no identity for the Key) */
  | 'seen'
  /** the start, verified with the Key's identity */
  | 'verified'
  /** opened with the contact key: `body` holds it */
  | 'decrypted'
  /** verified, but it has no envelope this contact key opens */
  | 'not-for-you'
  /** held until the start (or a record showing this contact's index) arrives */
  | 'held'
  /** a seq seen before (a replay, or redelivery) */
  | 'duplicate'
  /** does not verify, or not an emergency record: `error` says why */
  | 'refused';

/** One record of an event, as the timeline shows it. */
export interface EmergencyTimelineEntry {
  /** The Key's handle. */
  handle: string;
  /** The event id, hex ('' when unreadable). */
  event: string;
  /** `start`, `location`, `status`, `battery-critical`, `end`, or `unreadable`. */
  kind: string;
  /** 0 for the start. */
  seq: number;
  /** The record's time, ms since the epoch (Key clock; from the clear header). */
  time: number;
  /** `time` minus the start's time, once the start was seen. */
  sinceStartMs?: number;
  /** When the timeline was fed it, ms (its clock). */
  receivedAt: number;
  /** Bytes of the signed record. */
  size: number;
  /** Ciphertext bytes of each envelope, by contact index. */
  ciphertext: number[];
  status: EmergencyEntryStatus;
  /** With `decrypted`: the body. */
  body?: EventBody;
  /** With `decrypted`: the seqs this record shows missing. */
  gaps?: number[];
  /** With `decrypted`: it came after a higher seq. */
  late?: boolean;
  /** With `duplicate`: false when the content differs from the first copy. */
  identical?: boolean;
  /** With `refused` (and `not-for-you`): the code and reason. */
  error?: { code: string; message: string };
}

/** The state of one event, as {@link EmergencyTimeline.events} reports it. */
export interface EmergencyEventSummary {
  handle: string;
  event: string;
  /** The start's time (Key clock), once seen. */
  startedAt?: number;
  /** Distinct seqs received (records, not the start). */
  received: number;
  /** Seqs below the highest received that have not arrived. */
  missing: number[];
  /** An `end` record arrived (its outcome when decrypted). */
  ended?: 'cancelled' | 'resolved' | 'revoked' | 'ended';
  /** This contact's index, when a contact key opened an envelope. */
  contactIndex?: number;
}

/** Options of {@link EmergencyTimeline}. */
export interface EmergencyTimelineOptions {
  /** The Keys' identity public keys by handle (needed to verify, hence to decrypt). */
  identities?: ReadonlyMap<string, Uint8Array>;
  /** One contact's X25519 private key: its envelopes are opened. */
  contactPrivateKey?: Uint8Array;
  /** Clock for `receivedAt` (default Date.now). */
  now?: () => number;
  /** Events followed at once; the oldest is forgotten beyond it (default 1,000). */
  maxEvents?: number;
}

interface EventState {
  handle: string;
  event: string;
  start?: EventStart;
  startBytes?: Uint8Array;
  /** seq → hex of the first copy. */
  seen: Map<number, string>;
  ended?: EmergencyEventSummary['ended'];
  /** Records waiting for the start or for the contact index. */
  held: { bytes: Uint8Array; entry: EmergencyTimelineEntry }[];
  /** The contact's index: a number, -1 none opens, undefined not known yet. */
  index?: number;
  reader?: EventReader;
}

/** The envelopes' ciphertext sizes of a record (unverified), or []. */
function ciphertextSizes(bytes: Uint8Array): number[] {
  try {
    const s = decodeSign1(bytes, { maxBytes: MAX_EVENT_RECORD_BYTES });
    if (s.payload === null) return [];
    const r = EmergencyRecord.tryFromMap(decode(s.payload, { maxBytes: MAX_EVENT_RECORD_BYTES }));
    return r.ok ? r.value.envelopes.map((e) => e.ct.length) : [];
  } catch {
    return [];
  }
}

function errorOf(e: unknown): { code: string; message: string } {
  return {
    code: String((e as { code?: unknown })?.code ?? 'EMERGENCY_RECORD_INVALID'),
    message: e instanceof Error ? e.message : String(e),
  };
}

/**
 * Follows emergency events record by record (see the module documentation).
 * @example
 * const tl = new EmergencyTimeline({ identities, contactPrivateKey });
 * for (const e of await tl.feed(handle, uplink.body)) console.log(e.seq, e.kind, e.status, e.body);
 */
export class EmergencyTimeline {
  readonly #o: EmergencyTimelineOptions;
  readonly #now: () => number;
  readonly #events = new Map<string, EventState>();

  constructor(options: EmergencyTimelineOptions = {}) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Whether it decrypts (a contact key was given). */
  get decrypting(): boolean {
    return this.#o.contactPrivateKey !== undefined;
  }

  /** Every event followed, oldest first. */
  events(): EmergencyEventSummary[] {
    return [...this.#events.values()].map((s) => {
      const seqs = [...s.seen.keys()].filter((q) => q > 0);
      const high = Math.max(0, ...seqs);
      const missing: number[] = [];
      for (let q = 1; q < high; q++) if (!s.seen.has(q)) missing.push(q);
      return {
        handle: s.handle,
        event: s.event,
        ...(s.start ? { startedAt: s.start.time } : {}),
        received: seqs.length,
        missing,
        ...(s.ended ? { ended: s.ended } : {}),
        ...(s.index !== undefined && s.index >= 0 ? { contactIndex: s.index } : {}),
      };
    });
  }

  /**
   * Feeds one emergency record (the body of an uplink record of kind {@link EMERGENCY_UPLINK_KIND})
   * from the Key with `handle`.
   * @returns the entries now known: this record's, and any held records it released
   */
  async feed(handle: string, bytes: Uint8Array): Promise<EmergencyTimelineEntry[]> {
    const receivedAt = this.#now();
    const start = peekEventStart(bytes);
    const rec = start ? undefined : peekEventRecord(bytes);
    if (!start && !rec) {
      return [
        {
          handle,
          event: '',
          kind: 'unreadable',
          seq: -1,
          time: 0,
          receivedAt,
          size: bytes.length,
          ciphertext: [],
          status: 'refused',
          error: { code: 'EMERGENCY_RECORD_INVALID', message: 'neither an event start nor an event record' },
        },
      ];
    }
    const event = toHex((start ?? rec)?.eventId as Uint8Array);
    const s = this.#state(handle, event);
    const seq = start ? 0 : (rec?.seq as number);
    const time = start ? start.time : (rec?.time as number);
    const entry: EmergencyTimelineEntry = {
      handle,
      event,
      kind: start ? 'start' : (rec?.kind as string),
      seq,
      time,
      receivedAt,
      size: bytes.length,
      ciphertext: start ? [] : ciphertextSizes(bytes),
      status: 'seen',
    };
    const prior = s.seen.get(seq);
    if (prior !== undefined) {
      entry.status = 'duplicate';
      entry.identical = prior === toHex(bytes);
      this.#since(s, entry);
      return [entry];
    }
    const identity = this.#o.identities?.get(handle);
    if (start) {
      if (identity !== undefined) {
        try {
          s.start = verifyEventStart(bytes, identity);
          entry.status = 'verified';
        } catch (e) {
          entry.status = 'refused';
          entry.error = errorOf(e);
          return [entry];
        }
      } else s.start = start; // unverified: timing only
      s.startBytes = bytes;
      s.seen.set(0, toHex(bytes));
      this.#since(s, entry);
      return [entry, ...(await this.#release(s, identity))];
    }
    s.seen.set(seq, toHex(bytes));
    if (entry.kind === 'end') s.ended ??= 'ended';
    this.#since(s, entry);
    const key = this.#o.contactPrivateKey;
    if (key === undefined || identity === undefined) return [entry];
    s.held.push({ bytes, entry: { ...entry, status: 'held' } });
    const out = await this.#release(s, identity);
    return out.length > 0 ? out : [{ ...entry, status: 'held' }];
  }

  #state(handle: string, event: string): EventState {
    const id = `${handle}/${event}`;
    let s = this.#events.get(id);
    if (!s) {
      s = { handle, event, seen: new Map(), held: [] };
      this.#events.set(id, s);
      const max = this.#o.maxEvents ?? 1000;
      while (this.#events.size > max) this.#events.delete(this.#events.keys().next().value as string);
    }
    return s;
  }

  #since(s: EventState, e: EmergencyTimelineEntry): void {
    if (s.start && e.seq >= 0) e.sinceStartMs = e.time - s.start.time;
  }

  /** Reads the held records once the start is verified and this contact's index is known. */
  async #release(s: EventState, identity: Uint8Array | undefined): Promise<EmergencyTimelineEntry[]> {
    const key = this.#o.contactPrivateKey;
    if (key === undefined || identity === undefined || !s.start || !s.startBytes || s.held.length === 0) return [];
    if (s.index === undefined) {
      for (const h of s.held) {
        let record: EventRecord;
        try {
          record = verifyEventRecord(h.bytes, { eventKey: s.start.eventKey, identityPublicKey: identity });
        } catch {
          continue; // a forgery says nothing about this contact's index (the reader refuses it)
        }
        for (const { contact } of record.envelopes) {
          try {
            await openVerifiedRecord(record, { contactIndex: contact, contactPrivateKey: key });
            s.index = contact;
            break;
          } catch {}
        }
        if (s.index !== undefined) break;
        if (record.envelopes.length > 0) s.index = -1; // verified envelopes, none of them ours
      }
      if (s.index === undefined) return [];
    }
    const held = s.held.splice(0);
    if (s.index < 0) {
      return held.map((h) => ({
        ...h.entry,
        status: 'not-for-you' as const,
        error: { code: 'EMERGENCY_NOT_FOR_YOU', message: 'no envelope of this event opens with this contact key' },
      }));
    }
    if (!s.reader) {
      s.reader = new EventReader({ identityPublicKey: identity, contactIndex: s.index, contactPrivateKey: key });
      await s.reader.feed(s.startBytes);
    }
    const out: EmergencyTimelineEntry[] = [];
    for (const h of held) {
      const results: ReaderEvent[] = await s.reader.feed(h.bytes);
      const e = { ...h.entry };
      for (const r of results) {
        if (r.type === 'record' && r.header.seq === e.seq) {
          e.status = 'decrypted';
          e.body = r.body;
          if (r.gaps.length > 0) e.gaps = r.gaps;
          if (r.outOfOrder) e.late = true;
          if (r.body.kind === 'end') s.ended = r.body.end.outcome;
        } else if (r.type === 'refused') {
          e.status = 'refused';
          e.error = errorOf(r.error);
          if (s.seen.get(e.seq) === toHex(h.bytes)) s.seen.delete(e.seq); // a forgery must not hide the real record
        } else if (r.type === 'duplicate') {
          e.status = 'duplicate';
          e.identical = r.identical;
        }
      }
      out.push(e);
    }
    return out;
  }
}
