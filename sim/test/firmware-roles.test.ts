/**
 * Issue 16 finding 2, reproduced over the wire protocol (sealed requests in Noise sessions): a
 * service host tried to begin, test, confirm and revert an update and to drop the owner's upload;
 * chunks from another host were applied to the owner's update. Each is refused now, by the role
 * table (`sim/src/firmware/access.ts`) or by the update's holder binding (`key-flash.ts`).
 */
import test from 'ava';
import { makeTestFlash, makeTestKey } from '../src/testing.ts';
import { settle, testImage, WireHost } from './support/wire-host.ts';

/** A Key with an owner, a second owner host, a provisioning and a service host; activated unless `factory`. */
function rig(factory = false) {
  const { deps, signingSeed } = makeTestFlash();
  const k = makeTestKey({ flash: deps });
  const owner = new WireHost(k.fw, 11).connect().pair('owner');
  const join = (seed: number, role: 'owner' | 'provisioning' | 'service') => {
    k.fw.openPairingWindow(60_000);
    return new WireHost(k.fw, seed).connect().pair(role);
  };
  const owner2 = join(12, 'owner');
  const provisioning = join(13, 'provisioning');
  const service = join(14, 'service');
  if (!factory) owner.ok('activate', {});
  return { ...k, owner, owner2, provisioning, service, seed: signingSeed };
}

test('a service host may read the update status only: begin, chunk, finish, test, confirm, revert and reboot are FORBIDDEN', (t) => {
  const { owner, service, seed } = rig();
  const img = testImage(seed, '2.0.0', 2);
  const id = owner.upload(img, { upTo: 3000 });
  for (const [name, body] of [
    ['fw.begin', { manifest: testImage(seed, '0.9.0', 1).manifest }],
    ['fw.begin', { manifest: img.manifest }],
    ['fw.chunk', { offset: 3000, data: img.payload.subarray(3000), id }],
    ['fw.finish', {}],
    ['fw.test', {}],
    ['fw.confirm', {}],
    ['fw.revert', {}],
    ['reboot', {}],
  ] as const) {
    const r = service.request(name, body as never);
    t.false(r.ok, name);
    if (!r.ok) t.is(r.name, 'FORBIDDEN', name);
  }
  const st = service.ok('fw.status', {});
  t.is(st.secondary?.state, 'uploading');
  t.is(st.secondary?.offset, 3000, "the owner's upload is untouched");
  // and the owner finishes it
  t.deepEqual(owner.ok('fw.chunk', { offset: 3000, data: img.payload.subarray(3000), id }), {
    offset: img.payload.length,
    accepted: true,
  });
  t.deepEqual(owner.ok('fw.finish', { id }), {});
});

test('provisioning may update a Key in factory state only; after activation it reads status only', (t) => {
  const factory = rig(true);
  const img = testImage(factory.seed, '2.0.0', 2);
  factory.provisioning.upload(img);
  t.is(factory.provisioning.ok('fw.status', {}).secondary?.state, 'ready');

  const active = rig();
  const r = active.provisioning.request('fw.begin', { manifest: testImage(active.seed, '2.0.0', 2).manifest });
  t.like(r, { ok: false, name: 'FORBIDDEN' });
  t.true(active.provisioning.request('fw.status', {}).ok);
});

test("another host's chunks, finish and test are refused (UPDATE_BUSY); its begin too, unless an owner takes over", async (t) => {
  const { owner, owner2, provisioning, seed, fw } = rig(true);
  const img = testImage(seed, '2.0.0', 2);
  const id = owner.upload(img, { upTo: 3000 });
  const rest = img.payload.subarray(3000);
  t.like(owner2.request('fw.chunk', { offset: 3000, data: rest }), { ok: false, name: 'UPDATE_BUSY' });
  t.like(owner2.request('fw.chunk', { offset: 3000, data: rest, id }), { ok: false, name: 'UPDATE_BUSY' });
  t.like(owner2.request('fw.finish', {}), { ok: false, name: 'UPDATE_BUSY' });
  t.like(owner2.request('fw.test', {}), { ok: false, name: 'UPDATE_BUSY' });
  t.like(owner2.request('fw.revert', {}), { ok: false, name: 'UPDATE_BUSY' }, 'nor may it cancel the upload');
  const other = testImage(seed, '2.1.0', 2);
  const busy = owner2.request('fw.begin', { manifest: other.manifest });
  t.like(busy, { ok: false, name: 'UPDATE_BUSY' });
  if (!busy.ok) t.regex(busy.reason, /takeover/);
  t.like(provisioning.request('fw.begin', { manifest: other.manifest, takeover: true }), { ok: false, name: 'FORBIDDEN' });
  t.is(owner.ok('fw.status', {}).secondary?.offset, 3000, 'nothing of that touched the upload');

  // an owner's explicit takeover: the first host's chunks are refused from now on
  const id2 = owner2.upload(other, { takeover: true, upTo: 1000 });
  t.notDeepEqual(id2, id);
  t.like(owner.request('fw.chunk', { offset: 1000, data: other.payload.subarray(1000, 2000) }), {
    ok: false,
    name: 'UPDATE_BUSY',
  });
  // a chunk naming another update is refused even from the holder
  t.like(owner2.request('fw.chunk', { offset: 1000, data: other.payload.subarray(1000, 2000), id }), {
    ok: false,
    name: 'INVALID_STATE',
  });
  for (let off = 1000; off < other.payload.length; off += 2000)
    owner2.ok('fw.chunk', { offset: off, data: other.payload.subarray(off, off + 2000), id: id2 });
  owner2.ok('fw.finish', { id: id2 });
  owner2.ok('fw.test', {});
  await settle();
  owner.connect();
  const st = owner.ok('fw.status', {});
  t.is(st.running.version, '2.1.0');
  t.is(st.primary, 'testing');
  t.is(fw.firmwareVersion, '2.1.0');
});
