/**
 * The flash file (sim/src/firmware/flash/image-file.ts, `key-<i>.flash`): only programmed pages
 * are stored, it round-trips (content, through `new Flash({ initial })` too), the raw 1 MiB image
 * older simulators wrote still loads (decoder and a real simulator start), and damaged files —
 * every truncation, garbage, a flipped bit, another geometry, a bad version or bitmap — are
 * refused with SimulatorError `SIM_BAD_INPUT`.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { Flash } from '../src/firmware/flash/flash.ts';
import { decodeFlashFile, encodeFlashFile, FLASH_FILE_MAGIC, isFlashFile } from '../src/firmware/flash/image-file.ts';
import { DEFAULT_LAYOUT } from '../src/firmware/flash/layout.ts';
import { Simulator } from '../src/runtime/simulator.ts';
import { makeTestFlash } from '../src/testing.ts';

const geometry = { pageSize: DEFAULT_LAYOUT.pageSize, pageCount: DEFAULT_LAYOUT.pageCount };

/** The pages `decodeFlashFile` returned, as the whole image. */
function image(pages: (Uint8Array | undefined)[], pageSize: number): Uint8Array {
  const out = new Uint8Array(pages.length * pageSize).fill(0xff);
  pages.forEach((p, i) => {
    if (p) out.set(p, i * pageSize);
  });
  return out;
}

test('a factory flash file stores only its programmed pages and round-trips', (t) => {
  const { flash } = makeTestFlash().deps;
  const file = encodeFlashFile(flash);
  t.true(isFlashFile(file));
  t.deepEqual(file.subarray(0, 4), FLASH_FILE_MAGIC);
  t.is(file[4], 1, 'version 1');
  t.is(file.length, 16 + 32 + flash.residentBytes + 4);
  t.true(file.length < 100 * 1024, `${file.length} bytes`);
  t.deepEqual(image(decodeFlashFile(file, geometry), geometry.pageSize), flash.snapshot());
  t.deepEqual(new Flash({ ...geometry, initial: file }).snapshot(), flash.snapshot(), 'Flash takes it as initial');
  t.deepEqual(encodeFlashFile(new Flash({ ...geometry, initial: file })), file, 'deterministic');
  const empty = encodeFlashFile(new Flash(geometry));
  t.is(empty.length, 16 + 32 + 4);
  t.true(new Flash({ ...geometry, initial: empty }).isErased(0, 1024 * 1024));
});

test('random contents round-trip, odd page counts included', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20 }),
      fc.array(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 40 })), { maxLength: 12 }),
      (pageCount, writes) => {
        const f = new Flash({ pageSize: 32, pageCount });
        for (const [at, bytes] of writes) {
          const address = at % f.size;
          f.write(
            address,
            bytes.subarray(0, f.size - address).map((b, i) => b & (f.read(address + i, 1)[0] as number)),
          );
        }
        const file = encodeFlashFile(f);
        return (
          image(decodeFlashFile(file, f), 32).every((b, i) => b === f.snapshot()[i]) &&
          new Flash({ pageSize: 32, pageCount, initial: file }).snapshot().every((b, i) => b === f.snapshot()[i])
        );
      },
    ),
  );
  t.pass();
});

test('the raw image older simulators wrote still decodes', (t) => {
  const { flash } = makeTestFlash().deps;
  const raw = flash.snapshot();
  t.deepEqual(image(decodeFlashFile(raw, geometry), geometry.pageSize), raw);
  const loaded = new Flash({ ...geometry, initial: raw });
  t.deepEqual(loaded.snapshot(), raw);
  t.is(loaded.residentBytes, flash.residentBytes, 'erased pages of a raw image are not allocated');
  // a raw image that happens to start with the magic is still a raw image
  const odd = new Uint8Array(256 * 64).fill(0xff);
  odd.set(FLASH_FILE_MAGIC, 0);
  t.deepEqual(image(decodeFlashFile(odd, { pageSize: 256, pageCount: 64 }), 256), odd);
});

test('damaged files are refused with SIM_BAD_INPUT: truncations, garbage, flipped bits, geometry, version, bitmap', (t) => {
  const { flash } = makeTestFlash().deps;
  const file = encodeFlashFile(flash);
  const refused = (bytes: Uint8Array, g: { pageSize: number; pageCount: number } = geometry) =>
    t.throws(() => decodeFlashFile(bytes, g, 'key-0.flash'), { code: 'SIM_BAD_INPUT', message: /^key-0\.flash: / });
  for (const cut of [0, 3, 4, 15, 16, 47, 48, 51, 52, 4096, file.length - 5, file.length - 4, file.length - 1])
    refused(file.subarray(0, cut));
  t.regex(refused(file.subarray(0, file.length - 1))?.message ?? '', /truncated/);
  refused(new Uint8Array(1000).map((_, i) => (i * 31) & 0xff)); // garbage
  refused(Buffer.from('not a flash file at all'));
  refused(new Uint8Array(1024 * 1024 - 1).fill(0xff)); // a truncated raw image
  refused(Uint8Array.from([...file, 0])); // trailing byte
  const flipped = file.slice();
  flipped[60 + 4096] = (flipped[60 + 4096] as number) ^ 0x10;
  t.regex(refused(flipped)?.message ?? '', /checksum/);
  const version = file.slice();
  version[4] = 2;
  t.regex(refused(version)?.message ?? '', /version 2/);
  const reserved = file.slice();
  reserved[6] = 1;
  refused(reserved);
  t.regex(refused(file, { pageSize: 4096, pageCount: 128 })?.message ?? '', /made for 256 pages of 4096/);
  // a bitmap bit past the last page
  const small = encodeFlashFile(new Flash({ pageSize: 32, pageCount: 3 }));
  small[16] = 0b1000;
  t.regex(refused(small, { pageSize: 32, pageCount: 3 })?.message ?? '', /past the last page/);
  // new Flash({ initial }) refuses a damaged file the same way; a wrong-length raw image is still a RangeError
  t.throws(() => new Flash({ ...geometry, initial: file.subarray(0, 100) }), { code: 'SIM_BAD_INPUT' });
  t.throws(() => new Flash({ ...geometry, initial: new Uint8Array(10) }), { instanceOf: RangeError });
});

test('the simulator writes compact flash files, loads an old raw one, and refuses a damaged one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-flash-file-'));
  const path = join(dir, 'key-0.flash');
  try {
    let sim = await Simulator.start({ keys: 2, serial: false, tcp: false, stateDir: dir });
    const version = sim.firmware(0).firmwareVersion;
    const handle = sim.keys()[0]?.handle;
    await sim.stop();
    const file = new Uint8Array(readFileSync(path));
    t.true(isFlashFile(file));
    t.true(statSync(path).size < 100 * 1024, `${statSync(path).size} bytes`);
    t.deepEqual(readFileSync(join(dir, 'key-1.flash')).subarray(16), Buffer.from(file.subarray(16)), 'same factory flash');
    // an old state folder: the raw 1 MiB image
    const raw = image(decodeFlashFile(file, geometry), geometry.pageSize);
    writeFileSync(path, raw);
    sim = await Simulator.start({ keys: 1, serial: false, tcp: false, stateDir: dir });
    t.is(sim.firmware(0).firmwareVersion, version);
    t.is(sim.keys()[0]?.handle, handle);
    await sim.stop();
    t.is(statSync(path).size, 1024 * 1024, 'an unchanged Key does not rewrite its file on stop');
    // a damaged file: a clear error naming it, no simulator
    writeFileSync(path, file.subarray(0, 5000));
    const e = await t.throwsAsync(Simulator.start({ keys: 1, serial: false, tcp: false, stateDir: dir }), {
      code: 'SIM_BAD_INPUT',
    });
    t.true(e?.message.includes(path), e?.message);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
