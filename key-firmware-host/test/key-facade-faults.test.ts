/**
 * The Key facade's update flow under link faults, against the real simulator over TCP: a link cut
 * exactly when `fw.test` is sent (the request never reaches the Key) is not a failure — the flow
 * reconnects, sees the image still waiting in the other slot, asks again, and completes with one
 * test boot.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519PrivateKeyFromPem, sha256 } from '@enigm/protocols/crypto';
import { buildImage, signManifest } from '@enigm/protocols/firmware';
import { hasSocat, Simulator } from '@enigm/sim';
import test from 'ava';
import { openKey } from '../src/key/key.ts';
import { transportFromAddress } from '../src/transport/open.ts';
import type { Transport, TransportSink } from '../src/transport/transport.ts';

const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;
const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A real transport whose next send, once armed, pulls the cable instead (nothing is sent). */
class Cable implements Transport {
  readonly #inner: Transport;
  readonly #switch: { armed: boolean; pulled: number };
  constructor(inner: Transport, sw: { armed: boolean; pulled: number }) {
    this.#inner = inner;
    this.#switch = sw;
  }
  get description() {
    return this.#inner.description;
  }
  get maxPayload() {
    return this.#inner.maxPayload;
  }
  get isOpen() {
    return this.#inner.isOpen;
  }
  open(sink: TransportSink) {
    return this.#inner.open(sink);
  }
  async send(b: Uint8Array) {
    if (this.#switch.armed) {
      this.#switch.armed = false;
      this.#switch.pulled++;
      await this.#inner.close();
      return;
    }
    return this.#inner.send(b);
  }
  close() {
    return this.#inner.close();
  }
}

realTest('a link lost as fw.test is sent: the flow reconnects, asks again, and completes with one test boot', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-facade-faults-'));
  dirs.push(dir);
  const sim = await Simulator.start({ keys: 1, stateDir: dir, serial: false, tcp: true });
  const sw = { armed: false, pulled: 0 };
  const key = await openKey(sim.keys()[0]?.tcp as string, {
    hostKey: join(dir, 'host', 'host-key.pem'),
    known: join(dir, 'host', 'known-keys.json'),
    transport: (a) => new Cable(transportFromAddress(a), sw),
    random: () => 0,
    sleep: async () => {},
  });
  try {
    await key.pair('owner');
    const bootsBefore = (await key.info()).bootCount;
    const seed = ed25519PrivateKeyFromPem(readFileSync(sim.signingKeyPath, 'utf8'));
    const payload = new Uint8Array(30_000).map((_, i) => i * 31);
    const image = buildImage(
      signManifest(
        {
          model: 'enigm-key-1',
          version: '1.3.0',
          securityCounter: 1,
          payloadSize: payload.length,
          payloadDigest: sha256(payload),
        },
        seed,
      ),
      payload,
    );
    const steps: string[] = [];
    const r = await key.flash(image, {
      onStep: (s) => {
        steps.push(s);
        if (s === 'test') sw.armed = true; // the fw.test request is the next send
      },
    });
    t.is(sw.pulled, 1, 'the cable was pulled once, on fw.test');
    t.deepEqual(steps, ['upload', 'finish', 'test', 'health', 'confirm']);
    t.is(r.done, 'confirm');
    t.is(r.status?.running.version, '1.3.0');
    t.false(r.status?.testing);
    t.is((await key.info()).bootCount, bootsBefore + 1, 'one test boot, not two');
  } finally {
    await key.close();
    await sim.stop();
  }
});
