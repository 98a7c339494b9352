/**
 * The simulator's virtual adapter (sim/src/io/ble/bindings.ts) against the installed
 * @stoprocent/noble: the simulator implements noble's bindings contract structurally (it may not
 * import noble), so this test is what makes an upgrade that changes the contract fail loudly:
 * - the installed version is the one checked (an upgrade is a deliberate edit of NOBLE_VERSION);
 * - every event the adapter emits is one noble listens to, with the arity noble's handler has;
 * - every bindings method noble calls for what the transport does exists on both adapters;
 * - the real Noble class, driven over the simulated bindings (in-process and over the loopback
 *   wire), scans with the service filter, connects, learns the MTU, discovers the service with
 *   its properties, reads the info value, subscribes, writes, receives notifications, sees a
 *   disconnect and adapter states.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  ADAPTER_EVENTS,
  ADAPTER_METHODS,
  decodeBleInfo,
  ENIGM_GATT_SERVICE,
  ENIGM_INFO_UUID,
  ENIGM_REQUEST_UUID,
  ENIGM_RESPONSE_UUID,
  ENIGM_SERVICE_UUID,
  FragmentDecoder,
  FragmentEncoder,
} from '@enigm/protocols/ble';
import { BleAdapterServer, SimBleBindings } from '@enigm/sim';
import test from 'ava';
import { createNoble, NOBLE_VERSION, type Peripheral } from '../src/transport/ble/noble.ts';
import { RemoteBleBindings } from '../src/transport/ble/remote-bindings.ts';
import { rawPeer } from './ble-peer.ts';

const require = createRequire(import.meta.url);
const nobleDir = require.resolve('@stoprocent/noble/package.json').replace(/package\.json$/, '');

test('the installed noble is the version the adapter was checked against', (t) => {
  t.is(JSON.parse(readFileSync(`${nobleDir}package.json`, 'utf8')).version, NOBLE_VERSION);
});

test("every adapter event is one noble's Noble listens to on its bindings, with the handler arity of this version", (t) => {
  const recorder = new EventEmitter();
  const noble = createNoble(Object.assign(recorder, { start: () => undefined }));
  void noble.state; // initialises: noble registers its listeners on the bindings
  const heard = new Set(recorder.eventNames().map(String));
  for (const e of ADAPTER_EVENTS) t.true(heard.has(e), `noble listens to '${e}'`);
  // handler arities (a changed signature means the adapter's argument order must be re-checked)
  const arity: Record<string, number> = {
    _onStateChange: 1,
    _onDiscover: 7,
    _onConnect: 2,
    _onDisconnect: 1,
    _onMtu: 2,
    _onServicesDiscover: 3,
    _onCharacteristicsDiscover: 4,
    _onRead: 6,
    _onWrite: 4,
    _onNotify: 5,
  };
  const proto = Object.getPrototypeOf(noble) as Record<string, (...a: unknown[]) => unknown>;
  for (const [name, n] of Object.entries(arity)) t.is(proto[name]?.length, n, `${name} takes ${n} arguments`);
  noble.removeAllListeners();
});

test('every bindings method noble calls for scan, connect, GATT and stop exists on both adapters', (t) => {
  const source = readFileSync(`${nobleDir}lib/noble.js`, 'utf8');
  const called = new Set([...source.matchAll(/this\._bindings\.([a-zA-Z]+)\(/g)].map((m) => m[1] as string));
  const sim = new SimBleBindings({ peripherals: () => [] });
  const remote = new RemoteBleBindings('tcp://127.0.0.1:9');
  for (const m of [...ADAPTER_METHODS, 'addressToId', 'setScanParameters']) {
    t.true(called.has(m) || m === 'start', `noble still calls bindings.${m}`);
    t.is(typeof (sim as unknown as Record<string, unknown>)[m], 'function', `SimBleBindings.${m}`);
    t.is(typeof (remote as unknown as Record<string, unknown>)[m], 'function', `RemoteBleBindings.${m}`);
  }
});

for (const remote of [false, true]) {
  test.serial(
    `the real Noble over the simulated bindings${remote ? ' across the loopback wire' : ''}: scan, connect, MTU, discover, read, subscribe, write, notify, disconnect`,
    async (t) => {
      const peer = rawPeer('Enigm-C0');
      const made: SimBleBindings[] = [];
      const make = () => {
        const b = new SimBleBindings(peer.radio, { link: { mtu: 185 } });
        made.push(b);
        return b;
      };
      const server = remote ? new BleAdapterServer(make) : undefined;
      const bindings = server ? new RemoteBleBindings(await server.listen(0)) : make();
      const noble = createNoble(bindings);
      try {
        await noble.waitForPoweredOnAsync(5000);
        t.is(noble.state, 'poweredOn');
        const found = new Promise<Peripheral>((resolve) => noble.once('discover', resolve));
        await noble.startScanningAsync([ENIGM_SERVICE_UUID], false);
        const p = await found;
        await noble.stopScanningAsync();
        t.is(p.advertisement.localName, 'Enigm-C0');
        t.deepEqual(p.advertisement.serviceUuids, [ENIGM_SERVICE_UUID]);
        t.is(p.id, peer.peripheral.id);
        await p.connectAsync();
        t.is(p.state, 'connected');
        if (p.mtu === null) await new Promise((r) => p.once('mtu', r));
        t.is(p.mtu, 185);
        const { characteristics } = await p.discoverSomeServicesAndCharacteristicsAsync([ENIGM_SERVICE_UUID], []);
        t.deepEqual(
          characteristics.map((c) => [c.uuid, [...c.properties].sort()]),
          ENIGM_GATT_SERVICE.characteristics.map((c) => [c.uuid, [...c.properties].sort()]),
        );
        const char = (u: string) => characteristics.find((c) => c.uuid === u) as (typeof characteristics)[number];
        t.is(decodeBleInfo(await char(ENIGM_INFO_UUID).readAsync()).revision, 1);
        const got: Uint8Array[] = [];
        peer.onData((b) => got.push(b));
        const notes: Buffer[] = [];
        char(ENIGM_RESPONSE_UUID).on('data', (d: Buffer, isNotification: boolean) => isNotification && notes.push(d));
        await char(ENIGM_RESPONSE_UUID).subscribeAsync();
        for (const f of new FragmentEncoder().encode(Uint8Array.of(1, 2, 3), 182))
          await char(ENIGM_REQUEST_UUID).writeAsync(Buffer.from(f), true);
        for (let i = 0; i < 1000 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10)); // ≥ 10 s bound: a loaded machine
        t.deepEqual(
          got.map((b) => [...b]),
          [[1, 2, 3]],
        );
        await peer.write(Uint8Array.of(9, 8));
        for (let i = 0; i < 1000 && notes.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
        const dec = new FragmentDecoder({ maxSdu: 100, maxFragment: 182 });
        t.deepEqual(
          notes.flatMap((n) => dec.push(new Uint8Array(n))).map((e) => (e.kind === 'sdu' ? [...e.sdu] : e.error.code)),
          [[9, 8]],
        );
        const gone = new Promise((r) => p.once('disconnect', r));
        for (const b of made) b.remoteDisconnect(p.id);
        t.is(await gone, 0x13);
        t.is(p.state, 'disconnected');
        const off = new Promise((r) => noble.once('stateChange', r));
        for (const b of made) b.setState('poweredOff');
        t.is(await off, 'poweredOff');
      } finally {
        noble.stop();
        noble.removeAllListeners();
        (bindings as EventEmitter).removeAllListeners();
        await server?.close();
      }
    },
  );
}
