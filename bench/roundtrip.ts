/**
 * Host ↔ simulator request round trips per second over a real pseudo-terminal (socat) with the
 * real serialport library on both ends: sequential `ping` (one in flight) and pipelined `ping`
 * (the Key's window in flight). Baseline: raw byte echo round trips over an identical pty pair
 * (the device side echoes each chunk back, no framing or CBOR), measured in the same run.
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyClient, SerialTransport } from '@enigm/key-firmware-host';
import { createPtyPair, Simulator } from '@enigm/sim';
import { autoDetect } from '@serialport/bindings-cpp';
import { SerialPortStream } from '@serialport/stream';
import { type BenchResult, result } from './harness.ts';

async function rawEchoRoundTrips(ms: number): Promise<number> {
  const pair = await createPtyPair();
  const open = (path: string) =>
    new Promise<SerialPortStream>((res, rej) => {
      const p = new SerialPortStream({ binding: autoDetect(), path, baudRate: 115200 });
      p.once('open', () => res(p)).once('error', rej);
    });
  const dev = await open(pair.devicePath);
  const host = await open(pair.hostPath);
  dev.on('data', (b: Buffer) => dev.write(b));
  const msg = Buffer.alloc(24, 7);
  let n = 0;
  const end = performance.now() + ms;
  await new Promise<void>((resolve) => {
    let got = 0;
    host.on('data', (b: Buffer) => {
      got += b.length;
      if (got < msg.length) return;
      got = 0;
      n++;
      if (performance.now() < end) host.write(msg);
      else resolve();
    });
    host.write(msg);
  });
  await new Promise((r) => host.close(() => r(undefined)));
  await new Promise((r) => dev.close(() => r(undefined)));
  await pair.close();
  return n / (ms / 1000);
}

/** Runs the round-trip benchmark. */
export async function benchRoundTrip(ms = 2000): Promise<BenchResult[]> {
  // Baseline first, with nothing else open, so it is not slowed by the simulator's idle ports.
  const baseline = await rawEchoRoundTrips(ms);
  const dir = mkdtempSync(join(tmpdir(), 'enigm-bench-'));
  const sim = await Simulator.start({ keys: 1, stateDir: dir, tcp: false });
  try {
    // The client's defaults, as the CLI uses them: nothing tuned.
    const c = await KeyClient.connect(new SerialTransport({ path: sim.keys()[0]?.serial as string }));
    let n = 0;
    let end = performance.now() + ms;
    while (performance.now() < end) {
      await c.ping();
      n++;
    }
    const sequential = n / (ms / 1000);
    n = 0;
    end = performance.now() + ms;
    const worker = async () => {
      while (performance.now() < end) {
        await c.ping();
        n++;
      }
    };
    await Promise.all(Array.from({ length: c.link.window }, worker));
    const pipelined = n / (ms / 1000);
    await c.close();
    return [
      result('roundtrip.pty.sequential', sequential, 'req/s', baseline),
      result(`roundtrip.pty.pipelined-window-${c.link.window}`, pipelined, 'req/s', baseline),
    ];
  } finally {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
