/**
 * The provisioning station: Keys provisioned per minute with 8 simulated Keys on 8
 * pseudo-terminals, and the station's own CPU per Key. The simulator runs in a child process
 * (`enigm sim start --keys 8`, from source through tsx) so the station's CPU (`process.cpuUsage`
 * of this process: sessions, CSR checks, issuing, chain checks, serial I/O) is measured apart
 * from the Keys' (the simulator's utime + stime from `/proc`). Each round provisions 8 fresh
 * Keys (a new simulator and state folder); the CA is made once in memory. A last round provisions
 * one Key at a time and splits the station's CPU by step.
 * @module
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createCa } from '@enigm/attestation';
import { provisionKeys, type StationEvent } from '@enigm/key-firmware-host';
import { type BenchResult, result } from './harness.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));
const KEYS = 8;

/** CPU seconds (user + system) a process has used, from /proc/PID/stat. */
function procCpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** CPU of this process per step, ms, summed over Keys (filled in a sequential round). */
const byStep = new Map<string, number>();
let mark: { step: string; cpu: NodeJS.CpuUsage } | undefined;
function stepCpu(e: StationEvent): void {
  const now = process.cpuUsage();
  if (mark) {
    const d = process.cpuUsage(mark.cpu);
    byStep.set(mark.step, (byStep.get(mark.step) ?? 0) + (d.user + d.system) / 1000);
  }
  mark = e.type === 'step' ? { step: e.step, cpu: now } : undefined;
}

/** One round: a fresh simulator with 8 Keys, all provisioned; wall time and both CPUs. */
async function round(
  ca: Awaited<ReturnType<typeof createCa>>,
  concurrency = KEYS,
): Promise<{ wallMs: number; stationCpuMs: number; simCpuMs: number; ok: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-bench-station-'));
  const sim = spawn(
    process.execPath,
    [
      '--import=tsx',
      join(repo, 'tools/src/enigm.ts'),
      'sim',
      'start',
      '--keys',
      String(KEYS),
      '--no-control',
      '--json',
      '--state-dir',
      join(dir, 'sim'),
    ],
    { cwd: repo, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  try {
    const ready = await new Promise<{ keys: { serial: string }[] }>((resolve, reject) => {
      createInterface({ input: sim.stdout as NodeJS.ReadableStream }).once('line', (l) => resolve(JSON.parse(l)));
      sim.once('exit', (code) => reject(new Error(`simulator exited (${code}) before it was ready`)));
    });
    const ports = ready.keys.map((k) => k.serial);
    const sim0 = procCpuSeconds(sim.pid as number);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const entries = await provisionKeys({
      ports,
      ca,
      roots: ca.root.certificate.pem,
      concurrency,
      ...(concurrency === 1 ? { onEvent: stepCpu } : {}),
      key: { hostKey: join(dir, 'host-key.pem'), known: join(dir, 'known.json') },
    });
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const simCpuMs = (procCpuSeconds(sim.pid as number) - sim0) * 1000;
    const ok = entries.filter((e) => e.outcome === 'provisioned').length;
    if (ok !== KEYS)
      throw new Error(`only ${ok} of ${KEYS} provisioned: ${JSON.stringify(entries.filter((e) => e.outcome !== 'provisioned'))}`);
    return { wallMs, stationCpuMs: (cpu.user + cpu.system) / 1000, simCpuMs, ok };
  } finally {
    sim.kill('SIGTERM');
    await new Promise((r) => (sim.exitCode !== null ? r(undefined) : sim.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the station benchmark: `rounds` batches of 8 Keys, the best (fastest) round reported. */
export async function benchStation(rounds = 3): Promise<BenchResult[]> {
  const ca = await createCa();
  const runs = [];
  for (let i = 0; i < rounds; i++) runs.push(await round(ca));
  const best = runs.reduce((a, b) => (b.wallMs < a.wallMs ? b : a));
  // One Key at a time: where the station's CPU goes, per step (the done event closes the last one).
  const sequential = await round(ca, 1);
  return [
    result('station.keys-per-minute', (KEYS / best.wallMs) * 60_000, 'keys/min'),
    result('station.batch-wall', best.wallMs, 'ms'),
    result('station.cpu-per-key', best.stationCpuMs / KEYS, 'ms', best.simCpuMs / KEYS),
    result('station.keys-per-batch', KEYS, 'keys'),
    result('station.sequential.keys-per-minute', (KEYS / sequential.wallMs) * 60_000, 'keys/min'),
    result('station.sequential.cpu-per-key', sequential.stationCpuMs / KEYS, 'ms', sequential.simCpuMs / KEYS),
    ...[...byStep].map(([step, ms]) => result(`station.sequential.cpu.${step}`, ms / KEYS, 'ms/key')),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchStation()) process.stdout.write(`${JSON.stringify(r)}\n`);
}
