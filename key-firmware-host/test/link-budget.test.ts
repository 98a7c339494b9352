/**
 * The link budget on its own: which bytes count as queued ahead, and which round trips measure
 * the link (only first attempts sent on an idle link, whose answer is a lower bound of the rate).
 */
import test from 'ava';
import { DEFAULT_BYTES_PER_SECOND, LinkBudget, MAX_TRACKED_ATTEMPTS } from '../src/client/link-budget.ts';

test('before any measurement: the nominal rate, else the 115200-baud default', (t) => {
  t.is(new LinkBudget().bytesPerSecond, DEFAULT_BYTES_PER_SECOND);
  t.is(new LinkBudget(92_160).bytesPerSecond, 92_160);
  t.throws(() => new LinkBudget(0), { instanceOf: RangeError });
});

test('an attempt waits for the bytes queued ahead of it, its own and its response', (t) => {
  const b = new LinkBudget(1000); // 1 byte per ms
  const a = b.enqueue(400, 0);
  const c = b.enqueue(600, 0);
  t.is(b.queuedBytes, 1000);
  t.is(b.transitMs(a), 400);
  t.is(b.transitMs(c, 50), 1050);
});

test('an answer consumes everything sent up to it; a dropped attempt stops counting', (t) => {
  const b = new LinkBudget(1000);
  const first = b.enqueue(100, 0);
  const second = b.enqueue(200, 0);
  const third = b.enqueue(300, 0);
  const fourth = b.enqueue(400, 0);
  b.answered(second, 500, 0); // the first was lost or overtaken: it no longer counts either
  t.true(first.done && second.done);
  t.is(b.queuedBytes, 700);
  t.is(b.transitMs(third), 300);
  t.is(b.transitMs(fourth), 700);
  b.drop(third);
  t.is(b.transitMs(fourth), 400);
  t.is(b.queuedBytes, 400);
  b.drop(third); // idempotent
  t.is(b.queuedBytes, 400);
});

test('only idle first attempts measure the link, as a lower bound; the best bound wins', (t) => {
  const b = new LinkBudget(1_000_000);
  const busy = b.enqueue(100, 0);
  const behind = b.enqueue(100, 0); // sent with bytes ahead: its round trip includes queueing
  b.answered(busy, 10, 100); // idle first attempt: (100 + 100) bytes in 10 ms = 20,000 B/s
  t.is(b.measuredBytesPerSecond, 20_000);
  t.is(b.bytesPerSecond, 20_000, 'a measurement replaces the nominal guess');
  b.answered(behind, 11, 100);
  t.is(b.measuredBytesPerSecond, 20_000, 'not idle when sent: no sample');
  const retry = b.enqueue(100, 20, true);
  b.answered(retry, 21, 100); // may answer an earlier attempt: no sample
  t.is(b.measuredBytesPerSecond, 20_000);
  const slow = b.enqueue(100, 30);
  b.answered(slow, 130, 100); // 2,000 B/s: a looser bound, kept out
  t.is(b.measuredBytesPerSecond, 20_000);
  const fast = b.enqueue(1000, 200);
  b.answered(fast, 220, 1000); // 100,000 B/s: a tighter bound
  t.is(b.measuredBytesPerSecond, 100_000);
});

test('bounded: attempts nobody answers (cancelled on a silent Key) never pile up past the bound', (t) => {
  const b = new LinkBudget(1000);
  const first = b.enqueue(10, 0);
  for (let i = 1; i < MAX_TRACKED_ATTEMPTS * 3; i++) b.enqueue(10, i);
  t.is(b.queuedBytes, MAX_TRACKED_ATTEMPTS * 10);
  t.true(first.done, 'the oldest were forgotten');
  const last = b.enqueue(10, 5000);
  t.is(b.transitMs(last), MAX_TRACKED_ATTEMPTS * 10);
});
