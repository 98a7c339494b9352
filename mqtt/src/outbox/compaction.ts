/**
 * Compaction: rewriting the log with only the live entries.
 *
 * **Compaction.** When the dead bytes in the file (acked, dropped, and their `ack`/`drop`
 * entries) exceed the live ones and `compactMinBytes`, the live entries are written to a new
 * temporary file beside the log (after a `base` entry that carries the next seq, so seqs never go
 * back), which is synced, renamed over the log, and the folder synced. A crash at any point leaves
 * the old log or the new one; a leftover temporary file is removed at the next open.
 *
 * The `Outbox` decides when ({@link compactionDue}) and runs {@link writeCompactedLog} only when
 * no write is queued or in flight, then reopens the log for appending.
 * @module
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { encodeOutboxEntry, type OutboxEntry } from './format.ts';

/** Entries are written to the temporary file in chunks of about this many bytes. */
const CHUNK_BYTES = 1024 * 1024;

/**
 * The parts as one buffer (the part itself when there is only one).
 * @example concatParts([a, b]).length === a.length + b.length
 */
export function concatParts(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  return Buffer.concat(parts);
}

/**
 * Syncs a folder so a name created or renamed in it survives a power cut. Best effort: some file
 * systems cannot fsync a folder (a rename is still atomic there), so it never throws.
 * @example syncDir(dirname(path));
 */
export function syncDir(dir: string): void {
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

/**
 * The temporary file a compaction of the log at `path` writes before its rename: one fixed name
 * beside it (the outbox is locked, so there is one compaction at a time).
 * @example compactTempPath('state/outbox.log') === 'state/.outbox.log.compact-tmp'
 */
export function compactTempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.compact-tmp`);
}

/**
 * Whether the dead bytes call for a compaction: more than the live ones and more than `minBytes`.
 * @param fileBytes - the log's length
 * @param liveBytes - the length of the live entries' `put` entries
 * @example if (compactionDue(stats.fileBytes, live, opts.compactMinBytes)) compact();
 */
export function compactionDue(fileBytes: number, liveBytes: number, minBytes: number): boolean {
  const dead = fileBytes - liveBytes;
  return dead > liveBytes && dead > minBytes;
}

/**
 * Writes a `base` entry carrying `nextSeq` and a `put` entry per live entry to the temporary file,
 * syncs it, renames it over the log at `path` and syncs the folder. On failure the temporary file
 * is removed and the old log is intact.
 * @returns the new log's length
 * @throws the file system's error (the caller wraps it)
 * @example const size = writeCompactedLog(path, outbox.upcomingSeq, entries);
 */
export function writeCompactedLog(path: string, nextSeq: number, entries: Iterable<OutboxEntry>): number {
  const tmp = compactTempPath(path);
  let size = 0;
  try {
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      const parts: Uint8Array[] = [encodeOutboxEntry({ kind: 'base', nextSeq })];
      let pendingBytes = parts[0]?.length ?? 0;
      const flush = () => {
        const buf = concatParts(parts);
        for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
        size += buf.length;
        parts.length = 0;
        pendingBytes = 0;
      };
      for (const entry of entries) {
        const f = encodeOutboxEntry({ kind: 'put', entry });
        parts.push(f);
        pendingBytes += f.length;
        if (pendingBytes >= CHUNK_BYTES) flush();
      }
      flush();
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  syncDir(dirname(path));
  return size;
}
