/**
 * Checks the firmware transfer protocol (docs/firmware.md "Transfer") over the in-memory twin:
 * a corrupted chunk frame is detected (CRC) and resent, later chunks are rejected and resent
 * (go-back-N) and the image still verifies; duplicates are acknowledged, not rewritten; revert
 * cancels an upload; chunk size and window come from the Key.
 */

import { sha256, x25519Generate } from '@enigm/protocols/crypto';
import { signManifest } from '@enigm/protocols/firmware';
import { staticKeyFromPrivate } from '@enigm/protocols/noise';
import { DeviceLink } from '@enigm/sim';
import { makeTestFlash, makeTestKey } from '@enigm/sim/testing';
import test from 'ava';
import { KeyClient } from '../src/client/key-client.ts';
import { uploadPayload } from '../src/flash/upload.ts';
import { SecureSession } from '../src/session/secure-session.ts';
import { createMemoryLink } from '../src/transport/memory.ts';

async function rig(opts: { eraseMs?: number; keepaliveMs?: number; timeoutMs?: number; retries?: number } = {}) {
  const { deps, signingSeed } = makeTestFlash();
  const { fw } = makeTestKey({ flash: { ...deps, eraseAhead: opts.eraseMs !== undefined } });
  const { host, device } = createMemoryLink();
  const timing = opts.eraseMs !== undefined ? { msPerStep: opts.eraseMs, keepaliveMs: opts.keepaliveMs ?? 20 } : undefined;
  const link = new DeviceLink(fw, (b) => void device.send(b).catch(() => {}), 'memory', timing);
  let chunkFrames = 0;
  let corruptAt = -1;
  await device.open({
    data: (chunk) => {
      // Count fw.chunk requests by size (they are the only frames near the maximum) and garble one.
      if (chunk.length > 3000 && chunkFrames++ === corruptAt) {
        const bad = chunk.slice();
        bad[100] = (bad[100] as number) ^ 0xff;
        return link.receive(bad);
      }
      link.receive(chunk);
    },
    closed: () => {},
  });
  const client = await KeyClient.connect(host, { timeoutMs: opts.timeoutMs ?? 150, retries: opts.retries ?? 3 });
  const s = await SecureSession.firstContact(client, { hostKey: staticKeyFromPrivate(x25519Generate().privateKey) });
  await s.pair('owner');
  return { fw, client, s, signingSeed, corrupt: (n: number) => (corruptAt = n) };
}

function image(seed: Uint8Array, size: number, salt = 0) {
  const payload = new Uint8Array(size).map((_, i) => Math.imul(i + salt, 2654435761) >>> 24);
  const manifest = signManifest(
    { model: 'enigm-key-1', version: '2.0.0', securityCounter: 2, payloadSize: size, payloadDigest: sha256(payload) },
    seed,
  );
  return { payload, manifest };
}

test('a corrupted chunk is dropped by its CRC and resent; later chunks go back to the ack (go-back-N)', async (t) => {
  const r = await rig();
  const img = image(r.signingSeed, 60_000);
  r.corrupt(3);
  const up = await uploadPayload(r.s, img.manifest, img.payload, r.client.link.window);
  t.true(up.resent > 0, `resent ${up.resent} chunks`);
  t.true(r.client.stats.retries >= 1 || up.resent > 0);
  await r.s.request('fw.finish', {}); // digest verifies: nothing was lost or duplicated
  const st = await r.s.request('fw.status', {});
  t.is(st.secondary?.state, 'ready');
  await r.client.close();
});

test('duplicate chunks are acknowledged without rewriting; out-of-order ones are refused with the offset to resume', async (t) => {
  const r = await rig();
  const img = image(r.signingSeed, 20_000);
  const b = await r.s.request('fw.begin', { manifest: img.manifest });
  t.is(b.offset, 0);
  t.true(b.chunk >= 3900 && b.chunk <= 4096);
  const c0 = await r.s.request('fw.chunk', { offset: 0, data: img.payload.subarray(0, 1000) });
  t.deepEqual(c0, { offset: 1000, accepted: true });
  t.deepEqual(await r.s.request('fw.chunk', { offset: 0, data: img.payload.subarray(0, 1000) }), {
    offset: 1000,
    accepted: true,
  });
  t.deepEqual(await r.s.request('fw.chunk', { offset: 5000, data: img.payload.subarray(5000, 6000) }), {
    offset: 1000,
    accepted: false,
  });
  const e = await t.throwsAsync(r.s.request('fw.chunk', { offset: 0, data: new Uint8Array(1000) }));
  t.is((e as { remote?: { name: string } }).remote?.name, 'INVALID_ARGUMENT', 'a duplicate with other bytes is refused');
  // revert cancels the upload; begin starts over
  await r.s.request('fw.revert', {});
  t.is((await r.s.request('fw.begin', { manifest: img.manifest })).offset, 0);
  await r.client.close();
});

test('a Key without the pairing role cannot update; outside a session nothing is accepted', async (t) => {
  const r = await rig();
  const img = image(r.signingSeed, 1000);
  const plain = await t.throwsAsync(r.client.request('fw.begin', { manifest: img.manifest }));
  t.is((plain as { remote?: { name: string } }).remote?.name, 'SESSION_REQUIRED');
  await r.client.close();
});

test('a long erase at fw.begin sends keepalives; the host waits past its timeout instead of giving up', async (t) => {
  // 50 pages × 20 ms ≈ 1 s of erasing against a 250 ms per-request timeout and no retries;
  // keepalives every 20 ms (a margin of 230 ms against event-loop stalls on a loaded machine).
  const r = await rig({ eraseMs: 20, keepaliveMs: 20, timeoutMs: 250, retries: 0 });
  // A first upload fills the secondary slot (a blank slot needs no erase)…
  const first = image(r.signingSeed, 200 * 1024, 1);
  await uploadPayload(r.s, first.manifest, first.payload, r.client.link.window);
  // …so the next update must erase ~50 pages before it can take bytes.
  const img = image(r.signingSeed, 200 * 1024, 2);
  const t0 = performance.now();
  const b = await r.s.request('fw.begin', { manifest: img.manifest }, { retries: 0 });
  t.true(performance.now() - t0 >= 800, 'the erase took its modelled time, far past the timeout');
  t.is(b.offset, 0);
  t.true(r.client.stats.keepalives >= 5, `${r.client.stats.keepalives} keepalives`);
  const up = await uploadPayload(r.s, img.manifest, img.payload, r.client.link.window);
  t.is(up.bytes, img.payload.length);
  await r.s.request('fw.finish', {});
  await r.client.close();
});

test('without keepalives during the erase, the same request times out (the keepalive is what keeps it alive)', async (t) => {
  const r = await rig({ eraseMs: 20, keepaliveMs: 60_000, timeoutMs: 250, retries: 0 });
  const first = image(r.signingSeed, 200 * 1024, 1);
  await uploadPayload(r.s, first.manifest, first.payload, r.client.link.window);
  const img = image(r.signingSeed, 200 * 1024, 2);
  const e = await t.throwsAsync(r.s.request('fw.begin', { manifest: img.manifest }, { retries: 0 }));
  t.is((e as { code?: string }).code, 'KEY_TIMEOUT');
  await new Promise((res) => setTimeout(res, 1100)); // let the erase finish before closing
  await r.client.close();
});
