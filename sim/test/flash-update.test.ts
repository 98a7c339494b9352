/**
 * Checks the two-slot firmware update of the simulated Key (sim/src/firmware/flash/: update.ts,
 * bootloader.ts, states.ts) against the update issue: the manifest is verified and the policy
 * applied before any flash write (wrong signer, wrong model, downgrade, too large); chunks are
 * accepted in order only, duplicates acknowledged without rewriting; an interrupted upload
 * resumes at its recorded offset after a reboot, a different manifest starts afresh; the digest
 * is checked at finish; a test image must be confirmed during its one test boot or the next boot
 * reverts it; revert works; the security counter advances only on confirm; the bootloader never
 * boots an image that does not verify.
 */
import test from 'ava';
import { boot, flashFactoryImage } from '../src/firmware/flash/bootloader.ts';
import { Flash, FlashError, PowerLoss } from '../src/firmware/flash/flash.ts';
import { computeLayout, maxPayloadSize } from '../src/firmware/flash/layout.ts';
import { UPDATE_TRANSITIONS } from '../src/firmware/flash/states.ts';
import { createTestSigner } from '../src/firmware/flash/test-signer.ts';
import { UpdateEngine } from '../src/firmware/flash/update.ts';

const MODEL = 'enigm-key-1';
const PS = 4096;
const PAGES = 64;

function payloadOf(n: number, salt: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = salt * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

function setup(opts: { newCounter?: number } = {}) {
  const flash = new Flash({ pageSize: PS, pageCount: PAGES });
  const layout = computeLayout({ pageSize: PS, pageCount: PAGES });
  const signer = createTestSigner();
  const oldPayload = payloadOf(10_000, 1);
  const oldManifest = signer.sign({ model: MODEL, version: '1.0.0', securityCounter: 3 }, oldPayload);
  flashFactoryImage(flash, layout, oldManifest, oldPayload, signer.verifier);
  const newPayload = payloadOf(50_000, 2);
  const newManifest = signer.sign({ model: MODEL, version: '1.1.0', securityCounter: opts.newCounter ?? 4 }, newPayload);
  const engine = () => new UpdateEngine(flash, layout, signer.verifier, { model: MODEL, installedSecurityCounter: () => 0 });
  return { flash, layout, signer, oldPayload, oldManifest, newPayload, newManifest, engine, verifier: signer.verifier };
}

function upload(e: UpdateEngine, payload: Uint8Array, from: number, chunk = 3000): number {
  let offset = from;
  while (offset < payload.length) ({ offset } = e.write(offset, payload.subarray(offset, offset + chunk)));
  return offset;
}

/** The code of what `fn` throws; for a refused manifest, the verifier's code it carries as `cause`. */
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlashError && e.code === 'FIRMWARE_UNVERIFIED') return `UNVERIFIED(${(e.cause as { code: string }).code})`;
    return (e as { code?: string }).code ?? String(e);
  }
  return 'no error';
};

test('factory image boots confirmed; a layout for another geometry is refused', (t) => {
  const { flash, layout, verifier } = setup();
  t.throws(() => boot(new Flash({ pageSize: 2048, pageCount: PAGES }), layout, verifier), { instanceOf: RangeError });
  const r = boot(flash, layout, verifier);
  t.is(r.running.version, '1.0.0');
  t.false(r.testing);
  t.is(r.recovered, undefined);
  t.is(
    code(() => boot(new Flash({ pageSize: PS, pageCount: PAGES }), layout, verifier)),
    'NO_VALID_IMAGE',
  );
});

test('happy path: begin → write all → finish → markTest → test boot → confirm → confirmed, counter advanced', (t) => {
  const { flash, layout, verifier, newPayload, newManifest, engine } = setup();
  boot(flash, layout, verifier);
  const e = engine();
  const { offset, id } = e.begin(newManifest);
  t.is(offset, 0);
  t.deepEqual(id, verifier.sha256(newManifest));
  t.is(e.status().secondary?.state, 'uploading');
  t.is(upload(e, newPayload, 0), newPayload.length);
  e.finish();
  t.is(e.status().secondary?.state, 'ready');
  e.markTest();
  t.is(e.status().secondary?.state, 'pending-test');
  t.is(e.status().installedSecurityCounter, 3, 'not advanced before confirm');

  const r1 = boot(flash, layout, verifier);
  t.is(r1.running.version, '1.1.0');
  t.true(r1.testing);
  const e1 = engine();
  const s1 = e1.status();
  t.true(s1.testing);
  t.is(s1.secondary?.state, 'old');
  t.is(s1.secondary?.version, '1.0.0');
  t.is(s1.installedSecurityCounter, 3);
  t.is(
    code(() => e1.begin(newManifest)),
    'UPDATE_STATE',
    'no new upload while testing',
  );
  t.deepEqual(e1.confirm(), { securityCounter: 4 });

  const r2 = boot(flash, layout, verifier);
  t.is(r2.running.version, '1.1.0');
  t.false(r2.testing);
  t.is(r2.recovered, undefined);
  const s2 = engine().status();
  t.is(s2.installedSecurityCounter, 4);
  t.false(s2.testing);
  t.deepEqual(engine().confirm(), { securityCounter: 4 }, 'confirm on a confirmed image is a no-op');
  t.is(
    code(() => engine().revert()),
    'UPDATE_STATE',
    'nothing to revert',
  );
});

test('a test image not confirmed during its test boot is reverted at the next boot', (t) => {
  const { flash, layout, verifier, newPayload, newManifest, engine } = setup();
  const e = engine();
  e.begin(newManifest);
  upload(e, newPayload, 0);
  e.finish();
  e.markTest();
  t.true(boot(flash, layout, verifier).testing);
  const r = boot(flash, layout, verifier);
  t.is(r.running.version, '1.0.0');
  t.false(r.testing);
  t.regex(r.recovered ?? '', /reverted the unconfirmed test image/);
  const s = engine().status();
  t.is(s.installedSecurityCounter, 3);
  t.is(s.secondary, undefined);
  t.is(boot(flash, layout, verifier).recovered, undefined, 'stable afterwards');
});

test('revert: a running test image goes back at the next boot; before a test boot it cancels the upload', (t) => {
  const { flash, layout, verifier, newPayload, newManifest, engine } = setup();
  const e = engine();
  e.begin(newManifest);
  e.write(0, newPayload.subarray(0, 5000));
  e.revert();
  t.is(e.status().secondary, undefined);
  t.is(
    code(() => e.write(5000, newPayload.subarray(5000, 6000))),
    'UPDATE_STATE',
  );
  t.is(
    code(() => e.revert()),
    'UPDATE_STATE',
  );

  t.is(e.begin(newManifest).offset, 0, 'cancelled: starts afresh');
  upload(e, newPayload, 0);
  e.finish();
  e.markTest();
  boot(flash, layout, verifier);
  const e1 = engine();
  e1.revert();
  const st = e1.status();
  t.is(st.primary, 'reverting', 'status tells the truth: a revert is pending');
  t.false(st.testing, 'a reverting image is not "on test" any more');
  const r = boot(flash, layout, verifier);
  t.is(r.running.version, '1.0.0');
  t.regex(r.recovered ?? '', /as requested/);
  t.is(engine().status().installedSecurityCounter, 3);
});

test('issue 9 #3: a revert requested on a test image can be withdrawn by confirm (no stuck state); then a new update may begin', (t) => {
  const { flash, layout, verifier, newPayload, newManifest, engine } = setup();
  const e = engine();
  e.begin(newManifest);
  upload(e, newPayload, 0);
  e.finish();
  e.markTest();
  boot(flash, layout, verifier);
  const e1 = engine();
  e1.revert();
  t.deepEqual(e1.confirm(), { securityCounter: 4 }, 'confirm withdraws the pending revert');
  const st = e1.status();
  t.is(st.primary, 'confirmed');
  t.is(st.running.version, '1.1.0');
  t.is(boot(flash, layout, verifier).running.version, '1.1.0', 'the next boot keeps it');
  t.is(engine().begin(newManifest).offset, 0, 'and a new update may begin');
});

test('wrong signer, wrong model, downgrade and too large are refused before any flash write', (t) => {
  const { flash, layout, newPayload, engine } = setup();
  const e = engine();
  const other = createTestSigner('someone else');
  const max = maxPayloadSize(layout);
  const { signer } = setup();
  const cases: [Uint8Array, string][] = [
    [other.sign({ model: MODEL, version: '2.0.0', securityCounter: 9 }, newPayload), 'UNVERIFIED(FIRMWARE_BAD_SIGNATURE)'],
    [signer.sign({ model: 'enigm-key-0', version: '2.0.0', securityCounter: 9 }, newPayload), 'FIRMWARE_WRONG_MODEL'],
    [signer.sign({ model: MODEL, version: '0.9.0', securityCounter: 2 }, newPayload), 'FIRMWARE_DOWNGRADE'],
    [signer.sign({ model: MODEL, version: '2.0.0', securityCounter: 9 }, new Uint8Array(max + 1)), 'FIRMWARE_TOO_LARGE'],
  ];
  const ops = flash.ops;
  for (const [m, c] of cases)
    t.is(
      code(() => e.begin(m)),
      c,
    );
  t.is(flash.ops, ops, 'no flash operation');
  const big = signer.sign({ model: MODEL, version: '2.0.0', securityCounter: 9 }, new Uint8Array(max));
  t.is(e.begin(big).offset, 0, 'exactly the slot size is fine');
  // the policy's counter counts too
  const strict = new UpdateEngine(flash, layout, signer.verifier, { model: MODEL, installedSecurityCounter: () => 10 });
  t.is(
    code(() => strict.begin(big)),
    'FIRMWARE_DOWNGRADE',
  );
});

test('chunks: out of order refused, duplicates acknowledged without rewriting, overlap writes only the tail', (t) => {
  const { flash, newPayload, newManifest, engine } = setup();
  const e = engine();
  e.begin(newManifest);
  t.is(
    code(() => e.write(100, newPayload.subarray(100, 200))),
    'OUT_OF_ORDER',
  );
  t.deepEqual(e.write(0, newPayload.subarray(0, 1000)), { offset: 1000 });
  const ops = flash.ops;
  t.deepEqual(e.write(0, newPayload.subarray(0, 1000)), { offset: 1000 });
  t.deepEqual(e.write(500, newPayload.subarray(500, 800)), { offset: 1000 });
  t.is(flash.ops, ops, 'duplicates rewrite nothing');
  const bad = newPayload.slice(0, 1000);
  bad[10] = (bad[10] as number) ^ 1;
  t.is(
    code(() => e.write(0, bad)),
    'CHUNK_MISMATCH',
  );
  t.deepEqual(e.write(900, newPayload.subarray(900, 1500)), { offset: 1500 });
  t.is(
    code(() => e.write(1500, new Uint8Array(newPayload.length))),
    'FIRMWARE_TOO_LARGE',
  );
  t.is(
    code(() => e.finish()),
    'UPDATE_INCOMPLETE',
  );
  t.is(
    code(() => e.markTest()),
    'UPDATE_STATE',
  );
  upload(e, newPayload, 1500, 4096);
  e.finish();
  e.finish(); // idempotent
  t.is(e.status().secondary?.state, 'ready');
});

test('resume after a reboot mid-upload keeps the offset; a different manifest starts afresh', (t) => {
  const { flash, layout, verifier, signer, newPayload, newManifest, engine } = setup();
  const e = engine();
  e.begin(newManifest);
  upload(e, newPayload, 0, 1000);
  t.is(e.write(0, newPayload.subarray(0, 0)).offset, newPayload.length);

  // interrupted at 10_000 (mid-page): reboot
  const f2 = setup();
  const e2 = f2.engine();
  e2.begin(f2.newManifest);
  for (let o = 0; o < 10_000; o += 1000) e2.write(o, f2.newPayload.subarray(o, o + 1000));
  boot(f2.flash, f2.layout, f2.verifier);
  const e3 = f2.engine();
  t.is(
    code(() => e3.write(10_000, f2.newPayload.subarray(10_000, 11_000))),
    'UPDATE_STATE',
    'begin again after a reboot',
  );
  t.is(e3.status().secondary?.offset, 10_000);
  t.is(e3.begin(f2.newManifest).offset, 10_000);
  upload(e3, f2.newPayload, 10_000);
  e3.finish();

  // a different manifest starts at 0, and so does the first one afterwards
  const other = signer.sign({ model: MODEL, version: '1.2.0', securityCounter: 5 }, newPayload.subarray(0, 20_000));
  const e4 = engine();
  t.is(e4.begin(other).offset, 0);
  t.is(e4.status().secondary?.version, '1.2.0');
  t.is(e4.begin(newManifest).offset, 0);
  // a complete upload resumes at its end
  upload(e4, newPayload, 0);
  e4.finish();
  t.is(engine().begin(newManifest).offset, newPayload.length);
  t.is(boot(flash, layout, verifier).running.version, '1.0.0', 'a ready (not marked) update is not booted');
  // a host redoing the whole flow after markTest (lost acknowledgement) changes nothing
  const e5 = engine();
  e5.markTest();
  t.is(e5.begin(newManifest).offset, newPayload.length);
  e5.finish();
  e5.markTest();
  t.is(e5.status().secondary?.state, 'pending-test');
  t.true(boot(flash, layout, verifier).testing);
});

test('resume after a torn write: back to the start of the torn page at worst, and the payload still verifies', (t) => {
  for (let seed = 0; seed < 24; seed++) {
    const { flash, layout, verifier, newPayload, newManifest, engine } = setup();
    const e = engine();
    e.begin(newManifest);
    upload(e, newPayload.subarray(0, 9_000), 0, 1000);
    const recorded = 9_000;
    flash.armPowerLoss(seed % 2, seed);
    t.throws(() => e.write(recorded, newPayload.subarray(recorded, recorded + 1500)), { instanceOf: PowerLoss });
    boot(flash, layout, verifier);
    const e2 = engine();
    const { offset } = e2.begin(newManifest);
    t.true(offset === recorded || offset === recorded + 1500 || offset === recorded - (recorded % PS), `offset ${offset}`);
    upload(e2, newPayload, offset);
    e2.finish();
  }
});

test('digest mismatch at finish discards the upload', (t) => {
  const { newPayload, signer, engine } = setup();
  const lying = signer.signFields({
    model: MODEL,
    version: '1.1.0',
    securityCounter: 4,
    payloadSize: newPayload.length,
    payloadDigest: new Uint8Array(32),
  });
  const e = engine();
  e.begin(lying);
  upload(e, newPayload, 0);
  t.is(
    code(() => e.finish()),
    'FIRMWARE_DIGEST_MISMATCH',
  );
  t.is(e.status().secondary, undefined);
  t.is(
    code(() => e.markTest()),
    'UPDATE_STATE',
  );
  t.is(e.begin(lying).offset, 0, 'starts afresh');
});

test('eraseStep erases ahead in page steps (keepalive between calls); writes then need no erase', (t) => {
  const { flash, newPayload, newManifest, signer, engine } = setup();
  const e = engine();
  // dirty the secondary slot with a previous upload
  const other = signer.sign({ model: MODEL, version: '1.2.0', securityCounter: 5 }, newPayload);
  e.begin(other);
  upload(
    e,
    newPayload.map((b) => b ^ 0x55),
    0,
  );
  e.begin(newManifest);
  e.write(0, newPayload.subarray(0, 100));
  let steps = 0;
  let before = flash.ops;
  while (e.eraseStep()) steps++;
  const erases = flash.ops - before;
  t.true(steps >= 1 && erases <= Math.ceil(newPayload.length / PS), `${steps} steps, ${erases} erases`);
  t.false(e.eraseStep());
  before = flash.ops;
  const chunks = Math.ceil((newPayload.length - 100) / 4096);
  upload(e, newPayload, 100, 4096);
  t.true(flash.ops - before <= chunks * 3, 'writes and status records only'); // ≤ 2 page segments + 1 record per chunk
  e.finish();
});

test('the bootloader discards a pending image that no longer verifies', (t) => {
  const { flash, layout, verifier, newPayload, newManifest, engine } = setup();
  const e = engine();
  e.begin(newManifest);
  upload(e, newPayload, 0);
  e.finish();
  e.markTest();
  flash.write(layout.secondary.start + PS + 77, new Uint8Array(1)); // corrupt a payload byte (1→0 bits)
  const r = boot(flash, layout, verifier);
  t.is(r.running.version, '1.0.0');
  t.regex(r.recovered ?? '', /discarded the pending image: payload digest mismatch/);
  t.is(engine().status().secondary, undefined);
});

test('recovery: an invalid primary is replaced by a valid secondary image with an allowed counter', (t) => {
  const { flash, layout, verifier, newPayload, newManifest, engine } = setup({ newCounter: 3 });
  const e = engine();
  e.begin(newManifest);
  upload(e, newPayload, 0);
  e.finish();
  e.markTest();
  boot(flash, layout, verifier);
  engine().confirm();
  flash.write(layout.primary.start + PS + 5, new Uint8Array(1)); // corrupt the running image
  const r = boot(flash, layout, verifier);
  t.is(r.running.version, '1.0.0');
  t.regex(r.recovered ?? '', /promoted/);
  // with no valid image anywhere, boot refuses
  flash.write(layout.primary.start + PS + 5, new Uint8Array(1));
  t.is(
    code(() => boot(flash, layout, verifier)),
    'NO_VALID_IMAGE',
  );
});

test('state table: every command outside its rows is refused with UPDATE_STATE', (t) => {
  const { newManifest, engine } = setup();
  const e = engine();
  t.is(
    code(() => e.finish()),
    'UPDATE_STATE',
  );
  t.is(
    code(() => e.markTest()),
    'UPDATE_STATE',
  );
  t.is(
    code(() => e.eraseStep()),
    'UPDATE_STATE',
  );
  t.is(
    code(() => e.write(0, new Uint8Array(1))),
    'UPDATE_STATE',
  );
  e.begin(newManifest);
  t.is(
    code(() => e.markTest()),
    'UPDATE_STATE',
  );
  const combos = new Set(
    UPDATE_TRANSITIONS.flatMap((r) => [`${r.from.primary}/${r.from.secondary}`, `${r.to.primary}/${r.to.secondary}`]),
  );
  t.deepEqual([...combos].sort(), [
    'confirmed/empty',
    'confirmed/old',
    'confirmed/pending-test',
    'confirmed/ready',
    'confirmed/uploading',
    'reverting/old',
    'testing/old',
  ]);
  t.true(UPDATE_TRANSITIONS.every((r) => r.note.length > 0));
});

test('power loss injected into a whole update at every op index: boot always hands over a valid old or new image', (t) => {
  // exhaustive over op indices for one small update (the property test samples larger ones)
  const base = setup();
  const small = base.newPayload.subarray(0, 9000);
  const m = base.signer.sign({ model: MODEL, version: '1.1.0', securityCounter: 4 }, small);
  const script = (s: ReturnType<typeof setup>) => {
    const e = s.engine();
    e.begin(m);
    upload(e, small, 0, 2500);
    e.finish();
    e.markTest();
    boot(s.flash, s.layout, s.verifier);
    s.engine().confirm();
  };
  const dry = setup();
  const start = dry.flash.ops;
  script(dry);
  const total = dry.flash.ops - start;
  for (let k = 0; k < total; k++) {
    const s = setup();
    s.flash.armPowerLoss(k, k);
    t.throws(() => script(s), { instanceOf: PowerLoss });
    const r = boot(s.flash, s.layout, s.verifier);
    t.true(['1.0.0', '1.1.0'].includes(r.running.version));
  }
});
