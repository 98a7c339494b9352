/**
 * Tests of the serial frame layer (`protocols/src/framing/frame.ts`).
 *
 * Spec checked: frame = 00 ‖ COBS(length ‖ payload ‖ CRC-32C(length ‖ payload), little-endian) ‖ 00,
 * length an unsigned LEB128 varint (uint32, ≤ 5 bytes, minimal); known-answer frames built by hand
 * from that definition; round trip; independence from chunking (every 2-way split and byte by
 * byte); resynchronisation after garbage (with and without zeros) and after a flipped bit (every
 * bit of a frame); the error codes FRAME_MALFORMED / FRAME_CRC / FRAME_LENGTH / FRAME_TOO_LARGE
 * with their `discarded` counts; bounded memory on a 10 MB stream without delimiter; settable
 * `maxPayload`; `reset()`; empty frames ignored; fresh payload arrays; overhead ≤ 1 % for a
 * 4 KiB payload and consistency of `frameOverhead`.
 */

import test from 'ava';
import { toHex } from '../src/bytes.ts';
import { ProtocolError } from '../src/errors.ts';
import type { FrameEvent } from '../src/framing/index.ts';
import {
  cobsEncode,
  cobsMaxEncodedLength,
  crc32c,
  encodeFrame,
  FRAME_DELIMITER,
  FrameDecoder,
  frameOverhead,
} from '../src/framing/index.ts';

const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));

/** Deterministic xorshift32 byte generator. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) & 0xff;
  };
}
function randomBytes(n: number, seed: number): Uint8Array {
  const next = rng(seed);
  return Uint8Array.from({ length: n }, next);
}

/** LEB128 of a non-negative integer (reference, independent of the module). */
function leb128(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

/** Wire frame built from raw body parts by the spec: 00 ‖ COBS(header ‖ payload ‖ crc) ‖ 00. */
function rawFrame(header: number[], payload: Uint8Array, crc?: number): Uint8Array {
  const covered = cat(Uint8Array.from(header), payload);
  const body = cat(covered, Uint8Array.from(le32(crc ?? crc32c(covered))));
  return cat(Uint8Array.of(0), cobsEncode(body), Uint8Array.of(0));
}

function decodeAll(stream: Uint8Array, chunkSizes: number[] | null = null, maxPayload = 1 << 16): FrameEvent[] {
  const d = new FrameDecoder({ maxPayload });
  if (!chunkSizes) return d.push(stream);
  const events: FrameEvent[] = [];
  let i = 0;
  for (const size of chunkSizes) {
    events.push(...d.push(stream.subarray(i, i + size)));
    i += size;
  }
  events.push(...d.push(stream.subarray(i)));
  return events;
}

const frames = (events: FrameEvent[]): string[] => events.flatMap((e) => (e.kind === 'frame' ? [toHex(e.payload)] : []));
const errors = (events: FrameEvent[]): { code: string; discarded: number }[] =>
  events.flatMap((e) => (e.kind === 'error' ? [{ code: e.error.code, discarded: e.discarded }] : []));

test('FRAME_DELIMITER is 0x00', (t) => {
  t.is(FRAME_DELIMITER, 0x00);
});

test('known answer: the empty payload is 00 01 05 51 53 7d 52 00', (t) => {
  // body = 00 (length 0) ‖ CRC-32C(00) = 0x527D5351, little-endian → 00 51 53 7d 52
  t.is(crc32c(Uint8Array.of(0)), 0x527d5351);
  t.is(toHex(encodeFrame(new Uint8Array(0))), '00010551537d5200');
  t.deepEqual(frames(decodeAll(Uint8Array.from(Buffer.from('00010551537d5200', 'hex')))), ['']);
});

test('known answer: 11 00 22 encodes as 00 ‖ COBS(03 11 00 22 ‖ crc LE) ‖ 00', (t) => {
  // body = 03 11 00 22 ‖ 23 d3 20 3e (CRC-32C 0x3E20D323, little-endian)
  // COBS(body) = 03 03 11 06 22 23 d3 20 3e
  t.is(crc32c(Uint8Array.of(0x03, 0x11, 0x00, 0x22)), 0x3e20d323);
  t.is(toHex(encodeFrame(Uint8Array.of(0x11, 0x00, 0x22))), '00' + '030311062223d3203e' + '00');
});

test('encodeFrame matches the spec construction for lengths around the varint and COBS boundaries', (t) => {
  for (const n of [0, 1, 127, 128, 253, 254, 255, 300, 4096, 16383, 16384, 70000]) {
    const p = randomBytes(n, n + 1);
    t.is(toHex(encodeFrame(p)), toHex(rawFrame(leb128(n), p)), `n=${n}`);
  }
});

test('round trip of single frames of many sizes and contents', (t) => {
  for (const n of [0, 1, 2, 5, 63, 64, 65, 127, 128, 253, 254, 255, 256, 1000, 4096, 20000]) {
    for (const p of [randomBytes(n, n * 7 + 3), new Uint8Array(n), new Uint8Array(n).fill(0xff)]) {
      const f = encodeFrame(p);
      t.is(f[0], 0);
      t.is(f[f.length - 1], 0);
      t.is(f.subarray(1, -1).indexOf(0), -1, 'no 0x00 inside the frame');
      t.deepEqual(frames(decodeAll(f)), [toHex(p)]);
    }
  }
});

const STREAM_PAYLOADS = [
  new Uint8Array(0),
  Uint8Array.of(0),
  randomBytes(200, 1),
  new Uint8Array(300).fill(0xff),
  new Uint8Array(260),
  randomBytes(600, 2),
];
const STREAM = cat(...STREAM_PAYLOADS.map(encodeFrame));
const EXPECTED = STREAM_PAYLOADS.map(toHex);

test('every 2-way split of a multi-frame stream yields the same frames', (t) => {
  for (let cut = 0; cut <= STREAM.length; cut++) {
    const events = decodeAll(STREAM, [cut]);
    if (events.length !== EXPECTED.length || frames(events).join() !== EXPECTED.join()) {
      t.fail(`split at ${cut}`);
      return;
    }
  }
  t.pass();
});

test('byte-by-byte and odd chunk sizes yield the same frames', (t) => {
  t.deepEqual(frames(decodeAll(STREAM, Array(STREAM.length).fill(1))), EXPECTED);
  for (const size of [2, 3, 7, 64, 253, 254, 255, 1000]) {
    t.deepEqual(frames(decodeAll(STREAM, Array(Math.ceil(STREAM.length / size)).fill(size))), EXPECTED, `size ${size}`);
  }
  t.is(errors(decodeAll(STREAM, Array(STREAM.length).fill(1))).length, 0);
});

test('three-way splits of a short stream yield the same frames', (t) => {
  const payloads = [Uint8Array.of(1, 0, 2), new Uint8Array(0), Uint8Array.of(0, 0)];
  const stream = cat(...payloads.map(encodeFrame));
  for (let a = 0; a <= stream.length; a++) {
    for (let b = 0; a + b <= stream.length; b++) {
      if (frames(decodeAll(stream, [a, b])).join() !== payloads.map(toHex).join()) {
        t.fail(`split ${a}/${b}`);
        return;
      }
    }
  }
  t.pass();
});

test('garbage before and between frames (with and without zeros) is reported, frames are recovered', (t) => {
  const noiseWithZeros = randomBytes(500, 42).map((b, i) => (i % 17 === 0 ? 0 : b));
  const noiseNoZeros = randomBytes(700, 43).map((b) => b | 1);
  const p1 = randomBytes(100, 5);
  const p2 = randomBytes(1000, 6);
  const p3 = new Uint8Array(50);
  for (const [a, b] of [
    [noiseWithZeros, noiseNoZeros],
    [noiseNoZeros, noiseWithZeros],
    [noiseNoZeros, noiseNoZeros],
  ] as const) {
    const stream = cat(a, encodeFrame(p1), b, encodeFrame(p2), a, encodeFrame(p3));
    for (const chunking of [null, [1, 2, 3, 500, 77], Array(stream.length).fill(1)]) {
      const events = decodeAll(stream, chunking);
      t.deepEqual(frames(events), [p1, p2, p3].map(toHex));
      t.true(errors(events).length >= 3, 'each garbage run is reported');
      for (const e of errors(events)) t.true(['FRAME_MALFORMED', 'FRAME_CRC', 'FRAME_LENGTH'].includes(e.code));
      // Frames come out in stream order, after the errors of the garbage before them.
      const kinds = events.map((e) => e.kind).join(',');
      t.regex(kinds, /^(error,)+frame,(error,)+frame,(error,)+frame$/);
    }
  }
});

test('garbage glued to a frame without a delimiter in between costs only that frame', (t) => {
  // Shows why every frame carries a leading delimiter: strip it and the garbage merges.
  const p1 = randomBytes(80, 8);
  const p2 = randomBytes(90, 9);
  const f1 = encodeFrame(p1);
  const events = decodeAll(cat(Uint8Array.of(0x41, 0x42), f1.subarray(1), encodeFrame(p2)));
  t.deepEqual(frames(events), [toHex(p2)]);
  t.is(errors(events).length, 1);
  t.is(errors(events)[0]?.discarded, 2 + f1.length - 2);
  // With the leading delimiter, the same garbage is isolated and both frames survive.
  t.deepEqual(frames(decodeAll(cat(Uint8Array.of(0x41, 0x42), f1, encodeFrame(p2)))), [toHex(p1), toHex(p2)]);
});

test('a flipped bit anywhere in a frame loses only that frame, with a FRAME_* error', (t) => {
  const p1 = randomBytes(40, 11);
  const p2 = cat(randomBytes(300, 12), new Uint8Array(20), new Uint8Array(10).fill(0xff));
  const p3 = randomBytes(40, 13);
  const f1 = encodeFrame(p1);
  const f2 = encodeFrame(p2);
  const stream = cat(f1, f2, encodeFrame(p3));
  const codes = new Set<string>();
  for (let bit = 0; bit < f2.length * 8; bit++) {
    const s = stream.slice();
    const at = f1.length + (bit >> 3);
    s[at] = s[at]! ^ (1 << (bit & 7));
    const events = decodeAll(s);
    const got = frames(events).join();
    const errs = errors(events);
    if (got !== [p1, p3].map(toHex).join() || errs.length < 1) {
      t.fail(`bit ${bit}: frames ${frames(events).length}, errors ${errs.length}`);
      return;
    }
    for (const e of errs) {
      if (!['FRAME_CRC', 'FRAME_MALFORMED', 'FRAME_LENGTH'].includes(e.code)) {
        t.fail(`bit ${bit}: unexpected ${e.code}`);
        return;
      }
      codes.add(e.code);
    }
  }
  t.true(codes.has('FRAME_CRC'));
  t.true(codes.has('FRAME_MALFORMED'));
});

test('error codes: COBS overrun and short body → FRAME_MALFORMED', (t) => {
  const overrun = Uint8Array.from([0, 0x09, 1, 2, 3, 0]);
  t.deepEqual(errors(decodeAll(overrun)), [{ code: 'FRAME_MALFORMED', discarded: 4 }]);
  // A valid COBS encoding of a 4-byte body: too short for length + CRC.
  const short = cat(Uint8Array.of(0), cobsEncode(Uint8Array.of(1, 2, 3, 4)), Uint8Array.of(0));
  t.deepEqual(errors(decodeAll(short)), [{ code: 'FRAME_MALFORMED', discarded: 5 }]);
});

test('error codes: CRC mismatch → FRAME_CRC', (t) => {
  const p = Uint8Array.of(1, 2, 3);
  const bad = rawFrame([3], p, (crc32c(Uint8Array.of(3, 1, 2, 3)) ^ 1) >>> 0);
  t.deepEqual(errors(decodeAll(bad)), [{ code: 'FRAME_CRC', discarded: bad.length - 2 }]);
});

test('error codes: bad varints (with a valid CRC) → FRAME_MALFORMED', (t) => {
  const p = Uint8Array.of(9);
  const cases: [string, number[], Uint8Array][] = [
    ['non-minimal 80 00 for length 0', [0x80, 0x00], new Uint8Array(0)],
    ['non-minimal 81 00 for length 1', [0x81, 0x00], p],
    ['non-minimal 5-byte 81 80 80 80 00', [0x81, 0x80, 0x80, 0x80, 0x00], p],
    ['6-byte varint', [0x81, 0x80, 0x80, 0x80, 0x80, 0x00], p],
    ['5th byte over 0x0F (exceeds 32 bits)', [0x81, 0x80, 0x80, 0x80, 0x10], p],
    ['unterminated into the CRC', [0x81], new Uint8Array(0)],
  ];
  for (const [name, header, payload] of cases) {
    t.deepEqual(
      errors(decodeAll(rawFrame(header, payload))).map((e) => e.code),
      ['FRAME_MALFORMED'],
      name,
    );
  }
  // The largest uint32 length is well-formed (and then simply does not match the contents).
  t.deepEqual(
    errors(decodeAll(rawFrame([0xff, 0xff, 0xff, 0xff, 0x0f], p))).map((e) => e.code),
    ['FRAME_LENGTH'],
  );
});

test('error codes: declared length ≠ carried bytes (valid CRC) → FRAME_LENGTH', (t) => {
  const p = randomBytes(10, 3);
  for (const declared of [0, 9, 11, 300]) {
    const f = rawFrame(leb128(declared), p);
    t.deepEqual(errors(decodeAll(f)), [{ code: 'FRAME_LENGTH', discarded: f.length - 2 }], `declared ${declared}`);
  }
});

test('error codes: a complete frame over maxPayload → FRAME_TOO_LARGE, next frame decodes', (t) => {
  const d = new FrameDecoder({ maxPayload: 100 });
  const big = encodeFrame(new Uint8Array(101)); // zero-heavy: fits the encoded bound, not the payload bound
  const ok = randomBytes(100, 4);
  const events = d.push(cat(big, encodeFrame(ok)));
  t.deepEqual(errors(events), [{ code: 'FRAME_TOO_LARGE', discarded: big.length - 2 }]);
  t.deepEqual(frames(events), [toHex(ok)]);
  // Zero-free and over the encoded bound: dropped while streaming, reported once.
  const big2 = encodeFrame(new Uint8Array(2000).fill(7));
  const ev2 = [...d.push(big2.subarray(0, 700)), ...d.push(big2.subarray(700)), ...d.push(encodeFrame(ok))];
  t.deepEqual(errors(ev2), [{ code: 'FRAME_TOO_LARGE', discarded: big2.length - 2 }]);
  t.deepEqual(frames(ev2), [toHex(ok)]);
  const err = ev2.find((e) => e.kind === 'error');
  t.true(err?.kind === 'error' && err.error instanceof ProtocolError);
});

test('bounded memory: 10 MB without delimiter keeps buffered ≤ the encoded bound, one FRAME_TOO_LARGE', (t) => {
  const maxPayload = 4096;
  const bound = cobsMaxEncodedLength(2 + maxPayload + 4);
  const d = new FrameDecoder({ maxPayload });
  const chunk = randomBytes(65536, 77).map((b) => b | 0x10);
  let total = 0;
  let maxBuffered = 0;
  let events = d.push(Uint8Array.of(0));
  for (const size of [1, 100, 4000, 65536]) {
    // Odd chunk sizes first, then fill up to 10 MB.
    events = events.concat(d.push(chunk.subarray(0, size)));
    total += size;
    maxBuffered = Math.max(maxBuffered, d.buffered);
  }
  while (total < 10_000_000) {
    const size = Math.min(chunk.length, 10_000_000 - total);
    events = events.concat(d.push(chunk.subarray(0, size)));
    total += size;
    maxBuffered = Math.max(maxBuffered, d.buffered);
  }
  t.is(events.length, 0, 'nothing reported before the frame ends');
  t.true(maxBuffered <= bound, `buffered ${maxBuffered} ≤ ${bound}`);
  const ok = randomBytes(4096, 78);
  const end = d.push(cat(Uint8Array.of(0), encodeFrame(ok)));
  t.deepEqual(errors(end), [{ code: 'FRAME_TOO_LARGE', discarded: 10_000_000 }]);
  t.deepEqual(frames(end), [toHex(ok)]);
  t.is(d.buffered, 0);
});

test('maxPayload is settable: a frame rejected at 1000 is accepted after raising it', (t) => {
  const p = randomBytes(2000, 21);
  const d = new FrameDecoder({ maxPayload: 1000 });
  t.is(d.maxPayload, 1000);
  t.deepEqual(
    errors(d.push(encodeFrame(p))).map((e) => e.code),
    ['FRAME_TOO_LARGE'],
  );
  d.maxPayload = 4096;
  t.is(d.maxPayload, 4096);
  t.deepEqual(frames(d.push(encodeFrame(p))), [toHex(p)]);
  // Lowering it below a partial frame already buffered drops that frame at its end.
  const f = encodeFrame(p);
  t.deepEqual(d.push(f.subarray(0, 1500)), []);
  d.maxPayload = 100;
  t.deepEqual(
    errors(d.push(f.subarray(1500))).map((e) => e.code),
    ['FRAME_TOO_LARGE'],
  );
  t.throws(() => new FrameDecoder({ maxPayload: -1 }), { instanceOf: ProtocolError });
  t.throws(() => new FrameDecoder({ maxPayload: 2 ** 32 }), { instanceOf: ProtocolError });
});

test('reset() drops a partial frame', (t) => {
  const d = new FrameDecoder({ maxPayload: 1024 });
  const a = encodeFrame(randomBytes(300, 31));
  t.deepEqual(d.push(a.subarray(0, 150)), []);
  t.is(d.buffered, 149);
  d.reset();
  t.is(d.buffered, 0);
  // Without the reset, the next frame's body (sent here without its leading delimiter) would merge.
  const q = randomBytes(50, 32);
  t.deepEqual(frames(d.push(encodeFrame(q).subarray(1))), [toHex(q)]);
});

test('empty frames (runs of delimiters) are ignored silently', (t) => {
  const d = new FrameDecoder({ maxPayload: 16 });
  t.deepEqual(d.push(new Uint8Array(100)), []);
  t.is(d.buffered, 0);
  t.deepEqual(frames(d.push(cat(new Uint8Array(5), encodeFrame(Uint8Array.of(1)), new Uint8Array(5)))), ['01']);
});

test('payloads are fresh arrays, independent of the input chunk and of each other', (t) => {
  const d = new FrameDecoder({ maxPayload: 1024 });
  const p = randomBytes(100, 50);
  const stream = cat(encodeFrame(p), encodeFrame(p));
  const ev = d.push(stream);
  const [a, b] = ev.map((e) => (e.kind === 'frame' ? e.payload : new Uint8Array(0)));
  t.truthy(a && b);
  if (!a || !b) return;
  stream.fill(0x55);
  a.fill(0);
  t.is(toHex(b), toHex(p));
  // Also through the spanning-chunks path.
  const f = encodeFrame(p);
  d.push(f.subarray(0, 10));
  const [e] = d.push(f.subarray(10));
  t.true(e?.kind === 'frame');
  if (e?.kind !== 'frame') return;
  const copy = toHex(e.payload);
  d.push(encodeFrame(randomBytes(100, 51)));
  t.is(toHex(e.payload), copy);
  f.fill(0x55);
  t.is(toHex(e.payload), copy, 'payloads never alias the input chunk');
});

test('overhead: ≤ 1 % for a 4096-byte payload, and frameOverhead bounds every frame', (t) => {
  const n = 4096;
  t.is(frameOverhead(n), 2 + 2 + 4 + Math.ceil((2 + n + 4) / 254)); // 25
  for (const p of [randomBytes(n, 60), new Uint8Array(n), new Uint8Array(n).fill(0xff)]) {
    const len = encodeFrame(p).length;
    t.true(len - n <= 40.96, `overhead ${len - n}`);
    t.true(len - n <= frameOverhead(n));
  }
  t.true(frameOverhead(n) <= 40.96);
  let equal = 0;
  for (let m = 0; m <= 1200; m++) {
    const zeroFree = new Uint8Array(m).fill(0xab);
    const got = encodeFrame(zeroFree).length - m;
    if (got > frameOverhead(m)) {
      t.fail(`m=${m}: ${got} > ${frameOverhead(m)}`);
      return;
    }
    if (got === frameOverhead(m)) equal++;
  }
  t.true(equal > 1000, 'the bound is tight for zero-free bodies');
  t.is(frameOverhead(0), 2 + 1 + 1 + 4);
  t.throws(() => frameOverhead(-1), { instanceOf: ProtocolError });
});
