/**
 * Issue 15 done-means: the real @stoprocent/noble, driven through the simulator's virtual BLE
 * adapter, pairs with a simulated Key, runs a session, reads info, attests and flashes through the
 * same Key facade as serial, at 2M PHY / MTU 247 and 1M PHY / MTU 23 (HARDWARE.md "Bluetooth Low
 * Energy"); with fragments lost, duplicated and reordered the frame layer recovers; a link lost
 * mid-flash resumes from the Key's offset as over serial.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519PrivateKeyFromPem } from '@enigm/protocols/crypto';
import { type SimBleBindings, type SimBleOptions, Simulator } from '@enigm/sim';
import test from 'ava';
import { type OpenKeyOptions, openKey } from '../src/key/key.ts';
import { BleTransport } from '../src/transport/ble/ble.ts';
import { bleImage } from './ble-peer.ts';

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A simulator with BLE only (no pty, no TCP) and facade options whose transport is BLE on its adapter. */
async function setup(ble: SimBleOptions, perOpen: (open: number) => SimBleOptions = () => ({}), eraseMsPerPage = 0) {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-ble-'));
  dirs.push(dir);
  const sim = await Simulator.start({
    keys: 1,
    stateDir: dir,
    serial: false,
    tcp: false,
    eraseMsPerPage,
    ble: { timeScale: 0, ...ble },
  });
  const seed = ed25519PrivateKeyFromPem(readFileSync(sim.signingKeyPath, 'utf8'));
  const adapters: SimBleBindings[] = [];
  const transports: BleTransport[] = [];
  let opens = 0;
  const options: OpenKeyOptions = {
    hostKey: join(dir, 'home', 'host-key.pem'),
    known: join(dir, 'home', 'known-keys.json'),
    random: () => 0.5,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
    reconnect: { attempts: 5, baseMs: 10, maxMs: 20 },
    transport: (address) => {
      opens++;
      const o = perOpen(opens);
      const t = new BleTransport({
        target: address.slice('ble:'.length),
        adapter: () => {
          const b = sim.bleBindings(o);
          adapters.push(b);
          return b;
        },
        scanTimeoutMs: 5000,
      });
      transports.push(t);
      return t;
    },
  };
  return { sim, seed, options, adapters, transports, address: sim.keys()[0]?.ble as string };
}

for (const link of [
  { phy: '2M', mtu: 247, dle: true },
  { phy: '1M', mtu: 23, dle: false },
] as const) {
  test.serial(
    `real noble, ${link.phy} PHY, MTU ${link.mtu}: info, pair, session, attest, flash upload → confirm through the Key facade`,
    async (t) => {
      const { sim, seed, options, adapters, transports, address } = await setup({ link });
      t.is(address, 'ble:Enigm-K0');
      const key = await openKey(address, options);
      try {
        const info = await key.info();
        t.is(info.model, 'enigm-key-1');
        t.is(transports[0]?.link?.fragment, link.mtu - 3, 'fragments of the negotiated ATT_MTU − 3');
        const p = await key.pair('owner', { label: 'ble-test' });
        t.regex(p.identity, /^[0-9a-f]{64}$/);
        await key.session();
        const ev = await key.attest(new Uint8Array(32).fill(5));
        t.deepEqual(ev.claims.nonce, new Uint8Array(32).fill(5));
        t.is(Buffer.from(ev.identity).toString('hex'), p.identity);
        const steps: string[] = [];
        const r = await key.flash(bleImage(seed, '2.0.0', 2, 24_000), { onStep: (s) => steps.push(s) });
        t.deepEqual(steps, ['upload', 'finish', 'test', 'health', 'confirm']);
        t.is(r.status?.running.version, '2.0.0');
        t.is(key.hello.firmware, '2.0.0', 'reconnected over BLE to the rebooted Key');
      } finally {
        await key.close();
        await sim.stop();
      }
      for (const a of adapters)
        t.is(
          a.listenerCount('read') + a.listenerCount('write') + a.listenerCount('disconnect'),
          0,
          'no listener left on the adapter',
        );
    },
  );
}

test.serial(
  'fragments lost, duplicated and reordered (seeded): typed fragment errors, requests retried, info and a flash upload complete',
  async (t) => {
    const { sim, seed, options, transports, address } = await setup({
      link: { phy: '2M', mtu: 185 },
      faults: { loss: 0.01, duplicate: 0.02, reorder: 0.02, seed: 7 },
    });
    const key = await openKey(address, { ...options, timeoutMs: 300, retries: 8 });
    try {
      for (let i = 0; i < 20; i++) await key.ping(new Uint8Array(400).fill(i));
      await key.pair('provisioning');
      const r = await key.flash(bleImage(seed, '1.1.0', 1, 30_000), { until: 'upload' });
      t.is(r.done, 'upload');
      t.is((await key.fwStatus()).secondary?.state, 'ready');
      const errors = transports.reduce((n, tr) => n + tr.fragmentErrors, 0);
      const retries = key.client.stats.retries;
      t.true(errors + retries > 0, `faults were injected and seen (fragment errors ${errors}, retries ${retries})`);
    } finally {
      await key.close();
      await sim.stop();
    }
  },
);

test.serial(
  'link lost mid-flash: the facade reconnects and the upload resumes from the Key offset, as over serial',
  async (t) => {
    // the second open (the flash's link) drops after 60 fragments; later opens are clean
    const { sim, seed, options, adapters, address } = await setup({ link: { phy: '2M', mtu: 247 } }, (open) =>
      open === 2 ? { linkLossAfterFragments: 60 } : {},
    );
    const key = await openKey(address, options);
    try {
      await key.pair('owner');
      await key.reconnect(undefined, { attempts: 1 }); // open #2: the link that will be lost
      const starts = new Set<number>();
      const r = await key.flash(bleImage(seed, '1.2.0', 1, 60_000), {
        until: 'upload',
        onProgress: (p) => starts.add(p.resumedFrom),
      });
      t.is(r.done, 'upload');
      t.true(adapters.length >= 3, `opened ${adapters.length} links`);
      const resumed = Math.max(...starts);
      t.true(resumed > 0, `a second run resumed from the Key's offset (${[...starts].join(', ')})`);
      t.is((await key.fwStatus()).secondary?.state, 'ready');
    } finally {
      await key.close();
      await sim.stop();
    }
  },
);

test.serial(
  'keepalive while the Key is busy: modelled erase time, the Key sends keepalives over BLE and the upload completes',
  async (t) => {
    const { sim, seed, options, address } = await setup({ link: { phy: '1M', mtu: 185 } }, () => ({}), 40);
    const key = await openKey(address, { ...options, timeoutMs: 200 });
    try {
      await key.pair('provisioning');
      const r = await key.flash(bleImage(seed, '1.3.0', 1, 64 * 1024), { until: 'upload' });
      t.is(r.done, 'upload');
      t.true(key.client.stats.keepalives > 0, `keepalives ${key.client.stats.keepalives}`);
    } finally {
      await key.close();
      await sim.stop();
    }
  },
);

test.serial(
  'the Key losing power drops its BLE link (remote disconnect) and stops advertising; power back, it answers again',
  async (t) => {
    const { sim, options, address, adapters } = await setup({ link: { phy: '2M', mtu: 247 } });
    const key = await openKey(address, { ...options, reconnect: { attempts: 1 } });
    try {
      await key.info();
      sim.controls(0).setPower(false);
      const e = await t.throwsAsync(key.info());
      t.regex(String((e as { code?: string }).code), /^(KEY_CLOSED|KEY_RECONNECT_FAILED|TRANSPORT_NOT_FOUND|TRANSPORT_CLOSED)$/);
      t.is(adapters[0]?.listenerCount('read'), 0);
      sim.controls(0).setPower(true);
      await key.reconnect(undefined, { attempts: 3 });
      t.is((await key.info()).model, 'enigm-key-1');
    } finally {
      await key.close();
      await sim.stop();
    }
  },
);

test.serial(
  'BLE links and frames reach the simulator event stream (the dashboard timeline) as ble#N, metadata only',
  async (t) => {
    const { sim, options, address } = await setup({ link: { phy: '2M', mtu: 247 } });
    const events: { type: string; link?: string; phase?: string; messageType?: string }[] = [];
    const off = sim.onEvent((e) => events.push(e as (typeof events)[number]));
    const key = await openKey(address, options);
    try {
      await key.info();
    } finally {
      await key.close();
      // The simulator sees the disconnect on its own time: wait for it (a fixed 20 ms was short under load).
      const closedSeen = () => events.some((e) => e.type === 'link' && e.phase === 'closed');
      for (const end = Date.now() + 10_000; !closedSeen() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
      off();
      await sim.stop();
    }
    const links = events.filter((e) => e.type === 'link').map((e) => `${e.link} ${e.phase}`);
    t.deepEqual(links, ['ble#1 open', 'ble#1 closed']);
    const frames = events.filter((e) => e.type === 'frame');
    t.true(
      frames.some((f) => f.link === 'ble#1' && f.messageType === 'info'),
      'an info frame on ble#1',
    );
  },
);
