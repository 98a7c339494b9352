/**
 * A contact's view of one emergency event: feed it the start and the records as they come, in any
 * order, duplicated or not. It verifies every signature (the start by the Key's identity key, the
 * records by the start's event key, the `end` record by the identity key), opens this contact's
 * envelope, and says what happened to each input:
 *
 * - a record that arrives before the start is held (at most `maxPending`) and released once the
 *   start is verified;
 * - a record whose `seq` was already accepted is a `duplicate` and dropped (a replay, or the
 *   broker's redelivery; `identical: false` flags two different records with one seq);
 * - a record with a lower `seq` than the highest accepted is accepted with `outOfOrder: true`;
 * - a record that skips seqs reports them as `gaps` (and {@link EventReader.missing} lists the
 *   seqs still missing);
 * - a record for another contact set version, another event, after the end, or that fails to
 *   verify or open is `refused` with its {@link ProtocolError}.
 *
 * @module
 */
import { toHex } from '../bytes.ts';
import { ProtocolError } from '../errors.ts';
import type { EventEnd } from './bodies.ts';
import {
  type EventBody,
  type EventHeader,
  type EventRecord,
  type EventStart,
  openVerifiedRecord,
  peekEventRecord,
  peekEventStart,
  verifyEventRecord,
  verifyEventStart,
} from './event.ts';

/** Options of {@link EventReader}. */
export interface EventReaderOptions {
  /** The Key's Ed25519 identity public key. */
  identityPublicKey: Uint8Array;
  /** This contact's index in the contact set. */
  contactIndex: number;
  /** This contact's X25519 private key. */
  contactPrivateKey: Uint8Array;
  /** The contact set version this contact belongs to (default: the start's). */
  contactSetVersion?: number;
  /** Records held while the start is missing (default 64); more are refused. */
  maxPending?: number;
}

/** What the reader made of one input (one call may release several). */
export type ReaderEvent =
  | { type: 'start'; start: EventStart }
  | { type: 'record'; header: EventHeader; body: EventBody; outOfOrder: boolean; gaps: number[] }
  | { type: 'duplicate'; seq: number; identical: boolean }
  | { type: 'pending'; seq: number }
  | { type: 'refused'; seq?: number; error: ProtocolError };

function asProtocolError(e: unknown): ProtocolError {
  if (e instanceof ProtocolError) return e;
  return new ProtocolError('EMERGENCY_RECORD_INVALID', `unexpected: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

/** A contact's stateful reader of one event (see the module doc). */
export class EventReader {
  readonly #opts: EventReaderOptions;
  #start: EventStart | undefined;
  #startSig: string | undefined;
  #pending: Uint8Array[] = [];
  /** Accepted seqs → hex of their signed bytes. */
  readonly #accepted = new Map<number, string>();
  #highest = 0;
  #end: { seq: number; end: EventEnd } | undefined;

  /** @param options - the Key's identity, this contact's index and private key */
  constructor(options: EventReaderOptions) {
    this.#opts = { ...options };
  }

  /** The verified start, once it has arrived. */
  get start(): EventStart | undefined {
    return this.#start;
  }

  /** The highest seq accepted (0 before any record). */
  get highestSeq(): number {
    return this.#highest;
  }

  /** How the event ended, once the `end` record has been accepted. */
  get ended(): EventEnd | undefined {
    return this.#end?.end;
  }

  /** The seqs accepted so far, ascending. */
  received(): number[] {
    return [...this.#accepted.keys()].sort((a, b) => a - b);
  }

  /** The seqs below the highest accepted (or below the end) that have not arrived. */
  missing(): number[] {
    const out: number[] = [];
    for (let s = 1; s < this.#highest; s++) if (!this.#accepted.has(s)) out.push(s);
    return out;
  }

  /** Records held until the start arrives. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /**
   * Feeds one signed start or record.
   * @returns what happened: usually one event; a start also releases the records held before it
   */
  async feed(bytes: Uint8Array): Promise<ReaderEvent[]> {
    try {
      if (peekEventStart(bytes) !== undefined) return await this.#feedStart(bytes);
      return await this.#feedRecord(bytes);
    } catch (e) {
      return [refused(e, bytes)];
    }
  }

  async #feedStart(bytes: Uint8Array): Promise<ReaderEvent[]> {
    const start = verifyEventStart(bytes, this.#opts.identityPublicKey);
    const sig = toHex(bytes);
    if (this.#start !== undefined) {
      if (toHex(this.#start.eventId) !== toHex(start.eventId)) {
        throw new ProtocolError('EMERGENCY_RECORD_INVALID', 'event start: this reader follows another event');
      }
      return [{ type: 'duplicate', seq: 0, identical: sig === this.#startSig }];
    }
    this.#start = start;
    this.#startSig = sig;
    const out: ReaderEvent[] = [{ type: 'start', start }];
    const held = this.#pending.sort((a, b) => (peekEventRecord(a)?.seq ?? 0) - (peekEventRecord(b)?.seq ?? 0));
    this.#pending = [];
    for (const r of held) out.push(...(await this.#feedRecord(r).catch((e) => [refused(e, r)])));
    return out;
  }

  async #feedRecord(bytes: Uint8Array): Promise<ReaderEvent[]> {
    const peek = peekEventRecord(bytes);
    if (peek === undefined) {
      throw new ProtocolError('EMERGENCY_RECORD_INVALID', 'neither an event start nor an event record');
    }
    const start = this.#start;
    if (start === undefined) {
      if (this.#pending.length >= (this.#opts.maxPending ?? 64)) {
        throw new ProtocolError('EMERGENCY_RECORD_INVALID', `event record ${peek.seq}: too many records before the start`);
      }
      this.#pending.push(bytes);
      return [{ type: 'pending', seq: peek.seq }];
    }
    if (toHex(peek.eventId) !== toHex(start.eventId)) {
      throw new ProtocolError('EMERGENCY_RECORD_INVALID', `event record ${peek.seq}: belongs to another event`);
    }
    const record: EventRecord = verifyEventRecord(bytes, {
      eventKey: start.eventKey,
      identityPublicKey: this.#opts.identityPublicKey,
    });
    const seq = record.seq;
    const sig = toHex(bytes);
    const prior = this.#accepted.get(seq);
    if (prior !== undefined) return [{ type: 'duplicate', seq, identical: prior === sig }];
    if (this.#end !== undefined && seq > this.#end.seq) {
      throw new ProtocolError('EMERGENCY_RECORD_INVALID', `event record ${seq}: after the end (seq ${this.#end.seq})`);
    }
    const version = this.#opts.contactSetVersion ?? start.contactSetVersion;
    const opened = await openVerifiedRecord(record, {
      contactIndex: this.#opts.contactIndex,
      contactPrivateKey: this.#opts.contactPrivateKey,
      contactSetVersion: version,
    });
    if (opened.body.kind === 'end' && seq < this.#highest) {
      throw new ProtocolError('EMERGENCY_RECORD_INVALID', `event record ${seq}: an end below seq ${this.#highest}`);
    }
    this.#accepted.set(seq, sig);
    const outOfOrder = seq < this.#highest;
    const gaps: number[] = [];
    for (let s = this.#highest + 1; s < seq; s++) gaps.push(s);
    if (seq > this.#highest) this.#highest = seq;
    if (opened.body.kind === 'end') this.#end = { seq, end: opened.body.end };
    return [{ type: 'record', header: opened.header, body: opened.body, outOfOrder, gaps }];
  }
}

function refused(e: unknown, bytes: Uint8Array): ReaderEvent {
  const seq = peekEventRecord(bytes)?.seq;
  return seq === undefined ? { type: 'refused', error: asProtocolError(e) } : { type: 'refused', seq, error: asProtocolError(e) };
}
