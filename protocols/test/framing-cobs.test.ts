/**
 * Tests of the two primitives of the serial framing: COBS and CRC-32C.
 *
 * Checks:
 * - COBS (Cheshire & Baker, "Consistent Overhead Byte Stuffing", IEEE/ACM ToN 1999): the eleven
 *   encoding examples of the Wikipedia COBS article (canonical form: a final full 254-byte group
 *   carries no trailing 0x01), decoding of those vectors, tolerance of the non-canonical trailing
 *   0x01, the size bound `n + max(1, ceil(n/254))` exactly at the 254-byte boundaries, and the
 *   FRAME_MALFORMED errors (empty input, 0x00 inside, code byte past the end).
 * - CRC-32C (Castagnoli, CRC-32/ISCSI: reflected poly 0x82F63B78, init/xorout 0xFFFFFFFF): the
 *   catalogue check value of "123456789" (0xE3069283), the RFC 3720 §B.4 iSCSI examples (32 bytes
 *   of 0x00, of 0xFF, ascending and descending), agreement with a bit-at-a-time reference on
 *   every length 0..300 (covers the slicing-by-8 tail handling), and `seed` chaining.
 */

import type { ExecutionContext } from 'ava';
import test from 'ava';
import { toHex } from '../src/bytes.ts';
import { ProtocolError } from '../src/errors.ts';
import { cobsDecode, cobsEncode, cobsMaxEncodedLength, crc32c } from '../src/framing/index.ts';

const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
/** `from, from+1, …, to` inclusive (byte values). */
const range = (from: number, to: number): Uint8Array => Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);
const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));

function throwsCode(t: ExecutionContext, fn: () => unknown, code: string): void {
  const err = t.throws(fn, { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, code as ProtocolError['code']);
}

// Wikipedia "Consistent Overhead Byte Stuffing", encoding examples 1-11 (delimiter not included).
const VECTORS: [name: string, decoded: Uint8Array, encoded: Uint8Array][] = [
  ['1: 00', bytes('00'), bytes('01 01')],
  ['2: 00 00', bytes('00 00'), bytes('01 01 01')],
  ['3: 00 11 00', bytes('00 11 00'), bytes('01 02 11 01')],
  ['4: 11 22 00 33', bytes('11 22 00 33'), bytes('03 11 22 02 33')],
  ['5: 11 22 33 44', bytes('11 22 33 44'), bytes('05 11 22 33 44')],
  ['6: 11 00 00 00', bytes('11 00 00 00'), bytes('02 11 01 01 01')],
  ['7: 01..FE (254 bytes)', range(0x01, 0xfe), cat(bytes('ff'), range(0x01, 0xfe))],
  ['8: 00..FE (255 bytes)', range(0x00, 0xfe), cat(bytes('01 ff'), range(0x01, 0xfe))],
  ['9: 01..FF (255 bytes)', range(0x01, 0xff), cat(bytes('ff'), range(0x01, 0xfe), bytes('02 ff'))],
  ['10: 02..FF 00 (255 bytes)', cat(range(0x02, 0xff), bytes('00')), cat(bytes('ff'), range(0x02, 0xff), bytes('01 01'))],
  ['11: 03..FF 00 01 (255 bytes)', cat(range(0x03, 0xff), bytes('00 01')), cat(bytes('fe'), range(0x03, 0xff), bytes('02 01'))],
];

for (const [name, decoded, encoded] of VECTORS) {
  test(`COBS Wikipedia example ${name}: encode`, (t) => {
    t.is(toHex(cobsEncode(decoded)), toHex(encoded));
  });
  test(`COBS Wikipedia example ${name}: decode`, (t) => {
    t.is(toHex(cobsDecode(encoded)), toHex(decoded));
  });
}

test('COBS: the empty input encodes to 01 and back', (t) => {
  t.is(toHex(cobsEncode(new Uint8Array(0))), '01');
  t.is(cobsDecode(bytes('01')).length, 0);
});

test('COBS: a final full group with the redundant trailing 01 is also accepted', (t) => {
  // Canonical: FF 01..FE. The longer form FF 01..FE 01 decodes to the same bytes.
  t.is(toHex(cobsDecode(cat(bytes('ff'), range(1, 254), bytes('01')))), toHex(range(1, 254)));
});

test('COBS: size bound n + max(1, ceil(n/254)) is exact for zero-free input at 254 boundaries', (t) => {
  t.is(cobsMaxEncodedLength(0), 1);
  for (const n of [1, 253, 254, 255, 507, 508, 509, 4102, 65536]) {
    const zeroFree = new Uint8Array(n).fill(0x5a);
    const enc = cobsEncode(zeroFree);
    t.is(cobsMaxEncodedLength(n), n + Math.ceil(n / 254), `bound n=${n}`);
    t.is(enc.length, cobsMaxEncodedLength(n), `zero-free n=${n} meets the bound`);
    t.is(enc.indexOf(0), -1);
    t.is(toHex(cobsDecode(enc)), toHex(zeroFree));
  }
  throwsCode(t, () => cobsMaxEncodedLength(-1), 'FRAME_LENGTH');
  throwsCode(t, () => cobsMaxEncodedLength(1.5), 'FRAME_LENGTH');
});

test('COBS: every zero position around the 254-byte group boundary round-trips within the bound', (t) => {
  for (const n of [252, 253, 254, 255, 256, 508, 509]) {
    for (let z = 0; z < n; z++) {
      const src = new Uint8Array(n).fill(0xa5);
      src[z] = 0;
      const enc = cobsEncode(src);
      if (enc.indexOf(0) !== -1 || enc.length > cobsMaxEncodedLength(n) || enc.length < n + 1) {
        t.fail(`n=${n} zero at ${z}: length ${enc.length}`);
        return;
      }
      if (toHex(cobsDecode(enc)) !== toHex(src)) {
        t.fail(`n=${n} zero at ${z}: round trip`);
        return;
      }
    }
  }
  t.pass();
});

test('COBS decode: FRAME_MALFORMED on empty input, a 0x00 inside, and a code byte past the end', (t) => {
  throwsCode(t, () => cobsDecode(new Uint8Array(0)), 'FRAME_MALFORMED');
  throwsCode(t, () => cobsDecode(bytes('03 11 00 33')), 'FRAME_MALFORMED');
  throwsCode(t, () => cobsDecode(bytes('00')), 'FRAME_MALFORMED');
  throwsCode(t, () => cobsDecode(bytes('05 11 22 33')), 'FRAME_MALFORMED'); // needs 4 data bytes, has 3
  throwsCode(t, () => cobsDecode(bytes('02 11 03 22')), 'FRAME_MALFORMED'); // second group overruns
  throwsCode(t, () => cobsDecode(cat(bytes('ff'), range(1, 253))), 'FRAME_MALFORMED'); // FF with 253 bytes
  // Exactly reaching the end is fine.
  t.is(toHex(cobsDecode(bytes('05 11 22 33 44'))), '11223344');
});

test('COBS: results are fresh arrays', (t) => {
  const src = bytes('11 22 00 33');
  const enc = cobsEncode(src);
  t.is(enc.byteOffset, 0);
  t.is(enc.buffer.byteLength, enc.length);
  const dec = cobsDecode(enc);
  t.is(dec.byteOffset, 0);
  t.is(dec.buffer.byteLength, dec.length);
});

// ---------------------------------------------------------------------------------------------

/** Bit-at-a-time CRC-32C straight from the parameter set, as an independent reference. */
function crc32cReference(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of data) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

test('CRC-32C catalogue check value: "123456789" → 0xE3069283', (t) => {
  t.is(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
});

test('CRC-32C RFC 3720 §B.4 iSCSI examples', (t) => {
  t.is(crc32c(new Uint8Array(32)), 0x8a9136aa, '32 bytes of zeros');
  t.is(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43, '32 bytes of 0xFF');
  t.is(crc32c(range(0, 31)), 0x46dd794e, '32 ascending bytes 00..1F');
  t.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c, '32 descending bytes 1F..00');
});

test('CRC-32C: empty input is 0; results are unsigned 32-bit', (t) => {
  t.is(crc32c(new Uint8Array(0)), 0);
  const v = crc32c(new Uint8Array(32).fill(0xff));
  t.true(v >= 0 && v <= 0xffffffff && Number.isInteger(v));
});

test('CRC-32C slicing-by-8 agrees with the bitwise reference on every length 0..300 and on offsets', (t) => {
  const data = Uint8Array.from({ length: 308 }, (_, i) => (i * 151 + 7) & 0xff);
  for (let n = 0; n <= 300; n++) {
    for (const off of [0, 1, 3, 7]) {
      const view = data.subarray(off, off + n);
      if (crc32c(view) !== crc32cReference(view)) {
        t.fail(`length ${n} offset ${off}`);
        return;
      }
    }
  }
  t.pass();
});

test('CRC-32C seed chains: crc32c(b, crc32c(a)) === crc32c(a ‖ b)', (t) => {
  const all = new TextEncoder().encode('123456789');
  for (let cut = 0; cut <= all.length; cut++) {
    t.is(crc32c(all.subarray(cut), crc32c(all.subarray(0, cut))), 0xe3069283, `cut at ${cut}`);
  }
});
