/**
 * Bounded reads under an injectable root folder (default `/`), shared by the plain-Linux
 * collectors: tests point the root at a fixture tree. Failures come back as values with a human
 * reason that never holds a path (the root of a test tree or of the machine must not leak into a
 * report).
 * @module
 */
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Where the plain-Linux collectors read from. */
export interface LinuxSourceOptions {
  /** Root folder the fixed paths (`/sys/…`, `/proc/…`, `/etc/…`, `/dev/…`) are read under (default `/`). */
  root?: string;
}

/** A read result: the bytes, or why not (`missing`: the file does not exist). */
export type ReadResult = { ok: true; bytes: Buffer } | { ok: false; missing: boolean; reason: string };

/** Largest file a collector reads. */
export const MAX_SOURCE_BYTES = 64 * 1024;

/** Human reason for a file-system error code (no path). */
export function fsReason(err: unknown): { missing: boolean; reason: string } {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return { missing: true, reason: 'not present' };
    case 'EACCES':
    case 'EPERM':
      return { missing: false, reason: 'not readable by the agent' };
    case 'EISDIR':
      return { missing: false, reason: 'not a file' };
    case 'EIO':
    case 'ENXIO':
    case 'ENODEV':
    case 'EINVAL':
    case 'EOPNOTSUPP':
      return { missing: false, reason: 'the kernel refused the read' };
    default:
      return { missing: false, reason: 'unreadable' };
  }
}

/** The absolute path of `rel` (an absolute Linux path such as `/proc/mounts`) under the root. */
export function under(opts: LinuxSourceOptions, rel: string): string {
  return join(opts.root ?? '/', rel);
}

/** Reads at most `max` bytes of a file; a longer file is refused (`too large`). */
export async function readBounded(opts: LinuxSourceOptions, rel: string, max = MAX_SOURCE_BYTES): Promise<ReadResult> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(under(opts, rel), 'r');
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > max) return { ok: false, missing: false, reason: 'too large' };
    }
    return { ok: true, bytes: buf.subarray(0, n) };
  } catch (err) {
    return { ok: false, ...fsReason(err) };
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Reads a small text file, trimmed. */
export async function readText(
  opts: LinuxSourceOptions,
  rel: string,
  max = MAX_SOURCE_BYTES,
): Promise<{ ok: true; text: string } | { ok: false; missing: boolean; reason: string }> {
  const r = await readBounded(opts, rel, max);
  return r.ok ? { ok: true, text: r.bytes.toString('utf8').trim() } : r;
}

/** Whether a path exists (without following a final symlink); `null` when that cannot be told. */
export async function exists(opts: LinuxSourceOptions, rel: string): Promise<boolean | null> {
  try {
    await lstat(under(opts, rel));
    return true;
  } catch (err) {
    return fsReason(err).missing ? false : null;
  }
}

/** Entries of a folder (at most `max`), or null when it cannot be listed. */
export async function list(opts: LinuxSourceOptions, rel: string, max = 4096): Promise<string[] | null> {
  try {
    const names = await readdir(under(opts, rel));
    return names.slice(0, max).sort();
  } catch {
    return null;
  }
}
