/**
 * Issue 9 finding 3: after a test boot, `fw.revert` left the Key stuck — `fw.status` still said
 * "on test", `fw.confirm` and `fw.begin` were refused (`reverting/old`) until the simulator
 * restarted. Driven over the wire protocol: status tells the truth (state, running image, next
 * boot), confirm withdraws the pending revert, the `reboot` command completes it, and a property
 * walks random sequences of fw commands and reboots and checks the Key can always reach
 * "confirmed" again through the wire commands a host has.
 */
import test from 'ava';
import fc from 'fast-check';
import { Flash } from '../src/firmware/flash/flash.ts';
import { makeTestFlash, makeTestKey } from '../src/testing.ts';
import { settle, type TestImage, testImage, WireHost } from './support/wire-host.ts';

function rig() {
  const { deps, signingSeed } = makeTestFlash();
  const k = makeTestKey({ flash: deps });
  const owner = new WireHost(k.fw, 21).connect().pair('owner');
  return { ...k, owner, seed: signingSeed };
}

/** `fw.test` (or `reboot`), then reconnect once the Key has rebooted. */
async function rebootWith(owner: WireHost, name: 'fw.test' | 'reboot') {
  const r = owner.request(name, {});
  await settle();
  owner.connect();
  return r;
}

test('test-boot then revert: status tells the truth, confirm withdraws the revert, reboot completes it', async (t) => {
  const { owner, seed } = rig();
  const img = testImage(seed, '2.0.0', 2);
  owner.upload(img);
  t.true((await rebootWith(owner, 'fw.test')).ok);
  let st = owner.ok('fw.status', {});
  t.like(st, { primary: 'testing', testing: true, running: { version: '2.0.0' } });
  t.regex(st.nextBoot, /reverts to 1\.0\.0 unless 2\.0\.0 is confirmed/);

  owner.ok('fw.revert', {});
  st = owner.ok('fw.status', {});
  t.like(st, { primary: 'reverting', testing: false, running: { version: '2.0.0', state: 'reverting' } });
  t.regex(st.nextBoot, /reverts to 1\.0\.0/);
  const begin = owner.request('fw.begin', { manifest: testImage(seed, '2.0.1', 2).manifest });
  t.like(begin, { ok: false, name: 'INVALID_STATE' });
  if (!begin.ok) t.regex(begin.reason, /reboot/, 'the refusal names the way out');

  // way out 1: confirm withdraws the revert
  t.deepEqual(owner.ok('fw.confirm', {}), { securityCounter: 2 });
  t.like(owner.ok('fw.status', {}), { primary: 'confirmed', testing: false, running: { version: '2.0.0' } });

  // way out 2: revert again from a fresh test boot, then the reboot command completes it
  const next = testImage(seed, '3.0.0', 3);
  owner.upload(next);
  await rebootWith(owner, 'fw.test');
  owner.ok('fw.revert', {});
  t.true((await rebootWith(owner, 'reboot')).ok);
  st = owner.ok('fw.status', {});
  t.like(st, { primary: 'confirmed', testing: false, running: { version: '2.0.0' }, securityCounter: 2 });
  t.is(st.nextBoot, 'runs 2.0.0');
  owner.upload(next);
  t.is(owner.ok('fw.status', {}).secondary?.state, 'ready', 'a new update is accepted again');
});

type Op =
  | { op: 'begin'; img: number; upTo: number }
  | { op: 'finish' | 'test' | 'confirm' | 'revert' | 'reboot' | 'status' | 'powerCut' };

const simple = (op: Exclude<Op['op'], 'begin'>) => fc.constant({ op } as Op);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('begin' as const),
      img: fc.integer({ min: 0, max: 2 }),
      upTo: fc.oneof(fc.constant(6000), fc.integer({ min: 0, max: 6000 })),
    }),
  },
  { weight: 3, arbitrary: simple('test') },
  { weight: 3, arbitrary: simple('revert') },
  { weight: 1, arbitrary: simple('finish') },
  { weight: 3, arbitrary: simple('confirm') },
  { weight: 1, arbitrary: simple('reboot') },
  { weight: 1, arbitrary: simple('status') },
  { weight: 2, arbitrary: simple('powerCut') },
);

test('property: after any sequence of fw commands, reboots and power cuts, the Key can reach "confirmed" with a new image again; the installed counter never drops and a confirmed image survives power cuts', async (t) => {
  const { deps, signingSeed } = makeTestFlash();
  const images: TestImage[] = [
    testImage(signingSeed, '1.1.0', 1),
    testImage(signingSeed, '2.0.0', 2),
    testImage(signingSeed, '2.5.0', 2),
  ];
  const rescue = testImage(signingSeed, '9.0.0', 9);
  const visited = new Set<string>();
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { maxLength: 14 }), async (ops) => {
      const { pageSize, pageCount } = deps.flash;
      // The flash as a power cut leaves it: what the last persist() wrote.
      let disk = deps.flash.snapshot();
      const boot = (storage?: ReturnType<typeof makeTestKey>) => {
        const flash = new Flash({ pageSize, pageCount, initial: disk });
        const persist = () => {
          disk = flash.snapshot();
        };
        return makeTestKey({
          flash: { ...deps, flash, persist },
          ...(storage ? { storage: storage.storage, seStorage: storage.seStorage } : {}),
        });
      };
      let k = boot();
      let owner = new WireHost(k.fw, 31).connect().pair('owner');
      let counter = 1;
      let confirmed = '1.0.0';
      for (const o of ops) {
        const st = owner.ok('fw.status', {});
        visited.add(st.primary);
        if (st.securityCounter < counter) return false; // the installed counter dropped
        counter = st.securityCounter;
        if (st.primary === 'confirmed') confirmed = st.running.version;
        if (o.op === 'powerCut') {
          k = boot(k); // all in-memory state is gone; the Key boots from storage
          owner = new WireHost(k.fw, 31).connect();
          const after = owner.ok('fw.status', {});
          // a confirmed image is never lost: it still runs, or (if a test image was pending) is the one to go back to
          if (after.primary === 'confirmed' && after.running.version !== confirmed) return false;
          if (after.securityCounter < counter) return false;
          continue;
        }
        if (o.op === 'begin') {
          const img = images[o.img] as TestImage;
          const b = owner.request('fw.begin', { manifest: img.manifest });
          if (b.ok)
            for (let off = b.body.offset; off < o.upTo && off < img.payload.length; off += b.body.chunk)
              owner.request('fw.chunk', {
                offset: off,
                data: img.payload.subarray(off, Math.min(off + b.body.chunk, img.payload.length)),
              });
          if (b.ok && o.upTo >= img.payload.length) owner.request('fw.finish', {});
        } else if (o.op === 'test' || o.op === 'reboot') await rebootWith(owner, o.op === 'test' ? 'fw.test' : 'reboot');
        else owner.request(`fw.${o.op}`, {});
      }
      // The way back a host has, guided only by fw.status: settle the running image, then update.
      const st = owner.ok('fw.status', {});
      visited.add(st.primary);
      if (st.primary !== 'confirmed') owner.ok('fw.confirm', {});
      owner.upload(rescue);
      t.true((await rebootWith(owner, 'fw.test')).ok);
      owner.ok('fw.confirm', {});
      const end = owner.ok('fw.status', {});
      return end.primary === 'confirmed' && end.running.version === '9.0.0' && end.securityCounter === 9;
    }),
    {
      numRuns: 120,
      // always walked, besides the random ones: a power cut right after a confirm, and after a revert
      examples: [
        [[{ op: 'begin', img: 1, upTo: 6000 }, { op: 'test' }, { op: 'confirm' }, { op: 'powerCut' }]],
        [[{ op: 'begin', img: 1, upTo: 6000 }, { op: 'test' }, { op: 'revert' }, { op: 'powerCut' }, { op: 'status' }]],
      ],
    },
  );
  t.true(visited.has('reverting') && visited.has('testing'), `the walks reached ${[...visited].join(', ')}`);
  t.pass('every history recovered');
});
