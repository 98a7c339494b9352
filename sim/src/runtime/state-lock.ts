/**
 * One simulator per state folder: an exclusive lock file `<stateDir>/simulator.lock` holding the
 * owner's PID. It is created with `O_EXCL`, so of two simulators starting at once exactly one
 * wins. A lock whose PID is no longer alive (the owner was SIGKILLed) is stale and taken over;
 * a lock whose PID lives is refused with {@link StateLockedError}. The lock is removed only by
 * its owner, and only while it still names the owner's PID.
 * @module
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SimulatorError } from './errors.ts';

/** Name of the lock file inside the state folder. */
export const LOCK_FILE = 'simulator.lock';

/** Another live simulator owns the state folder. */
export class StateLockedError extends SimulatorError {
  override readonly name = 'StateLockedError';
  /**
   * @param stateDir - the folder
   * @param pid - the PID of the simulator that owns it
   */
  constructor(
    readonly stateDir: string,
    readonly pid: number,
  ) {
    super(
      'SIM_STATE_LOCKED',
      `state folder ${stateDir} is in use by another simulator (PID ${pid}); stop that one first or pass another --state-dir`,
    );
  }
}

/** A held state-folder lock. */
export interface StateLock {
  /** The lock file. */
  readonly path: string;
  /** Removes the lock file if it still names this process. Idempotent. @throws never */
  release(): void;
}

/**
 * Whether a process with `pid` exists (a process we may not signal exists too).
 * @throws never
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // A zombie (exited, not yet reaped) is not alive.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).charAt(0) !== 'Z';
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

function readPid(path: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock of `stateDir` (which must exist) for this process.
 * @returns the held lock
 * @throws {@link StateLockedError} if a live process holds it; Error on I/O failure
 */
export function acquireStateLock(stateDir: string): StateLock {
  const path = join(stateDir, LOCK_FILE);
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return {
        path,
        release: () => {
          if (readPid(path) === process.pid) rmSync(path, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = readPid(path);
    if (owner === process.pid) throw new StateLockedError(stateDir, owner); // a second simulator in this process
    if (owner !== undefined && isProcessAlive(owner)) throw new StateLockedError(stateDir, owner);
    if (owner === undefined) {
      // Being written right now by a starting owner, or left empty by a crash: look again shortly.
      const until = Date.now() + 50;
      while (Date.now() < until);
      if (readPid(path) !== undefined) continue;
    }
    // Stale: move it aside atomically (only one contender succeeds), then retry the exclusive create.
    const aside = `${path}.stale-${process.pid}`;
    try {
      renameSync(path, aside);
    } catch {
      continue; // another contender moved it first
    }
    const moved = readPid(aside);
    if (moved !== owner && moved !== undefined && isProcessAlive(moved)) {
      // A contender had already replaced the stale lock with its own: put it back, it wins.
      try {
        linkSync(aside, path);
      } catch {
        // a third one was quicker; its lock stands
      }
      rmSync(aside, { force: true });
      throw new StateLockedError(stateDir, moved);
    }
    rmSync(aside, { force: true });
  }
  const owner = readPid(path);
  throw new StateLockedError(stateDir, owner ?? 0);
}
