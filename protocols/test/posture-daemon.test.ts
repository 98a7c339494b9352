/**
 * Spec: the Enigm OS posture daemon protocol (protocols/src/posture/daemon.ts): length-prefixed
 * frames bounded by DAEMON_MAX_FRAME_BYTES, strict deterministic CBOR payloads, typed request and
 * response records with declared integer keys; every bad input is a typed ProtocolError.
 */
import test from 'ava';
import fc from 'fast-check';
import { decode, encode } from '../src/cbor/index.ts';
import { ProtocolError } from '../src/errors.ts';
import {
  DAEMON_ENUMS,
  DAEMON_MAX_FRAME_BYTES,
  DAEMON_PROTOCOL_VERSION,
  DAEMON_QUERY_NAMES,
  DaemonFrameReader,
  type DaemonQuery,
  type DaemonResponse,
  decodeDaemonRequest,
  decodeDaemonResponse,
  encodeDaemonRequest,
  encodeDaemonResponse,
  frameDaemonPayload,
} from '../src/posture/index.ts';

const keysOf = <E extends string>(o: Readonly<Record<E, number>>) => fc.constantFrom(...(Object.keys(o) as E[]));

const stateArb: { [Q in DaemonQuery]: fc.Arbitrary<unknown> } = {
  tsc: fc.record({ level: keysOf(DAEMON_ENUMS.tscLevel) }),
  mdm: fc.record({ state: keysOf(DAEMON_ENUMS.mdmState) }),
  privacy: fc.record({ mode: keysOf(DAEMON_ENUMS.privacyMode) }),
  network: fc.record({
    vpn: keysOf(DAEMON_ENUMS.vpn),
    proxy: fc.boolean(),
    torGateway: fc.boolean(),
    esimProfile: keysOf(DAEMON_ENUMS.esimProfile),
  }),
  ota: fc.record({ state: keysOf(DAEMON_ENUMS.otaState) }),
  attestation: fc.record({ outcome: keysOf(DAEMON_ENUMS.attestationOutcome) }),
};

const responseArb: fc.Arbitrary<DaemonResponse> = fc
  .tuple(fc.constantFrom(...DAEMON_QUERY_NAMES), fc.nat(0xffff_ffff), fc.option(fc.nat(0xffff_ffff), { nil: undefined }))
  .chain(([query, id, ageMs]) =>
    fc.oneof(
      stateArb[query].map(
        (state) =>
          ({
            version: DAEMON_PROTOCOL_VERSION,
            id,
            query,
            status: 'ok',
            state,
            ...(ageMs === undefined ? {} : { ageMs }),
          }) as DaemonResponse,
      ),
      fc
        .tuple(fc.constantFrom('unavailable' as const, 'error' as const), fc.string({ maxLength: 120 }))
        .map(([status, reason]) => ({ version: DAEMON_PROTOCOL_VERSION, id, query, status, reason }) as DaemonResponse),
    ),
  );

test('a request round-trips and its encoding is deterministic (protocol: request = {1: version, 2: id, 3: query})', (t) => {
  fc.assert(
    fc.property(fc.nat(0xffff_ffff), fc.constantFrom(...DAEMON_QUERY_NAMES), (id, query) => {
      const bytes = encodeDaemonRequest({ version: DAEMON_PROTOCOL_VERSION, id, query });
      const back = decodeDaemonRequest(bytes);
      t.deepEqual(back, { version: DAEMON_PROTOCOL_VERSION, id, query });
      t.deepEqual(encode(decode(bytes)), bytes);
    }),
  );
});

test('every response round-trips with its state validated against the query record', (t) => {
  fc.assert(
    fc.property(responseArb, (res) => {
      const bytes = encodeDaemonResponse(res);
      t.deepEqual(decodeDaemonResponse(bytes), res);
    }),
  );
});

test('the wire keys are the declared integers: request {1,2,3}, network state {1..4}', (t) => {
  const req = decode(encodeDaemonRequest({ version: 1, id: 7, query: 'network' })) as Map<number, unknown>;
  t.deepEqual(
    [...req.entries()],
    [
      [1, 1],
      [2, 7],
      [3, 4],
    ],
  );
  const res = decode(
    encodeDaemonResponse({
      version: 1,
      id: 7,
      query: 'network',
      status: 'ok',
      state: { vpn: 'always-on', proxy: false, torGateway: true, esimProfile: 'travel' },
    }),
  ) as Map<number, unknown>;
  t.deepEqual(
    [...(res.get(5) as Map<number, unknown>).entries()],
    [
      [1, 2],
      [2, false],
      [3, true],
      [4, 3],
    ],
  );
});

const expectCode = (t: { fail(m: string): void; true(v: boolean, m?: string): void }, f: () => unknown, codes: string[]) => {
  try {
    f();
    t.fail('expected a ProtocolError');
  } catch (err) {
    t.true(err instanceof ProtocolError && codes.includes(err.code), `got ${String(err)}`);
  }
};

test('bad records are refused with typed errors: wrong version, unknown query, state with a non-ok status, wrong state record, unknown key', (t) => {
  const m = (...entries: [number, unknown][]) => encode(new Map(entries) as never);
  expectCode(t, () => decodeDaemonRequest(m([1, 2], [2, 1], [3, 1])), ['MESSAGE_VERSION']);
  expectCode(t, () => decodeDaemonRequest(m([1, 1], [2, 1], [3, 99])), ['MESSAGE_UNKNOWN_TYPE']);
  expectCode(t, () => decodeDaemonRequest(m([1, 1], [2, 1], [3, 1], [9, 0])), ['MESSAGE_INVALID']);
  expectCode(t, () => decodeDaemonRequest(m([1, 1], [2, -1], [3, 1])), ['MESSAGE_INVALID']);
  expectCode(t, () => decodeDaemonResponse(m([1, 1], [2, 1], [3, 1], [4, 1], [5, new Map([[1, 0]])])), ['MESSAGE_INVALID']);
  expectCode(t, () => decodeDaemonResponse(m([1, 1], [2, 1], [3, 1], [4, 0])), ['MESSAGE_INVALID']);
  // a network-shaped state answering the tsc query
  expectCode(
    t,
    () =>
      decodeDaemonResponse(
        m(
          [1, 1],
          [2, 1],
          [3, 1],
          [4, 0],
          [
            5,
            new Map<number, unknown>([
              [1, 0],
              [2, true],
            ]),
          ],
        ),
      ),
    ['MESSAGE_INVALID'],
  );
  expectCode(t, () => decodeDaemonResponse(m([1, 1], [2, 1], [3, 1], [4, 0], [5, new Map([[1, 7]])])), ['MESSAGE_INVALID']);
  expectCode(t, () => decodeDaemonResponse(m([1, 1], [2, 1], [3, 1], [4, 1], [6, 'x'.repeat(121)])), ['MESSAGE_INVALID']);
  expectCode(t, () => encodeDaemonResponse({ version: 1, id: 1, query: 'tsc', status: 'ok' }), ['MESSAGE_INVALID']);
});

test('frames: a stream cut anywhere yields the same payloads in order', (t) => {
  fc.assert(
    fc.property(
      fc.array(responseArb, { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (responses, cuts) => {
        const payloads = responses.map(encodeDaemonResponse);
        const stream = Buffer.concat(payloads.map(frameDaemonPayload));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const reader = new DaemonFrameReader();
        const got: Uint8Array[] = [];
        let from = 0;
        for (const p of [...points, stream.length]) {
          got.push(...reader.push(stream.subarray(from, p)));
          from = p;
        }
        t.deepEqual(
          got.map((g) => Buffer.from(g)),
          payloads.map((g) => Buffer.from(g)),
        );
        t.is(reader.pending, 0);
      },
    ),
  );
});

test('frames: an oversized length is refused from the header, before the payload arrives; a zero length too; the reader stays broken', (t) => {
  const big = new Uint8Array(4);
  new DataView(big.buffer).setUint32(0, DAEMON_MAX_FRAME_BYTES + 1);
  const reader = new DaemonFrameReader();
  expectCode(t, () => reader.push(big), ['FRAME_TOO_LARGE']);
  expectCode(t, () => reader.push(frameDaemonPayload(new Uint8Array([1]))), ['FRAME_TOO_LARGE']);
  expectCode(t, () => new DaemonFrameReader().push(new Uint8Array(4)), ['FRAME_LENGTH']);
  expectCode(t, () => frameDaemonPayload(new Uint8Array(DAEMON_MAX_FRAME_BYTES + 1)), ['FRAME_TOO_LARGE']);
  expectCode(t, () => frameDaemonPayload(new Uint8Array(0)), ['FRAME_LENGTH']);
});

test('fuzz: garbage, truncated, mutated and wrongly typed payloads give a ProtocolError or a valid record, never another exception', (t) => {
  const valid = fc.oneof(
    responseArb.map(encodeDaemonResponse),
    fc
      .tuple(fc.nat(0xffff_ffff), fc.constantFrom(...DAEMON_QUERY_NAMES))
      .map(([id, query]) => encodeDaemonRequest({ version: 1, id, query })),
  );
  const mutated = fc.tuple(valid, fc.nat(), fc.nat(255)).map(([b, i, v]) => {
    const c = b.slice();
    c[i % c.length] = v;
    return c;
  });
  const truncated = fc.tuple(valid, fc.nat()).map(([b, n]) => b.subarray(0, n % b.length));
  const garbage = fc.uint8Array({ maxLength: 64 });
  const wrongTypes = fc.anything().map((v) => {
    try {
      return encode(v as never);
    } catch {
      return new Uint8Array([0xa0]);
    }
  });
  fc.assert(
    fc.property(fc.oneof(mutated, truncated, garbage, wrongTypes), (bytes) => {
      for (const f of [decodeDaemonRequest, decodeDaemonResponse]) {
        try {
          const r = f(bytes);
          t.true(typeof r === 'object' && r !== null);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
      }
      try {
        new DaemonFrameReader().push(bytes);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
      }
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('an oversized payload is refused by the bounded CBOR decoder', (t) => {
  expectCode(t, () => decodeDaemonResponse(new Uint8Array(DAEMON_MAX_FRAME_BYTES + 1)), ['CBOR_TOO_LARGE']);
});
