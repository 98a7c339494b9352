/**
 * BleTransport (the real @stoprocent/noble) over the simulator's virtual adapter passes the
 * transport contract (transport-contract.ts), in-process and across the adapter's loopback wire.
 * The peer is a raw GATT peripheral (sim/src/io/ble/peripheral.ts with a byte sink instead of a
 * Key), so the contract sees exactly the bytes: fragmentation to ATT_MTU − 3 and reassembly
 * (HARDWARE.md "Bluetooth Low Energy") at MTU 23 and 247. Also: only transport/ble imports noble.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BleAdapterServer, SimBleBindings, type SimBleOptions } from '@enigm/sim';
import test from 'ava';
import fc from 'fast-check';
import { BleTransport } from '../src/transport/ble/ble.ts';
import { rawPeer } from './ble-peer.ts';
import { RecordingSink, transportContract, waitUntil } from './transport-contract.ts';

function pairOver(options: SimBleOptions, remote: boolean) {
  return async () => {
    const peer = rawPeer();
    const made: SimBleBindings[] = [];
    const make = () => {
      const b = new SimBleBindings(peer.radio, options);
      made.push(b);
      return b;
    };
    let server: BleAdapterServer | undefined;
    let adapter: string | (() => unknown) = make;
    if (remote) {
      server = new BleAdapterServer(make);
      adapter = await server.listen(0);
    }
    return {
      host: new BleTransport({ target: 'Enigm-T0', adapter, scanTimeoutMs: 5000 }),
      peer: {
        write: peer.write,
        onData: peer.onData,
        close: async () => {
          for (const b of made) b.remoteDisconnect(peer.peripheral.id);
        },
      },
      cleanup: async () => {
        for (const b of made) b.stop();
        await server?.close();
      },
    };
  };
}

transportContract('ble, real noble, virtual adapter in-process, MTU 247 2M', pairOver({ link: { mtu: 247, phy: '2M' } }, false));
transportContract(
  'ble, real noble, virtual adapter over loopback, MTU 23 1M no DLE',
  pairOver({ link: { mtu: 23, phy: '1M', dle: false } }, true),
);

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (f === 'node_modules' || f.startsWith('.')) return [];
    if (statSync(p).isDirectory()) return sources(p);
    return /\.(ts|mts|js|mjs)$/.test(f) ? [p] : [];
  });
}

test('only key-firmware-host/src/transport/ble imports @stoprocent/noble', (t) => {
  const importers = ['protocols', 'mqtt', 'key-firmware-host', 'sim', 'attestation', 'os-agent', 'tools']
    .flatMap((pkg) => sources(join(ROOT, pkg, 'src')))
    .filter((f) => /from\s+['"]@stoprocent\/noble|require\(['"]@stoprocent\/noble/.test(readFileSync(f, 'utf8')))
    .map((f) => f.slice(ROOT.length + 1));
  t.true(importers.length > 0);
  t.deepEqual(
    importers.filter((f) => !f.startsWith('key-firmware-host/src/transport/ble/')),
    [],
  );
});

test.serial(
  'any negotiated MTU 23..517, PHY and DLE: every write is at most min(MTU − 3, the Key’s 244), bytes arrive exact both ways (fast-check, 12 runs)',
  async (t) => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 23, max: 517 }),
        fc.constantFrom('1M' as const, '2M' as const),
        fc.boolean(),
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { minLength: 1, maxLength: 4 }),
        async (mtu, phy, dle, pieces) => {
          const peer = rawPeer();
          const b = new SimBleBindings(peer.radio, { link: { mtu, phy, dle } });
          let largest = 0;
          const write = b.write.bind(b);
          b.write = (...args: Parameters<SimBleBindings['write']>) => {
            largest = Math.max(largest, args[3].length);
            write(...args);
          };
          const got: Uint8Array[] = [];
          peer.onData((x) => got.push(x));
          const host = new BleTransport({ target: 'Enigm-T0', adapter: () => b });
          const sink = new RecordingSink();
          try {
            await host.open(sink);
            for (const p of pieces) await host.send(p);
            const up = Buffer.concat(pieces);
            await waitUntil(() => got.reduce((n, x) => n + x.length, 0) >= up.length, 'bytes at the peer', 10_000);
            const down = Buffer.from(up).reverse();
            await peer.write(down);
            await waitUntil(() => sink.received >= down.length, 'bytes at the host', 10_000);
            return (
              largest <= Math.min(mtu - 3, 244) &&
              host instanceof BleTransport &&
              Buffer.concat(got).equals(up) &&
              Buffer.from(sink.bytes()).equals(down)
            );
          } finally {
            await host.close();
          }
        },
      ),
      { numRuns: 12 },
    );
    t.pass();
  },
);
