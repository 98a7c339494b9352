/**
 * Test helper for the BLE CLI tests (`cli-ble`, `cli-ble-faults`): runs the bundled `enigm` in a
 * child process, and starts `enigm sim start --ble …` as its own process (the virtual adapter a
 * second CLI process reaches through `ENIGM_BLE_ADAPTER=sim:DIR/st`). Not a test file itself.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { CommandRun } from './run-command.ts';

const exec = promisify(execFile);

/**
 * Runs the bundled CLI `cli` with `args` in `work` and returns its exit code and output (a
 * non-zero exit is a result, not an error). The process is killed after `timeoutMs`.
 * @example const r = await runBundled(bundle.cli, work, env, ['key', 'pair', '--port', 'ble:Enigm-K0']);
 */
export async function runBundled(
  cli: string,
  work: string,
  env: NodeJS.ProcessEnv,
  args: readonly string[],
  timeoutMs = 60_000,
): Promise<CommandRun> {
  try {
    const r = await exec(process.execPath, [cli, ...args], { cwd: work, env, timeout: timeoutMs });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** What {@link startBleSimulator} resolves with. */
export interface BleSimulator {
  /** The simulator process (also pushed to the caller's `children`, for the teardown). */
  child: ChildProcess;
  /** Its `--json` ready line: each Key's `ble:NAME` port and the adapter's address. */
  ready: { keys: { ble?: string }[]; bleAdapter?: string };
  /** Its stderr lines so far (the log). */
  log: string[];
  /** Resolves once its stderr has ended (after it stopped). */
  logEnded: Promise<void>;
}

/**
 * Starts `enigm sim start --ble EXTRA… --no-serial --no-control --no-mqtt --state-dir WORK/st
 * --json` from the bundled CLI `cli` and resolves with its ready line; rejects (with its log) if
 * it exits first. The child is pushed to `children` so the test's teardown stops it.
 */
export async function startBleSimulator(
  cli: string,
  work: string,
  env: NodeJS.ProcessEnv,
  extra: readonly string[],
  children: ChildProcess[],
): Promise<BleSimulator> {
  const args = ['sim', 'start', '--no-serial', '--no-control', '--no-mqtt', '--ble', ...extra];
  const child = spawn(process.execPath, [cli, ...args, '--state-dir', join(work, 'st'), '--json'], {
    cwd: work,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const log: string[] = [];
  const lines = createInterface({ input: child.stderr as NodeJS.ReadableStream });
  lines.on('line', (l) => log.push(l));
  const logEnded = new Promise<void>((r) => lines.once('close', () => r()));
  const ready = await new Promise<BleSimulator['ready']>((resolve, reject) => {
    const exited = (code: number | null) =>
      reject(new Error(`simulator exited (${code}) before it was ready: ${log.join('\n')}`));
    child.once('exit', exited);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (l) => {
      child.off('exit', exited);
      resolve(JSON.parse(l));
    });
  });
  return { child, ready, log, logEnded };
}
