/**
 * `Outbox`: the durable queue of MQTT messages a client must deliver at least once.
 *
 * **Storage.** One append-only log file: every change is an entry — `put` (a message), `ack`
 * (delivered), `drop` (given up, with the reason) — framed as a sync marker, a length, a CRC-32C
 * and a deterministic CBOR record. The format, and why a log with a CRC-32C per entry, is in
 * `format.ts`; the other parts of the design each live beside the code that does them:
 * `options.ts` (the options and their defaults), `message.ts` (the check of an appended message),
 * `bounds.ts` (the pending entries in memory and the **drop policy**), `recovery.ts` (**open and
 * recovery**: torn tails and quarantine), `compaction.ts` (**compaction**) and `lock.ts` (the
 * **lock**). This module ties them together and owns the write queue.
 *
 * **Durability.** With `fsync: 'always'` (the default) each `append` / `ack` is one `write` and
 * one `fsync`, and its promise resolves after the `fsync`: a resolved append survives `kill -9`
 * and power loss (on a disk that honours fsync). With `'batch'`, everything appended in the same
 * tick — plus whatever arrives while the previous `fsync` runs (group commit) — goes out in one
 * `write` + one `fsync`; each promise still resolves only once its bytes are synced, so the
 * guarantee is the same and only the latency and throughput change. Writes are strictly in call
 * order. The in-memory queue changes when a call is made, so `pending()` includes entries whose
 * append has not resolved yet. If a write or sync fails, the file is truncated back to its last
 * synced length (best effort), every waiting call rejects with `OUTBOX_IO`, and the outbox refuses
 * all further work; reopening it recovers what is on disk.
 *
 * **Lock.** One `Outbox` per file: a second open in the same process is `OUTBOX_LOCKED` at once;
 * across processes `<path>.lock` holds the owner's PID, and a lock whose process is dead is taken
 * over (see `lock.ts`).
 *
 * @module
 */
import { closeSync, fsync, fsyncSync, ftruncateSync, openSync, write } from 'node:fs';
import { promisify } from 'node:util';
import { toHex } from '@enigm/protocols/bytes';
import { PendingEntries } from './bounds.ts';
import { compactionDue, concatParts, writeCompactedLog } from './compaction.ts';
import { outboxBadInput as badInput, outboxIoError as io, OutboxError } from './errors.ts';
import { encodeOutboxEntry as frameOf, type OutboxDropReason, type OutboxEntry } from './format.ts';
import { lockOutbox } from './lock.ts';
import { type AppendResult, checkOutboxMessage, type OutboxDrop, type OutboxMessage } from './message.ts';
import { type OutboxOptions, type ResolvedOutboxOptions, resolveOutboxOptions } from './options.ts';
import { type OutboxReport, recoverOutboxLog } from './recovery.ts';

const writeAsync = promisify(write);
const fsyncAsync = promisify(fsync);

/** Counters of {@link Outbox.stats}. */
export interface OutboxStats {
  /** Pending entries. */
  pending: number;
  /** Their topic + payload bytes. */
  bytes: number;
  /** Pending emergency entries. */
  emergency: number;
  /** Entries dropped since this open, by reason. */
  dropped: Record<OutboxDropReason, number>;
  /** Length of the log file (written bytes). */
  fileBytes: number;
}

interface Job {
  readonly data: Uint8Array[];
  /** rewrite the log from memory, which absorbs every job queued */
  readonly compact?: boolean;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/**
 * An open, locked outbox; see the module doc for storage and durability, and `bounds.ts`,
 * `recovery.ts` and `compaction.ts` for the drop policy, recovery and compaction.
 * @example
 * const outbox = await Outbox.open('state/outbox.log');
 * const { entry } = await outbox.append({ topic: 'enigm/v1/k1/up', payload });
 * for (const e of outbox.pending(10)) if (await publish(e)) await outbox.ack(e.id);
 * await outbox.close();
 */
export class Outbox {
  private fd: number | undefined;
  private readonly live: PendingEntries;
  private fileBytes: number;
  private nextSeq: number;
  private queue: Job[] = [];
  private draining = false;
  private scheduled = false;
  private failure: OutboxError | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    /** The log's path. */
    readonly path: string,
    private readonly opts: ResolvedOutboxOptions,
    private readonly unlock: () => void,
    fd: number,
    fileBytes: number,
    nextSeq: number,
    private found: OutboxReport,
  ) {
    this.fd = fd;
    this.fileBytes = fileBytes;
    this.nextSeq = nextSeq;
    this.live = new PendingEntries(opts);
  }

  /** What the open found: entries recovered, regions quarantined, torn-tail bytes truncated. */
  get report(): OutboxReport {
    return this.found;
  }

  /**
   * Opens (creating if missing) and locks the outbox at `path`, recovering what the file holds.
   * Never throws on the file's content: damage is quarantined or truncated and reported.
   * @throws {@link OutboxError} `OUTBOX_BAD_INPUT` (an option breaks its rule, naming it);
   *   `OUTBOX_LOCKED` (open in this process, or held by a live process); `OUTBOX_IO` (cannot
   *   create, read, truncate, quarantine or sync)
   * @example
   * const outbox = await Outbox.open('outbox.log', { fsync: 'batch' });
   * if (outbox.report.quarantined) log.warn('outbox damage quarantined', outbox.report);
   */
  static async open(path: string, options: OutboxOptions = {}): Promise<Outbox> {
    if (typeof path !== 'string' || path === '') throw badInput('path must be a non-empty string');
    const { opts, lockTimeoutMs } = resolveOutboxOptions(options);
    const unlock = await lockOutbox(path, lockTimeoutMs);
    try {
      const log = recoverOutboxLog(path);
      const outbox = new Outbox(path, opts, unlock, log.fd, log.end, log.nextSeq, log.report);
      for (const s of log.entries) outbox.live.replay(s.record, s.length);
      outbox.found = { ...outbox.found, recovered: outbox.live.size };
      if (log.report.quarantined > 0) {
        try {
          outbox.compactNow(true); // the damage is in the quarantine file: not reported twice
        } catch (e) {
          if (outbox.fd !== undefined) closeSync(outbox.fd);
          throw e;
        }
      }
      return outbox;
    } catch (e) {
      unlock();
      throw e;
    }
  }

  /** The seq the next append will get: persisted (a compaction keeps it), so never reused. */
  get upcomingSeq(): number {
    return this.nextSeq;
  }

  /** Pending entries (normal and emergency). */
  get size(): number {
    return this.live.size;
  }

  /** Topic (UTF-8) + payload bytes of the pending entries. */
  get bytes(): number {
    return this.live.cost;
  }

  /**
   * Queues a message; resolves once it (and any `drop` entries it caused) is synced to disk.
   * @returns the entry and the normal entries dropped to make room or for age
   * @throws {@link OutboxError} `OUTBOX_BAD_INPUT` (a field breaks its rule, naming it);
   *   `OUTBOX_TOO_LARGE` (payload over 256 KiB); `OUTBOX_FULL` (see the drop policy; nothing
   *   written); `OUTBOX_CLOSED`; `OUTBOX_IO` (the write or sync failed, now or earlier)
   * @example
   * const { entry, dropped } = await outbox.append({ topic: 'enigm/v1/k1/up', payload, priority: 'emergency' });
   */
  async append(msg: OutboxMessage): Promise<AppendResult> {
    this.usable();
    const topicBytes = checkOutboxMessage(msg);
    const { topic, payload, retain, qos } = msg;
    const priority = msg.priority ?? 'normal';

    const existing = msg.id === undefined ? undefined : this.live.get(toHex(msg.id));
    if (existing) {
      await this.enqueue([]); // durable when resolved: whatever wrote it is synced first
      return { entry: existing.entry, dropped: [] };
    }
    const now = this.now();
    const id = msg.id === undefined ? this.newId() : Uint8Array.from(msg.id);
    const cost = topicBytes + payload.length;
    const dropped: AppendResult['dropped'] = [];
    const frames: Uint8Array[] = [];
    const expired = this.live.expire(now);
    // fits without dropping anything emergency? (decided before any size drop: a refusal drops nothing)
    const refusal = this.live.refusal(priority, cost);
    if (refusal) {
      this.writeDrops(expired, frames, dropped);
      if (frames.length) this.enqueue(frames).catch(() => {});
      throw refusal;
    }
    this.writeDrops(expired, frames, dropped);
    this.writeDrops(this.live.makeRoom(cost), frames, dropped);
    const entry: OutboxEntry = Object.freeze({
      id,
      seq: this.nextSeq++,
      time: now,
      topic,
      payload: Uint8Array.from(payload),
      priority,
      ...(retain === undefined ? {} : { retain }),
      ...(qos === undefined ? {} : { qos }),
    });
    const frame = frameOf({ kind: 'put', entry });
    frames.push(frame);
    this.live.add({ entry, cost, frameBytes: frame.length });
    await this.enqueue(frames);
    return { entry, dropped };
  }

  /**
   * The pending entries, oldest first (normal entries past `maxAgeMs` are dropped first; their
   * `drop` entries are written in the background). Includes entries whose append has not resolved.
   * @param limit - at most this many (default all)
   * @throws {@link OutboxError} `OUTBOX_CLOSED`; `OUTBOX_IO` (an earlier write failed);
   *   `OUTBOX_BAD_INPUT` (limit not an integer ≥ 0)
   * @example for (const e of outbox.pending(16)) client.publish(e.topic, e.payload);
   */
  pending(limit?: number): OutboxEntry[] {
    this.usable();
    if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) throw badInput('limit must be an integer ≥ 0');
    const expired = this.live.expire(this.now());
    if (expired.length > 0) {
      const frames: Uint8Array[] = [];
      this.writeDrops(expired, frames, []);
      this.enqueue(frames).catch(() => {}); // a failure is kept in `failure` and reported by the next call
    }
    const max = limit ?? Number.POSITIVE_INFINITY;
    const out: OutboxEntry[] = [];
    for (const l of this.live.values()) {
      if (out.length >= max) break;
      out.push(l.entry);
    }
    return out;
  }

  /**
   * Marks an entry delivered; resolves once the `ack` is synced.
   * @returns true if it was pending; false if unknown (already acked or dropped: idempotent)
   * @throws {@link OutboxError} `OUTBOX_BAD_INPUT` (id not 16 bytes); `OUTBOX_CLOSED`; `OUTBOX_IO`
   * @example if (await publish(entry)) await outbox.ack(entry.id);
   */
  async ack(id: Uint8Array): Promise<boolean> {
    this.usable();
    if (!(id instanceof Uint8Array && id.length === 16)) throw badInput('id must be 16 bytes');
    const key = toHex(id);
    const l = this.live.get(key);
    if (!l) return false;
    this.live.remove(key, l);
    await this.enqueue([frameOf({ kind: 'ack', id: l.entry.id })]);
    return true;
  }

  /**
   * Counters: pending entries and bytes, emergency entries, drops since open, file length.
   * @throws {@link OutboxError} `OUTBOX_CLOSED`
   * @example const { pending, dropped } = outbox.stats();
   */
  stats(): OutboxStats {
    if (this.closing) throw new OutboxError('OUTBOX_CLOSED', `${this.path} is closed`);
    return {
      pending: this.live.size,
      bytes: this.live.cost,
      emergency: this.live.emergency,
      dropped: { ...this.live.dropped },
      fileBytes: this.fileBytes,
    };
  }

  /**
   * Rewrites the log with only the live entries now (normally automatic, see the module doc),
   * after every queued write.
   * @throws {@link OutboxError} `OUTBOX_CLOSED`; `OUTBOX_IO`
   * @example await outbox.compact();
   */
  async compact(): Promise<void> {
    this.usable();
    await this.enqueue([], true);
  }

  /**
   * Waits for queued writes, closes the file and releases the lock. Idempotent; never throws
   * for a failed earlier write (that call already rejected).
   * @example await outbox.close();
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        try {
          if (!this.failure) await this.enqueue([]);
        } catch {
          // reported to the call that wrote
        }
        if (this.fd !== undefined) {
          try {
            closeSync(this.fd);
          } catch {}
          this.fd = undefined;
        }
        this.unlock();
      })();
    }
    return this.closing;
  }

  // ---- internals ----

  private usable(): void {
    if (this.closing) throw new OutboxError('OUTBOX_CLOSED', `${this.path} is closed`);
    if (this.failure) throw this.failure;
  }

  private now(): number {
    const t = this.opts.clock();
    if (!Number.isSafeInteger(t) || t < 0) throw badInput('clock must return whole milliseconds ≥ 0');
    return t;
  }

  private newId(): Uint8Array {
    for (let i = 0; i < 4; i++) {
      const r = this.opts.random(16);
      if (!(r instanceof Uint8Array) || r.length !== 16) throw badInput('random(16) must return 16 bytes');
      if (!this.live.has(toHex(r))) return Uint8Array.from(r);
    }
    throw badInput('random(16) keeps returning ids already pending');
  }

  private writeDrops(drops: readonly OutboxDrop[], frames: Uint8Array[], into: AppendResult['dropped']): void {
    for (const d of drops) {
      frames.push(frameOf({ kind: 'drop', id: d.id, reason: d.reason }));
      into.push(d);
    }
  }

  /** Queues bytes to write; resolves once they (and everything queued before) are synced. */
  private enqueue(data: Uint8Array[], compact = false): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.queue.push({ data, resolve, reject, compact });
      if (!this.draining && !this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          void this.drain();
        });
      }
    });
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        if (this.queue.some((j) => j.compact)) {
          // the in-memory state is the file plus every queued job: writing it absorbs them all
          const all = this.queue.splice(0);
          try {
            this.compactNow(true);
          } catch (e) {
            if (this.failure) for (const j of all) j.reject(this.failure);
            else {
              this.queue.unshift(...all.filter((j) => !j.compact)); // the old log is intact: write them as usual
              for (const j of all) if (j.compact) j.reject(e);
            }
            continue;
          }
          for (const j of all) j.resolve();
          continue;
        }
        const jobs = this.opts.fsync === 'batch' ? this.queue.splice(0) : this.queue.splice(0, 1);
        const parts = jobs.flatMap((j) => j.data);
        try {
          if (this.failure) throw this.failure;
          if (parts.length > 0) {
            const buf = concatParts(parts);
            const fd = this.fd as number;
            for (let off = 0; off < buf.length; ) off += (await writeAsync(fd, buf, off, buf.length - off)).bytesWritten;
            await fsyncAsync(fd);
            this.fileBytes += buf.length;
          }
          for (const j of jobs) j.resolve();
        } catch (e) {
          this.fail(e instanceof OutboxError ? e : io(`cannot append to the outbox ${this.path}`, e));
          for (const j of jobs) j.reject(this.failure);
        }
        if (this.queue.length === 0 && !this.failure) this.compactNow(false);
      }
    } finally {
      this.draining = false;
    }
  }

  /** Enters the failed state: truncate to the last synced length, reject everything waiting. */
  private fail(err: OutboxError): void {
    if (!this.failure) {
      this.failure = err;
      if (this.fd !== undefined) {
        try {
          ftruncateSync(this.fd, this.fileBytes);
          fsyncSync(this.fd);
        } catch {
          // the torn tail stays; the next open truncates it
        }
      }
    }
    const waiting = this.queue.splice(0);
    for (const j of waiting) j.reject(this.failure);
  }

  /**
   * Rewrites the log with the live entries if the dead bytes call for it (or `force`). Runs only
   * when no write is queued or in flight, so the file holds exactly the in-memory state.
   */
  private compactNow(force: boolean): void {
    if (!force && !compactionDue(this.fileBytes, this.live.frameBytes, this.opts.compactMinBytes)) return;
    let size: number;
    try {
      size = writeCompactedLog(this.path, this.nextSeq, liveEntries(this.live));
    } catch (e) {
      if (force) throw io(`cannot compact the outbox ${this.path}`, e);
      return; // the old log is intact; try again after the next write
    }
    try {
      const fd = openSync(this.path, 'a', 0o600);
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = fd;
      this.fileBytes = size;
    } catch (e) {
      this.fail(io(`cannot reopen the outbox ${this.path} after compaction`, e));
      if (force) throw this.failure;
    }
  }
}

function* liveEntries(live: PendingEntries): Generator<OutboxEntry> {
  for (const l of live.values()) yield l.entry;
}
