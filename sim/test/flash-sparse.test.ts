/**
 * The sparse flash (sim/src/firmware/flash/flash.ts keeps erased pages unallocated) against a
 * dense reference model (the previous implementation: one `Uint8Array` of the whole flash): the
 * same random op sequences — erases, valid and refused writes (page-spanning, all-0xFF), reads,
 * isErased, power losses armed at random op indices with random seeds — give the same results,
 * errors, torn states, op counts and snapshots. Also: a fresh factory Key keeps far less than
 * 1 MiB resident, and `clone` is exact.
 */
import test from 'ava';
import fc from 'fast-check';
import { ERASED, Flash, FlashError, PowerLoss, seededUnit } from '../src/firmware/flash/flash.ts';
import { DEFAULT_LAYOUT } from '../src/firmware/flash/layout.ts';
import { makeTestFlash } from '../src/testing.ts';

/** The dense model the sparse flash replaced, kept as the reference (same tearing, same errors). */
class DenseFlash {
  readonly size: number;
  readonly mem: Uint8Array;
  ops = 0;
  armed: { at: number; seed: number } | undefined;

  constructor(
    readonly pageSize: number,
    readonly pageCount: number,
  ) {
    this.size = pageSize * pageCount;
    this.mem = new Uint8Array(this.size).fill(ERASED);
  }

  armPowerLoss(afterOps: number, seed = 0): void {
    this.armed = { at: this.ops + afterOps, seed: seed >>> 0 };
  }

  erase(page: number): void {
    if (!Number.isSafeInteger(page) || page < 0 || page >= this.pageCount)
      throw new RangeError(`page must be an integer in [0, ${this.pageCount}), got ${page}`);
    const start = page * this.pageSize;
    const rng = this.tear();
    if (rng === undefined) {
      this.mem.fill(ERASED, start, start + this.pageSize);
      return;
    }
    const mode = Math.floor(rng() * 4);
    if (mode === 1) this.mem.fill(ERASED, start, start + this.pageSize);
    else if (mode === 2) this.mem.fill(ERASED, start, start + Math.floor(rng() * this.pageSize));
    else if (mode === 3) {
      for (let i = start; i < start + this.pageSize; i++) this.mem[i] = (this.mem[i] as number) | Math.floor(rng() * 256);
    }
    throw new PowerLoss(this.ops - 1);
  }

  write(address: number, bytes: Uint8Array): void {
    this.checkRange(address, bytes.length);
    const mem = this.mem;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] as number;
      if (((mem[address + i] as number) & b) !== b)
        throw new FlashError(
          'WRITE_WITHOUT_ERASE',
          `write at 0x${(address + i).toString(16)} needs a 0→1 bit (page ${Math.floor((address + i) / this.pageSize)} not erased)`,
        );
    }
    const rng = this.tear();
    if (rng === undefined) {
      mem.set(bytes, address);
      return;
    }
    const prefix = Math.floor(rng() * (bytes.length + 1));
    mem.set(bytes.subarray(0, prefix), address);
    if (prefix < bytes.length && rng() < 0.5)
      mem[address + prefix] = (mem[address + prefix] as number) & ((bytes[prefix] as number) | Math.floor(rng() * 256));
    throw new PowerLoss(this.ops - 1);
  }

  read(address: number, length: number): Uint8Array {
    this.checkRange(address, length);
    return this.mem.slice(address, address + length);
  }

  isErased(address: number, length: number): boolean {
    this.checkRange(address, length);
    for (let i = address; i < address + length; i++) if (this.mem[i] !== ERASED) return false;
    return true;
  }

  tear(): (() => number) | undefined {
    const op = this.ops++;
    const armed = this.armed;
    if (armed === undefined || op !== armed.at) return undefined;
    this.armed = undefined;
    return seededUnit((armed.seed ^ Math.imul(op + 1, 0x9e3779b1)) >>> 0);
  }

  checkRange(address: number, length: number): void {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`length must be a non-negative integer, got ${length}`);
    if (!Number.isSafeInteger(address) || address < 0 || address + length > this.size)
      throw new RangeError(`address range [${address}, ${address + length}) is outside the ${this.size}-byte flash`);
  }
}

type Op =
  | { kind: 'erase'; page: number }
  | { kind: 'write'; address: number; mask: number[]; mode: 'valid' | 'raw' | 'ff' }
  | { kind: 'read' | 'isErased'; address: number; length: number }
  | { kind: 'arm'; after: number; seed: number }
  | { kind: 'disarm' }
  | { kind: 'clone'; goOn: 'clone' | 'original' };

const PAGE = 64;
const PAGES = 6;
const SIZE = PAGE * PAGES;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('erase' as const), page: fc.integer({ min: -1, max: PAGES }) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      address: fc.integer({ min: 0, max: SIZE + 2 }),
      mask: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 3 * PAGE }),
      mode: fc.constantFrom('valid' as const, 'valid' as const, 'raw' as const, 'ff' as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom('read' as const, 'isErased' as const),
      address: fc.integer({ min: 0, max: SIZE + 2 }),
      length: fc.integer({ min: 0, max: 2 * PAGE }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('arm' as const),
      after: fc.integer({ min: 0, max: 6 }),
      seed: fc.integer({ min: 0, max: 0xffffffff }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'disarm' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('clone' as const), goOn: fc.constantFrom('clone' as const, 'original' as const) }),
  },
);

/** Runs `f`, returning its value or a description of what it threw. */
function outcome(f: () => unknown): unknown {
  try {
    const v = f();
    return { ok: v instanceof Uint8Array ? Array.from(v) : v };
  } catch (e) {
    const err = e as Error & { code?: string; op?: number };
    return { threw: err.constructor.name, message: err.message, code: err.code, op: err.op };
  }
}

test('sparse and dense flash agree on random op sequences, power losses included', (t) => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      let sparse = new Flash({ pageSize: PAGE, pageCount: PAGES });
      const dense = new DenseFlash(PAGE, PAGES);
      // flashes left behind by a clone op (pages shared copy-on-write), with what they must still hold
      const frozen: [Flash, Uint8Array][] = [];
      for (const op of ops) {
        let a: unknown;
        let b: unknown;
        if (op.kind === 'erase') {
          a = outcome(() => sparse.erase(op.page));
          b = outcome(() => dense.erase(op.page));
        } else if (op.kind === 'write') {
          // valid: only clears bits of what is stored; raw: anything (often refused); ff: all 0xFF
          const len = Math.max(0, Math.min(op.mask.length, SIZE - op.address));
          const stored = op.address <= SIZE ? dense.mem.subarray(op.address, op.address + len) : new Uint8Array(0);
          const bytes =
            op.mode === 'ff'
              ? new Uint8Array(op.mask.length).fill(0xff)
              : op.mode === 'raw'
                ? Uint8Array.from(op.mask)
                : Uint8Array.from(op.mask, (m, i) => (i < stored.length ? (stored[i] as number) & m : m));
          a = outcome(() => sparse.write(op.address, bytes));
          b = outcome(() => dense.write(op.address, bytes));
        } else if (op.kind === 'read') {
          a = outcome(() => sparse.read(op.address, op.length));
          b = outcome(() => dense.read(op.address, op.length));
        } else if (op.kind === 'isErased') {
          a = outcome(() => sparse.isErased(op.address, op.length));
          b = outcome(() => dense.isErased(op.address, op.length));
        } else if (op.kind === 'arm') {
          sparse.armPowerLoss(op.after, op.seed);
          dense.armPowerLoss(op.after, op.seed);
        } else if (op.kind === 'disarm') {
          sparse.disarmPowerLoss();
          dense.armed = undefined;
        } else if (op.kind === 'clone') {
          // carry on with the clone or the original; the other must not change any more
          const c = sparse.clone();
          const [next, left] = op.goOn === 'clone' ? [c, sparse] : [sparse, c];
          frozen.push([left, dense.mem.slice()]);
          sparse = next;
        }
        if (JSON.stringify(a) !== JSON.stringify(b)) return false;
        if (sparse.ops !== dense.ops || sparse.powerLossArmed !== (dense.armed !== undefined)) return false;
      }
      const snap = sparse.snapshot();
      if (!snap.every((x, i) => x === dense.mem[i])) return false;
      for (const [f, held] of frozen) if (!f.snapshot().every((x, i) => x === held[i])) return false;
      // memory is only held by pages that were programmed and not erased since
      let dirty = 0;
      for (let p = 0; p < PAGES; p++) if (!dense.isErased(p * PAGE, PAGE)) dirty++;
      if (sparse.residentBytes < dirty * PAGE || sparse.residentBytes > PAGES * PAGE) return false;
      // the snapshot and the clone reproduce the state (the clone with its op count)
      const back = new Flash({ pageSize: PAGE, pageCount: PAGES, initial: snap });
      const clone = sparse.clone();
      return (
        back.snapshot().every((x, i) => x === snap[i]) &&
        clone.ops === sparse.ops &&
        clone.snapshot().every((x, i) => x === snap[i])
      );
    }),
    { numRuns: 400 },
  );
  t.pass();
});

test('power loss at every op index of a fixed history tears sparse and dense identically', (t) => {
  const history = (f: { erase(p: number): void; write(a: number, b: Uint8Array): void }) => {
    for (let p = 0; p < PAGES; p++) f.erase(p);
    f.write(
      10,
      new Uint8Array(PAGE * 2).map((_, i) => (i * 37) & 0xff),
    );
    f.write(3 * PAGE - 5, new Uint8Array(20));
    f.erase(1);
    f.write(PAGE + 1, Uint8Array.of(0x0f, 0xf0, 0x00));
    f.erase(2);
    f.erase(0);
  };
  for (let at = 0; at < PAGES + 6; at++) {
    for (const seed of [0, 1, 7, 0xdeadbeef]) {
      const sparse = new Flash({ pageSize: PAGE, pageCount: PAGES });
      const dense = new DenseFlash(PAGE, PAGES);
      sparse.armPowerLoss(at, seed);
      dense.armPowerLoss(at, seed);
      const a = outcome(() => history(sparse));
      const b = outcome(() => history(dense));
      t.deepEqual(a, b);
      t.is(sparse.ops, dense.ops);
      t.deepEqual(sparse.snapshot(), dense.mem, `op ${at}, seed ${seed}`);
    }
  }
});

test('erased pages take no memory: a fresh factory Key holds far less than 1 MiB', (t) => {
  const empty = new Flash({ pageSize: DEFAULT_LAYOUT.pageSize, pageCount: DEFAULT_LAYOUT.pageCount });
  t.is(empty.residentBytes, 0);
  t.true(empty.isErased(0, empty.size));
  const { flash } = makeTestFlash().deps;
  t.true(flash.residentBytes <= 96 * 1024, `${flash.residentBytes} bytes resident`);
  t.true(flash.residentBytes > 64 * 1024, 'the 64 KiB factory payload is held');
  t.is(flash.snapshot().length, 1024 * 1024, 'the snapshot is still the whole image');
  // erasing frees; writing 0xFF allocates nothing
  const f = new Flash({ pageSize: 4096, pageCount: 4 });
  f.write(0, new Uint8Array(8192).fill(0xff));
  t.is(f.residentBytes, 0);
  f.write(4095, Uint8Array.of(0, 0));
  t.is(f.residentBytes, 8192);
  f.erase(0);
  t.is(f.residentBytes, 4096);
  t.deepEqual(f.read(4094, 3), Uint8Array.of(0xff, 0xff, 0));
});

test('clone is an independent copy with the same op count and pending power loss', (t) => {
  const { flash } = makeTestFlash().deps;
  flash.armPowerLoss(2, 99);
  const c = flash.clone();
  t.is(c.ops, flash.ops);
  t.true(c.powerLossArmed);
  t.deepEqual(c.snapshot(), flash.snapshot());
  const tear = (f: Flash) => outcome(() => [f.erase(200), f.write(200 * 4096, new Uint8Array(100)), f.erase(5)]);
  t.deepEqual(tear(c), tear(flash));
  t.deepEqual(c.snapshot(), flash.snapshot(), 'torn the same way');
  c.erase(4);
  t.false(flash.isErased(4 * 4096, 4096), 'the original is untouched');
});
