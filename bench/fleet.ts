/**
 * A fleet of simulated Keys in one process: `Simulator.start({ keys: 1000, serial: false, tcp:
 * false, mqtt: true })` (embedded MQTT broker, every Key connects its uplink) on a new state
 * folder. Reports how many Keys are connected (`linkStats()[i].mqtt.connected`, waiting at most
 * 60 s from the start) and, if all are, when; the process RSS then, RSS and state-folder bytes per
 * Key, and the time `stop()` takes (it saves the flash of Keys that changed). Baseline: the same run with 10 Keys, scaled to per-Key figures
 * (time × 100 for the totals). A third run starts 1,000 Keys with `mqtt: false`, to separate the
 * uplinks' share of the start time. Target (the MQTT issue): 1,000 Keys connected in under 10 s
 * and under 300 MB RSS.
 *
 * Each run is a fresh child process (RSS is per process, and a run's garbage must not count in
 * the next): `node --import=tsx bench/fleet.ts --child '{"keys":…,"mqtt":…}'` prints one JSON line.
 * @module
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchResult, result } from './harness.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));
const MiB = 2 ** 20;
/** How long a run waits for every Key to connect after the start began, ms. */
const WAIT_MS = 60_000;

/** What one child run measured. */
interface Run {
  keys: number;
  mqtt: boolean;
  /** Simulator.start until it resolved, ms. */
  startMs: number;
  /** Keys whose uplink was connected at the end of the wait (0 without mqtt). */
  connected: number;
  /**
   * Simulator.start until every Key's uplink reported connected, ms (startMs without mqtt);
   * undefined if some Key was not connected within {@link WAIT_MS}.
   */
  connectedMs?: number | undefined;
  /** RSS before start (modules loaded) and once every Key is up, bytes. */
  rssBefore: number;
  rssAfter: number;
  /** Bytes the state folder takes on disk (allocated blocks) and its `key-*.flash` files' sizes. */
  diskBytes: number;
  flashFileBytes: number;
  /** stop() (saves every Key's flash), ms. */
  stopMs: number;
}

function folderBytes(dir: string): { disk: number; flash: number } {
  let disk = 0;
  let flash = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const sub = folderBytes(p);
      disk += sub.disk;
      flash += sub.flash;
      continue;
    }
    const st = statSync(p);
    disk += st.blocks * 512;
    if (/^key-\d+\.flash$/.test(e.name)) flash += st.size;
  }
  return { disk, flash };
}

/** In the child: one simulator run. */
async function child(opts: { keys: number; mqtt: boolean }): Promise<Run> {
  const { Simulator } = await import('@enigm/sim');
  const dir = mkdtempSync(join(tmpdir(), 'enigm-bench-fleet-'));
  try {
    const stateDir = join(dir, 'sim');
    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    const sim = await Simulator.start({ keys: opts.keys, serial: false, tcp: false, mqtt: opts.mqtt, stateDir });
    const startMs = performance.now() - t0;
    let connectedMs: number | undefined = startMs;
    let connected = 0;
    if (opts.mqtt) {
      // Keys whose first connection fails are not counted: wait at most WAIT_MS for all of them.
      const deadline = performance.now() + WAIT_MS;
      let last = 0;
      for (;;) {
        connected = sim.linkStats().filter((s) => s.mqtt?.connected === true).length;
        if (connected === opts.keys) break;
        if (performance.now() > deadline) break;
        if (process.env.FLEET_PROGRESS && performance.now() - last > 2000) {
          last = performance.now();
          process.stderr.write(`${Math.round(last - t0)} ms: ${connected} connected\n`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      connectedMs = connected === opts.keys ? performance.now() - t0 : undefined;
      if (!sim.keys().every((k) => k.mqtt?.startsWith('mqtt://'))) throw new Error('a Key has no mqtt address');
    }
    const rssAfter = process.memoryUsage().rss;
    const t1 = performance.now();
    await sim.stop();
    const stopMs = performance.now() - t1;
    const { disk, flash } = folderBytes(stateDir);
    return { ...opts, startMs, connected, connectedMs, rssBefore, rssAfter, diskBytes: disk, flashFileBytes: flash, stopMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** In the parent: runs one configuration in a fresh child process. */
function run(keys: number, mqtt: boolean): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      ['--import=tsx', fileURLToPath(import.meta.url), '--child', JSON.stringify({ keys, mqtt })],
      { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.once('error', reject);
    p.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`fleet child (${keys} Keys) exited ${code}: ${out}`));
      else resolve(JSON.parse(line) as Run);
    });
  });
}

/** Runs the fleet benchmark (three child processes: 10 Keys, 1,000 Keys, 1,000 Keys without MQTT). */
export async function benchFleet(n = 1000): Promise<BenchResult[]> {
  const small = await run(10, true);
  const big = await run(n, true);
  const noMqtt = await run(n, false);
  const scale = n / small.keys;
  const perKey = (r: Run, v: number) => v / r.keys;
  return [
    // Totals for n Keys; baseline: the 10-Key run scaled to n Keys.
    result(`fleet.connected-keys-${n}`, big.connected, 'keys', small.connected * scale),
    ...(big.connectedMs !== undefined && small.connectedMs !== undefined
      ? [result(`fleet.connected-${n}`, big.connectedMs, 'ms', small.connectedMs * scale)]
      : []),
    result(`fleet.start-${n}`, big.startMs, 'ms', small.startMs * scale),
    result(`fleet.start-${n}-no-mqtt`, noMqtt.startMs, 'ms'),
    result(
      `fleet.rss-${n}`,
      big.rssAfter / MiB,
      'MiB',
      small.rssBefore / MiB + ((small.rssAfter - small.rssBefore) / MiB) * scale,
    ),
    result(`fleet.stop-${n}`, big.stopMs, 'ms', small.stopMs * scale),
    // Per Key; baseline: the 10-Key run per Key.
    result(
      'fleet.rss-per-key',
      perKey(big, big.rssAfter - big.rssBefore) / 1024,
      'KiB',
      perKey(small, small.rssAfter - small.rssBefore) / 1024,
    ),
    result('fleet.disk-per-key', perKey(big, big.diskBytes) / 1024, 'KiB', perKey(small, small.diskBytes) / 1024),
    result('fleet.flash-file-per-key', perKey(big, big.flashFileBytes) / 1024, 'KiB', perKey(small, small.flashFileBytes) / 1024),
    result('fleet.rss-per-key-no-mqtt', perKey(noMqtt, noMqtt.rssAfter - noMqtt.rssBefore) / 1024, 'KiB'),
  ];
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) {
  const r = await child(JSON.parse(process.argv[childAt + 1] as string) as { keys: number; mqtt: boolean });
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 1000);
  for (const r of await benchFleet(n)) process.stdout.write(`${JSON.stringify(r)}\n`);
}
