/**
 * Recovery of the outbox log at open (docs/mqtt-outbox.md "Recovery"): a torn tail — the file cut
 * at every byte offset of its last entry — is truncated and every earlier entry kept; a damaged
 * entry in the middle (flipped bytes in its header, length, CRC or CBOR) is copied to
 * `<path>.quarantine` with its offset, reported, and skipped by resyncing on the next marker, its
 * neighbours kept, and reported only once; a file of random garbage opens with everything
 * quarantined, without throwing or hanging; a property test (fast-check) over random corruptions:
 * open never throws and never returns an entry that was not appended.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox, type OutboxEntry } from '@enigm/mqtt/outbox';
import { bytesEqual, toHex } from '@enigm/protocols/bytes';
import test from 'ava';
import fc from 'fast-check';

function tmpDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-outbox-rec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `n` entries (an ack of the second one too, when asked) and returns them with each entry's end offset. */
async function build(
  path: string,
  n: number,
  opts: { ack?: boolean; payload?: (i: number) => Uint8Array } = {},
): Promise<{ entries: OutboxEntry[]; all: OutboxEntry[]; ends: number[] }> {
  const ob = await Outbox.open(path, { fsync: 'batch' });
  const entries: OutboxEntry[] = [];
  const ends: number[] = [];
  for (let i = 0; i < n; i++) {
    const payload = opts.payload ? opts.payload(i) : new TextEncoder().encode(`payload ${i}`);
    entries.push((await ob.append({ topic: `enigm/v1/k/${i}`, payload, priority: i % 5 === 4 ? 'emergency' : 'normal' })).entry);
    ends.push(ob.stats().fileBytes);
  }
  const all = [...entries];
  if (opts.ack && n > 1) {
    await ob.ack(entries[1]!.id);
    entries.splice(1, 1);
    ends.push(ob.stats().fileBytes);
  }
  await ob.close();
  return { entries, all, ends };
}

const key = (e: OutboxEntry) => `${toHex(e.id)}|${e.seq}|${e.time}|${e.topic}|${toHex(e.payload)}|${e.priority}`;

test('torn tail: the file cut at every byte offset of its last entry reopens with all earlier entries, the tail truncated', async (t) => {
  const dir = tmpDir(t);
  const master = join(dir, 'master.log');
  const { entries, ends } = await build(master, 6);
  const lastStart = ends[4]!;
  const full = ends[5]!;
  t.is(statSync(master).size, full);
  const path = join(dir, 'cut.log');
  for (let cut = lastStart; cut < full; cut++) {
    copyFileSync(master, path);
    truncateSync(path, cut);
    const ob = await Outbox.open(path);
    t.deepEqual(ob.pending(), entries.slice(0, 5), `cut at ${cut}`);
    t.deepEqual(ob.report, { recovered: 5, quarantined: 0, quarantinedBytes: 0, tornTailBytes: cut - lastStart });
    t.is(statSync(path).size, lastStart, 'truncated to the end of the last whole entry');
    // the log goes on after the repair
    const next = await ob.append({ topic: 'after', payload: Uint8Array.of(1) });
    await ob.close();
    const again = await Outbox.open(path);
    t.deepEqual(again.pending(), [...entries.slice(0, 5), next.entry]);
    t.is(again.report.tornTailBytes, 0);
    await again.close();
  }
  t.false(existsSync(`${path}.quarantine`), 'a torn tail is not quarantined');
});

test('torn tail of zero bytes (a file system that extended the file first) is truncated too', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'o.log');
  const { entries, ends } = await build(path, 3);
  writeFileSync(path, new Uint8Array(100), { flag: 'a' });
  const ob = await Outbox.open(path);
  t.deepEqual(ob.pending(), entries);
  t.is(ob.report.tornTailBytes, 100);
  t.is(statSync(path).size, ends[2]!);
  await ob.close();
});

test('corruption in a middle entry (marker, length, CRC, record): quarantined with its offset, reported once, neighbours kept', async (t) => {
  const dir = tmpDir(t);
  const master = join(dir, 'master.log');
  const { entries, ends } = await build(master, 7);
  const start = ends[2]!; // entry 3 spans [ends[2], ends[3])
  const end = ends[3]!;
  // offsets inside entry 3: marker, length, crc, CBOR header, payload
  for (const at of [start, start + 1, start + 5, start + 7, start + 9, start + 12, end - 3, end - 1]) {
    const path = join(dir, `flip-${at}.log`);
    const bytes = readFileSync(master);
    bytes[at] = bytes[at]! ^ 0x5a;
    writeFileSync(path, bytes);
    const ob = await Outbox.open(path);
    const expected = entries.filter((_, i) => i !== 3);
    t.deepEqual(ob.pending(), expected, `flip at ${at - start} of the entry`);
    t.is(ob.report.quarantined, 1);
    t.is(ob.report.recovered, 6);
    t.is(ob.report.tornTailBytes, 0);
    t.is(ob.report.quarantinedBytes, end - start);
    const q = readFileSync(`${path}.quarantine`);
    const head = q.subarray(0, q.indexOf(10)).toString();
    t.regex(head, new RegExp(`^enigm-outbox quarantine offset=${start} length=${end - start} reason=[a-z-]+ time=\\S+$`));
    t.true(bytesEqual(q.subarray(q.indexOf(10) + 1, q.indexOf(10) + 1 + (end - start)), bytes.subarray(start, end)));
    await ob.close();
    const again = await Outbox.open(path);
    t.deepEqual(again.pending(), expected, 'still there after the compaction that removed the damage');
    t.is(again.report.quarantined, 0, 'reported once');
    await again.close();
  }
});

test('corruption in the last entry (not torn: whole but bad CRC) is quarantined, earlier entries kept', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'o.log');
  const { entries, ends } = await build(path, 4);
  const bytes = readFileSync(path);
  bytes[ends[3]! - 2] = bytes[ends[3]! - 2]! ^ 1;
  writeFileSync(path, bytes);
  const ob = await Outbox.open(path);
  t.deepEqual(ob.pending(), entries.slice(0, 3));
  t.is(ob.report.quarantined, 1);
  await ob.close();
});

test('garbage (with a fake marker) inserted between entries: quarantined as one region, the resync finds the next entry', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'o.log');
  const { entries, ends } = await build(path, 4, { ack: true }); // ack of entry 1 is the last entry
  const bytes = readFileSync(path);
  const garbage = Buffer.from('not an entry \xee\x4f\x42\x31 fake marker', 'latin1');
  const withGarbage = Buffer.concat([bytes.subarray(0, ends[1]!), garbage, bytes.subarray(ends[1]!)]);
  writeFileSync(path, withGarbage);
  const ob = await Outbox.open(path);
  t.deepEqual(ob.pending(), entries);
  t.is(ob.report.quarantined, 1);
  t.is(ob.report.quarantinedBytes, garbage.length);
  await ob.close();
});

test('a file of random garbage opens with everything quarantined, no throw, no hang; then works', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'o.log');
  const junk = new Uint8Array(1 << 20);
  for (let i = 0; i < junk.length; i++) junk[i] = (Math.random() * 256) | 0;
  // Not a marker at offset 0 whatever the draw (one file in 2^32 started with one: then a torn tail).
  junk[0] = 0;
  junk.set([0xee, 0x4f, 0x42, 0x31, 0, 0, 0, 20], 1000); // a marker with a plausible length
  writeFileSync(path, junk);
  const ob = await Outbox.open(path); // a hang would be ava's timeout; no duration is asserted
  t.deepEqual(ob.pending(), []);
  t.is(ob.report.quarantined, 1);
  t.is(ob.report.quarantinedBytes, junk.length);
  t.is(statSync(path).size < 100, true, 'compacted to (almost) nothing');
  const { entry } = await ob.append({ topic: 'x', payload: Uint8Array.of(1) });
  await ob.close();
  const again = await Outbox.open(path);
  t.deepEqual(again.pending(), [entry]);
  await again.close();
});

test('property: random corruptions never make open throw nor return an entry that was not appended', async (t) => {
  const dir = tmpDir(t);
  const master = join(dir, 'master.log');
  const { all, ends } = await build(master, 12, { ack: true, payload: (i) => new Uint8Array(i * 7).fill(i) });
  const known = new Set(all.map(key)); // an acked entry may come back if its ack is damaged: at least once
  t.is(ends.at(-1), readFileSync(master).length);
  const original = new Uint8Array(readFileSync(master));
  const corruption = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 60 }) }),
    fc.record({ kind: fc.constant('zero' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 60 }) }),
  );
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(corruption, { minLength: 1, maxLength: 4 }), async (cs) => {
      let b = Uint8Array.from(original);
      for (const c of cs) {
        const at = b.length === 0 ? 0 : c.at % b.length;
        if (c.kind === 'flip') {
          if (b.length) b[at] = b[at]! ^ c.bits;
        } else if (c.kind === 'truncate') b = b.subarray(0, at);
        else if (c.kind === 'insert') b = new Uint8Array(Buffer.concat([b.subarray(0, at), c.bytes, b.subarray(at)]));
        else if (c.kind === 'delete') b = new Uint8Array(Buffer.concat([b.subarray(0, at), b.subarray(at + c.n)]));
        else b.fill(0, at, Math.min(b.length, at + c.n));
      }
      const path = join(dir, `p${run++}.log`);
      writeFileSync(path, b);
      const ob = await Outbox.open(path);
      try {
        for (const e of ob.pending()) if (!known.has(key(e))) return false;
        const seqs = ob.pending().map((e) => e.seq);
        if (seqs.some((s, i) => i > 0 && s <= seqs[i - 1]!)) return false; // order kept
        return true;
      } finally {
        await ob.close();
        rmSync(path, { force: true });
        rmSync(`${path}.quarantine`, { force: true });
      }
    }),
    // A fixed seed: the property holds up to CRC-32C, and a corruption of several bytes passes a
    // CRC-32C by chance once in 2^32 — with a new seed every run that is ~1e-8 per CI run of a
    // failure that is no defect. Change the seed to explore other corruptions.
    { numRuns: 150, seed: 20_261_201 },
  );
  t.pass();
});
