/**
 * The Key facade against the real simulator over real pseudo-terminals (and TCP): open, info,
 * ping, pair with pinning, known-host sessions, attest, activate with its event, the whole flash
 * flow, resumption after an abort, after a lost link and at the health check, confirm/revert
 * with nothing pending, and the typed errors of a host the Key no longer knows and of a pin that
 * does not match.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519PrivateKeyFromPem, sha256 } from '@enigm/protocols/crypto';
import { buildImage, signManifest } from '@enigm/protocols/firmware';
import { hasSocat, Simulator } from '@enigm/sim';
import test from 'ava';
import { KeyError } from '../src/client/errors.ts';
import { KeyFacadeError } from '../src/key/errors.ts';
import type { KeyEvent } from '../src/key/events.ts';
import { type OpenKeyOptions, openKey } from '../src/key/key.ts';
import { transportFromAddress } from '../src/transport/open.ts';
import type { Transport, TransportSink } from '../src/transport/transport.ts';

const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;
const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function payloadOf(n: number, seed: number): Uint8Array {
  const p = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    p[i] = x >>> 24;
  }
  return p;
}

function image(seed: Uint8Array, version: string, counter: number, size: number): Uint8Array {
  const payload = payloadOf(size, counter * 7 + size);
  const manifest = signManifest(
    { model: 'enigm-key-1', version, securityCounter: counter, payloadSize: size, payloadDigest: sha256(payload) },
    seed,
  );
  return buildImage(manifest, payload);
}

async function setup(tcp = false) {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-facade-'));
  dirs.push(dir);
  const sim = await Simulator.start({ keys: 1, stateDir: dir, tcp, serial: !tcp });
  const info = sim.keys()[0];
  const address = (tcp ? info?.tcp : info?.serial) as string;
  const seed = ed25519PrivateKeyFromPem(readFileSync(sim.signingKeyPath, 'utf8'));
  const slept: number[] = [];
  const options: OpenKeyOptions = {
    hostKey: join(dir, 'home', 'host-key.pem'),
    known: join(dir, 'home', 'known-keys.json'),
    random: () => 0.5,
    sleep: async (ms) => {
      slept.push(ms);
      await new Promise((r) => setTimeout(r, 1));
    },
  };
  return { sim, dir, address, seed, options, slept };
}

realTest(
  'openKey: info and ping; a session before pairing is KEY_NOT_PAIRED; pair pins; attest, activate and its event',
  async (t) => {
    const { sim, address, options } = await setup();
    const key = await openKey(address, options);
    try {
      const info = await key.info();
      t.is(info.model, 'enigm-key-1');
      t.is(key.hello.firmware, '1.0.0');
      const echo = await key.ping(new Uint8Array(64).fill(9));
      t.true(echo.rttMs > 0);
      const early = await t.throwsAsync(key.session(), { instanceOf: KeyFacadeError });
      t.is(early?.code, 'KEY_NOT_PAIRED');
      t.regex(early?.message ?? '', /not paired with/);
      const p = await key.pair('owner', { label: 'facade-test' });
      t.is(p.role, 'owner');
      t.is(p.handle, Buffer.from(info.handle as Uint8Array).toString('hex'));
      t.regex(p.identity, /^[0-9a-f]{64}$/);
      t.is(JSON.parse(readFileSync(p.knownPath, 'utf8')).keys[0].identity, p.identity);
      const s = await key.session();
      t.is(await key.session(), s, 'the open session is reused');
      t.is(key.role, 'owner');
      const nonce = new Uint8Array(32).fill(3);
      const ev = await key.attest(nonce);
      t.deepEqual(ev.claims.nonce, nonce);
      t.is(new TextDecoder().decode(ev.claims.hwmodel), 'enigm-key-1');
      t.is(ev.claims.lifecycle, 'factory');
      t.is(ev.hostRole, 'owner');
      t.is(Buffer.from(ev.identity).toString('hex'), p.identity);
      t.true(ev.receivedAt >= ev.issuedAt);
      const bad = await t.throwsAsync(key.attest(new Uint8Array(31)), { instanceOf: KeyFacadeError });
      t.is(bad?.code, 'KEY_BAD_ARGUMENT');
      const events = key.events();
      t.is(await key.activate(), 'dormant');
      const first = (await events.next()).value as KeyEvent;
      t.is(first.name, 'lifecycle.changed');
      t.deepEqual(first.body, { from: 'factory', to: 'dormant' });
      await key.close();
      t.true((await events.next()).done, 'close() ends event streams');
      const closed = await t.throwsAsync(key.info(), { instanceOf: KeyFacadeError });
      t.is(closed?.code, 'KEY_CLOSED_FACADE');
    } finally {
      await key.close();
      await sim.stop();
    }
  },
);

realTest(
  'flash: upload → finish → test boot → reconnect → health → confirm; confirm and revert with nothing pending say so',
  async (t) => {
    const { sim, address, seed, options } = await setup();
    const key = await openKey(address, options);
    try {
      await key.pair('provisioning');
      const steps: string[] = [];
      let progress = 0;
      const r = await key.flash(image(seed, '2.0.0', 2, 60_000), {
        onStep: (s) => steps.push(s),
        onProgress: (p) => {
          progress = p.acked;
        },
      });
      t.deepEqual(steps, ['upload', 'finish', 'test', 'health', 'confirm']);
      t.is(r.done, 'confirm');
      t.is(r.securityCounter, 2);
      t.is(r.upload?.bytes, 60_000);
      t.is(progress, 60_000);
      t.is(r.status?.running.version, '2.0.0');
      t.false(r.status?.testing);
      t.is(key.hello.firmware, '2.0.0', 'the facade reconnected to the rebooted Key');
      // The link counters cover the whole flash, not only the link after the reboot (--verbose).
      const totals = key.linkTotals;
      const chunks = Math.ceil(60_000 / (r.upload?.chunk ?? 1));
      t.true(totals.connections >= 2, `${totals.connections} connections`);
      t.true(totals.framesSent >= key.client.stats.framesSent + chunks, `${totals.framesSent} frames sent in all`);
      t.true(totals.framesReceived >= chunks);
      const c = await key.confirm();
      t.false(c.confirmed, 'nothing on test: the Key is not asked');
      t.is(c.securityCounter, 2);
      const v = await key.revert();
      t.is(v.action, 'nothing');
      // a downgrade is refused by the Key before any payload
      const down = await t.throwsAsync(key.flash(image(seed, '1.5.0', 1, 1000)), { instanceOf: KeyError });
      t.is(down?.remote?.name, 'FIRMWARE_REJECTED');
      t.regex(down?.remote?.reason ?? '', /FIRMWARE_DOWNGRADE/);
      // an upload only, then revert cancels it
      const up = await key.flash(image(seed, '2.1.0', 2, 5000), { until: 'upload' });
      t.is(up.done, 'upload');
      t.is((await key.fwStatus()).secondary?.state, 'ready');
      t.is((await key.revert()).action, 'upload');
      t.not((await key.fwStatus()).secondary?.state, 'ready');
    } finally {
      await key.close();
      await sim.stop();
    }
  },
);

realTest(
  'flash aborted mid-upload is KEY_ABORTED (step upload); running it again resumes; a Key on test resumes at health',
  async (t) => {
    const { sim, address, seed, options } = await setup();
    const key = await openKey(address, options);
    try {
      await key.pair('owner');
      const img = image(seed, '1.1.0', 1, 200_000);
      const ac = new AbortController();
      let abortedAt = 0;
      const e = await t.throwsAsync(
        key.flash(img, {
          signal: ac.signal,
          onProgress: (p) => {
            if (p.acked > 20_000 && !ac.signal.aborted) {
              abortedAt = p.acked;
              ac.abort();
            }
          },
        }),
        { instanceOf: KeyFacadeError },
      );
      t.is(e?.code, 'KEY_ABORTED');
      t.is(e?.step, 'upload');
      t.regex(e?.message ?? '', /running it again resumes/);
      await key.reconnect(); // the abort may leave requests cancelled mid-window: start clean
      const test1 = await key.flash(img, { until: 'test' });
      t.is(test1.done, 'test');
      t.true((test1.upload?.resumedFrom ?? 0) >= abortedAt, `resumed at ${test1.upload?.resumedFrom}, aborted at ${abortedAt}`);
      t.true((await key.fwStatus()).testing);
      const again = await key.flash(img);
      t.is(again.resumedAt, 'health');
      t.is(again.upload, undefined, 'nothing uploaded again');
      t.is(again.done, 'confirm');
      t.false(again.status?.testing);
    } finally {
      await key.close();
      await sim.stop();
    }
  },
);

/** A real transport that closes itself after `sends` sends (a cable pulled mid-transfer). */
class PulledCable implements Transport {
  readonly #inner: Transport;
  #left: number;
  constructor(inner: Transport, sends: number) {
    this.#inner = inner;
    this.#left = sends;
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
    if (--this.#left === 0) {
      await this.#inner.close();
      return;
    }
    return this.#inner.send(b);
  }
  close() {
    return this.#inner.close();
  }
}

realTest(
  'a link lost during the upload reconnects (jittered backoff after failed opens) and resumes from the Key offset',
  async (t) => {
    const { sim, address, seed, options, slept } = await setup(true);
    let opens = 0;
    const key = await openKey(address, {
      ...options,
      transport: (a) => {
        opens++;
        if (opens === 1) return transportFromAddress(a); // pairing
        if (opens === 2) return new PulledCable(transportFromAddress(a), 15); // cut mid-upload
        if (opens <= 4) throw new Error(`the Key is not there yet (${opens})`); // two failed reopen attempts
        return transportFromAddress(a);
      },
      reconnect: { attempts: 5, baseMs: 40, maxMs: 60 },
    });
    try {
      await key.pair('owner');
      await key.reconnect(undefined, { attempts: 1 }); // open #2: the cable that will be pulled
      const r = await key.flash(image(seed, '1.2.0', 1, 120_000), { until: 'upload' });
      t.is(r.done, 'upload');
      t.true((r.upload?.resumedFrom ?? -1) === 0);
      t.true(opens >= 5, `opened ${opens} times`);
      // random() = 0.5: d/2 + d/4 with d = 40, then min(60, 80)
      t.deepEqual(slept.slice(0, 2), [30, 45]);
      t.is((await key.fwStatus()).secondary?.state, 'ready');
    } finally {
      await key.close();
      await sim.stop();
    }
  },
);

realTest('linkTotals sums the counters of every connection the facade made (tcp)', async (t) => {
  const { sim, address, options } = await setup(true);
  const key = await openKey(address, options);
  try {
    for (let i = 0; i < 3; i++) await key.ping(new Uint8Array(8));
    const first = { ...key.client.stats };
    t.deepEqual(key.linkTotals, { ...first, connections: 1 });
    await key.reconnect();
    await key.ping(new Uint8Array(8));
    const second = key.client.stats;
    const totals = key.linkTotals;
    t.is(totals.connections, 2);
    t.is(totals.framesSent, first.framesSent + second.framesSent);
    t.is(totals.framesReceived, first.framesReceived + second.framesReceived);
    t.true(totals.framesSent >= 6, 'two hellos and four pings');
  } finally {
    await key.close();
    await sim.stop();
  }
});

realTest('a Key that no longer knows this host is KEY_HOST_UNKNOWN; a pin that does not match stops pairing', async (t) => {
  const { sim, dir, address, options } = await setup();
  const key = await openKey(address, options);
  try {
    const p = await key.pair('owner');
    await key.close();
    // another host key with a copy of the pins: the Key has never seen this host
    const known2 = join(dir, 'home', 'known-2.json');
    copyFileSync(p.knownPath, known2);
    const stranger = await openKey(address, { ...options, hostKey: join(dir, 'home', 'other.pem'), known: known2 });
    try {
      const e = await t.throwsAsync(stranger.attest(), { instanceOf: KeyFacadeError });
      t.is(e?.code, 'KEY_HOST_UNKNOWN');
      t.regex(e?.message ?? '', /no longer knows this host/);
      t.is((e?.cause as KeyError | undefined)?.remote?.name, 'SESSION_FAILED');
    } finally {
      await stranger.close();
    }
    // a pin naming another identity: pairing stops before asking the Key
    const pins = JSON.parse(readFileSync(p.knownPath, 'utf8'));
    pins.keys[0].identity = 'ab'.repeat(32);
    writeFileSync(p.knownPath, JSON.stringify(pins));
    sim.firmware(0).openPairingWindow(60_000); // a paired Key runs XX only while pairable
    const again = await openKey(address, options);
    try {
      const m = await t.throwsAsync(again.pair('owner'), { instanceOf: KeyFacadeError });
      t.is(m?.code, 'KEY_IDENTITY_MISMATCH');
      t.regex(m?.message ?? '', /impersonation/);
    } finally {
      await again.close();
    }
  } finally {
    await key.close();
    await sim.stop();
  }
});
