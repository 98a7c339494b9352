/**
 * `AuditLog`: the append-only audit log file of one host (station, CA, operator console).
 *
 * - **Lock.** `open` takes `<path>.lock`, created exclusively and holding the PID, for the life of
 *   the `AuditLog` (until `close`). A lock whose PID is not alive is stale and taken over (so is a
 *   lock still without a PID after 2 s: its owner died between creating and writing it); a live
 *   lock is waited for up to `lockTimeoutMs`, then `AUDIT_LOCKED`. Two processes therefore never
 *   interleave appends.
 * - **Create.** A missing log is created as a temporary file holding the file header, synced,
 *   renamed into place, and the folder synced: a log either exists with its header or not at all.
 * - **Open.** The whole file is verified structurally and its chain followed (signatures are not
 *   checked: the appender need not trust every other actor); the last record gives the next `seq`
 *   and `prev`. A torn tail (a crash mid-append) is `AUDIT_LOG_TORN` unless `repair` is set: then
 *   the torn bytes are truncated, the file synced, and an `audit.repair` record saying how many
 *   bytes were removed at which offset is appended. The note is first written (and synced) to
 *   `<path>.repair`, removed once the record is appended: a crash between the truncation and the
 *   record leaves the journal, and the next open appends the record then. Any other problem is
 *   `AUDIT_LOG_INVALID`: an
 *   appender never extends a log that fails verification.
 * - **Append.** One signed record per call, written at the end of the file (`O_APPEND`), then
 *   `fsync`: when `append` returns, the record is on disk. If the write or sync fails, the file is
 *   truncated back to its previous length (best effort) and the log refuses further appends
 *   (`AUDIT_WRITE_FAILED`); reopening it reports and repairs whatever is left.
 *
 * @module
 */

import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { toHex } from '@enigm/protocols/bytes';
import { AttestationError } from '../errors.ts';
import { acquirePidLock } from '../lock.ts';
import { AUDIT_FILE_HEADER, encodeAuditFrame } from './format.ts';
import {
  AUDIT_GENESIS_PREV,
  type AuditEntry,
  type AuditRecord,
  type AuditSigner,
  auditKeyId,
  auditRecordHash,
  signAuditRecord,
} from './record.ts';
import { checkAuditReason, checkAuditRole } from './validate.ts';
import { verifyAuditLog } from './verify.ts';

/** Options of {@link AuditLog.open}. */
export interface AuditLogOptions {
  /** The appending actor: role and Ed25519 signer. */
  readonly signer: AuditSigner;
  /** The clock of record times, milliseconds since the Unix epoch. */
  readonly clock: () => number;
  /** Truncate a torn tail and record the repair (default false: a torn tail is `AUDIT_LOG_TORN`). */
  readonly repair?: boolean;
  /** How long to wait for another process's lock (default 5000 ms). */
  readonly lockTimeoutMs?: number;
  /** Create the log if it does not exist (default true). */
  readonly create?: boolean;
  /**
   * Write each frame in pieces of at most this many bytes (default: one write). Only for crash
   * tests: a crash or power loss can tear any write, a `kill -9` rarely tears a single small one.
   */
  readonly maxWriteBytes?: number;
}

/** What {@link AuditLog.append} wrote. */
export interface AppendedAuditRecord {
  /** The record. */
  readonly record: AuditRecord;
  /** Its bytes (COSE_Sign1). */
  readonly bytes: Uint8Array;
  /** SHA-256 of its bytes (the next record's `prev`). */
  readonly hash: Uint8Array;
}

/** `1234567` → `1,234,567`: a long offset in a repair note must not read as a phone number. */
function grouped(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function errnoText(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

function writeFailed(what: string, e: unknown): AttestationError {
  return new AttestationError('AUDIT_WRITE_FAILED', `${what}: ${errnoText(e)}`, { cause: e });
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function acquireLock(path: string, timeoutMs: number): Promise<() => void> {
  const lockPath = `${path}.lock`;
  return acquirePidLock(lockPath, timeoutMs, {
    createFailed: (e) => writeFailed(`cannot create the lock ${lockPath}`, e),
    held: (holder) =>
      new AttestationError(
        'AUDIT_LOCKED',
        `${lockPath} is held by ${holder > 0 ? `process ${holder}` : 'a process starting up'}; is another appender running?`,
      ),
  });
}

/** The repair notes of a repair that truncated but may not have recorded itself (one per line). */
function readJournal(journal: string): string[] {
  let text: string;
  try {
    text = readFileSync(journal, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw writeFailed(`cannot read the repair journal ${journal}`, e);
  }
  const notes = text.split('\n').filter((l) => l !== '');
  for (const n of notes) {
    try {
      checkAuditReason(n);
    } catch (cause) {
      throw new AttestationError('AUDIT_LOG_INVALID', `the repair journal ${journal} holds a note that is not a valid reason`, {
        cause,
      });
    }
  }
  return notes;
}

function writeJournal(journal: string, notes: readonly string[]): void {
  const fd = openSync(journal, 'w', 0o600);
  try {
    writeSync(fd, `${notes.join('\n')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  syncDir(dirname(journal));
}

/** Creates the log with its header, atomically, and syncs the folder. */
function createLog(path: string): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, AUDIT_FILE_HEADER);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    syncDir(dir);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw writeFailed(`cannot create the audit log ${path}`, e);
  }
}

/** An open, locked audit log; see the module doc. */
export class AuditLog {
  private fd: number | undefined;
  private failed = false;

  private constructor(
    /** The log's path. */
    readonly path: string,
    private readonly signer: AuditSigner,
    private readonly clock: () => number,
    private readonly maxWriteBytes: number,
    private readonly unlock: () => void,
    fd: number,
    private size: number,
    private nextSeq: number,
    private prev: Uint8Array,
  ) {
    this.fd = fd;
  }

  /**
   * Opens (creating if needed) and locks an audit log, ready to append.
   * @throws {@link AttestationError} `AUDIT_LOCKED`; `AUDIT_LOG_TORN` (a torn tail, without
   *   `repair`); `AUDIT_LOG_INVALID` (not an audit log, or it fails verification);
   *   `AUDIT_WRITE_FAILED` (cannot create, read, truncate or sync); `AUDIT_FIELD_REFUSED` (a bad role)
   * @example
   * const log = await AuditLog.open('audit.log', { signer, clock: Date.now });
   * log.append({ op: 'key.enroll', handle, decision: 'allowed' });
   * log.close();
   */
  static async open(path: string, options: AuditLogOptions): Promise<AuditLog> {
    const { signer, clock } = options;
    checkAuditRole(signer.role);
    if (typeof clock !== 'function') throw new TypeError('clock must be a function returning milliseconds');
    const maxWriteBytes = options.maxWriteBytes ?? Number.POSITIVE_INFINITY;
    if (!(maxWriteBytes >= 1)) throw new RangeError('maxWriteBytes must be at least 1');
    const unlock = await acquireLock(path, options.lockTimeoutMs ?? 5000);
    let fd: number | undefined;
    try {
      if (!existsSync(path)) {
        if (options.create === false) throw new AttestationError('AUDIT_LOG_INVALID', `${path} does not exist`);
        createLog(path);
      }
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(readFileSync(path));
      } catch (e) {
        throw writeFailed(`cannot read the audit log ${path}`, e);
      }
      const report = verifyAuditLog(bytes);
      const journal = `${path}.repair`;
      const pending = readJournal(journal);
      let repairNote: string | undefined;
      if (report.problem) {
        const p = report.problem;
        if (p.kind !== 'torn-tail') {
          throw new AttestationError(
            'AUDIT_LOG_INVALID',
            `${path} fails verification (${p.kind} at record ${p.index}): ${p.message}`,
          );
        }
        if (!options.repair) {
          throw new AttestationError(
            'AUDIT_LOG_TORN',
            `${path} has a torn last record (${bytes.length - report.end} bytes at offset ${report.end}); open it with repair to truncate it`,
          );
        }
        repairNote = `torn tail of ${grouped(bytes.length - report.end)} bytes removed at offset ${grouped(report.end)}`;
      }
      try {
        fd = openSync(path, 'a');
        if (repairNote !== undefined) {
          pending.push(repairNote);
          writeJournal(journal, pending); // the repair is recorded even if we die right after truncating
          ftruncateSync(fd, report.end);
          fsyncSync(fd);
        }
      } catch (e) {
        throw writeFailed(`cannot open the audit log ${path} for appending`, e);
      }
      const head = report.head;
      const log = new AuditLog(
        path,
        signer,
        clock,
        maxWriteBytes,
        unlock,
        fd,
        report.end,
        head ? head.seq + 1 : 0,
        head ? head.hash : AUDIT_GENESIS_PREV,
      );
      if (pending.length > 0) {
        for (const reason of pending) log.append({ op: 'audit.repair', decision: 'allowed', reason });
        try {
          rmSync(journal, { force: true });
          syncDir(dirname(path));
        } catch (e) {
          throw writeFailed(`cannot remove the repair journal ${journal}`, e);
        }
      }
      return log;
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      unlock();
      throw e;
    }
  }

  /** The next record's sequence number (the number of records in the log). */
  get length(): number {
    return this.nextSeq;
  }

  /** SHA-256 of the last record (32 zero bytes for an empty log), as hex. */
  get headHash(): string {
    return toHex(this.prev);
  }

  /**
   * Signs and appends one record, then syncs the file.
   * @returns the record written
   * @throws {@link AttestationError} `AUDIT_FIELD_REFUSED` (a field breaks its rule; nothing is
   *   written); `AUDIT_WRITE_FAILED` (the write or sync failed; the log refuses further appends)
   * @throws {Error} if the log is closed
   */
  append(entry: AuditEntry): AppendedAuditRecord {
    if (this.fd === undefined) throw new Error('the audit log is closed');
    if (this.failed) throw new AttestationError('AUDIT_WRITE_FAILED', `${this.path}: an earlier append failed; reopen the log`);
    if (entry.decision !== 'allowed' && entry.decision !== 'refused') {
      throw new AttestationError('AUDIT_FIELD_REFUSED', "audit decision: must be 'allowed' or 'refused'");
    }
    const time = this.clock();
    if (!Number.isSafeInteger(time) || time < 0) {
      throw new AttestationError('AUDIT_FIELD_REFUSED', 'audit time: the clock must give whole milliseconds ≥ 0');
    }
    const record: AuditRecord = {
      seq: this.nextSeq,
      time,
      role: this.signer.role,
      actor: auditKeyId(this.signer.publicKey),
      op: entry.op,
      ...(entry.handle === undefined ? {} : { handle: entry.handle }),
      decision: entry.decision,
      ...(entry.reason === undefined ? {} : { reason: entry.reason }),
      prev: this.prev,
    };
    const bytes = signAuditRecord(record, this.signer);
    const frame = encodeAuditFrame(bytes);
    try {
      for (let off = 0; off < frame.length; ) {
        const n = Math.min(frame.length - off, this.maxWriteBytes);
        off += writeSync(this.fd, frame, off, n);
      }
      fsyncSync(this.fd);
    } catch (e) {
      this.failed = true;
      try {
        ftruncateSync(this.fd, this.size);
        fsyncSync(this.fd);
      } catch {
        // the torn tail stays; open reports it
      }
      throw writeFailed(`cannot append to the audit log ${this.path}`, e);
    }
    this.size += frame.length;
    this.nextSeq++;
    const hash = auditRecordHash(bytes);
    this.prev = hash;
    return { record, bytes, hash };
  }

  /** Closes the file and releases the lock. Idempotent. */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    this.unlock();
  }
}
