/**
 * The one place the host loads `@stoprocent/noble` (a test checks no other source imports it).
 *
 * Noble runs on a bindings object: the platform's own (HCI sockets on Linux, CoreBluetooth,
 * WinRT), or the simulator's virtual adapter. Which one comes from {@link BleAdapterChoice}, by
 * default from `ENIGM_BLE_ADAPTER`:
 * - unset or `system`: noble's platform bindings (loaded lazily, from `node_modules`, at the
 *   first BLE open: a CLI that never opens BLE never loads the native HCI addon);
 * - `tcp://127.0.0.1:PORT`: the simulator's virtual adapter at that address;
 * - `sim` or `sim:DIR`: the virtual adapter of the simulator whose state folder is DIR (default
 *   `$ENIGM_SIM_DIR`, else `.sim-state`), read from its `simulator.json` (`bleAdapter`).
 * The real noble runs on top in every case.
 *
 * Noble's platform bindings print their own warnings on the console (`noble warning: adapter does
 * not support Bluetooth Low Energy …` and indented continuation lines, through `console.log`;
 * `noble: …` through `console.warn`) before our typed error says the same.
 * {@link muteNobleConsole} drops exactly those lines while a transport uses noble; everything
 * else printed meanwhile passes. Noble's `debug` log (`DEBUG=noble*`) is not affected.
 * @module
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Noble } from '@stoprocent/noble';
import NobleClass from '@stoprocent/noble/lib/noble.js';
import { TransportError } from '../transport.ts';
import { RemoteBleBindings } from './remote-bindings.ts';

export type { Characteristic, Noble, Peripheral } from '@stoprocent/noble';

/** Makes a fresh noble bindings object (one per open). */
export type BleAdapter = () => unknown;

/** Which adapter: a factory, `system`, `sim[:DIR]` or `tcp://127.0.0.1:PORT` (see the module documentation). */
export type BleAdapterChoice = BleAdapter | string;

/** The noble version these bindings and the simulator's adapter are checked against. */
export const NOBLE_VERSION = '2.8.0';

/**
 * A Noble instance on `bindings`.
 * @throws never (noble starts its bindings on first use)
 */
export function createNoble(bindings: unknown): Noble {
  return new NobleClass(bindings);
}

/** How a line noble prints begins: its warnings, and the 15-space indent of their continuation lines. */
const NOBLE_LINE = /^noble(?: warning)?: /;
const CONTINUATION = /^\s/;

let muters = 0;
let installed:
  | { log: typeof console.log; warn: typeof console.warn; ourLog: typeof console.log; ourWarn: typeof console.warn }
  | undefined;

/** A console method that drops noble's lines (and the indented lines printed directly after one, in the same turn). */
function filtered(original: (...args: unknown[]) => void): (...args: unknown[]) => void {
  let continuing = false;
  return (...args: unknown[]) => {
    const first = args[0];
    if (typeof first === 'string' && (NOBLE_LINE.test(first) || (continuing && CONTINUATION.test(first)))) {
      if (!continuing) {
        continuing = true;
        process.nextTick(() => {
          continuing = false;
        });
      }
      return;
    }
    continuing = false; // a continuation follows its warning directly
    original(...args);
  };
}

/**
 * Drops noble's own console warnings until the returned function is called (nested and
 * concurrent uses are counted; the console is restored when the last ends, unless something else
 * replaced its methods meanwhile).
 * @returns the function that ends this use (idempotent)
 * @throws never
 */
export function muteNobleConsole(): () => void {
  if (muters++ === 0) {
    const log = console.log;
    const warn = console.warn;
    const ourLog = filtered(log);
    const ourWarn = filtered(warn);
    installed = { log, warn, ourLog, ourWarn };
    console.log = ourLog;
    console.warn = ourWarn;
  }
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    if (--muters > 0 || !installed) return;
    if (console.log === installed.ourLog) console.log = installed.log;
    if (console.warn === installed.ourWarn) console.warn = installed.warn;
    installed = undefined;
  };
}

function systemBindings(): unknown {
  // Not bundled: the platform bindings load native addons, resolved next to the installed CLI.
  const require = createRequire(import.meta.url);
  let resolve: (type: string) => { _bindings: unknown };
  try {
    resolve = require('@stoprocent/noble/lib/resolve-bindings.js');
  } catch (e) {
    throw new TransportError(
      'TRANSPORT_ADAPTER_UNSUPPORTED',
      `noble's platform bindings cannot be loaded (${(e as Error).message}); install the CLI with its dependencies, or set ENIGM_BLE_ADAPTER=sim for the simulator`,
      { cause: e },
    );
  }
  try {
    return resolve('default')._bindings;
  } catch (e) {
    throw new TransportError('TRANSPORT_ADAPTER_UNSUPPORTED', `no Bluetooth LE support here: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/**
 * The virtual adapter address of the simulator in state folder `dir`.
 * @throws {@link TransportError} `TRANSPORT_ADAPTER_UNSUPPORTED` if no simulator with BLE runs there
 */
export function simulatorAdapterAddress(dir: string): string {
  const file = join(dir, 'simulator.json');
  let address: unknown;
  try {
    address = (JSON.parse(readFileSync(file, 'utf8')) as { bleAdapter?: unknown }).bleAdapter;
  } catch (e) {
    throw new TransportError('TRANSPORT_ADAPTER_UNSUPPORTED', `no running simulator in ${dir} (${file} unreadable)`, {
      cause: e,
    });
  }
  if (typeof address !== 'string' || !/^tcp:\/\/127\.0\.0\.1:\d{1,5}$/.test(address))
    throw new TransportError(
      'TRANSPORT_ADAPTER_UNSUPPORTED',
      `the simulator in ${dir} has no virtual BLE adapter: start it with 'enigm sim start --ble'`,
    );
  return address;
}

/**
 * The bindings factory a choice names.
 * @param choice - a factory, or a string as `ENIGM_BLE_ADAPTER` takes; default the environment
 * @throws {@link TransportError} `TRANSPORT_BAD_ADDRESS` for a value it does not understand
 */
export function resolveBleAdapter(choice: BleAdapterChoice | undefined = process.env.ENIGM_BLE_ADAPTER): BleAdapter {
  if (typeof choice === 'function') return choice;
  const value = (choice ?? '').trim();
  if (value === '' || value === 'system') return systemBindings;
  if (value === 'sim' || value.startsWith('sim:')) {
    const dir = value === 'sim' ? (process.env.ENIGM_SIM_DIR ?? '.sim-state') : value.slice(4);
    return () => new RemoteBleBindings(simulatorAdapterAddress(dir));
  }
  if (/^tcp:\/\/[^/]+:\d{1,5}$/.test(value)) return () => new RemoteBleBindings(value);
  throw new TransportError(
    'TRANSPORT_BAD_ADDRESS',
    `ENIGM_BLE_ADAPTER=${JSON.stringify(value)} is not understood: use system, sim, sim:DIR or tcp://127.0.0.1:PORT`,
  );
}
