/**
 * The headline figure: flash a 256 KiB image over a modelled UART (the simulator's link shaper on
 * a real pseudo-terminal) at 115200, 921600 and 3,000,000 baud, inside a Noise session, and report
 * image bytes/s with the raw line capacity (baud/10 bytes/s, 8N1) as the baseline. Target ratio
 * ≥ 0.95 at every rate. The upload phase is timed from `fw.begin` to the last acknowledgement
 * (`fw.finish`'s digest check included), after an untimed 32 KiB warm-up upload (host and simulated
 * Key share this process; the warm-up keeps JIT compilation out of the link figure). Also reports
 * CPU seconds per MiB flashed (host and simulated Key together: an upper bound for the host).
 * @module
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyClient, SecureSession, SerialTransport, uploadPayload } from '@enigm/key-firmware-host';
import { ed25519PrivateKeyFromPem, sha256, x25519Generate } from '@enigm/protocols/crypto';
import { signManifest } from '@enigm/protocols/firmware';
import { staticKeyFromPrivate } from '@enigm/protocols/noise';
import { lineBytesPerSecond, Simulator } from '@enigm/sim';
import { type BenchResult, result } from './harness.ts';

const IMAGE = 256 * 1024;

async function flashAt(baud: number, counter: number): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-flash-bench-'));
  const maxFrame = Number(process.env.BENCH_FLASH_FRAME ?? 0) || undefined;
  const sim = await Simulator.start({
    keys: 1,
    stateDir: dir,
    tcp: false,
    link: { baud, latencyMs: 1 },
    ...(maxFrame ? { firmware: { maxFrame } } : {}),
  });
  try {
    const port = sim.keys()[0]?.serial as string;
    const seed = ed25519PrivateKeyFromPem(readFileSync(sim.signingKeyPath, 'utf8'));
    const hostKey = staticKeyFromPrivate(x25519Generate().privateKey);
    const c = await KeyClient.connect(new SerialTransport({ path: port, baudRate: baud }), { timeoutMs: 30_000 });
    const s = await SecureSession.firstContact(c, { hostKey });
    await s.pair('owner');
    // Untimed warm-up: a small upload, so the timed run measures the link, not the JIT compiling
    // the host and the simulated Key (both live in this process).
    const warm = new Uint8Array(32 * 1024).fill(1);
    const warmManifest = signManifest(
      { model: 'enigm-key-1', version: '1.9.0', securityCounter: counter, payloadSize: warm.length, payloadDigest: sha256(warm) },
      seed,
    );
    await uploadPayload(s, warmManifest, warm, c.link.window);
    const payload = new Uint8Array(IMAGE).map((_, i) => Math.imul(i, 2654435761) >>> 24);
    const manifest = signManifest(
      { model: 'enigm-key-1', version: '2.0.0', securityCounter: counter, payloadSize: IMAGE, payloadDigest: sha256(payload) },
      seed,
    );
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await uploadPayload(s, manifest, payload, c.link.window);
    await s.request('fw.finish', {});
    const secs = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    await c.close();
    const rate = IMAGE / secs;
    return [
      result(`flash.256KiB.${baud}baud`, rate, 'B/s', lineBytesPerSecond({ baud }), 0.95),
      // CPU of this process covers host and simulated Key together: an upper bound for the host.
      result(`flash.cpu-per-MiB.${baud}baud`, ((cpu.user + cpu.system) / 1e6) * ((1024 * 1024) / IMAGE), 'cpu-s/MiB'),
    ];
  } finally {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the flashing benchmark at each baud rate (BENCH_FLASH_BAUDS=comma list to choose). */
export async function benchFlash(): Promise<BenchResult[]> {
  const bauds = (process.env.BENCH_FLASH_BAUDS ?? '115200,921600,3000000').split(',').map(Number);
  const out: BenchResult[] = [];
  for (const b of bauds) out.push(...(await flashAt(b, 2)));
  return out;
}
