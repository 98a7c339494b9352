/**
 * PID lock files: `<something>.lock` created exclusively (`wx`) and holding the owner's PID, so two
 * processes never change the same file at once. A lock whose PID is no longer alive was left by a
 * process that died (kill -9) and is stale. One implementation for the verifier state, the audit
 * log, the revocation-list CLI and the account registry; callers raise their own typed errors.
 * @module
 */
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';

/** A lock without a PID (its owner died between creating and writing it) is stale after this. */
export const EMPTY_LOCK_STALE_MS = 2000;

/**
 * Whether process `pid` is alive (`EPERM`: alive, owned by another user).
 * @example pidAlive(process.pid) === true
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Creates `lockPath` exclusively with this PID (plus `suffix`); throws the fs error as it is. */
function create(lockPath: string, mode: number, suffix: string): () => void {
  const fd = openSync(lockPath, 'wx', mode);
  try {
    writeSync(fd, `${process.pid}${suffix}`);
  } finally {
    closeSync(fd);
  }
  return () => rmSync(lockPath, { force: true });
}

/** How {@link acquirePidLock} fails: each caller names its own error. */
export interface PidLockErrors {
  /** The lock could not be created for another reason than "it exists" (e.g. no folder). */
  createFailed(e: NodeJS.ErrnoException): Error;
  /** A live process (or one still writing its PID) held the lock past the timeout. */
  held(holder: number): Error;
}

/**
 * Takes `lockPath`, waiting up to `timeoutMs` for a live holder; a stale lock (dead PID, or no
 * PID after {@link EMPTY_LOCK_STALE_MS}) is removed and taken over.
 * @returns the release function (removes the lock)
 * @throws what `errors.createFailed` / `errors.held` return
 * @example const release = await acquirePidLock('state.json.lock', 5000, errors);
 */
export async function acquirePidLock(lockPath: string, timeoutMs: number, errors: PidLockErrors): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return create(lockPath, 0o600, '');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw errors.createFailed(e as NodeJS.ErrnoException);
    }
    let text = '';
    try {
      text = readFileSync(lockPath, 'utf8');
    } catch {
      continue; // released meanwhile
    }
    const holder = Number(text);
    let stale: boolean;
    if (Number.isInteger(holder) && holder > 0) stale = holder !== process.pid && !pidAlive(holder);
    else {
      let age = 0;
      try {
        age = Date.now() - statSync(lockPath).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      stale = age > EMPTY_LOCK_STALE_MS;
    }
    if (stale) {
      rmSync(lockPath, { force: true }); // its owner died (before or after writing its PID)
      continue;
    }
    if (Date.now() >= deadline) throw errors.held(holder);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Takes `lockPath` at once or not at all (no waiting): a lock left by a dead PID is taken over
 * once; a live holder, or a lock without a readable PID, is reported.
 * @returns `{ release }`, or `{ holder }` (NaN when the lock holds no PID) when it is held
 * @throws the fs error when the lock cannot be created for another reason
 * @example const l = tryPidLockSync('list.cbor.lock', 0o644); if ('holder' in l) refuse(l.holder);
 */
export function tryPidLockSync(lockPath: string, mode: number): { release: () => void } | { holder: number } {
  for (let attempt = 0; ; attempt++) {
    try {
      return { release: create(lockPath, mode, '\n') };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = Number.NaN;
    try {
      holder = Number(readFileSync(lockPath, 'utf8').trim());
    } catch {}
    const dead = Number.isSafeInteger(holder) && holder > 0 && !pidAlive(holder);
    if (!dead || attempt > 0) return { holder };
    rmSync(lockPath, { force: true }); // left by a process that no longer runs
  }
}
