/**
 * The pending entries in memory, with the bounds and the drop policy that keep them in check.
 *
 * **Drop policy.** Bounds count every pending entry: at most `maxRecords` entries and `maxBytes`
 * of topic (UTF-8) + payload bytes. An append that would exceed either drops the oldest *normal*
 * entries (a `drop` entry written for each, returned in `dropped` with reason `count` or `bytes`)
 * until it fits. If it cannot fit even with every normal entry gone (what is left is emergency):
 * a normal append is refused with `OUTBOX_FULL` and nothing is dropped (nothing is lost
 * silently); an emergency append is accepted beyond `maxRecords` / `maxBytes` as long as the
 * emergency entries stay within `emergencyMaxBytes` (and `emergencyMaxRecords`, which bounds the
 * memory of many tiny ones), and past that it is refused with `OUTBOX_FULL` — an emergency entry
 * is never dropped, by any bound. Normal entries older than `maxAgeMs` are dropped (reason `age`)
 * on every `append` and every `pending()`, checked oldest first and stopping at the first young
 * one (so a call costs O(dropped), not O(pending); after a clock step back, an entry expires no
 * earlier than those appended before it); emergency entries never expire. Error messages never
 * hold topics or payload bytes.
 *
 * {@link PendingEntries} applies the policy to memory only; the `Outbox` writes the `drop`
 * entries it returns.
 * @module
 */
import { toHex } from '@enigm/protocols/bytes';
import { OutboxError } from './errors.ts';
import type { OutboxDropReason, OutboxEntry, OutboxLogRecord, OutboxPriority } from './format.ts';
import type { OutboxDrop } from './message.ts';
import type { ResolvedOutboxOptions } from './options.ts';

/** A pending entry and what it costs. */
export interface LiveEntry {
  /** The entry. */
  readonly entry: OutboxEntry;
  /** Its topic (UTF-8) + payload bytes: what the byte bounds count. */
  readonly cost: number;
  /** Length of its `put` entry in the file: what compaction weighs against the dead bytes. */
  readonly frameBytes: number;
}

/** The limits {@link PendingEntries} enforces (a part of the outbox's options). */
export type OutboxBounds = Pick<
  ResolvedOutboxOptions,
  'maxRecords' | 'maxBytes' | 'maxAgeMs' | 'emergencyMaxBytes' | 'emergencyMaxRecords'
>;

/**
 * The pending entries in append order, keyed by id (hex), with running totals, and the drop
 * policy over them (see the module doc). Changes memory only; never does I/O.
 * @example
 * const set = new PendingEntries(opts);
 * const refused = set.refusal('normal', cost);
 * if (!refused) for (const d of set.makeRoom(cost)) writeDrop(d);
 */
export class PendingEntries {
  private readonly live = new Map<string, LiveEntry>();
  private readonly normals = new Map<string, LiveEntry>();
  private liveCost = 0;
  private liveFrameBytes = 0;
  private emergencyCount = 0;
  private emergencyCost = 0;
  /** Entries dropped since this open, by reason. */
  readonly dropped: Record<OutboxDropReason, number> = { count: 0, bytes: 0, age: 0 };

  /** @param bounds - the limits (see {@link OutboxBounds}) */
  constructor(private readonly bounds: OutboxBounds) {}

  /** Pending entries, normal and emergency. */
  get size(): number {
    return this.live.size;
  }

  /** Topic (UTF-8) + payload bytes of the pending entries. */
  get cost(): number {
    return this.liveCost;
  }

  /** Bytes of the pending entries' `put` entries in the file. */
  get frameBytes(): number {
    return this.liveFrameBytes;
  }

  /** Pending emergency entries. */
  get emergency(): number {
    return this.emergencyCount;
  }

  /** The pending entry with this id (hex), if any. */
  get(key: string): LiveEntry | undefined {
    return this.live.get(key);
  }

  /** Whether an entry with this id (hex) is pending. */
  has(key: string): boolean {
    return this.live.has(key);
  }

  /** The pending entries, oldest first. */
  values(): IterableIterator<LiveEntry> {
    return this.live.values();
  }

  /** Adds an entry as the newest. */
  add(l: LiveEntry): void {
    const key = toHex(l.entry.id);
    this.live.set(key, l);
    if (l.entry.priority === 'normal') this.normals.set(key, l);
    else {
      this.emergencyCount++;
      this.emergencyCost += l.cost;
    }
    this.liveCost += l.cost;
    this.liveFrameBytes += l.frameBytes;
  }

  /** Removes the entry `l`, pending under id (hex) `key`. */
  remove(key: string, l: LiveEntry): void {
    this.live.delete(key);
    if (l.entry.priority === 'normal') this.normals.delete(key);
    else {
      this.emergencyCount--;
      this.emergencyCost -= l.cost;
    }
    this.liveCost -= l.cost;
    this.liveFrameBytes -= l.frameBytes;
  }

  /** Applies one record read at open (`frameBytes`: the length of its entry in the file). */
  replay(r: OutboxLogRecord, frameBytes: number): void {
    if (r.kind === 'put') {
      const key = toHex(r.entry.id);
      if (this.live.has(key)) return; // a second put of a pending id: the first one stands
      this.add({ entry: r.entry, cost: Buffer.byteLength(r.entry.topic, 'utf8') + r.entry.payload.length, frameBytes });
    } else if (r.kind === 'ack' || r.kind === 'drop') {
      const key = toHex(r.id);
      const l = this.live.get(key);
      if (l) this.remove(key, l);
    }
  }

  /** Removes the normal entries past `maxAgeMs` at `now`; returns them (drop entries to write). */
  expire(now: number): OutboxDrop[] {
    const out: OutboxDrop[] = [];
    const cutoff = now - this.bounds.maxAgeMs;
    for (const [key, l] of this.normals) {
      if (l.entry.time >= cutoff) break; // append order: O(expired) per call (see the module doc on clock steps)
      this.remove(key, l);
      this.dropped.age++;
      out.push({ id: l.entry.id, reason: 'age' });
    }
    return out;
  }

  /**
   * Why an entry of `priority` and `cost` cannot be added even with every normal entry dropped
   * (an `OUTBOX_FULL` error to throw), or undefined if it can. Changes nothing.
   */
  refusal(priority: OutboxPriority, cost: number): OutboxError | undefined {
    const { maxRecords, maxBytes, emergencyMaxBytes, emergencyMaxRecords } = this.bounds;
    if (priority === 'emergency') {
      if (this.emergencyCost + cost > emergencyMaxBytes || this.emergencyCount + 1 > emergencyMaxRecords) {
        return new OutboxError(
          'OUTBOX_FULL',
          `emergency entries would be ${this.emergencyCount + 1} holding ${this.emergencyCost + cost} bytes; caps ${emergencyMaxRecords} entries, ${emergencyMaxBytes} bytes`,
        );
      }
    } else if (this.emergencyCount + 1 > maxRecords || this.emergencyCost + cost > maxBytes) {
      return new OutboxError(
        'OUTBOX_FULL',
        `a normal entry of ${cost} bytes does not fit beside ${this.emergencyCount} emergency entries (${this.emergencyCost} bytes); limits ${maxRecords} entries, ${maxBytes} bytes`,
      );
    }
    return undefined;
  }

  /**
   * Removes the oldest normal entries until one more entry of `cost` fits `maxRecords` and
   * `maxBytes`; returns them, oldest first (drop entries to write). Check {@link refusal} first.
   */
  makeRoom(cost: number): OutboxDrop[] {
    const { maxRecords, maxBytes } = this.bounds;
    const room: OutboxDrop[] = [];
    for (const [key, l] of this.normals) {
      const reason: OutboxDropReason | undefined =
        this.live.size + 1 > maxRecords ? 'count' : this.liveCost + cost > maxBytes ? 'bytes' : undefined;
      if (reason === undefined) break;
      this.remove(key, l);
      this.dropped[reason]++;
      room.push({ id: l.entry.id, reason });
    }
    return room;
  }
}
