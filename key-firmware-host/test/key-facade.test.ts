/**
 * Key facade pieces without a Key: the reconnect backoff (capped, exponential, jittered, with
 * injected randomness and sleep), the event hub behind `Key.events()`, image parsing errors,
 * and which failures count as a lost link.
 */
import { ed25519Generate, sha256 } from '@enigm/protocols/crypto';
import { buildImage, signManifest } from '@enigm/protocols/firmware';
import test from 'ava';
import { KeyError } from '../src/client/errors.ts';
import { backoffDelay, retryWithBackoff } from '../src/key/backoff.ts';
import { KeyFacadeError } from '../src/key/errors.ts';
import { EventHub } from '../src/key/events.ts';
import { isLinkFailure, readImage } from '../src/key/flash.ts';
import { TransportError } from '../src/transport/transport.ts';

test('backoff delays grow exponentially, stay within [d/2, d) and never pass the cap', (t) => {
  const o = { baseMs: 100, maxMs: 1000 };
  t.deepEqual(
    [0, 1, 2, 3, 4, 5, 10].map((n) => backoffDelay(n, o, () => 0)),
    [50, 100, 200, 400, 500, 500, 500],
  );
  const top = [0, 1, 2, 3, 4].map((n) => backoffDelay(n, o, () => 0.999999));
  t.true(top.every((d, n) => d < Math.min(1000, 100 * 2 ** n)));
  t.true((top[4] as number) > 999);
  // different random draws give different delays: jitter, not lockstep
  t.not(
    backoffDelay(2, o, () => 0.1),
    backoffDelay(2, o, () => 0.9),
  );
  t.throws(() => backoffDelay(1, { baseMs: -1 }), { instanceOf: RangeError });
});

test('retryWithBackoff sleeps the jittered delays between attempts, then succeeds', async (t) => {
  const slept: number[] = [];
  const draws = [0.5, 0.25, 0.75];
  let calls = 0;
  const r = await retryWithBackoff(
    async (attempt) => {
      calls++;
      if (attempt < 4) throw new Error(`down ${attempt}`);
      return 'up';
    },
    { attempts: 5, baseMs: 100, maxMs: 300 },
    { random: () => draws.shift() ?? 0, sleep: async (ms) => void slept.push(ms) },
  );
  t.is(r, 'up');
  t.is(calls, 4);
  // d = 100, 200, 300 (capped); delay = d/2 + r·d/2
  t.deepEqual(slept, [75, 125, 262.5]);
});

test('retryWithBackoff gives up with KEY_RECONNECT_FAILED and keeps the last error; non-retryable errors pass at once', async (t) => {
  const slept: number[] = [];
  const e = await t.throwsAsync(
    retryWithBackoff(
      async (n) => {
        throw new Error(`attempt ${n}`);
      },
      { attempts: 3, baseMs: 10 },
      { random: () => 0, sleep: async (ms) => void slept.push(ms) },
    ),
    { instanceOf: KeyFacadeError },
  );
  t.is(e?.code, 'KEY_RECONNECT_FAILED');
  t.regex(e?.message ?? '', /3 attempts.*attempt 3/);
  t.is((e?.cause as Error | undefined)?.message, 'attempt 3');
  t.deepEqual(slept, [5, 10], 'no sleep after the last attempt');
  let calls = 0;
  const fatal = new TransportError('TRANSPORT_BAD_ADDRESS', 'bad');
  const f = await t.throwsAsync(
    retryWithBackoff(
      async () => {
        calls++;
        throw fatal;
      },
      { attempts: 5 },
      { retryable: (x) => x !== fatal, sleep: async () => {} },
    ),
  );
  t.is(f, fatal);
  t.is(calls, 1);
});

test('retryWithBackoff stops with KEY_ABORTED when the signal fires during a (real) wait', async (t) => {
  const ac = new AbortController();
  let calls = 0;
  setImmediate(() => ac.abort());
  const e = await t.throwsAsync(
    retryWithBackoff(
      async () => {
        calls++;
        throw new Error('down');
      },
      { attempts: 10, baseMs: 60_000 },
      { signal: ac.signal, random: () => 0 },
    ),
    { instanceOf: KeyFacadeError },
  );
  t.is(e?.code, 'KEY_ABORTED');
  // One attempt, then KEY_ABORTED: an abort that did not cut the 30 s wait short would come to a
  // second attempt (or to ava's timeout), never to this; no wall-clock duration is asserted.
  t.is(calls, 1);
});

test('EventHub delivers to every subscriber in order, bounds a slow reader, and ends streams on end() and on abort', async (t) => {
  let now = 5;
  const hub = new EventHub(() => now++);
  const a = hub.subscribe();
  const ac = new AbortController();
  const b = hub.subscribe({ signal: ac.signal, bound: 2 });
  hub.publish({ name: 'keepalive', body: {} });
  hub.publish({ name: 'lifecycle.changed', body: { from: 'factory', to: 'dormant' } });
  hub.publish({ name: 'keepalive', body: {} });
  const first = await a.next();
  t.deepEqual(first.value, { name: 'keepalive', body: {}, receivedAt: 5 });
  t.is((await a.next()).value?.name, 'lifecycle.changed');
  // b kept only the 2 newest
  t.is((await b.next()).value?.name, 'lifecycle.changed');
  t.is((await b.next()).value?.receivedAt, 7);
  const pending = b.next();
  ac.abort();
  t.true((await pending).done);
  const waiting = a.next(); // the third event is queued for a
  t.is((await waiting).value?.receivedAt, 7);
  const more = a.next();
  hub.end();
  t.true((await more).done);
  t.true((await hub.subscribe().next()).done, 'a subscription after end() is over at once');
  const seen: string[] = [];
  const hub2 = new EventHub(() => 0);
  const it = hub2.subscribe();
  hub2.publish({ name: 'keepalive', body: {} });
  hub2.end();
  for await (const ev of it) seen.push(ev.name);
  t.deepEqual(seen, ['keepalive'], 'queued events are still read after end()');
});

test('readImage: a valid image gives its manifest and id; garbage is KEY_IMAGE_INVALID with the protocol code', (t) => {
  const { seed } = ed25519Generate();
  const payload = new Uint8Array(1000).fill(7);
  const signed = signManifest(
    { model: 'enigm-key-1', version: '1.2.3', securityCounter: 2, payloadSize: payload.length, payloadDigest: sha256(payload) },
    seed,
  );
  const img = readImage(buildImage(signed, payload));
  t.is(img.manifest.version, '1.2.3');
  t.deepEqual(img.id, sha256(signed));
  const e = t.throws(() => readImage(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])), { instanceOf: KeyFacadeError });
  t.is(e?.code, 'KEY_IMAGE_INVALID');
  t.regex(e?.message ?? '', /FIRMWARE_MALFORMED/);
  const bad = buildImage(signed, payload);
  bad.set([(bad.at(-1) as number) ^ 1], bad.length - 1);
  t.regex(t.throws(() => readImage(bad))?.message ?? '', /FIRMWARE_DIGEST_MISMATCH/);
});

test('isLinkFailure: timeouts, closed links, ended sessions and transport errors reconnect; refusals do not', (t) => {
  t.true(isLinkFailure(new KeyError('KEY_TIMEOUT', 'x')));
  t.true(isLinkFailure(new KeyError('KEY_CLOSED', 'x')));
  t.true(isLinkFailure(new TransportError('TRANSPORT_CLOSED', 'x')));
  t.true(
    isLinkFailure(new KeyError('KEY_REJECTED', 'x', { remote: { code: 12, name: 'SESSION_FAILED', reason: 'session failed' } })),
  );
  t.false(
    isLinkFailure(
      new KeyError('KEY_REJECTED', 'x', { remote: { code: 20, name: 'FIRMWARE_REJECTED', reason: 'FIRMWARE_DOWNGRADE' } }),
    ),
  );
  t.true(isLinkFailure(new KeyError('KEY_OUTCOME_UNKNOWN', 'the session has ended')));
  t.false(isLinkFailure(new KeyError('KEY_IDENTITY_MISMATCH', 'x')));
  t.false(isLinkFailure(new TransportError('TRANSPORT_BAD_ADDRESS', 'x')));
  t.false(isLinkFailure(new Error('other')));
});
