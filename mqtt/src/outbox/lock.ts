/**
 * The outbox's exclusive lock: one `Outbox` per file, within the process (a set of open paths,
 * by the folder's real path) and across processes (`<path>.lock`, created exclusively and holding
 * the owner's PID and, on Linux, its start time from `/proc/<pid>/stat`). A lock whose PID is not
 * alive — or is alive but started at another time (the PID was reused, e.g. a container restarted
 * after a kill -9 and got the same PID), or is this process's own PID while this process does not
 * hold it — was left by a process that died and is taken over; so is a lock still without a PID
 * after {@link EMPTY_LOCK_STALE_MS} (its owner died between creating and writing it). The same idea as `acquirePidLock` in `@enigm/attestation`, which this package may
 * not import.
 * @module
 */
import { closeSync, openSync, readFileSync, realpathSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { OutboxError } from './errors.ts';

/** A lock without a PID is stale after this many ms. */
export const EMPTY_LOCK_STALE_MS = 2000;

/** Resolved paths of the outboxes open in this process. */
const OPEN_HERE = new Set<string>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The start time of process `pid` in clock ticks since boot (Linux), or undefined. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the lock's holder (`pid`, optional `start`) is a process still running. */
function holderAlive(pid: number, start: string | undefined): boolean {
  if (pid === process.pid) return false; // not in OPEN_HERE: a leftover of an earlier process with our PID
  if (!pidAlive(pid)) return false;
  if (start === undefined) return true;
  const now = startTime(pid);
  return now === undefined || now === start;
}

function errnoText(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

/**
 * Takes the lock of the outbox at `path`, waiting up to `timeoutMs` for a live other process.
 * @returns the release function (idempotent)
 * @throws {@link OutboxError} `OUTBOX_LOCKED` (open in this process, or a live process holds it
 *   past the timeout); `OUTBOX_IO` (the lock file cannot be created, e.g. no such folder)
 * @example const release = await lockOutbox('outbox.log', 0);
 */
export async function lockOutbox(path: string, timeoutMs: number): Promise<() => void> {
  let key: string;
  try {
    key = join(realpathSync(dirname(path)), basename(path));
  } catch {
    key = resolve(path);
  }
  if (OPEN_HERE.has(key)) throw new OutboxError('OUTBOX_LOCKED', `${path} is already open in this process`);
  OPEN_HERE.add(key);
  const lockPath = `${path}.lock`;
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        const fd = openSync(lockPath, 'wx', 0o600);
        try {
          const start = startTime(process.pid);
          writeSync(fd, `${process.pid}${start === undefined ? '' : ` ${start}`}\n`);
        } finally {
          closeSync(fd);
        }
        let released = false;
        return () => {
          if (released) return;
          released = true;
          rmSync(lockPath, { force: true });
          OPEN_HERE.delete(key);
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new OutboxError('OUTBOX_IO', `cannot create the lock ${lockPath}: ${errnoText(e)}`, { cause: e });
        }
      }
      let text: string;
      try {
        text = readFileSync(lockPath, 'utf8');
      } catch {
        continue; // released meanwhile
      }
      const [pidText = '', start] = text.trim().split(/\s+/);
      const holder = Number(pidText);
      let stale: boolean;
      if (pidText !== '' && Number.isSafeInteger(holder) && holder > 0) stale = !holderAlive(holder, start);
      else {
        let age = 0;
        try {
          age = Date.now() - statSync(lockPath).mtimeMs;
        } catch {
          continue;
        }
        stale = age > EMPTY_LOCK_STALE_MS;
      }
      if (stale) {
        rmSync(lockPath, { force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        throw new OutboxError(
          'OUTBOX_LOCKED',
          `${lockPath} is held by ${holder > 0 ? `process ${holder}` : 'a process starting up'}; is another outbox user running?`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (e) {
    OPEN_HERE.delete(key);
    throw e;
  }
}
