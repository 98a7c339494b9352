/**
 * BLE over the link model (issue 15): the real noble, the simulated adapter and a simulated Key
 * in this process, with the air time of every fragment modelled (`@enigm/protocols/ble`
 * link-model.ts: PHY, DLE, connection events, ATT_MTU) and CPU time not counted (time scale 0:
 * the figures are the protocol's use of the modelled link, not this machine's speed).
 *
 * For 1M and 2M PHY at ATT_MTU 23, 185 and 247 (DLE on, 15 ms connection interval):
 * - `ble.flash-…`: a 128 KiB upload through the Key facade (`key.flash(image, { until: 'upload' })`
 *   with the CLI's defaults), image bytes per modelled second, baseline the modelled GATT ceiling
 *   (full fragments back to back in one direction). Target ≥ 0.85 at MTU 247 on 2M PHY.
 * - `ble.rtt-…`: 200 pings of 16 bytes, one at a time, round trips per modelled second; baseline
 *   the model's least: a request in one connection event, its answer in the next (a peripheral
 *   cannot answer within T_IFS), and the next request after that, so one round trip per two
 *   intervals. A ratio under 1 means the protocol spends extra events per request.
 * @module
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BleTransport, openKey } from '@enigm/key-firmware-host';
import { type BleLinkParams, gattCeiling } from '@enigm/protocols/ble';
import { ed25519PrivateKeyFromPem, sha256 } from '@enigm/protocols/crypto';
import { buildImage, signManifest } from '@enigm/protocols/firmware';
import { type SimBleBindings, Simulator } from '@enigm/sim';
import { type BenchResult, result } from './harness.ts';

const IMAGE = 128 * 1024;
const PINGS = 200;
const KEY_ID = 'c0de00000000';

async function run(link: BleLinkParams): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-ble-bench-'));
  const sim = await Simulator.start({
    keys: 1,
    stateDir: join(dir, 'sim'),
    serial: false,
    tcp: false,
    ble: { timeScale: 0, link },
  });
  let adapter: SimBleBindings | undefined;
  const key = await openKey('ble:Enigm-K0', {
    hostKey: join(dir, 'host-key.pem'),
    known: join(dir, 'known-keys.json'),
    transport: () =>
      new BleTransport({
        target: 'Enigm-K0',
        adapter: () => {
          adapter = sim.bleBindings();
          return adapter;
        },
      }),
  });
  const air = () => {
    const a = adapter?.air(KEY_ID);
    if (!a) throw new Error('no BLE connection');
    return a;
  };
  const tag = `${link.phy}-mtu${link.mtu}`;
  try {
    await key.pair('owner');
    await key.ping(new Uint8Array(16)); // warm
    let t0 = air().nowUs;
    for (let i = 0; i < PINGS; i++) await key.ping(new Uint8Array(16).fill(i));
    const rtts = PINGS / ((air().nowUs - t0) / 1e6);
    const seed = ed25519PrivateKeyFromPem(readFileSync(sim.signingKeyPath, 'utf8'));
    const payload = new Uint8Array(IMAGE).map((_, i) => Math.imul(i, 2654435761) >>> 24);
    const manifest = signManifest(
      { model: 'enigm-key-1', version: '2.0.0', securityCounter: 2, payloadSize: IMAGE, payloadDigest: sha256(payload) },
      seed,
    );
    await key.session();
    t0 = air().nowUs;
    const r = await key.flash(buildImage(manifest, payload), { until: 'upload' });
    const seconds = (air().nowUs - t0) / 1e6;
    const ceiling = gattCeiling(link).bytesPerSecond;
    const target = link.mtu === 247 && link.phy === '2M' ? 0.85 : undefined;
    return [
      result(`ble.flash-${tag}`, (r.upload?.bytes ?? 0) / seconds, 'B/s', ceiling, target),
      result(`ble.rtt-${tag}`, rtts, 'rt/s', 1000 / (2 * link.connectionIntervalMs)),
    ];
  } finally {
    await key.close();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The `ble` group: flash throughput and round trips over the modelled link. */
export async function benchBle(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  for (const phy of ['1M', '2M'] as const)
    for (const mtu of [23, 185, 247]) out.push(...(await run({ phy, mtu, dle: true, connectionIntervalMs: 15 })));
  return out;
}
