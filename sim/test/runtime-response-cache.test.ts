/**
 * Issue 16 finding 8: the per-link de-duplication cache is bounded in bytes, not only in count
 * (64 cached ~3.9 KiB responses per idle connection added up to ~124 MiB over 400 connections).
 */
import { encodeMessage, PROTOCOL_VERSION, PROTOCOL_VERSIONS } from '@enigm/protocols/messages';
import test from 'ava';
import { DEDUP_CACHE_BYTES } from '../src/firmware/link-context.ts';
import { makeTestKey } from '../src/testing.ts';

test('a link remembers at most DEDUP_CACHE_BYTES of responses; recent retries are still answered from the cache', (t) => {
  const { fw } = makeTestKey();
  const ctx = fw.connect('tcp');
  const hello = encodeMessage({
    version: PROTOCOL_VERSION,
    name: 'hello',
    id: 1,
    body: { versions: [...PROTOCOL_VERSIONS], maxFrame: 4096 },
  });
  t.truthy(ctx.handle(hello));
  const ping = (id: number) =>
    encodeMessage({ version: PROTOCOL_VERSION, name: 'ping', id, body: { data: new Uint8Array(3000).fill(id) } });
  const answers = new Map<number, Uint8Array | undefined>();
  for (let id = 2; id < 66; id++) answers.set(id, ctx.handle(ping(id)));
  t.true(ctx.cachedBytes <= DEDUP_CACHE_BYTES, `cached ${ctx.cachedBytes} bytes`);
  t.true(ctx.cachedBytes > DEDUP_CACHE_BYTES / 2, 'the cache is used up to its bound');
  // The newest request retried gets the very same bytes back (from the cache, not run again).
  t.deepEqual(ctx.handle(ping(65)), answers.get(65));
  fw.disconnect(ctx);
});
