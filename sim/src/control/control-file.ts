/**
 * `<stateDir>/control.json`: where the running simulator's control API listens and its bearer
 * token (mode 0600: whoever can read it can drive the Keys). Written by the control server when
 * it starts, removed when it stops; read by the CLI's `enigm sim …` control commands.
 * @module
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlError } from './errors.ts';

/** Name of the control file inside the state folder. */
export const CONTROL_FILE = 'control.json';

/** Contents of `control.json`. */
export interface ControlFile {
  /** Process serving the API. */
  readonly pid: number;
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Bearer token. */
  readonly token: string;
  /** The dashboard's URL, token included. */
  readonly dashboard: string;
}

/**
 * Writes `control.json` atomically, mode 0600.
 * @throws the file system's error
 */
export function writeControlFile(stateDir: string, file: ControlFile): void {
  const path = join(stateDir, CONTROL_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Removes `control.json` if it is this process's. */
export function removeControlFile(stateDir: string): void {
  try {
    const current = JSON.parse(readFileSync(join(stateDir, CONTROL_FILE), 'utf8')) as { pid?: unknown };
    if (current.pid === process.pid) rmSync(join(stateDir, CONTROL_FILE), { force: true });
  } catch {
    // gone already, or not ours to judge
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Reads the control file of the simulator running in `stateDir`.
 * @throws {@link ControlError} `CONTROL_NOT_RUNNING` if there is none, it is unreadable or
 *   malformed, or its process is gone
 */
export function readControlFile(stateDir: string): ControlFile {
  const path = join(stateDir, CONTROL_FILE);
  const hint = `is 'enigm sim start --state-dir ${stateDir}' running (without --no-control)?`;
  let v: Partial<ControlFile>;
  try {
    v = JSON.parse(readFileSync(path, 'utf8')) as Partial<ControlFile>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ControlError(
      'CONTROL_NOT_RUNNING',
      code === 'ENOENT'
        ? `no control API found: ${JSON.stringify(path)} does not exist; ${hint}`
        : `cannot read ${JSON.stringify(path)}: ${code ?? 'not JSON'}`,
    );
  }
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof v.url !== 'string' ||
    typeof v.token !== 'string' ||
    typeof v.pid !== 'number' ||
    typeof v.port !== 'number'
  )
    throw new ControlError('CONTROL_NOT_RUNNING', `${JSON.stringify(path)} is malformed`);
  if (!alive(v.pid))
    throw new ControlError(
      'CONTROL_NOT_RUNNING',
      `the simulator that wrote ${JSON.stringify(path)} (pid ${v.pid}) is gone; ${hint}`,
    );
  return v as ControlFile;
}
