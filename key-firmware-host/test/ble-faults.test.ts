/**
 * BLE faults (issue 15 "Bad input and faults", HARDWARE.md "Bluetooth Low Energy"), each a named
 * error, bounded in time, with no listener left on the adapter: an adapter that is off or
 * unsupported, a virtual adapter that cannot be reached, a Key that is not advertising, a Key
 * that advertises but never answers, a disconnect mid-request, the adapter going off mid-session.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlePeripheral, SimBleBindings, type SimBleOptions, Simulator } from '@enigm/sim';
import test from 'ava';
import { KeyError } from '../src/client/errors.ts';
import { openKey } from '../src/key/key.ts';
import { BleTransport } from '../src/transport/ble/ble.ts';
import { TransportError, type TransportErrorCode } from '../src/transport/transport.ts';
import { rawPeer } from './ble-peer.ts';
import { RecordingSink, waitUntil } from './transport-contract.ts';

const EVENTS = ['stateChange', 'discover', 'connect', 'disconnect', 'read', 'write', 'notify', 'onMtu', 'scanStart', 'scanStop'];
const listeners = (b: SimBleBindings) => EVENTS.reduce((n, e) => n + b.listenerCount(e), 0);

async function openFails(t: import('ava').ExecutionContext, transport: BleTransport, code: TransportErrorCode, message?: RegExp) {
  const error = await t.throwsAsync(transport.open(new RecordingSink()), { instanceOf: TransportError });
  t.is(error?.code, code);
  if (message) t.regex(error?.message ?? '', message);
  t.false(transport.isOpen);
  return error;
}

for (const [state, code] of [
  ['poweredOff', 'TRANSPORT_ADAPTER_OFF'],
  ['unsupported', 'TRANSPORT_ADAPTER_UNSUPPORTED'],
] as const) {
  test(`adapter ${state} → ${code}, nothing left listening`, async (t) => {
    const peer = rawPeer();
    const b = new SimBleBindings(peer.radio, { state });
    await openFails(t, new BleTransport({ target: 'Enigm-T0', adapter: () => b }), code);
    t.is(listeners(b), 0);
  });
}

test('virtual adapter unreachable (nothing listens on its port) → TRANSPORT_ADAPTER_UNSUPPORTED naming why', async (t) => {
  // Port 1 (tcpmux, privileged): nothing of the suite listens there. A port closed just before
  // could be taken meanwhile by another test file's server.
  const port = 1;
  await openFails(
    t,
    new BleTransport({ target: 'Enigm-T0', adapter: `tcp://127.0.0.1:${port}` }),
    'TRANSPORT_ADAPTER_UNSUPPORTED',
    /ECONNREFUSED/,
  );
});

test('ENIGM_BLE_ADAPTER=sim:DIR without a simulator there → TRANSPORT_ADAPTER_UNSUPPORTED; a bad value → TRANSPORT_BAD_ADDRESS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-ble-none-'));
  try {
    await openFails(
      t,
      new BleTransport({ target: 'Enigm-T0', adapter: `sim:${dir}` }),
      'TRANSPORT_ADAPTER_UNSUPPORTED',
      /no running simulator/,
    );
    await openFails(t, new BleTransport({ target: 'Enigm-T0', adapter: 'bluez-please' }), 'TRANSPORT_BAD_ADDRESS');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no such Key advertising → TRANSPORT_NOT_FOUND after the scan time, scanning stopped', async (t) => {
  const peer = rawPeer();
  const b = new SimBleBindings(peer.radio);
  await openFails(
    t,
    new BleTransport({ target: 'Enigm-Other', adapter: () => b, scanTimeoutMs: 300 }),
    'TRANSPORT_NOT_FOUND',
    /Enigm-Other/,
  );
  t.is(listeners(b), 0);
});

test('a Key that advertises but never answers a connection → TRANSPORT_TIMEOUT, no hang, nothing left listening', async (t) => {
  const silent = new BlePeripheral({
    label: 'silent',
    name: 'Enigm-Mute',
    address: 'c0:de:00:00:0f:01',
    silent: true,
    openLink: () => ({ receive: () => undefined, resume: () => undefined, close: () => undefined }),
  });
  const b = new SimBleBindings({ peripherals: () => [silent] });
  await openFails(
    t,
    new BleTransport({ target: 'Enigm-Mute', adapter: () => b, operationTimeoutMs: 300 }),
    'TRANSPORT_TIMEOUT',
    /connect/,
  );
  t.is(listeners(b), 0);
});

async function simKey(ble: SimBleOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-ble-faults-'));
  const sim = await Simulator.start({ keys: 1, stateDir: dir, serial: false, tcp: false, ble: { timeScale: 0, ...ble } });
  const adapters: SimBleBindings[] = [];
  const key = await openKey('ble:Enigm-K0', {
    hostKey: join(dir, 'host-key.pem'),
    known: join(dir, 'known.json'),
    reconnect: { attempts: 2, baseMs: 5, maxMs: 10 },
    transport: () =>
      new BleTransport({
        target: 'Enigm-K0',
        adapter: () => {
          const b = sim.bleBindings();
          adapters.push(b);
          return b;
        },
      }),
  });
  return {
    sim,
    key,
    adapters,
    cleanup: async () => {
      await key.close();
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test.serial('a disconnect mid-request → the request fails KEY_CLOSED at once; a reconnect brings the Key back', async (t) => {
  const { key, adapters, cleanup } = await simKey();
  try {
    await key.info();
    // the link drops right after the request's second fragment went out: the Key has part of it
    const b = adapters[0] as SimBleBindings;
    const write = b.write.bind(b);
    let fragments = 0;
    b.write = (...args: Parameters<SimBleBindings['write']>) => {
      write(...args);
      if (++fragments === 2) b.dropLink(args[0]);
    };
    const pending = key.ping(new Uint8Array(1000).fill(1));
    const e = await t.throwsAsync(pending, { instanceOf: KeyError });
    t.is(e?.code, 'KEY_CLOSED');
    await key.reconnect();
    t.is((await key.info()).model, 'enigm-key-1');
    t.is(listeners(adapters[0] as SimBleBindings), 0, 'the lost link left nothing listening');
  } finally {
    await cleanup();
  }
});

test.serial(
  'the adapter turned off mid-session → the link closes with TRANSPORT_CLOSED; requests fail named, not hang',
  async (t) => {
    const { key, adapters, cleanup } = await simKey();
    try {
      await key.info();
      adapters[0]?.setState('poweredOff');
      const e = await t.throwsAsync(key.info());
      t.regex(String((e as { code?: string }).code), /^(KEY_CLOSED|KEY_RECONNECT_FAILED|TRANSPORT_CLOSED)$/);
      t.is(listeners(adapters[0] as SimBleBindings), 0);
    } finally {
      await cleanup();
    }
  },
);

test.serial('send larger than a fragment at MTU 23: chunked to 20-byte writes, one in flight, byte-exact', async (t) => {
  const peer = rawPeer();
  const b = new SimBleBindings(peer.radio, { link: { mtu: 23, dle: false, phy: '1M' } });
  const got: Uint8Array[] = [];
  peer.onData((x) => got.push(x));
  let inFlight = 0;
  let maxInFlight = 0;
  const write = b.write.bind(b);
  b.write = (...args: Parameters<SimBleBindings['write']>) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    t.true(args[3].length <= 20, `fragment of ${args[3].length} bytes`);
    write(...args);
  };
  b.on('write', () => inFlight--);
  const transport = new BleTransport({ target: 'Enigm-T0', adapter: () => b });
  const sink = new RecordingSink();
  try {
    await transport.open(sink);
    const bytes = Uint8Array.from({ length: 3000 }, (_, i) => i * 7);
    await Promise.all([transport.send(bytes.subarray(0, 1500)), transport.send(bytes.subarray(1500))]);
    await waitUntil(() => got.reduce((n, x) => n + x.length, 0) >= 3000, '3000 bytes at the peer', 10_000);
    t.deepEqual(Buffer.concat(got), Buffer.from(bytes));
    t.is(maxInFlight, 1, 'never two writes in flight');
    t.is(transport.link?.fragment, 20);
  } finally {
    await transport.close();
  }
});
