/**
 * The Key's GATT service (protocols/src/ble/gatt.ts, HARDWARE.md "Bluetooth Low Energy"), the
 * info value's strict codec, the BLE link model (Bluetooth Core 5.4 Vol 6 Part B: LL PDU air
 * time, T_IFS, connection events) and the virtual adapter's line wire.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import fc from 'fast-check';
import {
  ADAPTER_LINE_MAX,
  AdapterLineSplitter,
  BleAirChannel,
  dashedUuid,
  decodeAdapterMessage,
  decodeBleInfo,
  ENIGM_GATT_SERVICE,
  encodeAdapterMessage,
  encodeBleInfo,
  fragmentSizeFor,
  gattCeiling,
  llPackets,
  llPacketUs,
} from '../src/ble/index.ts';
import { ProtocolError } from '../src/errors.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('HARDWARE.md documents the GATT service: the service UUID and each characteristic with its properties', (t) => {
  const doc = readFileSync(join(ROOT, 'HARDWARE.md'), 'utf8');
  t.true(doc.includes(dashedUuid(ENIGM_GATT_SERVICE.uuid)), 'service UUID');
  for (const c of ENIGM_GATT_SERVICE.characteristics) {
    const row = doc.split('\n').find((l) => l.includes(dashedUuid(c.uuid)));
    t.truthy(row, `${c.name} row`);
    for (const p of c.properties) t.true(row?.includes(p), `${c.name} lists ${p}`);
  }
});

test('info value: round trip, exact length, reserved zero, known revision, ranges', (t) => {
  const info = { revision: 1, maxFragment: 244, maxSdu: 4096 };
  t.deepEqual(decodeBleInfo(encodeBleInfo(info)), info);
  const good = encodeBleInfo(info);
  const bad = (patch: Record<number, number> | Uint8Array) => {
    const b = patch instanceof Uint8Array ? patch : good.slice();
    if (!(patch instanceof Uint8Array)) for (const [i, v] of Object.entries(patch)) b[Number(i)] = v;
    const e = t.throws(() => decodeBleInfo(b), { instanceOf: ProtocolError });
    t.is(e?.code, 'BLE_INFO_INVALID');
  };
  bad(good.subarray(0, 7));
  bad(Uint8Array.of(...good, 0));
  bad({ 0: 2 });
  bad({ 1: 1 });
  bad({ 7: 1 });
  bad({ 2: 0, 3: 19 });
  bad({ 2: 2, 3: 1 });
  bad({ 4: 0, 5: 0 });
  t.throws(() => encodeBleInfo({ ...info, maxFragment: 19 }), { instanceOf: RangeError });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 12 }), (b) => {
      try {
        const v = decodeBleInfo(b);
        return Buffer.from(encodeBleInfo(v)).equals(b);
      } catch (e) {
        return e instanceof ProtocolError && e.code === 'BLE_INFO_INVALID';
      }
    }),
    { numRuns: 2000 },
  );
});

test('fragment size is ATT_MTU − 3, capped by the Key; MTU outside 23..517 refused', (t) => {
  t.is(fragmentSizeFor(23), 20);
  t.is(fragmentSizeFor(247), 244);
  t.is(fragmentSizeFor(517, 300), 300);
  t.throws(() => fragmentSizeFor(22), { instanceOf: RangeError });
  t.throws(() => fragmentSizeFor(518), { instanceOf: RangeError });
});

test('link model: LL air time per Core spec (1M: 8 µs/byte, 2M: 4 µs/byte, preamble 1 or 2 bytes)', (t) => {
  t.is(llPacketUs('1M', 27), (1 + 4 + 2 + 27 + 3) * 8);
  t.is(llPacketUs('2M', 251), ((2 + 4 + 2 + 251 + 3) * 8) / 2);
  t.deepEqual(llPackets(244, true), [251]);
  t.deepEqual(llPackets(20, false), [27]);
  t.deepEqual(llPackets(244, false), [27, 27, 27, 27, 27, 27, 27, 27, 27, 8]);
});

test('link model ceiling: ≈1.4 Mbit/s at 2M/DLE/MTU 247, ≈0.8 at 1M, far lower at MTU 23; monotone in PHY', (t) => {
  const c2 = gattCeiling({ phy: '2M', dle: true, mtu: 247, connectionIntervalMs: 15 });
  const c1 = gattCeiling({ phy: '1M', dle: true, mtu: 247, connectionIntervalMs: 15 });
  const small = gattCeiling({ phy: '2M', dle: true, mtu: 23, connectionIntervalMs: 15 });
  t.true(c2.mbitPerSecond > 1.2 && c2.mbitPerSecond < 1.45, `2M ${c2.mbitPerSecond}`);
  t.true(c1.mbitPerSecond > 0.7 && c1.mbitPerSecond < 0.82, `1M ${c1.mbitPerSecond}`);
  t.true(small.mbitPerSecond < c2.mbitPerSecond / 2, `MTU 23 ${small.mbitPerSecond}`);
});

test('link model channel: an idle link waits for the next connection event; back-to-back packets share an event', (t) => {
  const ch = new BleAirChannel({ phy: '2M', dle: true, mtu: 247, connectionIntervalMs: 10 });
  const a = ch.schedule(20, 1000); // idle: waits for the anchor at 10 ms
  t.true(a > 10_000 && a < 10_500, `first at ${a}`);
  const b = ch.schedule(20, 1000); // queued behind it: same event
  t.true(b > a && b < 11_000, `second at ${b}`);
  const c = ch.schedule(20, 12_000); // link idle again: next anchor at 20 ms
  t.true(c > 20_000 && c < 20_500, `third at ${c}`);
  t.throws(() => new BleAirChannel({ phy: '3M' as '2M', dle: true, mtu: 247, connectionIntervalMs: 10 }), {
    instanceOf: RangeError,
    message: /phy/,
  });
  t.throws(() => new BleAirChannel({ phy: '2M', dle: true, mtu: 247, connectionIntervalMs: 1 }), {
    message: /connectionIntervalMs/,
  });
});

test('adapter wire: calls and events round trip with bytes; unknown names, bad shapes and oversize lines are BLE_ADAPTER_WIRE_INVALID', (t) => {
  const call = { kind: 'call', method: 'write', args: ['abc', 'svc', 'chr', Uint8Array.of(0, 255), true] } as const;
  const line = encodeAdapterMessage({ ...call, args: [...call.args] });
  t.true(line.endsWith('\n'));
  const back = decodeAdapterMessage(line.trimEnd());
  t.deepEqual(back, { ...call, args: [...call.args] });
  const ev = {
    kind: 'event' as const,
    event: 'discover' as const,
    args: ['id', 'aa:bb', 'random', true, { localName: 'K' }, -50, null],
  };
  t.deepEqual(decodeAdapterMessage(encodeAdapterMessage(ev).trimEnd()), ev);
  const bad = (line: string) => {
    const e = t.throws(() => decodeAdapterMessage(line), { instanceOf: ProtocolError });
    t.is(e?.code, 'BLE_ADAPTER_WIRE_INVALID', line.slice(0, 60));
  };
  bad('nope');
  bad('[]');
  bad('{"call":"exec","args":[]}');
  bad('{"event":"pwn","args":[]}');
  bad('{"call":"start","args":[],"x":1}');
  bad('{"call":"start"}');
  bad('{"call":"start","args":[1,2,3,4,5,6,7,8,9]}');
  bad('{"call":"write","args":[{"$bytes":"zz"}]}');
  bad(`{"call":"write","args":["${'a'.repeat(300)}"]}`);
  bad('{"call":"write","args":[[[[[1]]]]]}');
  bad(`{"call":"write","args":["${'a'.repeat(ADAPTER_LINE_MAX)}"]}`);
  t.throws(() => encodeAdapterMessage({ kind: 'call', method: 'exec' as 'start', args: [] }), { instanceOf: ProtocolError });
  const split = new AdapterLineSplitter();
  t.deepEqual(split.push('{"a":1}\n{"b"'), ['{"a":1}']);
  t.deepEqual(split.push(':2}\n\n'), ['{"b":2}']);
  t.throws(() => split.push('x'.repeat(ADAPTER_LINE_MAX + 1)), { instanceOf: ProtocolError });
});

test('adapter wire: arbitrary lines never crash the decoder (typed error or a valid message)', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.json({ maxDepth: 6 })), (s) => {
      try {
        decodeAdapterMessage(s);
        return true;
      } catch (e) {
        return e instanceof ProtocolError && e.code === 'BLE_ADAPTER_WIRE_INVALID';
      }
    }),
    { numRuns: 2000 },
  );
  t.pass();
});
