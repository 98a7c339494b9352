/**
 * The headline figure: flash a 256 KiB image over a modelled UART (the simulator's link shaper on
 * a real pseudo-terminal) at 115200, 921600 and 3,000,000 baud, and report image bytes/s with
 * the raw line capacity (baud/10 bytes/s, 8N1) as the baseline. Target ratio ≥ 0.95 at every rate.
 *
 * It runs the same library call with the same defaults as `enigm fw flash`: `openKey(port,
 * { baudRate })` and `key.flash(image)` with no timeout, window or retry tuned (the CLI passes
 * only progress callbacks). The link figure is the upload as the library times it (`fw.begin` to
 * the last acknowledgement); `flash.call-…` times the whole `key.flash(image, { until: 'upload' })`
 * call: session, `fw.begin` (the Key checks the signed manifest), the pipelined chunks and
 * `fw.finish` (the payload digest check). Before it, an untimed 32 KiB warm-up upload (host and simulated Key share
 * this process; the warm-up keeps JIT compilation out of the link figure). Also reports CPU
 * seconds per MiB flashed (host and simulated Key together: an upper bound for the host), and
 * how many chunks were sent twice (0 means no request timed out).
 * @module
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openKey, uploadPayload } from '@enigm/key-firmware-host';
import { ed25519PrivateKeyFromPem, sha256 } from '@enigm/protocols/crypto';
import { buildImage, signManifest } from '@enigm/protocols/firmware';
import { lineBytesPerSecond, Simulator } from '@enigm/sim';
import { type BenchResult, result } from './harness.ts';

const IMAGE = 256 * 1024;

async function flashAt(baud: number, counter: number): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-flash-bench-'));
  const sim = await Simulator.start({ keys: 1, stateDir: join(dir, 'sim'), tcp: false, link: { baud, latencyMs: 1 } });
  try {
    const port = sim.keys()[0]?.serial as string;
    const seed = ed25519PrivateKeyFromPem(readFileSync(sim.signingKeyPath, 'utf8'));
    // What the CLI does: openKey(--port, { baudRate: --baud }) and nothing else tuned.
    const key = await openKey(port, {
      baudRate: baud,
      hostKey: join(dir, 'host-key.pem'),
      known: join(dir, 'known-keys.json'),
    });
    try {
      await key.pair('owner');
      // Untimed warm-up: a small upload, so the timed run measures the link, not the JIT
      // compiling the host and the simulated Key (both live in this process).
      const warm = new Uint8Array(32 * 1024).fill(1);
      const warmManifest = signManifest(
        {
          model: 'enigm-key-1',
          version: '1.9.0',
          securityCounter: counter,
          payloadSize: warm.length,
          payloadDigest: sha256(warm),
        },
        seed,
      );
      await uploadPayload(await key.session(), warmManifest, warm, key.client.link.window);
      const payload = new Uint8Array(IMAGE).map((_, i) => Math.imul(i, 2654435761) >>> 24);
      const manifest = signManifest(
        { model: 'enigm-key-1', version: '2.0.0', securityCounter: counter, payloadSize: IMAGE, payloadDigest: sha256(payload) },
        seed,
      );
      const image = buildImage(manifest, payload);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const r = await key.flash(image, { until: 'upload' });
      const secs = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const line = lineBytesPerSecond({ baud });
      const upload = r.upload;
      if (!upload) throw new Error('the flash resumed past the upload: nothing was measured');
      return [
        // The link figure: fw.begin to the last acknowledgement, as the library measured it.
        result(`flash.256KiB.${baud}baud`, upload.bytes / (upload.ms / 1000), 'B/s', line, 0.95),
        // The whole call: session, manifest check, upload and fw.finish's digest check.
        result(`flash.call-256KiB.${baud}baud`, IMAGE / secs, 'B/s', line),
        // CPU of this process covers host and simulated Key together: an upper bound for the host.
        result(`flash.cpu-per-MiB.${baud}baud`, ((cpu.user + cpu.system) / 1e6) * ((1024 * 1024) / IMAGE), 'cpu-s/MiB'),
        result(`flash.resent-chunks.${baud}baud`, upload.resent, 'chunks'),
      ];
    } finally {
      await key.close();
    }
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
