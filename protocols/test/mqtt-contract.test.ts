/**
 * The MQTT topic contract (protocols/src/mqtt/, docs/mqtt.md): topic builders and the strict
 * parser, the ACL table as mqttAllowed applies it (own handle only for Keys, own client name for
 * hosts, never `#`), the generated mosquitto ACL, the signed uplink and status records bound to
 * their topic (a copy to another handle or channel fails, tampering fails, garbage is a typed
 * error and never a crash: property-tested), and docs/mqtt.md holding the generated tables.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { ed25519Generate, ed25519Sign } from '../src/crypto/index.ts';
import { ProtocolError } from '../src/errors.ts';
import {
  fleetFilter,
  isClientName,
  isHandle,
  keyDownFilter,
  keyTopic,
  MQTT_ACL,
  type MqttClientIdentity,
  mosquittoAcl,
  mqttAllowed,
  openStatus,
  openUplink,
  parseKeyTopic,
  peekStatus,
  peekUplink,
  renderMqttContract,
  sealStatus,
  sealUplink,
  type Uplink,
} from '../src/mqtt/index.ts';

const A = `eh1-${'a'.repeat(26)}`;
const B = `eh1-${'b'.repeat(26)}`;
const keyA: MqttClientIdentity = { role: 'key', name: A };
const host1: MqttClientIdentity = { role: 'host', name: 'host-1' };
const backend: MqttClientIdentity = { role: 'backend', name: 'backend-1' };

test('topics: builders and the strict parser agree; malformed parts are MQTT_TOPIC_INVALID', (t) => {
  t.is(keyTopic(A, 'up'), `enigm/v1/key/${A}/up`);
  t.is(keyTopic(A, 'down', 'host-1', 'l1'), `enigm/v1/key/${A}/down/host-1/l1`);
  t.deepEqual(parseKeyTopic(keyTopic(A, 'resp', 'host-1', 'l1')), { handle: A, channel: 'resp', client: 'host-1', link: 'l1' });
  t.deepEqual(parseKeyTopic(keyTopic(B, 'status')), { handle: B, channel: 'status' });
  t.is(keyDownFilter(A), `enigm/v1/key/${A}/down/+/+`);
  t.is(fleetFilter('up', { group: 'g1' }), '$share/g1/enigm/v1/key/+/up');
  for (const bad of [
    '',
    'enigm/v1/key/x/up',
    `enigm/v1/key/${A}/up/extra`,
    `enigm/v1/key/${A}/down/host-1`,
    `enigm/v2/key/${A}/up`,
    `enigm/v1/key/${A}/down/${B}/l1`,
  ]) {
    t.is(parseKeyTopic(bad), undefined, bad);
  }
  for (const f of [
    () => keyTopic('eh1-A', 'up'),
    () => keyTopic(A, 'down'),
    () => keyTopic(A, 'down', B, 'l'),
    () => keyTopic(A, 'resp', 'host-1', 'l/x'),
  ]) {
    t.is(t.throws(f, { instanceOf: ProtocolError })?.code, 'MQTT_TOPIC_INVALID');
  }
  t.true(isHandle(A));
  t.false(isClientName(A), 'a handle is never a client name');
  t.true(isClientName('backend-1'));
});

test('ACL: a Key acts only under its own handle; a host only under its own name; # never', (t) => {
  t.true(mqttAllowed(keyA, 'publish', keyTopic(A, 'up')));
  t.true(mqttAllowed(keyA, 'publish', keyTopic(A, 'status')));
  t.true(mqttAllowed(keyA, 'publish', keyTopic(A, 'resp', 'host-1', 'l1')));
  t.true(mqttAllowed(keyA, 'subscribe', keyDownFilter(A)));
  t.false(mqttAllowed(keyA, 'publish', keyTopic(B, 'up')), 'cross-device publish');
  t.false(mqttAllowed(keyA, 'publish', keyTopic(B, 'resp', 'host-1', 'l1')));
  t.false(mqttAllowed(keyA, 'subscribe', keyDownFilter(B)), 'cross-device subscribe');
  t.false(mqttAllowed(keyA, 'publish', keyTopic(A, 'down', 'host-1', 'l1')), 'a Key does not command itself');
  t.false(mqttAllowed(keyA, 'subscribe', 'enigm/#'));
  t.true(mqttAllowed(host1, 'publish', keyTopic(B, 'down', 'host-1', 'l9')));
  t.false(mqttAllowed(host1, 'publish', keyTopic(B, 'down', 'host-2', 'l9')), 'not under another host name');
  t.true(mqttAllowed(host1, 'subscribe', keyTopic(B, 'resp', 'host-1', 'l9')));
  t.false(mqttAllowed(host1, 'subscribe', keyTopic(B, 'resp', 'host-2', 'l9')));
  t.false(mqttAllowed(host1, 'subscribe', `enigm/v1/key/${B}/resp/+/+`));
  t.false(mqttAllowed(host1, 'subscribe', fleetFilter('up')), 'hosts read status, not events');
  t.true(mqttAllowed(host1, 'subscribe', fleetFilter('status')));
  t.true(mqttAllowed(backend, 'subscribe', fleetFilter('up', { group: 'g' })));
  t.false(mqttAllowed(backend, 'publish', keyTopic(A, 'up')));
  t.false(mqttAllowed(backend, 'subscribe', keyDownFilter(A)));
  t.false(mqttAllowed(keyA, 'publish', 'not/enigm'));
  t.false(mqttAllowed({ role: 'host', name: A }, 'publish', `enigm/v1/key/${B}/down/${A}/l1`), 'a handle cannot pose as a host');
});

test('ACL: every row of MQTT_ACL is reachable, and nothing outside it is (exhaustive over roles × channels × scopes)', (t) => {
  for (const who of [keyA, host1, backend]) {
    for (const channel of ['down', 'resp', 'up', 'risk', 'status'] as const) {
      for (const access of ['publish', 'subscribe'] as const) {
        for (const handle of [A, B]) {
          const linked = channel === 'down' || channel === 'resp';
          const client = who.role === 'key' ? 'host-1' : who.name;
          const topic = linked ? keyTopic(handle, channel, client, 'l1') : keyTopic(handle, channel);
          const expected = MQTT_ACL.some(
            (r) =>
              r.role === who.role &&
              r.channel === channel &&
              r.access === access &&
              (r.scope === 'any' || (r.scope === 'own' && handle === who.name) || (r.scope === 'self' && client === who.name)),
          );
          t.is(mqttAllowed(who, access, topic), expected, `${who.role} ${access} ${topic}`);
        }
      }
    }
  }
});

test('mosquittoAcl: Key patterns on %u, one user block per host and backend; bad names refused', (t) => {
  const acl = mosquittoAcl({ hosts: ['host-1'], backends: ['backend-1'] });
  t.regex(acl, /^pattern read enigm\/v1\/key\/%u\/down\/\+\/\+$/m);
  t.regex(acl, /^pattern write enigm\/v1\/key\/%u\/up$/m);
  t.regex(acl, /^user host-1\ntopic write enigm\/v1\/key\/\+\/down\/host-1\/\+$/m);
  t.regex(acl, /^user backend-1\ntopic read enigm\/v1\/key\/\+\/up$/m);
  t.notRegex(acl, /^(pattern|topic) \w+ .*#/m, 'no # in any rule');
  t.is(t.throws(() => mosquittoAcl({ hosts: [A] }), { instanceOf: ProtocolError })?.code, 'MQTT_TOPIC_INVALID');
  t.throws(() => mosquittoAcl({ backends: ['Bad Name'] }));
});

const signer = ed25519Generate();
const other = ed25519Generate();
function record(over: Partial<Uplink> = {}): Uplink {
  return {
    id: new Uint8Array(16).fill(1),
    seq: 1,
    time: 1_796_000_000_000,
    kind: 'lifecycle.changed',
    priority: 'normal',
    body: new Uint8Array([0xa0]),
    ...over,
  };
}

test('records: sealed for a topic, opened only there, by that Key; tampering and copies fail', (t) => {
  const up = sealUplink(record(), A, 'up', { seed: signer.seed });
  t.deepEqual(openUplink(up, A, 'up', signer.publicKey), record());
  t.deepEqual(peekUplink(up), record());
  const code = (f: () => unknown) => (t.throws(f, { instanceOf: ProtocolError }) as ProtocolError).code;
  t.is(
    code(() => openUplink(up, B, 'up', signer.publicKey)),
    'MQTT_PAYLOAD_INVALID',
    'copied to another handle',
  );
  t.is(
    code(() => openUplink(up, A, 'risk', signer.publicKey)),
    'MQTT_PAYLOAD_INVALID',
    'copied to another channel',
  );
  t.is(
    code(() => openUplink(up, A, 'up', other.publicKey)),
    'MQTT_PAYLOAD_INVALID',
    'another Key',
  );
  const tampered = Uint8Array.from(up);
  tampered[tampered.length - 70] = (tampered[tampered.length - 70] as number) ^ 1;
  t.is(
    code(() => openUplink(tampered, A, 'up', signer.publicKey)),
    'MQTT_PAYLOAD_INVALID',
  );
  t.is(
    code(() => openUplink(new Uint8Array(70 * 1024), A, 'up', signer.publicKey)),
    'MQTT_PAYLOAD_INVALID',
    'oversized',
  );
  const st = sealStatus({ online: false, time: 5, will: true }, A, { signer: (m) => ed25519Sign(signer.seed, m) });
  t.deepEqual(openStatus(st, A, signer.publicKey), { online: false, time: 5, will: true });
  t.deepEqual(peekStatus(st), { online: false, time: 5, will: true });
  t.is(
    code(() => openStatus(st, B, signer.publicKey)),
    'MQTT_PAYLOAD_INVALID',
  );
  t.is(
    code(() => sealUplink(record({ id: new Uint8Array(3) }), A, 'up', { seed: signer.seed })),
    'MESSAGE_INVALID',
  );
});

test('records: arbitrary bytes never crash open or peek (property test)', (t) => {
  const up = sealUplink(record(), A, 'up', { seed: signer.seed });
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 600 }),
        fc.tuple(fc.nat(up.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
          const m = Uint8Array.from(up);
          m[i] = (m[i] as number) ^ x;
          return m;
        }),
      ),
      (bytes) => {
        peekUplink(bytes);
        peekStatus(bytes);
        try {
          openUplink(bytes, A, 'up', signer.publicKey);
        } catch (e) {
          if (!(e instanceof ProtocolError) || e.code !== 'MQTT_PAYLOAD_INVALID') throw e;
        }
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});

test('docs/mqtt.md holds the generated contract tables (run `npm run docs:protocol`)', (t) => {
  const doc = readFileSync(new URL('../../docs/mqtt.md', import.meta.url), 'utf8');
  t.true(doc.includes(renderMqttContract()));
});
