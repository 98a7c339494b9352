/**
 * Control API latency (issue 10): with 100 simulated Keys (a real `Simulator`, TCP and serial
 * off) and the control server on loopback, one client presses (a long hold that opens the pairing
 * window) Key i = n mod 100 over HTTP and waits for the state change — the `pairing-window` event
 * — on its WebSocket event stream. Reports p50/p99 of press → event and of the HTTP answer alone,
 * sequential presses after a warm-up.
 *
 * Usage: npx tsx bench/control.ts [--presses N]   (or npm run bench -- control)
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Simulator } from '@enigm/sim';
import { ControlClient, ControlServer, type DeviceEvent } from '@enigm/sim/control';
import { type BenchResult, result } from './harness.ts';

const KEYS = 100;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** Runs the control API benchmark. */
export async function benchControl(presses = 2000): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'enigm-bench-control-'));
  const sim = await Simulator.start({ keys: KEYS, serial: false, tcp: false, stateDir: dir });
  const server = await ControlServer.start(sim);
  try {
    const client = new ControlClient(server.url, server.token);
    let waiting: { key: number; resolve: (at: number) => void } | undefined;
    const stream = client.events((e: DeviceEvent) => {
      if (waiting && e.type === 'pairing-window' && e.key === waiting.key) waiting.resolve(performance.now());
    });
    await stream.opened;
    const toEvent: number[] = [];
    const http: number[] = [];
    const warmUp = Math.min(100, Math.floor(presses / 10));
    for (let n = 0; n < warmUp + presses; n++) {
      const key = n % KEYS;
      const event = new Promise<number>((resolve) => {
        waiting = { key, resolve };
      });
      const start = performance.now();
      await client.request('POST', `/api/keys/${key}/gesture`, { kind: 'hold', seconds: 8 });
      const answered = performance.now();
      const seen = await event;
      if (n >= warmUp) {
        http.push(answered - start);
        toEvent.push(seen - start);
      }
    }
    stream.close();
    toEvent.sort((a, b) => a - b);
    http.sort((a, b) => a - b);
    const name = `control.${KEYS}-keys`;
    return [
      result(`${name}.press-to-event.p50`, quantile(toEvent, 0.5), 'ms'),
      result(`${name}.press-to-event.p99`, quantile(toEvent, 0.99), 'ms'),
      result(`${name}.press-http.p50`, quantile(http, 0.5), 'ms'),
      result(`${name}.press-http.p99`, quantile(http, 0.99), 'ms'),
      result(`${name}.presses-per-second`, presses / (toEvent.reduce((a, b) => a + b, 0) / 1000), 'presses/s'),
    ];
  } finally {
    await server.close();
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { presses: { type: 'string' } } });
  for (const r of await benchControl(values.presses ? Number(values.presses) : undefined))
    process.stdout.write(`${JSON.stringify(r)}\n`);
}
