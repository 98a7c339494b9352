/**
 * Linked pseudo-terminal pairs for the Key simulator, made with `socat`.
 *
 * `socat -d -d pty,raw,echo=0[,link=A] pty,raw,echo=0[,link=B]` creates two pseudo-terminals and
 * copies bytes between them. The host tools open one end (`hostPath`) exactly as they open a real
 * Key on `/dev/ttyACM0`; the simulator opens the other (`devicePath`) with `@serialport/stream`.
 * Nothing here fakes a serial port: both sides go through the kernel tty layer and the real
 * serialport binding.
 *
 * Behaviour observed with socat 1.7.4 on Linux (and checked by `sim/test/pty.test.ts`):
 *
 * - socat keeps its own descriptor of each pty slave open for its whole life, so closing one side
 *   never hangs up the pty master and socat never sees end-of-file. The host may therefore open
 *   the port, close it and open it again (`enigm key info` run twice) while the simulated Key stays
 *   up; the device side may also close and reopen. Neither side notices the other closing.
 * - Bytes written towards a side that nobody has open wait in the kernel tty buffer; the
 *   serialport binding flushes pending input when it opens a port, so a host that opens later
 *   does not see them.
 * - When socat exits (see {@link PtyPair.close}) both pty masters close: the slaves hang up,
 *   reads return end-of-file and writes fail with `EIO`. That is how a host notices the simulated
 *   Key "unplugged".
 * - On SIGTERM socat removes its `link=` symlinks; {@link PtyPair.close} removes any left behind
 *   after a SIGKILL.
 * - `wait-slave` is deliberately not used: it blocks socat until the other side opens.
 *
 * socat dies with the process that started it, however that process ends (SIGKILL included),
 * without `prctl`: socat is started through `sh`, which holds a pipe whose other end only this
 * process has (`stdin` of the child). A watchdog subshell blocks reading that pipe; when this
 * process dies the kernel closes its end, the read returns end-of-file and the watchdog sends
 * socat SIGTERM (socat then removes its links). `sh` `exec`s socat, so the child's pid is
 * socat's. On a normal exit the `'exit'` hook also SIGKILLs every tracked socat synchronously.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, lstatSync, readlinkSync, unlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { delimiter, join } from 'node:path';

/** A linked pair of pseudo-terminals kept alive by one socat process. */
export interface PtyPair {
  /** Path the host opens (a stable symlink if `linkDir` was given, else `/dev/pts/N`). */
  hostPath: string;
  /** Path the simulated device opens (`${linkDir}/${name}.dev` if `linkDir` was given, else `/dev/pts/N`). */
  devicePath: string;
  /** Process id of the socat process that links the two pseudo-terminals. */
  pid: number;
  /**
   * Stops socat (SIGTERM, then SIGKILL after 1 s), waits for it to exit and removes leftover
   * symlinks. Both pseudo-terminals hang up: open ports see end-of-file / `EIO`. Idempotent;
   * concurrent calls share one promise.
   * @throws never: the promise always resolves.
   */
  close(): Promise<void>;
}

/** Options of {@link createPtyPair}. */
export interface PtyPairOptions {
  /**
   * Directory for stable symlinks: `${linkDir}/${name}` (host side) and `${linkDir}/${name}.dev`
   * (device side). It must exist. socat replaces whatever file is at those paths, so each live pair
   * needs its own name. Without `linkDir` the paths are the `/dev/pts/N` names socat reports.
   */
  linkDir?: string;
  /** Base name of the symlinks in `linkDir`; default `enigm-key`. Ignored without `linkDir`. */
  name?: string;
  /** How long to wait for socat to create both pseudo-terminals; default 5000 ms. */
  timeoutMs?: number;
  /** The socat executable; default `socat` looked up on `PATH`. */
  socatPath?: string;
}

/** What {@link socatAvailability} found. */
export interface SocatAvailability {
  /** Whether the socat executable was found. */
  available: boolean;
  /** Whether pty-based tests must run (and so fail rather than skip without socat): `CI=true`. */
  required: boolean;
  /** A human explanation, with the install hint when socat is missing. */
  message: string;
}

const DEFAULT_TIMEOUT_MS = 5000;
const KILL_GRACE_MS = 1000;
const POLL_MS = 10;
const STDERR_KEEP = 16 * 1024;
/** Characters that are safe inside a socat address option value (no `,` `:` `!` quotes or spaces). */
const SAFE_PATH = /^[A-Za-z0-9._/+@~-]+$/;

/**
 * `sh -c` script: `$0` is socat, `"$@"` its arguments. The background subshell reads the pipe
 * (explicit fd 3, since an asynchronous list's stdin is /dev/null) until end-of-file, i.e. until
 * every process holding its write end (only the Node process) is gone, then ends socat (`$$` is
 * the shell, which `exec` turned into socat).
 */
const WATCHDOG = 'exec 3<&0; (read x <&3; kill -TERM $$ 2>/dev/null) & exec "$0" "$@" 3<&-';

const liveSocats = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveSocats) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    liveSocats.clear();
  });
}

/**
 * Whether a socat executable can be found (an absolute/relative path is checked directly, a bare
 * name is searched on `PATH`). Synchronous and cheap: no process is started.
 * @param socatPath - the executable to look for; default `socat`
 * @returns true if the file exists and is executable
 * @throws never
 */
export function hasSocat(socatPath = 'socat'): boolean {
  const candidates = socatPath.includes('/')
    ? [socatPath]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter((dir) => dir !== '')
        .map((dir) => join(dir, socatPath));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return true;
    } catch {
      // keep looking
    }
  }
  return false;
}

/**
 * Decides what pty-based tests (and the simulator CLI) should do about socat: run when it is
 * available; otherwise fail when `CI=true` (socat is required there) and skip elsewhere.
 * @param env - environment to read `CI` from; default `process.env`
 * @param socatPath - the executable to look for; default `socat`
 * @returns availability, whether it is required, and a message explaining the outcome
 * @throws never
 */
export function socatAvailability(env: NodeJS.ProcessEnv = process.env, socatPath = 'socat'): SocatAvailability {
  const available = hasSocat(socatPath);
  const required = env.CI === 'true';
  const message = available
    ? `socat found (${socatPath})`
    : required
      ? `socat (${socatPath}) is not installed but CI=true requires the real pseudo-terminal tests; install it (apt-get install socat)`
      : `socat (${socatPath}) is not installed: pseudo-terminal tests skipped; install it (apt-get install socat) to run them`;
  return { available, required, message };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function pathExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Removes `link` if it is still a symlink to `target` (socat leaves links behind on SIGKILL). */
function removeStaleLink(link: string, target: string | undefined): void {
  try {
    const st = lstatSync(link);
    if (!st.isSymbolicLink()) return;
    if (target !== undefined && readlinkSync(link) !== target) return;
    unlinkSync(link);
  } catch {
    // gone already
  }
}

/**
 * Creates a linked pair of pseudo-terminals with socat and waits until both exist and socat has
 * entered its transfer loop.
 *
 * The pair survives either side closing and reopening (see the module documentation); it ends
 * only with {@link PtyPair.close} or when the Node process exits.
 *
 * @param options - optional link directory/name, timeout and socat executable
 * @returns the pair: host path, device path, socat pid and `close()`
 * @throws Error if `linkDir`/`name` hold characters socat addresses cannot carry, if socat cannot
 *   be started (e.g. not installed), exits early, or does not create both pseudo-terminals within
 *   `timeoutMs`; the message includes socat's stderr.
 */
export async function createPtyPair(options: PtyPairOptions = {}): Promise<PtyPair> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const socatPath = options.socatPath ?? 'socat';
  let hostLink: string | undefined;
  let deviceLink: string | undefined;
  if (options.linkDir !== undefined) {
    const name = options.name ?? 'enigm-key';
    if (name === '' || name.includes('/') || !SAFE_PATH.test(name)) {
      throw new Error(`createPtyPair: invalid link name ${JSON.stringify(name)} (use letters, digits, . _ - + @ ~)`);
    }
    if (!SAFE_PATH.test(options.linkDir)) {
      throw new Error(
        `createPtyPair: link directory ${JSON.stringify(options.linkDir)} holds characters socat addresses cannot carry (allowed: letters, digits, / . _ - + @ ~)`,
      );
    }
    hostLink = join(options.linkDir, name);
    deviceLink = `${hostLink}.dev`;
  }
  const address = (link: string | undefined): string => `pty,raw,echo=0${link === undefined ? '' : `,link=${link}`}`;

  if (!hasSocat(socatPath)) throw new Error(`createPtyPair: socat not found (${socatPath}); install it (apt-get install socat)`);
  installExitHook();
  // sh keeps fd 3 = the read end of our stdin pipe for the watchdog, then becomes socat (same pid).
  const child = spawn('/bin/sh', ['-c', WATCHDOG, socatPath, '-d', '-d', address(hostLink), address(deviceLink)], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  child.stdin?.on('error', () => {}); // never written; EPIPE once socat is gone
  liveSocats.add(child);

  let stderr = '';
  let ptys: string[] = [];
  let looping = false;
  let spawnError: Error | undefined;
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      liveSocats.delete(child);
      resolve();
    });
    child.once('error', (error) => {
      spawnError = error;
      // 'exit' may not follow a spawn failure
      exited = true;
      liveSocats.delete(child);
      resolve();
    });
  });
  // 'close' follows 'exit' once stderr is drained: wait for it before quoting stderr in an error.
  const drained = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', () => resolve());
  });
  const quoteAfterDrain = async (): Promise<void> => {
    await Promise.race([drained, delay(500)]);
  };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_KEEP);
    if (!looping) {
      // socat reports "N PTY is /dev/pts/3" once per address, in address order (host first).
      ptys = [...stderr.matchAll(/PTY is (\S+)\r?\n/g)].map((match) => match[1] ?? '');
      looping = stderr.includes('starting data transfer loop');
    }
  });

  const describe = (): string => {
    const text = stderr.trim();
    return text === '' ? '(socat wrote nothing on stderr)' : `socat stderr:\n${text}`;
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError !== undefined) {
      const code = (spawnError as NodeJS.ErrnoException).code;
      throw new Error(
        code === 'ENOENT'
          ? `createPtyPair: socat not found (${socatPath}); install it (apt-get install socat)`
          : `createPtyPair: cannot start socat (${socatPath}): ${spawnError.message}`,
        { cause: spawnError },
      );
    }
    if (exited) {
      await quoteAfterDrain();
      throw new Error(
        `createPtyPair: socat exited (code ${String(child.exitCode)}, signal ${String(child.signalCode)}) before linking the pseudo-terminals; ${describe()}`,
      );
    }
    const hostPath = hostLink ?? ptys[0];
    const devicePath = deviceLink ?? ptys[1];
    if (
      looping &&
      ptys.length >= 2 &&
      hostPath !== undefined &&
      devicePath !== undefined &&
      pathExists(hostPath) &&
      pathExists(devicePath)
    ) {
      break;
    }
    if (Date.now() >= deadline) {
      child.kill('SIGKILL');
      await exitPromise;
      await quoteAfterDrain();
      if (hostLink !== undefined) removeStaleLink(hostLink, ptys[0]);
      if (deviceLink !== undefined) removeStaleLink(deviceLink, ptys[1]);
      throw new Error(`createPtyPair: socat did not create both pseudo-terminals within ${timeoutMs} ms; ${describe()}`);
    }
    await delay(POLL_MS);
  }

  // From here on socat alone must not keep the event loop alive; close() re-references it.
  child.unref();
  (child.stderr as Socket | null)?.unref();
  (child.stdin as Socket | null)?.unref();

  const hostPts = ptys[0];
  const devicePts = ptys[1];
  let closing: Promise<void> | undefined;
  const pair: PtyPair = {
    hostPath: hostLink ?? (hostPts as string),
    devicePath: deviceLink ?? (devicePts as string),
    pid: child.pid as number,
    close(): Promise<void> {
      closing ??= (async () => {
        if (!exited) {
          child.ref();
          (child.stderr as Socket | null)?.ref();
          child.kill('SIGTERM');
          child.stdin?.destroy(); // the watchdog sees end-of-file and exits too
          const timer = setTimeout(() => {
            if (!exited) child.kill('SIGKILL');
          }, KILL_GRACE_MS);
          await exitPromise;
          clearTimeout(timer);
        }
        child.stderr?.destroy();
        child.stdin?.destroy();
        if (hostLink !== undefined) removeStaleLink(hostLink, hostPts);
        if (deviceLink !== undefined) removeStaleLink(deviceLink, devicePts);
      })();
      return closing;
    },
  };
  return pair;
}

/**
 * Process ids of the socat processes this module started and that have not exited yet; used by
 * tests and diagnostics to check that no pair leaks.
 * @returns the pids, in start order
 * @throws never
 */
export function trackedSocatPids(): number[] {
  return [...liveSocats].map((child) => child.pid).filter((pid): pid is number => pid !== undefined);
}
