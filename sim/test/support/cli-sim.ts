/**
 * Runs `enigm sim start` (the real CLI, through tsx) as a child process for tests that need the
 * product's own process: state-folder locking, what a killed simulator leaves behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stopChild } from '../../src/child-stop.ts';

const enigm = fileURLToPath(new URL('../../../tools/src/enigm.ts', import.meta.url));

/** A `sim start` process. */
export interface CliSim {
  proc: ChildProcess;
  /** Resolves with the `ready` JSON line, or undefined if the process exited first. */
  ready: Promise<{ keys: { serial?: string; tcp?: string }[] } | undefined>;
  /** Resolves with the exit code (or the signal) when it exits. */
  exited: Promise<number | NodeJS.Signals>;
  stderr(): string;
  /** SIGTERM, then SIGKILL and a thrown error if it has not exited within 15 s. */
  stop(): Promise<number | NodeJS.Signals>;
}

/** Starts `enigm sim start --json ...args`. */
export function startCliSim(args: string[]): CliSim {
  const proc = spawn(process.execPath, ['--import=tsx', enigm, 'sim', 'start', '--json', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (t: string) => {
    err = (err + t).slice(-64 * 1024);
  });
  const exited = new Promise<number | NodeJS.Signals>((r) =>
    proc.once('exit', (code, signal) => r(code ?? (signal as NodeJS.Signals))),
  );
  const ready = new Promise<{ keys: { serial?: string; tcp?: string }[] } | undefined>((resolve) => {
    const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    lines.on('line', (l) => {
      try {
        const v = JSON.parse(l) as { event?: string; keys: { serial?: string; tcp?: string }[] };
        if (v.event === 'ready') resolve(v);
      } catch {
        // not JSON
      }
    });
    void exited.then(() => resolve(undefined));
  });
  return { proc, ready, exited, stderr: () => err, stop: () => stopChild(proc) };
}
