/**
 * Checks the Key protocol message model (docs/protocol.md "Envelope" and "Messages"): typed
 * records with integer keys, the envelope, strict validation with named errors.
 */
import test from 'ava';
import { decode } from '../src/cbor/decode.ts';
import { encode } from '../src/cbor/encode.ts';
import { ProtocolError } from '../src/errors.ts';
import {
  type BodyOf,
  chooseVersion,
  decodeEnvelope,
  decodeMessage,
  defineRecord,
  encodeMessage,
  field,
  linkParametersFrom,
  MESSAGES,
  type MessageName,
  t as ty,
} from '../src/messages/index.ts';

const SAMPLES: { [N in MessageName]: BodyOf<N> } = {
  hello: { versions: [1], maxFrame: 4096 },
  'hello.response': {
    version: 1,
    versions: [1],
    maxFrame: 4096,
    window: 8,
    features: ['dedup-retry'],
    model: 'enigm-key-1',
    firmware: '1.0.0',
    state: 'dormant',
  },
  ping: { data: new Uint8Array([1, 2, 3]) },
  'ping.response': { uptimeMs: 12 },
  info: {},
  'info.response': {
    model: 'm',
    hardware: 'h',
    firmware: '1.0.0',
    state: 'factory',
    handle: new Uint8Array(16),
    bootCount: 1,
    uptimeMs: 0,
    batteryPct: 50,
  },
  activate: {},
  'activate.response': { state: 'dormant' },
  reboot: {},
  'reboot.response': {},
  'session.start': { pattern: 'XX', message: new Uint8Array(32).fill(1) },
  'session.start.response': { session: new Uint8Array(8), message: new Uint8Array(96) },
  'session.finish': { session: new Uint8Array(8), message: new Uint8Array(64) },
  'session.finish.response': {},
  secure: { session: new Uint8Array(8), counter: 3, ciphertext: new Uint8Array(40) },
  'secure.response': { session: new Uint8Array(8), counter: 4, ciphertext: new Uint8Array(16) },
  'session.close': { session: new Uint8Array(8) },
  'session.close.response': {},
  pair: { role: 'owner', label: 'phone' },
  'pair.response': { role: 'owner' },
  attest: { nonce: new Uint8Array(32) },
  'attest.response': { evidence: new Uint8Array(100) },
  'hosts.list': {},
  'hosts.list.response': { hosts: [{ publicKey: new Uint8Array(32), role: 'service' }] },
  'fw.begin': { manifest: new Uint8Array(100) },
  'fw.begin.response': { offset: 4096, chunk: 3900, id: new Uint8Array(32) },
  'fw.chunk': { offset: 0, data: new Uint8Array(10) },
  'fw.chunk.response': { offset: 10, accepted: true },
  'fw.finish': {},
  'fw.finish.response': {},
  'fw.test': {},
  'fw.test.response': {},
  'fw.confirm': {},
  'fw.confirm.response': { securityCounter: 2 },
  'fw.revert': {},
  'fw.revert.response': {},
  'fw.status': {},
  csr: {},
  'csr.response': { csr: new Uint8Array(120) },
  'cert.install': { chain: [new Uint8Array(300), new Uint8Array(300)] },
  'cert.install.response': { notAfter: 1_900_000_000_000 },
  'time.set': { unixMs: 1_800_000_000_000 },
  'hosts.remove': { keyId: new Uint8Array(8).fill(7) },
  'hosts.remove.response': { role: 'service', hosts: 1 },
  suspend: {},
  'suspend.response': { state: 'suspended' },
  resume: {},
  'resume.response': { state: 'dormant' },
  revoke: {},
  'revoke.response': { state: 'revoked' },
  retire: {},
  'retire.response': { state: 'factory' },
  'time.set.response': {},
  'fw.status.response': {
    running: { version: '1.0.0', securityCounter: 1, id: new Uint8Array(32), state: 'running', size: 1000 },
    securityCounter: 1,
    testing: false,
    primary: 'confirmed',
    nextBoot: 'runs 1.0.0',
  },
  keepalive: {},
  error: { code: 5, name: 'INVALID_STATE', reason: 'no' },
  'lifecycle.changed': { from: 'factory', to: 'dormant' },
  'emergency.cancel': {},
  'emergency.cancel.response': { phase: 'cancelled', event: new Uint8Array(16) },
  'emergency.resolve': {},
  'emergency.resolve.response': { phase: 'resolved', event: new Uint8Array(16) },
  'emergency.ack': { ack: new Uint8Array(80) },
  'emergency.ack.response': { alias: 'sam' },
  'contacts.set': { set: new Uint8Array(100) },
  'contacts.set.response': { version: 2, count: 1 },
  'contacts.get': {},
  'contacts.get.response': { version: 2, count: 1, aliases: ['sam'] },
  'emergency.log': {},
  'emergency.log.response': {
    now: 90_000,
    events: [{ event: new Uint8Array(16), startedAt: 1_000, endedAt: 61_000, outcome: 'resolved' }],
    running: { event: new Uint8Array(16).fill(1), phase: 'active', startedAt: 80_000, seq: 2 },
  },
  'emergency.changed': { phase: 'active', event: new Uint8Array(16), seq: 3 },
  'emergency.record': { record: new Uint8Array(40) },
};

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw e;
  }
  return 'no error';
};

for (const name of Object.keys(MESSAGES) as MessageName[]) {
  test(`envelope round trip: ${name}`, (t) => {
    const kind = MESSAGES[name].kind;
    const msg = { version: 1, name, ...(kind === 'event' ? {} : { id: 42 }), body: SAMPLES[name] };
    const bytes = encodeMessage(msg as never);
    t.deepEqual(decodeMessage(bytes), msg as never);
    // deterministic: re-encoding the decoded value gives the same bytes
    t.deepEqual(encodeMessage(decodeMessage(bytes)), bytes);
  });
}

test('envelope uses integer keys 1..4 and the catalogue type number', (t) => {
  const bytes = encodeMessage({ version: 1, name: 'ping', id: 7, body: {} });
  const m = decode(bytes) as Map<number, unknown>;
  t.deepEqual([...m.keys()], [1, 2, 3, 4]);
  t.is(m.get(2), MESSAGES.ping.type);
  t.is(m.get(3), 7);
});

const env = (entries: [number, unknown][]) => encode(new Map(entries) as never);

test('unknown message type → MESSAGE_UNKNOWN_TYPE with the request id kept', (t) => {
  const bytes = env([
    [1, 1],
    [2, 0x6f],
    [3, 9],
    [4, new Map()],
  ]);
  const e = t.throws(() => decodeEnvelope(bytes), { instanceOf: ProtocolError });
  t.is(e?.code, 'MESSAGE_UNKNOWN_TYPE');
  t.is((e as unknown as { requestId: number }).requestId, 9);
});

test('unsupported protocol version → MESSAGE_VERSION', (t) => {
  t.is(
    code(() =>
      decodeEnvelope(
        env([
          [1, 99],
          [2, 3],
          [3, 1],
          [4, new Map()],
        ]),
      ),
    ),
    'MESSAGE_VERSION',
  );
});

test('bad envelopes → MESSAGE_INVALID', (t) => {
  const cases: [string, Uint8Array][] = [
    ['not a map', encode([1, 2])],
    [
      'unknown envelope key',
      env([
        [1, 1],
        [2, 3],
        [3, 1],
        [4, new Map()],
        [5, 0],
      ]),
    ],
    [
      'request without id',
      env([
        [1, 1],
        [2, 3],
        [4, new Map()],
      ]),
    ],
    [
      'event with id',
      env([
        [1, 1],
        [2, 0x81],
        [3, 1],
        [
          4,
          new Map([
            [1, 0],
            [2, 1],
          ]),
        ],
      ]),
    ],
    [
      'missing body',
      env([
        [1, 1],
        [2, 3],
        [3, 1],
      ]),
    ],
    [
      'text version',
      env([
        [1, '1'],
        [2, 3],
        [3, 1],
        [4, new Map()],
      ]),
    ],
    [
      'id over 2^32-1',
      env([
        [1, 1],
        [2, 3],
        [3, 2 ** 32],
        [4, new Map()],
      ]),
    ],
  ];
  for (const [what, bytes] of cases)
    t.is(
      code(() => decodeMessage(bytes)),
      'MESSAGE_INVALID',
      what,
    );
});

test('body validation names record, field and key', (t) => {
  const bytes = env([
    [1, 1],
    [2, MESSAGES['hello.response'].type],
    [3, 1],
    [4, new Map<number, unknown>([[1, 1]])],
  ]);
  const e = t.throws(() => decodeMessage(bytes), { instanceOf: ProtocolError });
  t.is(e?.code, 'MESSAGE_INVALID');
  t.regex(e?.message ?? '', /hello\.response\.versions \(key 2\): missing/);
});

test('record: wrong-type table', (t) => {
  const R = defineRecord('r', {
    n: field(1, ty.uint(10)),
    s: field(2, ty.text(3), true),
    b: field(3, ty.bytes(2, 2), true),
    e: field(4, ty.enumOf('colour', { red: 0, blue: 1 }), true),
    a: field(5, ty.array(ty.bool(), 2), true),
  });
  const bad: [string, [number, unknown][]][] = [
    ['uint too big', [[1, 11]]],
    ['negative uint', [[1, -1]]],
    ['float uint', [[1, 1.5]]],
    [
      'text too long',
      [
        [1, 1],
        [2, 'abcd'],
      ],
    ],
    [
      'bytes wrong length',
      [
        [1, 1],
        [3, new Uint8Array(3)],
      ],
    ],
    [
      'enum out of range',
      [
        [1, 1],
        [4, 2],
      ],
    ],
    [
      'array too long',
      [
        [1, 1],
        [5, [true, true, false]],
      ],
    ],
    [
      'array wrong item',
      [
        [1, 1],
        [5, [1]],
      ],
    ],
    [
      'text key',
      [
        [1, 1],
        ['x' as never, 1],
      ],
    ],
    [
      'unknown key',
      [
        [1, 1],
        [9, 1],
      ],
    ],
  ];
  for (const [what, entries] of bad) t.false(R.tryFromMap(new Map(entries) as never).ok, what);
  t.deepEqual(
    R.fromMap(
      new Map<number, unknown>([
        [1, 3],
        [4, 1],
      ]) as never,
    ),
    { n: 3, e: 'blue' },
  );
  t.throws(() => defineRecord('dup', { a: field(1, ty.bool()), b: field(1, ty.bool()) }), { instanceOf: RangeError });
});

test('hello: version choice and link parameters (no sizes set by hand)', (t) => {
  t.is(chooseVersion([1, 2, 3], [2, 3, 4]), 3);
  t.is(chooseVersion([1], [2]), undefined);
  const lp = linkParametersFrom(SAMPLES['hello.response']);
  t.deepEqual(lp, { version: 1, sendMaxFrame: 4096, window: 8 });
  t.throws(() => linkParametersFrom({ ...SAMPLES['hello.response'], maxFrame: 100 }), { instanceOf: RangeError });
  t.throws(() => linkParametersFrom({ ...SAMPLES['hello.response'], window: 0 }), { instanceOf: RangeError });
});
