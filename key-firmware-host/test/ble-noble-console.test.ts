/**
 * Issue 15 "an adapter that is off: named errors": noble's platform bindings print their own
 * warnings on the console (`noble warning: adapter does not support Bluetooth Low Energy …` and
 * indented continuation lines through `console.log`, `noble: …` through `console.warn`) before the
 * transport's typed `TRANSPORT_ADAPTER_UNSUPPORTED` says the same. While a BLE transport uses
 * noble exactly those lines are dropped (`muteNobleConsole`, `transport/ble/noble.ts`); anything
 * else passes, and the console is restored afterwards.
 */
import { SimBleBindings } from '@enigm/sim';
import test from 'ava';
import { BleTransport, scanBle } from '../src/transport/ble/ble.ts';
import { muteNobleConsole } from '../src/transport/ble/noble.ts';
import { TransportError } from '../src/transport/transport.ts';

/** Replaces console.log and console.warn with recorders for the test; restored in teardown. */
function recordConsole(t: { teardown(f: () => void): void }): string[] {
  const { log, warn } = console;
  const seen: string[] = [];
  console.log = (...a: unknown[]) => seen.push(`log ${a.join(' ')}`);
  console.warn = (...a: unknown[]) => seen.push(`warn ${a.join(' ')}`);
  t.teardown(() => {
    console.log = log;
    console.warn = warn;
  });
  return seen;
}

/** What noble's HCI bindings print for an adapter without BLE, then the state it reports. */
function nobleLines(): void {
  console.log('noble warning: adapter does not support Bluetooth Low Energy (BLE, Bluetooth Smart).');
  console.log('               Try to run with environment variable:');
  console.log('               [sudo] NOBLE_HCI_DEVICE_ID=x node ...');
}

const tick = () => new Promise<void>((r) => setImmediate(r));

test.serial(
  'muted: noble warning lines and their continuations are dropped; other lines pass; the console comes back',
  async (t) => {
    const seen = recordConsole(t);
    const recorder = console.log;
    const end = muteNobleConsole();
    t.not(console.log, recorder);
    nobleLines();
    console.warn('noble: unknown peripheral abc');
    console.log('ours');
    console.log('  an indented line of ours, after one of ours');
    await tick();
    console.log('               indented, in a later turn: not a continuation');
    console.log('noble warning: adapter state unauthorized, please run as root or with sudo');
    console.log(42, 'not a string first');
    end();
    end(); // idempotent
    t.is(console.log, recorder, 'restored');
    nobleLines();
    t.deepEqual(seen, [
      'log ours',
      'log   an indented line of ours, after one of ours',
      'log                indented, in a later turn: not a continuation',
      'log 42 not a string first',
      'log noble warning: adapter does not support Bluetooth Low Energy (BLE, Bluetooth Smart).',
      'log                Try to run with environment variable:',
      'log                [sudo] NOBLE_HCI_DEVICE_ID=x node ...',
    ]);
  },
);

test.serial('nested uses are counted: the console is restored when the last ends, not over a later replacement', (t) => {
  const seen = recordConsole(t);
  const recorder = console.log;
  const a = muteNobleConsole();
  const b = muteNobleConsole();
  a();
  console.log('noble warning: still muted');
  b();
  t.is(console.log, recorder);
  t.deepEqual(seen, []);
  const c = muteNobleConsole();
  const other = (..._a: unknown[]) => undefined;
  console.log = other; // someone else replaced it meanwhile
  c();
  t.is(console.log, other, 'not restored over a later replacement');
});

/** A virtual adapter that, as noble's HCI bindings do, prints its warning before reporting `unsupported`. */
class LoudUnsupported extends SimBleBindings {
  constructor() {
    super({ peripherals: () => [] }, { state: 'unsupported' });
  }
  override start(): void {
    nobleLines();
    super.start();
  }
}

test.serial(
  'an unsupported adapter: open and scan fail with TRANSPORT_ADAPTER_UNSUPPORTED and noble prints nothing',
  async (t) => {
    const seen = recordConsole(t);
    const recorder = console.log;
    const transport = new BleTransport({ target: 'Enigm-K0', adapter: () => new LoudUnsupported() });
    const sink = { data: () => undefined, closed: () => undefined };
    const e = await t.throwsAsync(transport.open(sink), { instanceOf: TransportError });
    t.is(e?.code, 'TRANSPORT_ADAPTER_UNSUPPORTED');
    const s = await t.throwsAsync(scanBle({ adapter: () => new LoudUnsupported(), durationMs: 100 }), {
      instanceOf: TransportError,
    });
    t.is(s?.code, 'TRANSPORT_ADAPTER_UNSUPPORTED');
    await tick();
    t.deepEqual(seen, [], 'none of noble’s lines reached the console');
    t.is(console.log, recorder, 'the console is restored after the failed open and scan');
    await transport.close();
  },
);
