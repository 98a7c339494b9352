/**
 * Checks the Key client (docs/protocol.md "Requests and flow control"): request/response by id,
 * link-aware timeouts, retries that re-send the same id (the Key de-duplicates), cancellation, at
 * most the advertised window in flight, typed errors. Runs the real firmware model over the
 * in-memory twin; time is virtual (the client's injected timers and the Key's clock share a
 * {@link VirtualClock}), so no test waits on a real timer and timing assertions are exact.
 */

import { encodeFrame } from '@enigm/protocols/framing';
import { encodeMessage } from '@enigm/protocols/messages';
import { DeviceLink } from '@enigm/sim';
import type { KeyFirmware } from '@enigm/sim/firmware';
import { makeTestKey } from '@enigm/sim/testing';
import test from 'ava';
import { KeyError } from '../src/client/errors.ts';
import { KeyClient } from '../src/client/key-client.ts';
import { createMemoryLink } from '../src/transport/memory.ts';
import { VirtualClock, virtualLine } from './virtual-clock.ts';

interface Harness {
  clock: VirtualClock;
  fw: KeyFirmware;
  /** Frames the device ignores before answering again. */
  drop: { n: number };
  /** When set, received chunks are held instead of processed. */
  hold: { on: boolean; queue: Uint8Array[] };
  requestsSeen: number;
  /** Virtual times at which request frames reached the Key. */
  arrivals: number[];
  device: ReturnType<typeof createMemoryLink>['device'];
  host: ReturnType<typeof createMemoryLink>['host'];
}

/**
 * A test Key behind the memory twin. With `bytesPerSecond`, both directions cross a modelled UART
 * on the virtual clock; the host transport does not know the rate (the client must measure it).
 */
async function harness(
  opts: { window?: number; chunking?: number; bytesPerSecond?: number; backlog?: Uint8Array[] } = {},
): Promise<Harness> {
  const clock = new VirtualClock();
  const { host, device } = createMemoryLink(opts.chunking ? { chunking: opts.chunking } : {});
  const { fw } = makeTestKey({
    config: { window: opts.window ?? 4 },
    now: {
      get t() {
        return 1000 + clock.now();
      },
    },
  });
  const h: Harness = { clock, fw, drop: { n: 0 }, hold: { on: false, queue: [] }, requestsSeen: 0, arrivals: [], device, host };
  const toHost = (b: Uint8Array) => void device.send(b).catch(() => {});
  const link = new DeviceLink(fw, opts.bytesPerSecond ? virtualLine(clock, opts.bytesPerSecond, toHost) : toHost, 'memory');
  // Count frames as they arrive at the device, and drop the first `drop.n`.
  const receive = (chunk: Uint8Array) => {
    if (h.hold.on) return void h.hold.queue.push(chunk);
    const before = link.stats.framesIn;
    if (h.drop.n > 0) {
      h.drop.n--;
      return;
    }
    link.receive(chunk);
    h.requestsSeen += link.stats.framesIn - before;
    for (let i = before; i < link.stats.framesIn; i++) h.arrivals.push(clock.now());
  };
  const line = opts.bytesPerSecond ? virtualLine(clock, opts.bytesPerSecond, receive) : receive;
  await device.open({ data: line, closed: () => {} });
  // Bytes already on the line towards the Key (e.g. from a host process that was killed).
  for (const frame of opts.backlog ?? []) line(frame);
  return h;
}

const connect = (h: Harness, options: Parameters<typeof KeyClient.connect>[1] = {}) =>
  h.clock.run(KeyClient.connect(h.host, { timers: h.clock, ...options }));

test('connect negotiates: window and max frame come from hello, not configuration', async (t) => {
  const h = await harness({ window: 3 });
  const c = await connect(h);
  t.is(c.link.window, 3);
  t.is(c.link.sendMaxFrame, 4096);
  t.is(c.hello.model, 'enigm-key-1');
  const info = await h.clock.run(c.info());
  t.is(info.state, 'factory');
  await c.close();
});

test('stream reassembly: responses split into 1-byte chunks still arrive', async (t) => {
  const h = await harness({ chunking: 1 });
  const c = await connect(h);
  const data = new Uint8Array(300).map((_, i) => i);
  const r = await h.clock.run(c.ping(data));
  t.true(r.rttMs >= 0);
  t.is(c.stats.badFrames, 0);
  await c.close();
});

test('never more requests in flight than the window; all complete', async (t) => {
  const h = await harness({ window: 3 });
  const c = await connect(h);
  h.hold.on = true;
  const all = Array.from({ length: 20 }, (_, i) => c.ping(new Uint8Array([i])));
  await h.clock.settle();
  t.is(c.inFlight, 3);
  // only 3 request frames reached the device while it held
  t.is(h.hold.queue.length, 3);
  h.hold.on = false;
  const link = new DeviceLink(h.fw, (b) => void h.device.send(b));
  for (const q of h.hold.queue.splice(0)) link.receive(q);
  await h.clock.run(Promise.all(all));
  t.is(c.inFlight, 0);
  t.is(c.stats.retries, 0);
  await c.close();
});

test('a lost request is retried with the same id (identical bytes), after its budget', async (t) => {
  const h = await harness();
  const c = await connect(h, { timeoutMs: 2000, retries: 2 });
  h.drop.n = 1;
  const sentBefore = h.host.sent.length;
  const t0 = h.clock.now();
  const r = await h.clock.run(c.info());
  t.is(r.state, 'factory');
  t.is(c.stats.retries, 1);
  const [a, b] = h.host.sent.slice(sentBefore);
  t.deepEqual(a, b);
  const [retryArrival] = h.arrivals.slice(-1);
  t.true((retryArrival ?? 0) - t0 >= 2000, 'the retry left only after the 2000 ms timeout');
  await c.close();
});

test('a lost response: the retry is answered from the Key cache, not run again', async (t) => {
  const h = await harness();
  const c = await connect(h);
  let garbled = false;
  h.host.corruptNext((chunk) => {
    garbled = true;
    return new Uint8Array(chunk.length).fill(0x55); // the response frame arrives garbled
  });
  const first = await h.clock.run(c.ping());
  t.true(garbled);
  t.is(c.stats.retries, 1);
  t.true(c.stats.badFrames >= 1);
  t.is(h.requestsSeen, 3, 'hello, ping, retried ping all reached the Key');
  const [firstArrival, retryArrival] = h.arrivals.slice(-2) as [number, number];
  t.true(retryArrival - firstArrival >= 2000, 'the retry reached the Key at least one timeout later');
  // Ran once: the Key booted at virtual 0, and the answer carries its uptime when the first attempt
  // arrived; a second run would report the uptime at the retry's arrival, ≥ 2000 ms later.
  t.is(first.uptimeMs, Math.floor(firstArrival));
  await c.close();
});

test('no answer → KEY_TIMEOUT after every retry, each after its full budget', async (t) => {
  const h = await harness();
  const c = await connect(h, { timeoutMs: 500, retries: 2 });
  h.drop.n = 100;
  const t0 = h.clock.now();
  const e = await t.throwsAsync(h.clock.run(c.info()), { instanceOf: KeyError });
  t.is(e?.code, 'KEY_TIMEOUT');
  t.regex(e?.message ?? '', /3 attempts/);
  t.true(h.clock.now() - t0 >= 3 * 500);
  t.true(h.clock.now() - t0 < 3 * 500 + 50, 'link time of a small request on a fast link is small');
  t.is(c.inFlight, 0);
  t.is(c.queuedBytes, 0, 'the lost attempts no longer count as queued');
  await c.close();
});

test('a stalled host: a timer that fires late listens once more before a timeout, and an answer that arrived meanwhile wins (no retry)', async (t) => {
  const h = await harness();
  const c = await connect(h, { timeoutMs: 500, retries: 0 });
  h.hold.on = true;
  const p = c.info();
  await h.clock.settle();
  t.true(h.hold.queue.length > 0, 'the request reached the Key, which holds it');
  // The host is descheduled for 2 s; its deadline (~500 ms) passes meanwhile. The Key's answer
  // comes in the same wake-up, but after the due timer has fired (libuv runs timers before I/O).
  h.clock.stall(2000);
  h.clock.setTimeout(() => {
    h.hold.on = false;
    const link = new DeviceLink(h.fw, (b) => void h.device.send(b));
    for (const q of h.hold.queue.splice(0)) link.receive(q);
  }, 0);
  const info = await h.clock.run(p);
  t.truthy(info);
  t.is(c.stats.retries, 0, 'no retry: the answer was read in the grace period');
  await c.close();
});

test('a stalled host and a silent Key: still KEY_TIMEOUT, after one grace period as long as the stall (at most the timeout)', async (t) => {
  const h = await harness();
  const c = await connect(h, { timeoutMs: 500, retries: 0 });
  h.drop.n = 100;
  const p = c.info();
  await h.clock.settle();
  h.clock.stall(2000);
  const e = await t.throwsAsync(h.clock.run(p), { instanceOf: KeyError });
  t.is(e?.code, 'KEY_TIMEOUT');
  t.is(h.clock.now(), 2500, 'the late timer at 2,000 ms listened 500 ms more (the timeout), then gave up');
  await c.close();
});

test('UART speed: a full window of 4 KiB requests at 115200 baud completes at the default timeout, no retry', async (t) => {
  // 8 × ~4 KiB each way at 11,520 bytes/s: the last request's bytes reach the Key ~2.9 s after it
  // was handed to the transport, longer than the 2000 ms timeout. Deadlines count the bytes
  // queued ahead against the measured link rate, so nothing is retried (a retry would only add
  // bytes to the queue and make the next deadline harder).
  const h = await harness({ window: 8, bytesPerSecond: 11_520 });
  const c = await connect(h);
  const data = new Uint8Array(3900).fill(7);
  const t0 = h.clock.now();
  const all = Array.from({ length: 24 }, () => c.ping(data));
  await h.clock.run(Promise.all(all));
  t.is(c.stats.retries, 0);
  t.is(h.requestsSeen, 1 + 24, 'every request reached the Key exactly once');
  t.true(h.clock.now() - t0 > 24 * 3900 * 2 * (1000 / 11_520) * 0.5, 'the line really was slow');
  t.true(c.linkBytesPerSecond <= 11_520 * 1.000001, `measured ${c.linkBytesPerSecond} B/s is a lower bound`);
  await c.close();
});

test('a slow line the host knows nothing about is measured from the hello exchange', async (t) => {
  // 2400 baud: 240 bytes/s, far below the 115200-baud default guess.
  const h = await harness({ window: 4, bytesPerSecond: 240 });
  const c = await connect(h);
  const all = Array.from({ length: 8 }, () => c.ping(new Uint8Array(400).fill(1)));
  await h.clock.run(Promise.all(all));
  t.is(c.stats.retries, 0);
  t.true(c.linkBytesPerSecond <= 240 * 1.000001 && c.linkBytesPerSecond > 100, `measured ${c.linkBytesPerSecond} B/s`);
  await c.close();
});

test('a lost request on a slow line is still detected: the budget counts only bytes ahead of it', async (t) => {
  const h = await harness({ window: 4, bytesPerSecond: 11_520 });
  const c = await connect(h, { retries: 0 });
  await h.clock.run(c.ping(new Uint8Array(1000)));
  h.drop.n = 1;
  const t0 = h.clock.now();
  const e = await t.throwsAsync(h.clock.run(c.request('info', {}, { retries: 0 })), { instanceOf: KeyError });
  t.is(e?.code, 'KEY_TIMEOUT');
  // ~40 bytes at ≥ 5 KiB/s measured, plus the 2000 ms timeout.
  t.true(h.clock.now() - t0 < 2100, `detected after ${h.clock.now() - t0} ms`);
  await c.close();
});

test('a retry that cannot be rebuilt (the session ended) fails the request with KEY_OUTCOME_UNKNOWN, never throws from a timer', async (t) => {
  const h = await harness();
  const c = await connect(h);
  h.drop.n = 1;
  let calls = 0;
  const refresh = () => {
    calls++;
    throw new Error('the session has ended');
  };
  const e = await t.throwsAsync(h.clock.run(c.request('info', {}, { refresh })), { instanceOf: KeyError });
  t.is(e?.code, 'KEY_OUTCOME_UNKNOWN');
  t.regex(e?.message ?? '', /cannot be retried: the session has ended/);
  t.is(calls, 1);
  t.is(c.inFlight, 0);
  t.is(c.queuedBytes, 0);
  // The client is still usable.
  t.is((await h.clock.run(c.info())).state, 'factory');
  await c.close();
});

test('the queue of requests waiting for the window is bounded: one more → KEY_BUSY, nothing sent', async (t) => {
  const h = await harness({ window: 2 });
  const c = await connect(h, { maxWaiting: 3 });
  h.hold.on = true;
  const accepted = Array.from({ length: 5 }, () => c.ping()); // 2 in flight, 3 waiting
  await h.clock.settle();
  const e = await t.throwsAsync(c.ping(), { instanceOf: KeyError });
  t.is(e?.code, 'KEY_BUSY');
  t.is(c.inFlight, 2);
  t.is(h.hold.queue.length, 2, 'only the window reached the Key');
  h.hold.on = false;
  const link = new DeviceLink(h.fw, (b) => void h.device.send(b));
  for (const q of h.hold.queue.splice(0)) link.receive(q);
  await h.clock.run(Promise.all(accepted));
  t.is((await h.clock.run(c.info())).state, 'factory', 'room again once they finished');
  await c.close();
});

test('after a cancelled pipeline the next request still counts the cancelled bytes on the line: no retry', async (t) => {
  // A flash aborted with a full window at 115200 baud: its chunks are on the line and the Key
  // will still take them in. The next request waits behind them without timing out.
  const h = await harness({ window: 8, bytesPerSecond: 11_520 });
  const c = await connect(h);
  const ac = new AbortController();
  const cancelled = Array.from({ length: 8 }, () => c.ping(new Uint8Array(3900).fill(3), { signal: ac.signal }));
  await h.clock.settle();
  ac.abort();
  for (const p of cancelled) t.is((await t.throwsAsync(p, { instanceOf: KeyError }))?.code, 'KEY_CANCELLED');
  const r = await h.clock.run(c.ping(new Uint8Array(16).fill(4)));
  t.true(r.uptimeMs > 2500, 'it really waited behind ~31 KiB of cancelled requests');
  t.is(c.stats.retries, 0);
  t.is(h.requestsSeen, 1 + 8 + 1);
  await c.close();
});

test('a Key still answering a killed process’s requests: the new client waits behind them, no retry', async (t) => {
  // 8 pings of ~4 KiB from a process killed mid-flash are still crossing the 115200-baud line
  // (~2.7 s each way) when this client says hello. Their answers are strays here, but they show
  // the Key working through older bytes: hello's deadline follows them.
  const backlog = Array.from({ length: 8 }, (_, i) =>
    encodeFrame(encodeMessage({ version: 1, name: 'ping', id: 900 + i, body: { data: new Uint8Array(3900).fill(i) } })),
  );
  const h = await harness({ window: 8, bytesPerSecond: 11_520, backlog });
  const c = await connect(h);
  t.is(c.stats.strayResponses, 8);
  t.is(c.stats.retries, 0);
  t.true(h.clock.now() > 2500, 'hello really waited behind the backlog');
  t.is((await h.clock.run(c.info())).state, 'factory');
  await c.close();
});

test('cancellation: in flight and while waiting for the window', async (t) => {
  const h = await harness({ window: 1 });
  const c = await connect(h);
  h.hold.on = true;
  const ac = new AbortController();
  const first = c.ping(undefined, { signal: ac.signal });
  const ac2 = new AbortController();
  const queued = c.ping(undefined, { signal: ac2.signal });
  await h.clock.settle();
  ac2.abort();
  ac.abort();
  t.is((await t.throwsAsync(first, { instanceOf: KeyError }))?.code, 'KEY_CANCELLED');
  t.is((await t.throwsAsync(queued, { instanceOf: KeyError }))?.code, 'KEY_CANCELLED');
  t.is(c.inFlight, 0);
  t.is(h.hold.queue.length, 1, 'the queued request was never sent');
  // The cancelled request was sent: its bytes still count as on the line; the unsent one adds none.
  t.is(c.queuedBytes, h.hold.queue[0]?.length ?? -1);
  await c.close();
});

test('Key errors are typed with code, name and reason', async (t) => {
  const h = await harness();
  const c = await connect(h);
  const e = await t.throwsAsync(h.clock.run(c.request('activate', {})), { instanceOf: KeyError });
  t.is(e?.code, 'KEY_REJECTED');
  t.deepEqual(e?.remote?.name, 'SESSION_REQUIRED');
  t.is(e?.remote?.code, 10);
  t.truthy(e?.remote?.reason);
  await c.close();
});

test('a request larger than the Key accepts → KEY_TOO_LARGE, nothing sent', async (t) => {
  const h = await harness();
  const c = await connect(h);
  const before = h.host.sent.length;
  const e = await t.throwsAsync(c.ping(new Uint8Array(5000)), { instanceOf: KeyError });
  t.is(e?.code, 'KEY_TOO_LARGE');
  t.is(h.host.sent.length, before);
  await c.close();
});

test('link loss fails pending requests with KEY_CLOSED; later requests too', async (t) => {
  const h = await harness();
  const c = await connect(h);
  h.hold.on = true;
  const p = c.info();
  await h.clock.settle();
  h.host.disconnect();
  t.is((await t.throwsAsync(p, { instanceOf: KeyError }))?.code, 'KEY_CLOSED');
  t.is((await t.throwsAsync(c.info(), { instanceOf: KeyError }))?.code, 'KEY_CLOSED');
  await c.close();
});

test('a mismatched response → KEY_BAD_RESPONSE; stray responses and garbage are counted, not fatal', async (t) => {
  const clock = new VirtualClock();
  const { host, device } = createMemoryLink();
  await device.open({ data: () => {}, closed: () => {} });
  // A hand-written Key: answers hello correctly, then answers info with a pong.
  const c = KeyClient.connect(host, { firstId: 10, timers: clock });
  await clock.settle();
  const hello = encodeMessage({
    version: 1,
    name: 'hello.response',
    id: 10,
    body: { version: 1, versions: [1], maxFrame: 1024, window: 2, features: [], model: 'x', firmware: '0', state: 'dormant' },
  });
  await device.send(new Uint8Array([9, 9, 9, 0])); // garbage to the host
  await device.send(encodeFrame(encodeMessage({ version: 1, name: 'ping.response', id: 999, body: { uptimeMs: 1 } })));
  await device.send(encodeFrame(hello));
  const client = await clock.run(c);
  t.is(client.link.window, 2);
  t.is(client.stats.strayResponses, 1);
  t.true(client.stats.badFrames >= 1);
  const p = client.info();
  await clock.settle();
  await device.send(encodeFrame(encodeMessage({ version: 1, name: 'ping.response', id: 11, body: { uptimeMs: 1 } })));
  t.is((await t.throwsAsync(clock.run(p), { instanceOf: KeyError }))?.code, 'KEY_BAD_RESPONSE');
  await client.close();
});
