/**
 * Opening the log file and recovering what it holds.
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
 * {@link recoverOutboxLog} does the file work (leftover removal, open, scan, quarantine,
 * truncation); the `Outbox` replays the entries it returns and compacts after a quarantine.
 * @module
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { compactTempPath, syncDir } from './compaction.ts';
import { outboxIoError as io } from './errors.ts';
import { type BadRegion, type ScannedEntry, scanOutboxLog } from './format.ts';

/** What `Outbox.open` found in the file. */
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

/** The log file as {@link recoverOutboxLog} left it. */
export interface RecoveredLog {
  /** The log, open for appending; the caller owns it. */
  readonly fd: number;
  /** The log's length after the torn tail was truncated. */
  readonly end: number;
  /** The valid entries, in file order, to replay. */
  readonly entries: readonly ScannedEntry[];
  /** The seq the next append gets: past every `put` and every `base` entry's next seq. */
  readonly nextSeq: number;
  /** What was found (`recovered` is 0: the caller counts what replaying leaves pending). */
  readonly report: OutboxReport;
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

/**
 * Opens (creating if missing) the log at `path` — whose lock the caller holds — and repairs it:
 * removes a leftover compaction file, quarantines damaged regions, truncates a torn tail.
 * Never throws on the file's content. On a throw the file is closed.
 * @throws {@link OutboxError} `OUTBOX_IO` (cannot create, read, truncate, quarantine or sync)
 * @example const { fd, entries, nextSeq, report } = recoverOutboxLog('state/outbox.log');
 */
export function recoverOutboxLog(path: string): RecoveredLog {
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
    for (const s of scan.entries) {
      if (s.record.kind === 'base') nextSeq = Math.max(nextSeq, s.record.nextSeq);
      else if (s.record.kind === 'put') nextSeq = Math.max(nextSeq, s.record.entry.seq + 1);
    }
    const report: OutboxReport = {
      recovered: 0,
      quarantined: scan.bad.length,
      quarantinedBytes: scan.bad.reduce((a, r) => a + r.length, 0),
      tornTailBytes,
    };
    return { fd, end: scan.end, entries: scan.entries, nextSeq, report };
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    throw e;
  }
}
