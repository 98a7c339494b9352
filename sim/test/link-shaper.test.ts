/**
 * Checks the UART link model (HARDWARE.md "UART"; docs/firmware.md "Link model"): bytes are never
 * delivered faster than baud/10 bytes per second (8N1), order is kept, latency is added per chunk.
 * Only lower bounds are asserted on time (the model must not be optimistic); speed itself is
 * measured by `npm run bench -- flash`.
 */
import test from 'ava';
import { lineBytesPerSecond, ShapedPipe } from '../src/runtime/link-shaper.ts';

test('8N1: 115200 baud carries 11520 bytes per second', (t) => {
  t.is(lineBytesPerSecond({ baud: 115200 }), 11520);
  t.is(lineBytesPerSecond({ baud: 3_000_000 }), 300_000);
});

test('never faster than the line, order preserved', async (t) => {
  const got: number[] = [];
  const start = performance.now();
  let doneAt = 0;
  const total = 46080; // 0.5 s at 921600 baud
  await new Promise<void>((resolve) => {
    let n = 0;
    const pipe = new ShapedPipe({ baud: 921_600 }, (c) => {
      got.push(c[0] as number);
      n += c.length;
      if (n === total) {
        doneAt = performance.now();
        resolve();
      }
    });
    for (let i = 0; i < 45; i++) pipe.push(new Uint8Array(1024).fill(i));
  });
  t.deepEqual(
    got,
    Array.from({ length: 45 }, (_, i) => i),
  );
  const ms = doneAt - start;
  t.true(ms >= 500 - 1, `delivered in ${ms.toFixed(1)} ms, the line needs 500 ms`);
  // No upper bound: a loaded machine may deliver late; a pipe that stalls never resolves the
  // promise above and fails the run by ava's inactivity timeout.
});

test('latency is added after the last byte of each chunk; close drops the queue', async (t) => {
  const start = performance.now();
  const at = await new Promise<number>((resolve) => {
    const pipe = new ShapedPipe({ baud: 1_000_000, latencyMs: 30 }, () => resolve(performance.now()));
    pipe.push(new Uint8Array(1000)); // 10 ms on the line
  });
  t.true(at - start >= 40 - 1);
  let delivered = 0;
  const pipe = new ShapedPipe({ baud: 1_000_000 }, () => delivered++);
  pipe.push(new Uint8Array(100));
  pipe.close();
  await new Promise((r) => setTimeout(r, 20));
  t.is(delivered, 0);
  t.throws(() => new ShapedPipe({ baud: 0 }, () => {}), { instanceOf: RangeError });
});
