/**
 * `Outbox`: the durable queue of MQTT messages a client must deliver at least once.
 *
 * **Storage.** One append-only log file (format in `format.ts`): every change is an entry —
 * `put` (a message), `ack` (delivered), `drop` (given up, with the reason) — framed as a sync
 * marker, a length, a CRC-32C and a deterministic CBOR record. Why a log and not a folder of
 * files or a database: an append is one `write` + one `fsync` of a few hundred bytes (a file per
 * message costs a create, an fsync of the file *and* of the folder, and an unlink per ack); the
 * format needs no dependency (SQLite would be a native module in a package that may use only
 * `@enigm/protocols` and Node); and every failure has a local, bounded repair — a torn tail is
 * cut, a damaged entry is skipped by resyncing on the next marker, and neither costs the entries
 * around it. Why CRC-32C: it detects every burst error up to 32 bits and all odd bit counts, is
 * already in `@enigm/protocols/framing` (the serial frame check, RFC 3720 test vectors), and is
 * what the CRC instructions of x86 and ARMv8 compute. The CRC covers the length as well as the
 * record, so a damaged length is damage, never a different entry.
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
 * **Open and recovery.** `open` takes the lock, reads and scans the whole file, and rebuilds the
 * pending queue (puts minus acks and drops) in file order. A torn tail (an append cut short: a
 * header or record ending at the end of the file, or trailing zero bytes) is truncated and its
 * size reported as `tornTailBytes`. A damaged entry elsewhere (bad length, CRC, CBOR or record
 * shape) and everything up to the next valid entry is appended to `<path>.quarantine` (a text
 * line `enigm-outbox quarantine offset=… length=… reason=… time=…`, then the raw bytes and a
 * newline), synced, counted in `quarantined`, and the log is then compacted, so the damage is
 * reported once and not again at the next open. Entries before and after the damage are kept.
 * `recovered` is the number of pending entries rebuilt.
 *
 * **Drop policy.** Bounds count every pending entry: at most `maxRecords` entries and `maxBytes`
 * of topic (UTF-8) + payload bytes. An append that would exceed either drops the oldest *normal*
 * entries (a `drop` entry written for each, returned in `dropped` with reason `count` or `bytes`)
 * until it fits. If it cannot fit even with every normal entry gone (what is left is emergency):
 * a normal append is refused with `OUTBOX_FULL` and nothing is dropped (nothing is lost
 * silently); an emergency append is accepted beyond `maxRecords` / `maxBytes` as long as the
 * emergency entries stay within `emergencyMaxBytes` (and `emergencyMaxRecords`, which bounds the
 * memory of many tiny ones), and past that it is refused with `OUTBOX_FULL` — an emergency entry is never dropped, by any bound. Normal entries older than
 * `maxAgeMs` are dropped (reason `age`) on every `append` and every `pending()`, checked oldest
 * first and stopping at the first young one (so a call costs O(dropped), not O(pending); after a
 * clock step back, an entry expires no earlier than those appended before it); emergency entries
 * never expire. Error messages never hold topics or payload bytes.
 *
 * **Compaction.** When the dead bytes in the file (acked, dropped, and their `ack`/`drop`
 * entries) exceed the live ones and `compactMinBytes`, the live entries are written to a new
 * temporary file beside the log (after a `base` entry that carries the next seq, so seqs never go
 * back), which is synced, renamed over the log, and the folder synced. A crash at any point leaves
 * the old log or the new one; a leftover temporary file is removed at the next open.
 *
 * **Lock.** One `Outbox` per file: a second open in the same process is `OUTBOX_LOCKED` at once;
 * across processes `<path>.lock` holds the owner's PID, and a lock whose process is dead is taken
 * over (see `lock.ts`).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  write,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { toHex } from '@enigm/protocols/bytes';
import { OutboxError } from './errors.ts';
import {
  type BadRegion,
  encodeOutboxFrame,
  encodeOutboxRecord,
  OUTBOX_MAX_PAYLOAD,
  OUTBOX_MAX_TOPIC_BYTES,
  type OutboxDropReason,
  type OutboxEntry,
  type OutboxLogRecord,
  type OutboxPriority,
  scanOutboxLog,
} from './format.ts';
import { lockOutbox } from './lock.ts';

const writeAsync = promisify(write);
const fsyncAsync = promisify(fsync);

/** Options of {@link Outbox.open}. */
export interface OutboxOptions {
  /** Most pending entries, normal and emergency counted (default 10,000). */
  maxRecords?: number;
  /** Most topic (UTF-8) + payload bytes of pending entries (default 16 MiB). */
  maxBytes?: number;
  /** Normal entries older than this are dropped (default 7 days); emergency entries never expire. */
  maxAgeMs?: number;
  /** Hard cap on the topic + payload bytes of emergency entries (default 64 MiB); past it an emergency append is `OUTBOX_FULL`. */
  emergencyMaxBytes?: number;
  /** Hard cap on the number of emergency entries (default 100,000: bounds memory when they are tiny); past it `OUTBOX_FULL`. */
  emergencyMaxRecords?: number;
  /** `'always'` (default): one write + fsync per call; `'batch'`: one write + fsync per tick (group commit). */
  fsync?: 'always' | 'batch';
  /** Clock in whole ms since the Unix epoch (default `Date.now`). */
  clock?: () => number;
  /** Random bytes for ids (default `node:crypto` `randomBytes`). */
  random?: (n: number) => Uint8Array;
  /** How long to wait for another live process's lock (default 0: `OUTBOX_LOCKED` at once). */
  lockTimeoutMs?: number;
  /** Compaction waits until the dead bytes exceed this too (default 1 MiB). */
  compactMinBytes?: number;
}

/** What {@link Outbox.append} did. */
export interface AppendResult {
  /** The entry queued (or, for an `id` already pending, the entry that holds it). */
  entry: OutboxEntry;
  /** Normal entries dropped to make room or because they were too old, oldest first. */
  dropped: { id: Uint8Array; reason: OutboxDropReason }[];
}

/** What {@link Outbox.open} found in the file. */
export interface OutboxReport {
  /** Pending entries rebuilt from the log. */
  readonly recovered: number;
  /** Damaged regions copied to `<path>.quarantine` and skipped. */
  readonly quarantined: number;
  /** Bytes of those regions. */
  readonly quarantinedBytes: number;
  /** Bytes of the torn tail truncated (0: none). */
  readonly tornTailBytes: number;
}

/** A message to append. */
export interface OutboxMessage {
  /** MQTT topic: 1–65,535 UTF-8 bytes, no wildcard (`+`, `#`) and no U+0000. */
  topic: string;
  /** At most 256 KiB. */
  payload: Uint8Array;
  /** Default `normal`. */
  priority?: OutboxPriority;
  /** MQTT retain flag. */
  retain?: boolean;
  /** MQTT QoS to publish with. */
  qos?: 0 | 1 | 2;
  /** 16 bytes; default random. An id already pending makes the append a no-op returning that entry. */
  id?: Uint8Array;
}

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

interface Live {
  readonly entry: OutboxEntry;
  /** topic UTF-8 + payload bytes */
  readonly cost: number;
  /** length of its put entry in the file */
  readonly frameBytes: number;
}

interface Job {
  readonly data: Uint8Array[];
  /** rewrite the log from memory, which absorbs every job queued */
  readonly compact?: boolean;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const MIB = 1024 * 1024;

function errnoText(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

function io(what: string, e: unknown): OutboxError {
  return new OutboxError('OUTBOX_IO', `${what}: ${errnoText(e)}`, { cause: e });
}

function badInput(what: string): OutboxError {
  return new OutboxError('OUTBOX_BAD_INPUT', what);
}

function syncDir(dir: string): void {
  try {
    const d = openSync(dir, 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  } catch {
    // some file systems cannot fsync a folder; the rename is still atomic
  }
}

function positive(name: string, v: number | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw badInput(`${name} must be an integer ≥ ${min}`);
  return v;
}

function frameOf(r: OutboxLogRecord): Uint8Array {
  return encodeOutboxFrame(encodeOutboxRecord(r));
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  return Buffer.concat(parts);
}

/** Writes the quarantined regions to `<path>.quarantine` and syncs it. */
function quarantine(path: string, bytes: Uint8Array, bad: readonly BadRegion[], now: number): void {
  const q = `${path}.quarantine`;
  let fd: number;
  try {
    fd = openSync(q, 'a', 0o600);
  } catch (e) {
    throw io(`cannot open the quarantine file ${q}`, e);
  }
  try {
    for (const r of bad) {
      const when = Number.isFinite(now) ? new Date(now).toISOString() : String(now);
      writeSync(fd, `enigm-outbox quarantine offset=${r.offset} length=${r.length} reason=${r.reason} time=${when}\n`);
      writeSync(fd, bytes, r.offset, r.length);
      writeSync(fd, '\n');
    }
    fsyncSync(fd);
  } catch (e) {
    throw io(`cannot write the quarantine file ${q}`, e);
  } finally {
    closeSync(fd);
  }
}

/** Removes temporary files a compaction killed midway left behind (we hold the lock). */
function removeLeftovers(path: string): void {
  // One fixed name (the outbox is locked, so one compaction at a time): no folder listing, which
  // would cost O(files in the folder) per open — a simulator opens one outbox per Key.
  rmSync(compactTempPath(path), { force: true });
}

/** The temporary file a compaction writes before its rename. */
function compactTempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.compact-tmp`);
}

/**
 * An open, locked outbox; see the module doc for storage, durability, recovery and drop policy.
 * @example
 * const outbox = await Outbox.open('state/outbox.log');
 * const { entry } = await outbox.append({ topic: 'enigm/v1/k1/up', payload });
 * for (const e of outbox.pending(10)) if (await publish(e)) await outbox.ack(e.id);
 * await outbox.close();
 */
export class Outbox {
  private fd: number | undefined;
  private readonly live = new Map<string, Live>();
  private readonly normals = new Map<string, Live>();
  private liveCost = 0;
  private liveFrameBytes = 0;
  private emergencyCount = 0;
  private emergencyCost = 0;
  private fileBytes: number;
  private nextSeq: number;
  private readonly droppedCount: Record<OutboxDropReason, number> = { count: 0, bytes: 0, age: 0 };
  private queue: Job[] = [];
  private draining = false;
  private scheduled = false;
  private failure: OutboxError | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    /** The log's path. */
    readonly path: string,
    private readonly opts: Required<Omit<OutboxOptions, 'lockTimeoutMs'>>,
    private readonly unlock: () => void,
    fd: number,
    fileBytes: number,
    nextSeq: number,
    private found: OutboxReport,
  ) {
    this.fd = fd;
    this.fileBytes = fileBytes;
    this.nextSeq = nextSeq;
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
    if (options === null || typeof options !== 'object') throw badInput('options must be an object');
    const fsyncMode = options.fsync ?? 'always';
    if (fsyncMode !== 'always' && fsyncMode !== 'batch') throw badInput("fsync must be 'always' or 'batch'");
    if (options.clock !== undefined && typeof options.clock !== 'function') throw badInput('clock must be a function');
    if (options.random !== undefined && typeof options.random !== 'function') throw badInput('random must be a function');
    const opts: Required<Omit<OutboxOptions, 'lockTimeoutMs'>> = {
      maxRecords: positive('maxRecords', options.maxRecords, 10_000),
      maxBytes: positive('maxBytes', options.maxBytes, 16 * MIB),
      maxAgeMs: positive('maxAgeMs', options.maxAgeMs, 7 * DAY_MS),
      emergencyMaxBytes: positive('emergencyMaxBytes', options.emergencyMaxBytes, 64 * MIB),
      emergencyMaxRecords: positive('emergencyMaxRecords', options.emergencyMaxRecords, 100_000),
      fsync: fsyncMode,
      clock: options.clock ?? Date.now,
      random: options.random ?? ((n: number) => new Uint8Array(randomBytes(n))),
      compactMinBytes: positive('compactMinBytes', options.compactMinBytes, MIB, 0),
    };
    const lockTimeoutMs = positive('lockTimeoutMs', options.lockTimeoutMs, 0, 0);
    const unlock = await lockOutbox(path, lockTimeoutMs);
    let fd: number | undefined;
    try {
      removeLeftovers(path);
      try {
        fd = openSync(path, 'a', 0o600);
        if (fstatSync(fd).size === 0) syncDir(dirname(path)); // a new file: its name survives a power cut
      } catch (e) {
        throw io(`cannot open the outbox ${path}`, e);
      }
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(readFileSync(path));
      } catch (e) {
        throw io(`cannot read the outbox ${path}`, e);
      }
      const scan = scanOutboxLog(bytes);
      const tornTailBytes = bytes.length - scan.end;
      if (scan.bad.length > 0) quarantine(path, bytes, scan.bad, Date.now());
      if (tornTailBytes > 0) {
        try {
          ftruncateSync(fd, scan.end);
          fsyncSync(fd);
        } catch (e) {
          throw io(`cannot truncate the torn tail of ${path}`, e);
        }
      }
      let nextSeq = 0;
      const records: OutboxLogRecord[] = [];
      for (const s of scan.entries) {
        records.push(s.record);
        if (s.record.kind === 'base') nextSeq = Math.max(nextSeq, s.record.nextSeq);
        else if (s.record.kind === 'put') nextSeq = Math.max(nextSeq, s.record.entry.seq + 1);
      }
      const quarantinedBytes = scan.bad.reduce((a, r) => a + r.length, 0);
      const outbox = new Outbox(path, opts, unlock, fd, scan.end, nextSeq, {
        recovered: 0,
        quarantined: scan.bad.length,
        quarantinedBytes,
        tornTailBytes,
      });
      fd = undefined; // owned by the outbox now
      for (let i = 0; i < records.length; i++) outbox.replay(records[i] as OutboxLogRecord, scan.entries[i]?.length ?? 0);
      outbox.found = { ...outbox.found, recovered: outbox.live.size };
      if (scan.bad.length > 0) {
        try {
          outbox.compactNow(true); // the damage is in the quarantine file: not reported twice
        } catch (e) {
          if (outbox.fd !== undefined) closeSync(outbox.fd);
          throw e;
        }
      }
      return outbox;
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
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
    return this.liveCost;
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
    if (msg === null || typeof msg !== 'object') throw badInput('message must be an object');
    const { topic, payload, retain, qos } = msg;
    const priority = msg.priority ?? 'normal';
    if (typeof topic !== 'string' || topic === '') throw badInput('topic must be a non-empty string');
    const topicBytes = Buffer.byteLength(topic, 'utf8');
    if (topicBytes > OUTBOX_MAX_TOPIC_BYTES) throw badInput(`topic must be at most ${OUTBOX_MAX_TOPIC_BYTES} UTF-8 bytes`);
    if (/[\uD800-\uDFFF]/u.test(topic)) throw badInput('topic must be well-formed Unicode (no lone surrogate)');
    if (topic.includes('+') || topic.includes('#') || topic.includes('\0'))
      throw badInput('topic must not hold a wildcard (+, #) or U+0000');
    if (!(payload instanceof Uint8Array)) throw badInput('payload must be a Uint8Array');
    if (payload.length > OUTBOX_MAX_PAYLOAD) {
      throw new OutboxError(
        'OUTBOX_TOO_LARGE',
        `payload of ${payload.length} bytes is over the maximum of ${OUTBOX_MAX_PAYLOAD}`,
      );
    }
    if (priority !== 'normal' && priority !== 'emergency') throw badInput("priority must be 'normal' or 'emergency'");
    if (retain !== undefined && typeof retain !== 'boolean') throw badInput('retain must be a boolean');
    if (qos !== undefined && qos !== 0 && qos !== 1 && qos !== 2) throw badInput('qos must be 0, 1 or 2');
    if (msg.id !== undefined && !(msg.id instanceof Uint8Array && msg.id.length === 16)) throw badInput('id must be 16 bytes');

    const existing = msg.id === undefined ? undefined : this.live.get(toHex(msg.id));
    if (existing) {
      await this.enqueue([]); // durable when resolved: whatever wrote it is synced first
      return { entry: existing.entry, dropped: [] };
    }
    const now = this.now();
    const id = msg.id === undefined ? this.newId() : Uint8Array.from(msg.id);
    const cost = topicBytes + payload.length;
    const { maxRecords, maxBytes } = this.opts;
    const dropped: AppendResult['dropped'] = [];
    const frames: Uint8Array[] = [];
    const expired = this.expire(now);
    // fits without dropping anything emergency? (decided before any size drop: a refusal drops nothing)
    if (priority === 'emergency') {
      if (this.emergencyCost + cost > this.opts.emergencyMaxBytes || this.emergencyCount + 1 > this.opts.emergencyMaxRecords) {
        this.writeDrops(expired, frames, dropped);
        if (frames.length) this.enqueue(frames).catch(() => {});
        throw new OutboxError(
          'OUTBOX_FULL',
          `emergency entries would be ${this.emergencyCount + 1} holding ${this.emergencyCost + cost} bytes; caps ${this.opts.emergencyMaxRecords} entries, ${this.opts.emergencyMaxBytes} bytes`,
        );
      }
    } else if (this.emergencyCount + 1 > maxRecords || this.emergencyCost + cost > maxBytes) {
      this.writeDrops(expired, frames, dropped);
      if (frames.length) this.enqueue(frames).catch(() => {});
      throw new OutboxError(
        'OUTBOX_FULL',
        `a normal entry of ${cost} bytes does not fit beside ${this.emergencyCount} emergency entries (${this.emergencyCost} bytes); limits ${maxRecords} entries, ${maxBytes} bytes`,
      );
    }
    this.writeDrops(expired, frames, dropped);
    const room: { id: Uint8Array; reason: OutboxDropReason }[] = [];
    for (const [key, l] of this.normals) {
      const reason: OutboxDropReason | undefined =
        this.live.size + 1 > maxRecords ? 'count' : this.liveCost + cost > maxBytes ? 'bytes' : undefined;
      if (reason === undefined) break;
      this.remove(key, l);
      this.droppedCount[reason]++;
      room.push({ id: l.entry.id, reason });
    }
    this.writeDrops(room, frames, dropped);
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
    this.add({ entry, cost, frameBytes: frame.length });
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
    const expired = this.expire(this.now());
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
    this.remove(key, l);
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
      bytes: this.liveCost,
      emergency: this.emergencyCount,
      dropped: { ...this.droppedCount },
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

  private add(l: Live): void {
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

  private remove(key: string, l: Live): void {
    this.live.delete(key);
    if (l.entry.priority === 'normal') this.normals.delete(key);
    else {
      this.emergencyCount--;
      this.emergencyCost -= l.cost;
    }
    this.liveCost -= l.cost;
    this.liveFrameBytes -= l.frameBytes;
  }

  /** Applies one record read at open. */
  private replay(r: OutboxLogRecord, frameBytes: number): void {
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

  /** Removes the normal entries past maxAgeMs from memory; returns them (drop entries to write). */
  private expire(now: number): { id: Uint8Array; reason: OutboxDropReason }[] {
    const out: { id: Uint8Array; reason: OutboxDropReason }[] = [];
    const cutoff = now - this.opts.maxAgeMs;
    for (const [key, l] of this.normals) {
      if (l.entry.time >= cutoff) break; // append order: O(expired) per call (see the module doc on clock steps)
      this.remove(key, l);
      this.droppedCount.age++;
      out.push({ id: l.entry.id, reason: 'age' });
    }
    return out;
  }

  private writeDrops(
    drops: readonly { id: Uint8Array; reason: OutboxDropReason }[],
    frames: Uint8Array[],
    into: AppendResult['dropped'],
  ): void {
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
            const buf = concat(parts);
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
    const dead = this.fileBytes - this.liveFrameBytes;
    if (!force && !(dead > this.liveFrameBytes && dead > this.opts.compactMinBytes)) return;
    const dir = dirname(this.path);
    const tmp = compactTempPath(this.path);
    let size = 0;
    try {
      const fd = openSync(tmp, 'wx', 0o600);
      try {
        const parts: Uint8Array[] = [frameOf({ kind: 'base', nextSeq: this.nextSeq })];
        let pendingBytes = parts[0]?.length ?? 0;
        const flush = () => {
          const buf = concat(parts);
          for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
          size += buf.length;
          parts.length = 0;
          pendingBytes = 0;
        };
        for (const l of this.live.values()) {
          const f = frameOf({ kind: 'put', entry: l.entry });
          parts.push(f);
          pendingBytes += f.length;
          if (pendingBytes >= MIB) flush();
        }
        flush();
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
    } catch (e) {
      rmSync(tmp, { force: true });
      if (force) throw io(`cannot compact the outbox ${this.path}`, e);
      return; // the old log is intact; try again after the next write
    }
    syncDir(dir);
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
