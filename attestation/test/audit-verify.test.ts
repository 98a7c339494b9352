/**
 * `verifyAuditLog` (attestation/src/audit/verify.ts): every kind of tampering is reported with its
 * kind and record index — edit (with and without trusted keys), reorder, deletion (middle and
 * head), insertion (duplicate, forged, foreign signed record), torn tail, truncation at a record
 * boundary against an expected head, damaged frame header, wrong file header, zero-filled tail,
 * unknown signer — and property tests: random byte flips and cuts are always detected, random
 * bytes never make it throw.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AUDIT_FILE_HEADER,
  AuditLog,
  type AuditVerifyReport,
  auditSignerFromSeed,
  encodeAuditFrame,
  scanAuditFrames,
  verifyAuditLog,
} from '@enigm/attestation';
import test from 'ava';
import fc from 'fast-check';

const station = auditSignerFromSeed('station', new Uint8Array(32).fill(1));
const intruder = auditSignerFromSeed('station', new Uint8Array(32).fill(2));
const trust = { trustedKeys: [station.publicKey] };
let dir = '';

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'enigm-audit-verify-'));
});
test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
/** A log of `n` records by `signer` (records i: op key.enroll, handle h-i). */
async function makeLog(n: number, signer = station, start = 1_760_000_000_000): Promise<Uint8Array> {
  const path = join(dir, `log-${counter++}.audit`);
  let now = start;
  const log = await AuditLog.open(path, { signer, clock: () => now++ });
  for (let i = 0; i < n; i++)
    log.append({
      op: 'key.enroll',
      handle: `h-${i}`,
      decision: i % 3 === 2 ? 'refused' : 'allowed',
      reason: i % 3 === 2 ? 'KEY_WRONG_STATE' : undefined,
    });
  log.close();
  return new Uint8Array(readFileSync(path));
}

/** The records' bytes of a log. */
function records(bytes: Uint8Array): Uint8Array[] {
  const s = scanAuditFrames(bytes);
  return s.frames.map((f) => Uint8Array.from(f.bytes));
}

/** A log file from records' bytes. */
function assemble(recs: Uint8Array[]): Uint8Array {
  return Buffer.concat([AUDIT_FILE_HEADER, ...recs.map(encodeAuditFrame)]);
}

function problemOf(r: AuditVerifyReport): [string, number] | undefined {
  return r.problem ? [r.problem.kind, r.problem.index] : undefined;
}

/** Replaces the first occurrence of `from` (ASCII) inside `rec` by `to` (same length). */
function editText(rec: Uint8Array, from: string, to: string): Uint8Array {
  const out = Uint8Array.from(rec);
  const i = Buffer.from(out).indexOf(from);
  if (i < 0 || from.length !== to.length) throw new Error('editText: not found');
  out.set(Buffer.from(to), i);
  return out;
}

test('an intact log verifies, with and without trusted keys', async (t) => {
  const bytes = await makeLog(6);
  const r = verifyAuditLog(bytes, trust);
  t.true(r.ok);
  t.is(r.signatures, 'checked');
  t.is(r.records.length, 6);
  t.deepEqual(
    r.records.map((x) => x.record.seq),
    [0, 1, 2, 3, 4, 5],
  );
  t.is(r.head?.seq, 5);
  t.is(r.signers.length, 1);
  const u = verifyAuditLog(bytes);
  t.true(u.ok);
  t.is(u.signatures, 'unchecked');
  t.true(verifyAuditLog(assemble([])).ok, 'a log with only its header is intact and empty');
});

test('edited: a changed field is a bad signature (trusted) or a broken chain (untrusted)', async (t) => {
  const recs = records(await makeLog(6));
  recs[2] = editText(recs[2] as Uint8Array, 'h-2', 'h-9');
  const bytes = assemble(recs);
  t.deepEqual(problemOf(verifyAuditLog(bytes, trust)), ['edited', 2]);
  const u = verifyAuditLog(bytes);
  t.deepEqual(problemOf(u), ['edited', 2]);
  t.is(u.records.length, 2, 'the records before the edit are reported good');
  t.regex(u.problem?.message ?? '', /record 2 .*changed/);
});

test('edited: the last record, changed, is caught by its signature', async (t) => {
  const recs = records(await makeLog(4));
  recs[3] = editText(recs[3] as Uint8Array, 'h-3', 'h-7');
  t.deepEqual(problemOf(verifyAuditLog(assemble(recs), trust)), ['edited', 3]);
});

test('edited: a record whose bytes no longer parse', async (t) => {
  const recs = records(await makeLog(4));
  const bad = Uint8Array.from(recs[1] as Uint8Array);
  bad[0] = 0x00; // not tag 18 any more
  recs[1] = bad;
  t.deepEqual(problemOf(verifyAuditLog(assemble(recs))), ['edited', 1]);
});

test('reordered: two records swapped', async (t) => {
  const recs = records(await makeLog(6));
  [recs[2], recs[3]] = [recs[3] as Uint8Array, recs[2] as Uint8Array];
  t.deepEqual(problemOf(verifyAuditLog(assemble(recs), trust)), ['reordered', 2]);
  t.deepEqual(problemOf(verifyAuditLog(assemble(recs))), ['reordered', 2]);
});

test('reordered: a record moved to the end', async (t) => {
  const recs = records(await makeLog(6));
  const [moved] = recs.splice(1, 1);
  recs.push(moved as Uint8Array);
  t.deepEqual(problemOf(verifyAuditLog(assemble(recs), trust)), ['reordered', 1]);
});

test('deleted: a record in the middle, and the first records', async (t) => {
  const recs = records(await makeLog(6));
  const mid = [...recs];
  mid.splice(3, 1);
  const r = verifyAuditLog(assemble(mid), trust);
  t.deepEqual(problemOf(r), ['deleted', 3]);
  t.regex(r.problem?.message ?? '', /seq 3 is missing/);
  const two = [...recs];
  two.splice(2, 2);
  t.regex(verifyAuditLog(assemble(two), trust).problem?.message ?? '', /seq 2–3 are missing/);
  t.deepEqual(problemOf(verifyAuditLog(assemble(recs.slice(2)), trust)), ['deleted', 0]);
});

test('inserted: a duplicate of an earlier record', async (t) => {
  const recs = records(await makeLog(5));
  recs.splice(4, 0, recs[1] as Uint8Array);
  const r = verifyAuditLog(assemble(recs), trust);
  t.deepEqual(problemOf(r), ['inserted', 4]);
  t.regex(r.problem?.message ?? '', /copy of record 1/);
});

test('inserted: a forged record is an unknown signer (trusted) or out of chain (untrusted)', async (t) => {
  const recs = records(await makeLog(5));
  // the forger writes a well-chained record 3 with its own key, then the original 3, 4 follow
  const forgedPath = join(dir, 'forged.audit');
  writeFileSync(forgedPath, assemble(recs.slice(0, 3)));
  const l = await AuditLog.open(forgedPath, { signer: intruder, clock: () => 1_760_000_000_500 });
  const forged = l.append({ op: 'key.enroll', handle: 'h-x', decision: 'allowed' }).bytes;
  l.close();
  const tampered = [...recs.slice(0, 3), forged, ...recs.slice(3)];
  t.deepEqual(problemOf(verifyAuditLog(assemble(tampered), trust)), ['unknown-signer', 3]);
  t.deepEqual(problemOf(verifyAuditLog(assemble(tampered))), ['inserted', 3]);
  t.deepEqual(problemOf(verifyAuditLog(assemble(tampered), { trustedKeys: [station.publicKey, intruder.publicKey] })), [
    'inserted',
    3,
  ]);
});

test('inserted: a record signed by a trusted key but from another log', async (t) => {
  const recs = records(await makeLog(5));
  const other = records(await makeLog(5, station, 1_770_000_000_000));
  const tampered = [...recs.slice(0, 2), other[2] as Uint8Array, ...recs.slice(2)];
  t.deepEqual(problemOf(verifyAuditLog(assemble(tampered), trust)), ['inserted', 2]);
  t.deepEqual(problemOf(verifyAuditLog(assemble(tampered))), ['inserted', 2]);
  const replaced = [...recs];
  replaced[2] = other[2] as Uint8Array;
  t.deepEqual(problemOf(verifyAuditLog(assemble(replaced), trust)), ['inserted', 2]);
});

test('torn tail: every cut inside the last record is a torn tail after the good records', async (t) => {
  const bytes = await makeLog(4);
  const last = scanAuditFrames(bytes).frames[3]?.offset as number;
  for (let cut = last + 1; cut < bytes.length; cut++) {
    const r = verifyAuditLog(bytes.subarray(0, cut), trust);
    t.deepEqual(problemOf(r), ['torn-tail', 3], `cut at ${cut}`);
    t.is(r.records.length, 3);
    t.is(r.end, last);
  }
  const zeros = Buffer.concat([bytes, Buffer.alloc(300)]);
  t.deepEqual(problemOf(verifyAuditLog(zeros, trust)), ['torn-tail', 4], 'a zero-filled tail');
  t.deepEqual(problemOf(verifyAuditLog(AUDIT_FILE_HEADER.subarray(0, 5))), ['torn-tail', 0], 'a cut header');
});

test('truncated: a cut at a record boundary is caught against the expected head', async (t) => {
  const bytes = await makeLog(5);
  const full = verifyAuditLog(bytes, trust);
  const head = full.head as { seq: number; hash: Uint8Array };
  t.true(verifyAuditLog(bytes, { ...trust, expectHead: head }).ok);
  const cut = bytes.subarray(0, scanAuditFrames(bytes).frames[3]?.offset);
  t.true(verifyAuditLog(cut, trust).ok, 'without an anchor a boundary cut is a shorter valid log');
  t.deepEqual(problemOf(verifyAuditLog(cut, { ...trust, expectHead: head })), ['truncated', 3]);
  const rewritten = await makeLog(5, station, 1_770_000_000_000);
  t.deepEqual(problemOf(verifyAuditLog(rewritten, { ...trust, expectHead: head })), ['edited', 4]);
});

test('a damaged frame header, a wrong file header and an unknown signer', async (t) => {
  const bytes = Uint8Array.from(await makeLog(3));
  const off = scanAuditFrames(bytes).frames[1]?.offset as number;
  const damaged = Uint8Array.from(bytes);
  damaged[off + 2] = (damaged[off + 2] as number) ^ 0x01;
  t.deepEqual(problemOf(verifyAuditLog(damaged, trust)), ['edited', 1]);
  const other = Uint8Array.from(bytes);
  other[0] = 0x46;
  t.deepEqual(problemOf(verifyAuditLog(other)), ['not-an-audit-log', 0]);
  t.deepEqual(problemOf(verifyAuditLog(new Uint8Array(0))), ['torn-tail', 0]);
  const r = verifyAuditLog(bytes, { trustedKeys: [intruder.publicKey] });
  t.deepEqual(problemOf(r), ['unknown-signer', 0]);
  t.regex(r.problem?.message ?? '', /key id [0-9a-f]{16}/);
  t.throws(() => verifyAuditLog(bytes, { trustedKeys: [new Uint8Array(31)] }), { instanceOf: TypeError });
});

test('property: any byte flip is detected (trusted keys and expected head) and never throws', async (t) => {
  const bytes = await makeLog(5);
  const opts = { ...trust, expectHead: verifyAuditLog(bytes, trust).head as { seq: number; hash: Uint8Array } };
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
      (flips) => {
        const b = Uint8Array.from(bytes);
        for (const [i, x] of flips) b[i] = (b[i] as number) ^ x;
        if (Buffer.compare(b, bytes) === 0) return true; // flips cancelled out
        return verifyAuditLog(b, opts).ok === false;
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});

test('property: any cut is detected against the expected head; the good prefix still verifies', async (t) => {
  const bytes = await makeLog(5);
  const opts = { ...trust, expectHead: verifyAuditLog(bytes, trust).head as { seq: number; hash: Uint8Array } };
  const offsets = scanAuditFrames(bytes).frames.map((f) => f.offset);
  const ends = [...offsets.slice(1), bytes.length];
  for (let cut = 0; cut < bytes.length; cut++) {
    const r = verifyAuditLog(bytes.subarray(0, cut), opts);
    t.false(r.ok, `cut at ${cut}`);
    t.true(r.problem?.kind === 'torn-tail' || r.problem?.kind === 'truncated', `cut at ${cut}: ${r.problem?.kind}`);
    t.is(r.records.length, ends.filter((e) => e <= cut).length, `cut at ${cut}`);
  }
});

test('property: random bytes and random frames never make the verifier throw', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (tail, withHeader) => {
      const b = withHeader ? Buffer.concat([AUDIT_FILE_HEADER, tail]) : tail;
      const r = verifyAuditLog(b, trust);
      return withHeader ? typeof r.ok === 'boolean' : !r.ok;
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 5 }), (recs) => {
      const r = verifyAuditLog(assemble(recs), trust);
      return recs.length === 0 ? r.ok : !r.ok && r.problem?.kind === 'edited' && r.problem.index === 0;
    }),
    { numRuns: 1000 },
  );
  t.pass();
});
