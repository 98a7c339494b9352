/**
 * Checks the Key client (docs/protocol.md "Requests and flow control"): request/response by id,
 * timeouts, retries that re-send the same id (the Key de-duplicates), cancellation, at most the
 * advertised window in flight, typed errors. Runs the real firmware model over the in-memory twin.
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

interface Harness {
  client?: KeyClient;
  fw: KeyFirmware;
  /** Frames the device ignores before answering again. */
  drop: { n: number };
  /** When set, received chunks are held instead of processed. */
  hold: { on: boolean; queue: Uint8Array[] };
  requestsSeen: number;
  device: ReturnType<typeof createMemoryLink>['device'];
  host: ReturnType<typeof createMemoryLink>['host'];
}

async function harness(opts: { window?: number; chunking?: number } = {}): Promise<Harness> {
  const { host, device } = createMemoryLink(opts.chunking ? { chunking: opts.chunking } : {});
  const { fw } = makeTestKey({ config: { window: opts.window ?? 4 } });
  const h: Harness = { fw, drop: { n: 0 }, hold: { on: false, queue: [] }, requestsSeen: 0, device, host };
  const link = new DeviceLink(fw, (b) => void device.send(b).catch(() => {}), 'memory');
  // Count frames as they arrive at the device, and drop the first `drop.n`.
  await device.open({
    data: (chunk) => {
      if (h.hold.on) return void h.hold.queue.push(chunk);
      const before = link.stats.framesIn;
      if (h.drop.n > 0) {
        h.drop.n--;
        return;
      }
      link.receive(chunk);
      h.requestsSeen += link.stats.framesIn - before;
    },
    closed: () => {},
  });
  return h;
}

test('connect negotiates: window and max frame come from hello, not configuration', async (t) => {
  const h = await harness({ window: 3 });
  const c = await KeyClient.connect(h.host, { timeoutMs: 200 });
  t.is(c.link.window, 3);
  t.is(c.link.sendMaxFrame, 4096);
  t.is(c.hello.model, 'enigm-key-1');
  const info = await c.info();
  t.is(info.state, 'factory');
  await c.close();
});

test('stream reassembly: responses split into 1-byte chunks still arrive', async (t) => {
  const h = await harness({ chunking: 1 });
  const c = await KeyClient.connect(h.host, { timeoutMs: 500 });
  const r = await c.ping(new Uint8Array(300).fill(9));
  t.true(r.rttMs >= 0);
  await c.close();
});

test('never more requests in flight than the window; all complete', async (t) => {
  const h = await harness({ window: 3 });
  const c = await KeyClient.connect(h.host, { timeoutMs: 1000 });
  h.hold.on = true;
  const all = Array.from({ length: 20 }, (_, i) => c.ping(new Uint8Array([i])));
  await new Promise((r) => setTimeout(r, 20));
  t.is(c.inFlight, 3);
  // only 3 request frames reached the device while it held
  t.is(h.hold.queue.length, 3);
  h.hold.on = false;
  const link = new DeviceLink(h.fw, (b) => void h.device.send(b));
  for (const q of h.hold.queue.splice(0)) link.receive(q);
  await Promise.all(all);
  t.is(c.inFlight, 0);
  await c.close();
});

test('a lost request is retried with the same id (identical bytes)', async (t) => {
  const h = await harness();
  const c = await KeyClient.connect(h.host, { timeoutMs: 50, retries: 2 });
  h.drop.n = 1;
  const sentBefore = h.host.sent.length;
  const r = await c.info();
  t.is(r.state, 'factory');
  t.is(c.stats.retries, 1);
  const [a, b] = h.host.sent.slice(sentBefore);
  t.deepEqual(a, b);
  await c.close();
});

test('a lost response: the retry is answered from the Key cache, not run again', async (t) => {
  const h = await harness();
  const c = await KeyClient.connect(h.host, { timeoutMs: 50, retries: 2 });
  let garbled = false;
  h.host.corruptNext((chunk) => {
    garbled = true;
    return new Uint8Array(chunk.length).fill(0x55); // the response frame arrives garbled
  });
  const first = await c.ping();
  t.true(garbled);
  t.is(c.stats.retries, 1);
  t.true(c.stats.badFrames >= 1);
  t.is(h.requestsSeen, 3, 'hello, ping, retried ping all reached the Key');
  t.true(first.uptimeMs >= 0);
  await c.close();
});

test('no answer → KEY_TIMEOUT after every retry', async (t) => {
  const h = await harness();
  const c = await KeyClient.connect(h.host, { timeoutMs: 30, retries: 2 });
  h.drop.n = 100;
  const e = await t.throwsAsync(c.info(), { instanceOf: KeyError });
  t.is(e?.code, 'KEY_TIMEOUT');
  t.regex(e?.message ?? '', /3 attempts/);
  t.is(c.inFlight, 0);
  await c.close();
});

test('cancellation: in flight and while waiting for the window', async (t) => {
  const h = await harness({ window: 1 });
  const c = await KeyClient.connect(h.host, { timeoutMs: 1000 });
  h.hold.on = true;
  const ac = new AbortController();
  const first = c.ping(undefined, { signal: ac.signal });
  const ac2 = new AbortController();
  const queued = c.ping(undefined, { signal: ac2.signal });
  await new Promise((r) => setTimeout(r, 10));
  ac2.abort();
  ac.abort();
  t.is((await t.throwsAsync(first, { instanceOf: KeyError }))?.code, 'KEY_CANCELLED');
  t.is((await t.throwsAsync(queued, { instanceOf: KeyError }))?.code, 'KEY_CANCELLED');
  t.is(c.inFlight, 0);
  t.is(h.hold.queue.length, 1, 'the queued request was never sent');
  await c.close();
});

test('Key errors are typed with code, name and reason', async (t) => {
  const h = await harness();
  const c = await KeyClient.connect(h.host, { timeoutMs: 200 });
  const e = await t.throwsAsync(c.request('activate', {}), { instanceOf: KeyError });
  t.is(e?.code, 'KEY_REJECTED');
  t.deepEqual(e?.remote?.name, 'SESSION_REQUIRED');
  t.is(e?.remote?.code, 10);
  t.truthy(e?.remote?.reason);
  await c.close();
});

test('a request larger than the Key accepts → KEY_TOO_LARGE, nothing sent', async (t) => {
  const h = await harness();
  const c = await KeyClient.connect(h.host, { timeoutMs: 200 });
  const before = h.host.sent.length;
  const e = await t.throwsAsync(c.ping(new Uint8Array(5000)), { instanceOf: KeyError });
  t.is(e?.code, 'KEY_TOO_LARGE');
  t.is(h.host.sent.length, before);
  await c.close();
});

test('link loss fails pending requests with KEY_CLOSED; later requests too', async (t) => {
  const h = await harness();
  const c = await KeyClient.connect(h.host, { timeoutMs: 1000 });
  h.hold.on = true;
  const p = c.info();
  await new Promise((r) => setTimeout(r, 5));
  h.host.disconnect();
  t.is((await t.throwsAsync(p, { instanceOf: KeyError }))?.code, 'KEY_CLOSED');
  t.is((await t.throwsAsync(c.info(), { instanceOf: KeyError }))?.code, 'KEY_CLOSED');
  await c.close();
});

test('a mismatched response → KEY_BAD_RESPONSE; stray responses and garbage are counted, not fatal', async (t) => {
  const { host, device } = createMemoryLink();
  await device.open({ data: () => {}, closed: () => {} });
  // A hand-written Key: answers hello correctly, then answers info with a pong.
  const c = KeyClient.connect(host, { timeoutMs: 200, firstId: 10 });
  await new Promise((r) => setTimeout(r, 5));
  const hello = encodeMessage({
    version: 1,
    name: 'hello.response',
    id: 10,
    body: { version: 1, versions: [1], maxFrame: 1024, window: 2, features: [], model: 'x', firmware: '0', state: 'dormant' },
  });
  await device.send(new Uint8Array([9, 9, 9, 0])); // garbage to the host
  await device.send(encodeFrame(encodeMessage({ version: 1, name: 'ping.response', id: 999, body: { uptimeMs: 1 } })));
  await device.send(encodeFrame(hello));
  const client = await c;
  t.is(client.link.window, 2);
  t.is(client.stats.strayResponses, 1);
  t.true(client.stats.badFrames >= 1);
  const p = client.info();
  await new Promise((r) => setTimeout(r, 5));
  await device.send(encodeFrame(encodeMessage({ version: 1, name: 'ping.response', id: 11, body: { uptimeMs: 1 } })));
  t.is((await t.throwsAsync(p, { instanceOf: KeyError }))?.code, 'KEY_BAD_RESPONSE');
  await client.close();
});
