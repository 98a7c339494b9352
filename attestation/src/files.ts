/**
 * Atomic file replacement: the data goes to a fresh temporary file beside the target (created
 * exclusively), is fsync'd and renamed over the target, optionally followed by an fsync of the
 * folder — a reader sees the old file or the new one, never half of one. One implementation for
 * the verifier state, the account registry, the station manifest and the CLI's output files.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { toHex } from '@enigm/protocols/bytes';

/** Options of {@link writeFileAtomicSync}. */
export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o644). */
  readonly mode?: number;
  /** Also fsync the folder after the rename, so the rename itself survives a power cut (default false). */
  readonly syncDir?: boolean;
}

/**
 * Replaces `path` with `data` atomically. On failure the temporary file is removed and the fs
 * error is thrown as it is (callers wrap it in their own typed error).
 * @example writeFileAtomicSync('state.json', text, { mode: 0o600 });
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${toHex(randomBytes(4))}`);
  try {
    const fd = openSync(tmp, 'wx', options.mode ?? 0o644);
    try {
      if (typeof data === 'string') writeSync(fd, data);
      else writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  if (options.syncDir) {
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
}
