/**
 * The modelled air of a simulated BLE connection (sim/src/io/ble/air.ts): deliveries in
 * modelled-time order across both directions, air time from the link model (Bluetooth Core 5.4
 * Vol 6 Part B), seeded faults (loss, duplication, reordering) that still release the sender's
 * flow control exactly once, and nothing delivered after close.
 */
import { BleAir } from '@enigm/sim';
import test from 'ava';

const LINK = { phy: '2M', dle: true, mtu: 247, connectionIntervalMs: 15 } as const;

/**
 * Lets every delivery already queued run. With `timeScale` 0 the air runs one delivery per
 * macrotask (`setImmediate`), and each delivery arms the next before this helper's next turn, so
 * `turns` turns of the event loop cover `turns` deliveries whatever the machine's load. (A
 * wall-clock sleep does not: a process descheduled for longer than the sleep wakes with the sleep
 * due while deliveries are still queued.)
 */
async function drain(turns = 1000): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

test('deliveries come in modelled-time order; modelled time advances by air time only', async (t) => {
  const air = new BleAir(LINK);
  const seen: string[] = [];
  for (let i = 0; i < 5; i++) air.fragment('up', 244, () => seen.push(`up${i}`));
  air.fragment('down', 20, () => seen.push('down0'));
  await drain();
  // both directions start at the first anchor (0); the short down fragment is on the air less long
  t.deepEqual(seen, ['down0', 'up0', 'up1', 'up2', 'up3', 'up4']);
  // five full fragments at 2M/DLE back to back in one connection event: 5 × ~1.39 ms
  t.true(air.nowUs > 5 * 1300 && air.nowUs < 5 * 1500, `now ${air.nowUs}`);
  t.is(air.stats.up, 5);
  t.is(air.stats.down, 1);
});

test('loss: never delivered, but the sender is told its air time is over, once', async (t) => {
  const air = new BleAir(LINK, { faults: { loss: 1 } });
  let delivered = 0;
  let sent = 0;
  for (let i = 0; i < 10; i++)
    air.fragment(
      'down',
      100,
      () => delivered++,
      () => sent++,
    );
  await drain();
  t.is(delivered, 0);
  t.is(sent, 10);
  t.is(air.stats.lost, 10);
});

test('duplication delivers twice; reordering swaps a fragment with the next one', async (t) => {
  const dup = new BleAir(LINK, { faults: { duplicate: 1 } });
  const d: number[] = [];
  for (let i = 0; i < 3; i++) dup.fragment('up', 50, () => d.push(i));
  const swap = new BleAir(LINK, { faults: { reorder: 1 } });
  const s: number[] = [];
  for (let i = 0; i < 4; i++) swap.fragment('up', 50, () => s.push(i));
  await drain();
  t.deepEqual(d, [0, 0, 1, 1, 2, 2]);
  t.deepEqual(s, [1, 0, 3, 2]);
});

test('faults are seeded: the same seed gives the same pattern', async (t) => {
  const pattern = async (seed: number) => {
    const air = new BleAir(LINK, { faults: { loss: 0.3, seed } });
    const got: number[] = [];
    for (let i = 0; i < 50; i++) air.fragment('up', 30, () => got.push(i));
    await drain();
    return got;
  };
  const a = await pattern(3);
  t.deepEqual(await pattern(3), a);
  t.notDeepEqual(await pattern(4), a);
  t.true(a.length > 20 && a.length < 50);
});

test('close: nothing is delivered afterwards; bad fault probabilities are refused', async (t) => {
  const air = new BleAir(LINK);
  const open = new BleAir(LINK); // the positive control: the same fragment on an air left open arrives
  let n = 0;
  let control = 0;
  air.fragment('up', 10, () => n++);
  open.fragment('up', 10, () => control++);
  air.close();
  await drain();
  t.is(control, 1);
  t.is(n, 0);
  t.throws(() => new BleAir(LINK, { faults: { loss: 2 } }), { instanceOf: RangeError, message: /faults\.loss/ });
  t.throws(() => new BleAir({ ...LINK, mtu: 10 }), { instanceOf: RangeError, message: /mtu/ });
});
