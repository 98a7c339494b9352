/**
 * Runs `fixtures/sim-child.ts` as a separate Node process (through tsx, like the CLI in
 * development) and talks to it over stdin/stdout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stopChild } from '../../src/child-stop.ts';
import type { SimulatedKeyInfo, SimulatedKeyLinkStats, SimulatorOptions } from '../../src/runtime/simulator.ts';

const child = fileURLToPath(new URL('../fixtures/sim-child.ts', import.meta.url));

/** A simulator process. */
export interface SimProcess {
  proc: ChildProcess;
  pid: number;
  keys: SimulatedKeyInfo[];
  socat: number[];
  /** Everything it wrote on stderr so far (its log). */
  stderr(): string;
  /** Whether it is still running. */
  alive(): boolean;
  /** Its resident set size, bytes (asked over stdin). */
  rss(): Promise<number>;
  /** Its link counters. */
  stats(): Promise<SimulatedKeyLinkStats[]>;
  /** SIGTERM, and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts a simulator process and waits until it is ready. */
export async function startSimProcess(
  options: SimulatorOptions & { logLevel?: string; mqttCerts?: { caFile: string; certDir: string } },
): Promise<SimProcess> {
  const proc = spawn(process.execPath, ['--import=tsx', child, JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (t: string) => {
    err = (err + t).slice(-64 * 1024);
  });
  let gone = false;
  const waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  proc.stdin?.on('error', () => undefined); // EPIPE once it is gone: its questions fail below
  // 'close': it has exited and every line it wrote has been read.
  const exited = new Promise<void>((r) =>
    proc.once('close', () => {
      gone = true;
      // A question the process can no longer answer fails instead of waiting for ever.
      for (const w of waiting.splice(0)) w.reject(new Error(`simulator process exited:\n${err}`));
      r();
    }),
  );
  const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      if (gone) reject(new Error(`simulator process exited:\n${err}`));
      else waiting.push({ resolve, reject });
    });
  lines.on('line', (l) => waiting.shift()?.resolve(l));
  const first = await Promise.race([next().catch(() => undefined), exited.then(() => undefined)]);
  if (first === undefined) throw new Error(`simulator process exited before it was ready:\n${err}`);
  const ready = JSON.parse(first) as { pid: number; keys: SimulatedKeyInfo[]; socat: number[] };
  const ask = async (cmd: string): Promise<Record<string, unknown>> => {
    const line = next();
    proc.stdin?.write(`${cmd}\n`);
    return JSON.parse(await line) as Record<string, unknown>;
  };
  return {
    proc,
    pid: ready.pid,
    keys: ready.keys,
    socat: ready.socat,
    stderr: () => err,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    rss: async () => (await ask('rss')).rss as number,
    stats: async () => (await ask('stats')).stats as SimulatedKeyLinkStats[],
    stop: async () => {
      await stopChild(proc);
    },
  };
}
