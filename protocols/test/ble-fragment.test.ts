/**
 * Framing over GATT (protocols/src/ble/fragment.ts, HARDWARE.md "Bluetooth Low Energy"):
 * fragments of at most ATT_MTU − 3 bytes, reassembled by length; sequence numbers turn a lost,
 * reordered or duplicated fragment into a typed ProtocolError, never a wrong SDU. fast-check
 * properties, 500 runs each.
 */
import test from 'ava';
import fc from 'fast-check';
import {
  BLE_FRAGMENT_MAX,
  BLE_FRAGMENT_MIN,
  BLE_LATE_WINDOW,
  FragmentDecoder,
  FragmentEncoder,
  type FragmentEvent,
  fragmentCount,
} from '../src/ble/index.ts';
import { ProtocolError } from '../src/errors.ts';

const RUNS = 500;
const sduArb = fc.uint8Array({ minLength: 1, maxLength: 2000 });
const sizeArb = fc.integer({ min: BLE_FRAGMENT_MIN, max: BLE_FRAGMENT_MAX });

function sdus(events: FragmentEvent[]): Uint8Array[] {
  return events.flatMap((e) => (e.kind === 'sdu' ? [e.sdu] : []));
}
function codes(events: FragmentEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'error' ? [e.error.code] : []));
}

test('round trip: any SDUs at any fragment size reassemble exactly, no fragment over the size, count as predicted', (t) => {
  fc.assert(
    fc.property(fc.array(sduArb, { minLength: 1, maxLength: 8 }), sizeArb, (list, size) => {
      const enc = new FragmentEncoder();
      const dec = new FragmentDecoder({ maxSdu: 4096, maxFragment: size });
      const events: FragmentEvent[] = [];
      for (const sdu of list) {
        const frags = enc.encode(sdu, size);
        if (frags.length !== fragmentCount(sdu.length, size)) return false;
        if (frags.some((f) => f.length > size)) return false;
        for (const f of frags) events.push(...dec.push(f));
      }
      const got = sdus(events);
      return (
        codes(events).length === 0 &&
        got.length === list.length &&
        got.every((s, i) => Buffer.from(s).equals(list[i] as Uint8Array))
      );
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test('sequence numbers wrap at 128 without a false error', (t) => {
  const enc = new FragmentEncoder();
  const dec = new FragmentDecoder({ maxSdu: 100 });
  const events: FragmentEvent[] = [];
  for (let i = 0; i < 300; i++) for (const f of enc.encode(Uint8Array.of(i & 0xff, 1, 2), 20)) events.push(...dec.push(f));
  t.deepEqual(codes(events), []);
  t.is(sdus(events).length, 300);
  t.is(enc.nextSeq, 300 % 128);
});

test('a lost fragment → BLE_FRAGMENT_SEQUENCE, the damaged SDU is never delivered, the next SDU is', (t) => {
  fc.assert(
    // distinct SDUs: with two equal ones, "the damaged SDU is never delivered" cannot be told apart
    // from its intact twin arriving (a counterexample fast-check found: [[0], [0]])
    fc.property(
      fc.uniqueArray(sduArb, { minLength: 2, maxLength: 6, selector: (s) => Buffer.from(s).toString('hex') }),
      sizeArb,
      fc.nat(),
      (list, size, pick) => {
        const enc = new FragmentEncoder();
        const dec = new FragmentDecoder({ maxSdu: 4096, maxFragment: size });
        const perSdu = list.map((s) => enc.encode(s, size));
        const flat = perSdu.flat();
        const lost = pick % (flat.length - perSdu.at(-1)!.length); // never in the last SDU
        const events = flat.filter((_, i) => i !== lost).flatMap((f) => dec.push(f));
        let owner = 0;
        for (let i = 0, seen = 0; i < perSdu.length; i++) {
          seen += (perSdu[i] as Uint8Array[]).length;
          if (lost < seen) {
            owner = i;
            break;
          }
        }
        const got = sdus(events).map((s) => Buffer.from(s).toString('hex'));
        const want = list.filter((_, i) => i !== owner).map((s) => Buffer.from(s).toString('hex'));
        // Every delivered SDU is one that was sent intact; the last one always arrives.
        return (
          codes(events).includes('BLE_FRAGMENT_SEQUENCE') &&
          got.every((g) => want.includes(g)) &&
          !got.includes(Buffer.from(list[owner] as Uint8Array).toString('hex')) &&
          got.at(-1) === want.at(-1)
        );
      },
    ),
    { numRuns: RUNS },
  );
  t.pass();
});

test('a duplicated fragment → BLE_FRAGMENT_DUPLICATE, ignored: every SDU still arrives intact', (t) => {
  fc.assert(
    fc.property(fc.array(sduArb, { minLength: 1, maxLength: 5 }), sizeArb, fc.nat(), (list, size, pick) => {
      const enc = new FragmentEncoder();
      const dec = new FragmentDecoder({ maxSdu: 4096, maxFragment: size });
      const flat = list.flatMap((s) => enc.encode(s, size));
      const dup = pick % flat.length;
      const stream = flat.flatMap((f, i) => (i === dup ? [f, f] : [f]));
      const events = stream.flatMap((f) => dec.push(f));
      const got = sdus(events);
      return (
        codes(events).join() === 'BLE_FRAGMENT_DUPLICATE' &&
        got.length === list.length &&
        got.every((s, i) => Buffer.from(s).equals(list[i] as Uint8Array))
      );
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test('two fragments swapped → BLE_FRAGMENT_SEQUENCE; no SDU is delivered with the wrong bytes', (t) => {
  fc.assert(
    fc.property(fc.array(sduArb, { minLength: 1, maxLength: 5 }), sizeArb, fc.nat(), (list, size, pick) => {
      const enc = new FragmentEncoder();
      const dec = new FragmentDecoder({ maxSdu: 4096, maxFragment: size });
      const flat = list.flatMap((s) => enc.encode(s, size));
      fc.pre(flat.length >= 2);
      const i = pick % (flat.length - 1);
      [flat[i], flat[i + 1]] = [flat[i + 1] as Uint8Array, flat[i] as Uint8Array];
      const events = flat.flatMap((f) => dec.push(f));
      const sent = new Set(list.map((s) => Buffer.from(s).toString('hex')));
      return (
        codes(events).includes('BLE_FRAGMENT_SEQUENCE') && sdus(events).every((s) => sent.has(Buffer.from(s).toString('hex')))
      );
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test('a straggler (an older fragment after a newer one) is dropped: an older SDU is never delivered after a newer one', (t) => {
  const enc = new FragmentEncoder();
  const [x, y, z] = [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)].map((b) => enc.encode(b, 20)[0] as Uint8Array);
  const dec = new FragmentDecoder({ maxSdu: 10, maxFragment: 20 });
  const events = [y, x, z].flatMap((f) => dec.push(f as Uint8Array));
  t.deepEqual(
    sdus(events).map((s) => [...s]),
    [[2], [3]],
    'X (sent first, arriving late) is not delivered after Y',
  );
  t.deepEqual(codes(events), ['BLE_FRAGMENT_SEQUENCE', 'BLE_FRAGMENT_SEQUENCE']);
  // far behind (more than BLE_LATE_WINDOW): a jump ahead after lost fragments, resynchronised on
  const far = new FragmentDecoder({ maxSdu: 10, maxFragment: 20 });
  const jump = [Uint8Array.of(0x80 | 40, 0, 1, 7), Uint8Array.of(0x80 | (40 - BLE_LATE_WINDOW - 1), 0, 1, 8)];
  t.deepEqual(
    sdus(jump.flatMap((f) => far.push(f))).map((s) => [...s]),
    [[7], [8]],
  );
});

test('faults as the simulated air makes them (loss, duplication, a fragment held past the next): SDUs arrive intact, in the order sent, or not at all', (t) => {
  const fault = fc.constantFrom('ok', 'ok', 'ok', 'ok', 'lose', 'dup', 'hold');
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 600 }), { minLength: 1, maxLength: 40 }),
      sizeArb,
      fc.array(fault, { minLength: 1, maxLength: 400 }),
      (bodies, size, faults) => {
        // each SDU starts with its index, so the order of delivery is visible
        const list = bodies.map((b, i) => Uint8Array.of(i >> 8, i & 0xff, ...b));
        const enc = new FragmentEncoder();
        const dec = new FragmentDecoder({ maxSdu: 4096, maxFragment: size });
        const flat = list.flatMap((sdu) => enc.encode(sdu, size));
        const air: Uint8Array[] = [];
        let held: Uint8Array | undefined;
        flat.forEach((f, i) => {
          const what = faults[i % faults.length];
          if (what === 'lose') return;
          if (what === 'dup') air.push(f, f);
          else if (what === 'hold' && held === undefined) held = f;
          else {
            air.push(f);
            if (held) air.push(held);
            held = undefined;
          }
        });
        const got = sdus(air.flatMap((f) => dec.push(f)));
        const order = got.map((s) => ((s[0] as number) << 8) | (s[1] as number));
        return (
          order.every((n, i) => i === 0 || n > (order[i - 1] as number)) &&
          got.every((s, i) => Buffer.from(s).equals(list[order[i] as number] as Uint8Array))
        );
      },
    ),
    { numRuns: RUNS },
  );
  t.pass();
});

test('arbitrary fragments: the decoder never throws, errors are typed, memory stays within maxSdu', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 50 }),
      fc.integer({ min: 1, max: 3000 }),
      (frags, maxSdu) => {
        const dec = new FragmentDecoder({ maxSdu, maxFragment: 512 });
        for (const f of frags) {
          for (const e of dec.push(f)) {
            if (e.kind === 'error' && !(e.error instanceof ProtocolError)) return false;
            if (e.kind === 'sdu' && (e.sdu.length < 1 || e.sdu.length > maxSdu)) return false;
          }
          if (dec.pending > maxSdu) return false;
        }
        return true;
      },
    ),
    { numRuns: RUNS },
  );
  t.pass();
});

test('bad fragments, one by one: malformed, too long, zero or oversized length, overrun, orphan continuation, new SDU too early', (t) => {
  const first = (seq: number, len: number, ...data: number[]) => Uint8Array.of(0x80 | seq, len >> 8, len & 0xff, ...data);
  const cont = (seq: number, ...data: number[]) => Uint8Array.of(seq, ...data);
  const run = (maxSdu: number, ...frags: Uint8Array[]) => {
    const dec = new FragmentDecoder({ maxSdu, maxFragment: 20 });
    return frags.flatMap((f) => dec.push(f));
  };
  t.deepEqual(codes(run(10, Uint8Array.of(0x80))), ['BLE_FRAGMENT_MALFORMED']);
  t.deepEqual(codes(run(10, new Uint8Array(21))), ['BLE_FRAGMENT_MALFORMED']);
  t.deepEqual(codes(run(10, Uint8Array.of(0x80, 0, 1))), ['BLE_FRAGMENT_MALFORMED']);
  t.deepEqual(codes(run(10, first(0, 0, 1))), ['BLE_SDU_LENGTH']);
  t.deepEqual(codes(run(10, first(0, 11, 1))), ['BLE_SDU_LENGTH']);
  t.deepEqual(codes(run(10, first(0, 2, 1, 2, 3))), ['BLE_SDU_LENGTH']);
  t.deepEqual(codes(run(10, first(0, 3, 1), cont(1, 2, 3, 4))), ['BLE_SDU_LENGTH']);
  t.deepEqual(codes(run(10, cont(0, 1))), ['BLE_FRAGMENT_SEQUENCE']);
  const early = run(10, first(0, 3, 1), first(1, 1, 9));
  t.deepEqual(codes(early), ['BLE_SDU_LENGTH']);
  t.deepEqual(
    sdus(early).map((s) => [...s]),
    [[9]],
    'the new SDU is taken',
  );
  // after an error, continuations are dropped quietly until a first fragment
  const after = run(10, cont(0, 1), cont(1, 2), cont(2, 3), first(3, 1, 7));
  t.deepEqual(codes(after), ['BLE_FRAGMENT_SEQUENCE']);
  t.deepEqual(
    sdus(after).map((s) => [...s]),
    [[7]],
  );
});

test('argument guards name the field', (t) => {
  t.throws(() => new FragmentEncoder().encode(new Uint8Array(0), 20), { instanceOf: RangeError });
  t.throws(() => new FragmentEncoder().encode(new Uint8Array(70000), 20), { instanceOf: RangeError });
  t.throws(() => new FragmentEncoder().encode(Uint8Array.of(1), 19), { instanceOf: RangeError, message: /fragmentSize/ });
  t.throws(() => new FragmentDecoder({ maxSdu: 0 }), { instanceOf: RangeError, message: /maxSdu/ });
  t.throws(() => new FragmentDecoder({ maxSdu: 1, maxFragment: 513 }), { instanceOf: RangeError, message: /maxFragment/ });
  t.is(fragmentCount(17, 20), 1);
  t.is(fragmentCount(18, 20), 2);
  t.is(fragmentCount(17 + 19, 20), 2);
  t.is(fragmentCount(17 + 19 + 1, 20), 3);
});
