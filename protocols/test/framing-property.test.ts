/**
 * Property tests (fast-check, 1000 runs each) of the serial framing.
 *
 * Spec checked:
 * - COBS: decode(encode(x)) = x, the encoding has no 0x00 and a length in
 *   [n + 1, n + max(1, ceil(n/254))];
 * - CRC-32C: agrees with a bit-at-a-time reference and chains through `seed`;
 * - frames: any list of payloads, concatenated as encoded and re-chunked arbitrarily, decodes to
 *   exactly that list with no error; `encodeFrame(p).length ≤ p.length + frameOverhead(p.length)`;
 * - resynchronisation: garbage (random bytes, truncated frames, frame tails) inserted between
 *   frames, followed by 0x00 or not (every frame starts with its own delimiter), never makes the
 *   decoder throw, never loses a real frame, and never yields a payload that was not sent (the
 *   CRC-32C makes a false accept a 2^-32 event, so it is asserted);
 * - a single flipped bit anywhere in a stream loses exactly the frame that holds it;
 * - arbitrary input: the decoder never throws, `buffered` stays within the encoded bound of
 *   `maxPayload`, no payload exceeds `maxPayload`, and the events do not depend on chunking.
 */

import test from 'ava';
import fc from 'fast-check';
import { toHex } from '../src/bytes.ts';
import type { FrameEvent } from '../src/framing/index.ts';
import {
  cobsDecode,
  cobsEncode,
  cobsMaxEncodedLength,
  crc32c,
  encodeFrame,
  FrameDecoder,
  frameOverhead,
} from '../src/framing/index.ts';

const NUM_RUNS = 1000;
const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));

/** Payloads: random, zero-heavy, and long constant runs that cross the 254-byte COBS groups. */
const payloadArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  fc.uint8Array({ maxLength: 300, min: 0, max: 1 }),
  fc
    .record({ n: fc.integer({ min: 0, max: 1100 }), b: fc.constantFrom(0x00, 0x01, 0xff) })
    .map(({ n, b }) => new Uint8Array(n).fill(b)),
);
const payloadListArb = fc.array(payloadArb, { maxLength: 8 });
/** Chunk sizes, cycled over the stream. */
const chunkingArb = fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 });

/** Garbage: random bytes, a strict prefix of a frame encoding, or a strict suffix of one. */
const garbageArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.uint8Array({ maxLength: 300, min: 1, max: 255 }),
  fc.tuple(payloadArb, fc.nat()).map(([p, k]) => {
    const f = encodeFrame(p);
    return f.slice(0, k % (f.length - 1)); // never the whole COBS part
  }),
  fc.tuple(payloadArb, fc.nat()).map(([p, k]) => {
    const f = encodeFrame(p);
    return f.slice(2 + (k % (f.length - 2))); // never from the first code byte
  }),
);

function decodeChunked(
  stream: Uint8Array,
  sizes: number[],
  maxPayload = 1 << 16,
  check?: (d: FrameDecoder) => void,
): FrameEvent[] {
  const d = new FrameDecoder({ maxPayload });
  const events: FrameEvent[] = [];
  let i = 0;
  let k = 0;
  while (i < stream.length) {
    const size = sizes[k++ % sizes.length] ?? 1;
    events.push(...d.push(stream.subarray(i, i + size)));
    check?.(d);
    i += size;
  }
  return events;
}

const frames = (events: FrameEvent[]): string[] => events.flatMap((e) => (e.kind === 'frame' ? [toHex(e.payload)] : []));
const summary = (events: FrameEvent[]): string[] =>
  events.map((e) => (e.kind === 'frame' ? `frame:${toHex(e.payload)}` : `error:${e.error.code}:${e.discarded}`));

test('COBS round-trips arbitrary bytes within the size bounds', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 2000 }), payloadArb), (x) => {
      const enc = cobsEncode(x);
      if (enc.indexOf(0) !== -1) return false;
      if (enc.length < x.length + 1 || enc.length > cobsMaxEncodedLength(x.length)) return false;
      return toHex(cobsDecode(enc)) === toHex(x);
    }),
    { numRuns: NUM_RUNS },
  );
  t.pass();
});

test('CRC-32C matches a bitwise reference and chains through seed', (t) => {
  const reference = (data: Uint8Array): number => {
    let crc = 0xffffffff;
    for (const b of data) {
      crc ^= b;
      for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    }
    return (crc ^ 0xffffffff) >>> 0;
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), (a, b) => {
      const ab = cat(a, b);
      return crc32c(ab) === reference(ab) && crc32c(b, crc32c(a)) === crc32c(ab);
    }),
    { numRuns: NUM_RUNS },
  );
  t.pass();
});

test('payload lists round-trip through encodeFrame, concatenation and arbitrary re-chunking', (t) => {
  fc.assert(
    fc.property(payloadListArb, chunkingArb, (payloads, sizes) => {
      for (const p of payloads) if (encodeFrame(p).length > p.length + frameOverhead(p.length)) return false;
      const stream = cat(...payloads.map(encodeFrame));
      const events = decodeChunked(stream, sizes);
      return summary(events).join() === payloads.map((p) => `frame:${toHex(p)}`).join();
    }),
    { numRuns: NUM_RUNS },
  );
  t.pass();
});

test('garbage between frames: no throw, every frame recovered, nothing that was not sent', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.option(garbageArb), payloadArb), { maxLength: 6 }),
      fc.option(garbageArb),
      fc.boolean(),
      chunkingArb,
      (items, tail, zeroAfterGarbage, sizes) => {
        const parts: Uint8Array[] = [];
        const garbage = (g: Uint8Array | null): void => {
          if (g === null) return;
          parts.push(g);
          if (zeroAfterGarbage) parts.push(Uint8Array.of(0));
        };
        for (const [g, p] of items) {
          garbage(g);
          parts.push(encodeFrame(p));
        }
        garbage(tail);
        parts.push(Uint8Array.of(0)); // terminate a trailing garbage run
        const events = decodeChunked(cat(...parts), sizes);
        // Exactly the real frames, in order: none lost, none invented.
        return frames(events).join() === items.map(([, p]) => toHex(p)).join();
      },
    ),
    { numRuns: NUM_RUNS },
  );
  t.pass();
});

/** Whether the COBS part of `frame` (between its delimiters) ends with a full 254-byte group (code 0xFF). */
function endsWithFullGroup(frame: Uint8Array): boolean {
  const cobs = frame.subarray(1, -1);
  let code = 0;
  for (let i = 0; i < cobs.length; i += code) code = cobs[i]!;
  return code === 0xff;
}

test('a single flipped bit loses exactly the frame that holds it', (t) => {
  fc.assert(
    fc.property(fc.array(payloadArb, { minLength: 1, maxLength: 5 }), fc.nat(), chunkingArb, (payloads, pick, sizes) => {
      const encoded = payloads.map(encodeFrame);
      const stream = cat(...encoded);
      const bit = pick % (stream.length * 8);
      const at = bit >> 3;
      stream[at] = stream[at]! ^ (1 << (bit & 7));
      let hit = 0;
      let end = 0;
      for (; hit < encoded.length; hit++) {
        end += encoded[hit]!.length;
        if (at < end) break;
      }
      // The one flip that loses nothing: a trailing delimiter turned into 0x01 after a body that ends
      // a full 254-byte COBS group (e.g. 248 bytes of 0xFF) is the longer form of the same encoding,
      // which the decoder accepts (cobs.ts): the frame arrives intact. Any other flip loses it.
      const intact = at === end - 1 && stream[at] === 0x01 && endsWithFullGroup(encoded[hit]!);
      // A 0x00 after the stream, as the next frame's leading delimiter would be: a flipped final
      // delimiter otherwise leaves the last frame pending, not yet reported.
      const events = decodeChunked(cat(stream, Uint8Array.of(0)), sizes);
      const expected = payloads.filter((_, i) => intact || i !== hit).map(toHex);
      const errorCodes = events.flatMap((e) => (e.kind === 'error' ? [e.error.code] : []));
      return (
        frames(events).join() === expected.join() &&
        (intact ? errorCodes.length === 0 : errorCodes.length >= 1) &&
        errorCodes.every((c) => c === 'FRAME_CRC' || c === 'FRAME_MALFORMED' || c === 'FRAME_LENGTH')
      );
    }),
    { numRuns: NUM_RUNS },
  );
  t.pass();
});

test('the flip that loses nothing: a trailing delimiter turned 0x01 after a full 254-byte group (the longer COBS form)', (t) => {
  // 248 bytes of 0xFF: length (2) + payload + CRC (4) is one full group without a zero, encoded
  // 00 FF <254 bytes> 00; the flipped delimiter makes it 00 FF <254 bytes> 01, and the next frame's
  // leading 0x00 ends it. A body one byte shorter ends with a short group: the same flip loses it.
  for (const [n, intact] of [
    [248, true],
    [502, true],
    [247, false],
  ] as const) {
    const payload = new Uint8Array(n).fill(0xff);
    const f = encodeFrame(payload);
    t.is(endsWithFullGroup(f), intact, `${n} bytes`);
    const stream = cat(f, encodeFrame(Uint8Array.of(7)));
    stream[f.length - 1] = 0x01;
    const events = decodeChunked(stream, [stream.length]);
    t.deepEqual(frames(events), intact ? [toHex(payload), '07'] : ['07'], `${n} bytes`);
  }
});

test('arbitrary input: no throw, bounded buffer, payloads ≤ maxPayload, chunking-independent events', (t) => {
  const streamArb = fc.array(
    fc.oneof(fc.uint8Array({ maxLength: 400 }), payloadArb.map(encodeFrame), fc.constant(Uint8Array.of(0))),
    { maxLength: 8 },
  );
  fc.assert(
    fc.property(streamArb, fc.integer({ min: 0, max: 700 }), chunkingArb, (parts, maxPayload, sizes) => {
      const stream = cat(...parts);
      const bound = cobsMaxEncodedLength((maxPayload < 128 ? 1 : 2) + maxPayload + 4);
      let bounded = true;
      const chunked = decodeChunked(stream, sizes, maxPayload, (d) => {
        if (d.buffered > bound) bounded = false;
      });
      const whole = new FrameDecoder({ maxPayload }).push(stream);
      return (
        bounded &&
        summary(chunked).join() === summary(whole).join() &&
        whole.every((e) => (e.kind === 'frame' ? e.payload.length <= maxPayload : e.discarded > 0))
      );
    }),
    { numRuns: NUM_RUNS },
  );
  t.pass();
});
