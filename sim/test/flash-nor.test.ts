/**
 * Checks the simulated NOR flash (sim/src/firmware/flash/flash.ts): erase to 0xFF, programming
 * 1→0 only (WRITE_WITHOUT_ERASE otherwise, nothing applied), operation counting, deterministic
 * power-loss tearing of writes (a prefix) and erases (partial), persistence through snapshot;
 * plus the layout and the status-record codec the update model builds on.
 */
import test from 'ava';
import fc from 'fast-check';
import { Flash, FlashError, PowerLoss } from '../src/firmware/flash/flash.ts';
import { computeLayout, DEFAULT_LAYOUT, maxPayloadSize } from '../src/firmware/flash/layout.ts';
import { crc32, decodeStatus, encodeStatus, INITIAL_STATUS, StatusJournal } from '../src/firmware/flash/status.ts';

const small = () => new Flash({ pageSize: 256, pageCount: 8 });

test('a new flash is erased; erase restores 0xFF', (t) => {
  const f = small();
  t.true(f.read(0, f.size).every((b) => b === 0xff));
  f.write(10, Uint8Array.of(0x00, 0x12));
  t.deepEqual(f.read(10, 2), Uint8Array.of(0x00, 0x12));
  f.erase(0);
  t.deepEqual(f.read(10, 2), Uint8Array.of(0xff, 0xff));
  t.is(f.ops, 2);
});

test('NOR: bits go 1→0 only; a 0→1 write is refused whole and not counted', (t) => {
  const f = small();
  f.write(0, Uint8Array.of(0xf0, 0xff));
  f.write(0, Uint8Array.of(0x30, 0x0f)); // only clears bits: fine
  t.deepEqual(f.read(0, 2), Uint8Array.of(0x30, 0x0f));
  const ops = f.ops;
  const e = t.throws(() => f.write(0, Uint8Array.of(0x30, 0x10, 0x00)), { instanceOf: FlashError });
  t.is(e?.code, 'WRITE_WITHOUT_ERASE');
  t.deepEqual(f.read(0, 3), Uint8Array.of(0x30, 0x0f, 0xff), 'nothing applied');
  t.is(f.ops, ops);
  f.write(0, Uint8Array.of(0x30, 0x0f)); // rewriting identical bytes is allowed
});

test('writes may span pages; ranges outside the flash are RangeErrors', (t) => {
  const f = small();
  f.write(250, new Uint8Array(12));
  t.true(f.read(250, 12).every((b) => b === 0));
  t.throws(() => f.write(f.size - 1, new Uint8Array(2)), { instanceOf: RangeError });
  t.throws(() => f.read(-1, 1), { instanceOf: RangeError });
  t.throws(() => f.erase(8), { instanceOf: RangeError });
  t.throws(() => new Flash({ pageSize: 256, pageCount: 2, initial: new Uint8Array(3) }), { instanceOf: RangeError });
});

test('snapshot and initial persist the content', (t) => {
  const f = small();
  f.write(100, Uint8Array.of(1, 2, 3));
  const g = new Flash({ pageSize: 256, pageCount: 8, initial: f.snapshot() });
  t.deepEqual(g.read(100, 3), Uint8Array.of(1, 2, 3));
  t.is(g.ops, 0);
});

test('armPowerLoss(n) lets n operations complete, tears the next and fires once', (t) => {
  const f = small();
  f.armPowerLoss(2, 7);
  f.erase(0);
  f.write(0, Uint8Array.of(1));
  t.true(f.powerLossArmed);
  const e = t.throws(() => f.write(1, new Uint8Array(100)), { instanceOf: PowerLoss });
  t.is(e?.op, 2);
  t.is(f.ops, 3);
  t.false(f.powerLossArmed);
  f.write(200, Uint8Array.of(0)); // no longer armed
  f.armPowerLoss(5);
  f.disarmPowerLoss();
  for (let i = 0; i < 8; i++) f.erase(i);
});

test('a torn write applies a prefix (plus at most one partly programmed byte), deterministically per seed', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), (len, seed) => {
      const run = () => {
        const f = small();
        const data = new Uint8Array(len).map((_, i) => (i * 37) & 0x7f);
        f.armPowerLoss(0, seed);
        t.throws(() => f.write(100, data), { instanceOf: PowerLoss });
        return { got: f.read(100, len), data };
      };
      const { got, data } = run();
      let p = 0;
      while (p < len && got[p] === data[p]) p++;
      // byte p may be partly programmed (a superset of the target's 1 bits); the rest untouched
      if (p < len) t.is((got[p] as number) & (data[p] as number), data[p] as number);
      for (let i = p + 1; i < len; i++) t.is(got[i], 0xff);
      t.deepEqual(run().got, got, 'same seed, same tear');
    }),
    { numRuns: 200 },
  );
});

test('a torn erase leaves a page somewhere between old and erased: bits only went 0→1', (t) => {
  const modes = new Set<string>();
  for (let seed = 0; seed < 64; seed++) {
    const f = small();
    f.write(256, new Uint8Array(256).fill(0x00));
    f.armPowerLoss(0, seed);
    t.throws(() => f.erase(1), { instanceOf: PowerLoss });
    const page = f.read(256, 256);
    const erased = page.filter((b) => b === 0xff).length;
    modes.add(erased === 0 ? 'none' : erased === 256 ? 'full' : 'partial');
  }
  t.true(modes.has('none') && modes.has('full') && modes.has('partial'), [...modes].join());
});

test('layout: page-aligned, non-overlapping regions; DEFAULT_LAYOUT has two 496 KiB slots', (t) => {
  const l = DEFAULT_LAYOUT;
  t.is(l.primary.size, 496 * 1024);
  t.is(l.secondary.size, 496 * 1024);
  t.is(maxPayloadSize(l), 492 * 1024);
  t.is(l.scratch.pages, 1);
  t.true(l.status.pages >= 2);
  const regions = [l.bootloader, l.primary, l.secondary, l.scratch, l.status];
  let next = 0;
  for (const r of regions) {
    t.is(r.firstPage, next);
    t.is(r.start, r.firstPage * l.pageSize);
    next += r.pages;
  }
  t.is(next, l.pageCount);
  const s = computeLayout({ pageSize: 4096, pageCount: 64 });
  t.is(s.primary.pages, 30);
  t.is(s.status.pages, 3);
  t.throws(() => computeLayout({ pageSize: 4096, pageCount: 6 }), { instanceOf: RangeError });
  t.throws(() => computeLayout({ pageSize: 100, pageCount: 64 }), { instanceOf: RangeError });
});

test('status records: CRC-32 vector, round trip, any torn prefix is rejected or identical', (t) => {
  t.is(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  const s = { ...INITIAL_STATUS, seq: 9, securityCounter: 4, secondary: 'uploading' as const, uploadOffset: 12345 };
  const rec = encodeStatus(s);
  t.deepEqual(decodeStatus(rec), s);
  for (let k = 0; k < rec.length; k++) {
    const torn = new Uint8Array(rec.length).fill(0xff);
    torn.set(rec.subarray(0, k));
    const d = decodeStatus(torn);
    t.true(d === undefined || encodeStatus(d).every((b, i) => b === rec[i]));
  }
});

test('status ring: the latest record wins across page rotations', (t) => {
  const layout = computeLayout({ pageSize: 256, pageCount: 9 }); // 4-record pages, status ring of 2+ pages
  const f = new Flash({ pageSize: 256, pageCount: 9 });
  let j = StatusJournal.load(f, layout);
  t.is(j.current.seq, 0);
  for (let i = 1; i <= 30; i++) {
    j.commit({ uploadOffset: i });
    if (i % 7 === 0) j = StatusJournal.load(f, layout);
  }
  t.is(StatusJournal.load(f, layout).current.uploadOffset, 30);
  t.is(StatusJournal.load(f, layout).current.seq, 30);
});
