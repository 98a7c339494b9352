/**
 * MqttLink's MQTT 5 session and message expiry (mqtt/src/client/link.ts `clean`, `sessionExpiryS`,
 * `PublishOptions.expiryS`; docs/mqtt.md "MQTT versions"), against a real mosquitto 2 with mutual
 * TLS and the ACL: a persistent session (clean false, session expiry) keeps QoS 1 records published
 * while its consumer is away and delivers them when it comes back with the same client id, where a
 * clean session gets none; a record published with a 1 s message expiry to an offline session is
 * gone when the consumer returns after 2.5 s, while one without expiry is there. Against the
 * embedded aedes broker (MQTT 3.1.1) the same options are accepted and the MQTT 5 parts ignored:
 * no error, the 3.1.1 persistent session still queues, and the expiry does not apply.
 * Records queued while the link is away arrive while it subscribes again after a reconnect (the
 * link dispatches from the first packet); records a consumer does not take (`acknowledge` false)
 * stay with its session. `watchFleet` with `session` (what `enigm events watch --session` uses),
 * alone or in a shared subscription group, shows, when it restarts, the records published while
 * it was away.
 */
import { startEmbeddedBroker } from '@enigm/mqtt/broker';
import { encode } from '@enigm/protocols/cbor';
import { ed25519Generate } from '@enigm/protocols/crypto';
import { keyTopic, sealUplink } from '@enigm/protocols/mqtt';
import test from 'ava';
import { type FleetMessage, MqttLink, type MqttLinkOptions, watchFleet } from '../src/index.ts';
import { startTcpRelay, targetOf } from '../src/testing/index.ts';
import type { TlsIdentity } from './support/certs.ts';
import { HANDLE_A, sleep, until } from './support/clients.ts';
import { useMosquitto } from './support/mosquitto.ts';

const ids: Record<string, TlsIdentity> = {};
const fx = useMosquitto(test, {
  async setup(f) {
    for (const cn of [HANDLE_A, 'backend-1']) ids[cn] = await f.pki.client(cn);
  },
});

const UP = keyTopic(HANDLE_A, 'up');
const FLEET_UP = 'enigm/v1/key/+/up';

/** Link options for a client identity on the fixture's mosquitto. */
function tlsLink(cn: string, more: Partial<MqttLinkOptions> = {}): MqttLinkOptions {
  const id = ids[cn];
  if (!id) throw new Error(`no identity ${cn}`);
  return { url: fx.broker.url, tls: { ca: fx.pki.caPem, cert: id.cert, key: id.key }, reconnect: false, ...more };
}

/** Connects, collecting every message's payload as text from the first packet on. */
async function consumer(options: MqttLinkOptions): Promise<{ link: MqttLink; got: string[] }> {
  const got: string[] = [];
  const link = await MqttLink.connect({
    ...options,
    onMessage: (_topic, payload) => got.push(Buffer.from(payload).toString('utf8')),
  });
  return { link, got };
}

const text = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

fx.brokerTest(
  'MQTT 5 session expiry: QoS 1 records published while a persistent consumer is away arrive when it returns with the same client id; a clean session gets none',
  async (t) => {
    const session = { clientId: 'backend-1-sess-a', clean: false, sessionExpiryS: 600 } as const;
    const first = await consumer(tlsLink('backend-1', session));
    t.teardown(() => first.link.close());
    t.is(first.link.protocolVersion, 5, 'mosquitto speaks MQTT 5');
    await first.link.subscribe(FLEET_UP, 1);
    const clean = await consumer(tlsLink('backend-1', { clientId: 'backend-1-clean-a' }));
    t.teardown(() => clean.link.close());
    await clean.link.subscribe(FLEET_UP, 1);
    await first.link.close();
    await clean.link.close();

    const key = await MqttLink.connect(tlsLink(HANDLE_A));
    t.teardown(() => key.close());
    const sent = ['r1', 'r2', 'r3', 'r4', 'r5'];
    for (const s of sent) await key.publish(UP, text(s), { qos: 1 });

    // Back, without subscribing again: the session kept the subscription and the records.
    const back = await consumer(tlsLink('backend-1', session));
    t.teardown(() => back.link.close());
    await until(() => back.got.length >= sent.length, 10_000, `the ${sent.length} queued records (got ${back.got.length})`);
    t.deepEqual(back.got, sent, 'all of them, in order, once');

    const cleanBack = await consumer(tlsLink('backend-1', { clientId: 'backend-1-clean-a' }));
    t.teardown(() => cleanBack.link.close());
    await cleanBack.link.subscribe(FLEET_UP, 1);
    await key.publish(UP, text('after'), { qos: 1 });
    await until(() => cleanBack.got.includes('after') && back.got.includes('after'), 10_000, 'the record sent after the return');
    t.deepEqual(cleanBack.got, ['after'], 'a clean session kept nothing from while it was away');
  },
);

fx.brokerTest(
  'MQTT 5 message expiry: a record with a 1 s expiry sent to an offline persistent session is gone 2.5 s later; one without expiry is delivered',
  async (t) => {
    const session = { clientId: 'backend-1-sess-b', clean: false, sessionExpiryS: 600 } as const;
    const first = await consumer(tlsLink('backend-1', session));
    t.teardown(() => first.link.close());
    await first.link.subscribe(FLEET_UP, 1);
    await first.link.close();

    const key = await MqttLink.connect(tlsLink(HANDLE_A));
    t.teardown(() => key.close());
    await key.publish(UP, text('short-lived'), { qos: 1, expiryS: 1 });
    await key.publish(UP, text('kept'), { qos: 1 });
    await key.publish(UP, text('long-lived'), { qos: 1, expiryS: 600 });
    await sleep(2500); // past the 1 s expiry (the assertion is on content only)

    const back = await consumer(tlsLink('backend-1', session));
    t.teardown(() => back.link.close());
    await until(() => back.got.includes('long-lived'), 10_000, 'the queued records');
    // Queued records arrive in order: anything left of 'short-lived' would have come first.
    t.deepEqual(back.got, ['kept', 'long-lived']);
  },
);

fx.brokerTest(
  'MQTT 5 session expiry across a reconnect: records queued while the link was away arrive while it subscribes again, none lost',
  async (t) => {
    const session = { clientId: 'backend-1-sess-r', clean: false, sessionExpiryS: 600 } as const;
    // The link reaches mosquitto through a relay the test controls: the connection is cut there, and
    // new attempts are refused until the records are queued (a reconnect on a ~2 s timer raced the
    // TLS connect and 5 publishes of a loaded machine).
    const relay = await startTcpRelay(targetOf(fx.broker.url));
    t.teardown(() => relay.close());
    const a = await consumer(
      tlsLink('backend-1', {
        ...session,
        url: `mqtts://127.0.0.1:${relay.port}`,
        reconnect: true,
        backoff: { baseMs: 20, capMs: 200 },
      }),
    );
    t.teardown(() => a.link.close());
    await a.link.subscribe(FLEET_UP, 1);
    let dropped = false;
    a.link.onState((e) => {
      if (e.state === 'disconnected') dropped = true;
    });
    relay.target = undefined;
    relay.dropAll();
    await until(() => dropped, 15_000, 'the link to see its connection drop');
    const key = await MqttLink.connect(tlsLink(HANDLE_A));
    t.teardown(() => key.close());
    const sent = ['q1', 'q2', 'q3', 'q4', 'q5'];
    for (const s of sent) await key.publish(UP, text(s), { qos: 1 });
    t.false(a.link.connected, 'the records were queued while the link was away');
    relay.target = targetOf(fx.broker.url);
    await until(() => a.got.length >= sent.length, 15_000, `the ${sent.length} queued records (got ${a.got.length})`);
    t.deepEqual(a.got, sent);
  },
);

for (const group of [undefined, 'consumers'] as const) {
  fx.brokerTest(
    `watchFleet with a persistent session${group ? ` in a shared subscription group ($share/${group}/…)` : ''}: the verified records published while the watcher was away are shown when it restarts with the same session`,
    async (t) => {
      const keyPair = ed25519Generate();
      const record = (seq: number) =>
        sealUplink(
          {
            id: new Uint8Array(16).fill(seq),
            seq,
            time: Date.UTC(2026, 0, 1) + seq,
            kind: 'check-in',
            priority: 'normal',
            body: encode(new Map([[1, seq]])),
          },
          HANDLE_A,
          'up',
          { seed: keyPair.seed },
        );
      const watchOnce = async (): Promise<{ close(): Promise<void>; seqs: number[]; verified: boolean[] }> => {
        const seqs: number[] = [];
        const verified: boolean[] = [];
        const w = await watchFleet({
          connect: tlsLink('backend-1'),
          channels: ['up'],
          session: { name: `backend-1-watch-${group ?? 'alone'}`, expiryS: 600 },
          ...(group ? { group } : {}),
          identities: new Map([[HANDLE_A, keyPair.publicKey]]),
          onMessage(m: FleetMessage) {
            if (m.type !== 'uplink') return;
            seqs.push(m.record.seq);
            verified.push(m.verified === true);
          },
        });
        t.teardown(() => w.close());
        t.is(w.session, `backend-1-watch-${group ?? 'alone'}`);
        t.is(w.filters[0], group ? `$share/${group}/${FLEET_UP}` : FLEET_UP);
        t.is(w.protocolVersion, 5);
        return { close: () => w.close(), seqs, verified };
      };
      const key = await MqttLink.connect(tlsLink(HANDLE_A));
      t.teardown(() => key.close());

      const first = await watchOnce();
      await key.publish(UP, record(1));
      await until(() => first.seqs.length === 1, 10_000, 'the record sent while watching');
      await first.close();
      for (const seq of [2, 3, 4]) await key.publish(UP, record(seq));

      const second = await watchOnce();
      await until(() => second.seqs.length >= 3, 10_000, `the records sent while away (got ${second.seqs})`);
      await key.publish(UP, record(5));
      await until(() => second.seqs.length >= 4, 10_000, 'the record sent after the return');
      t.deepEqual(first.seqs, [1]);
      t.deepEqual(second.seqs, [2, 3, 4, 5], 'what was missed first, in order, then live');
      t.true(second.verified.every(Boolean));
    },
  );
}

fx.brokerTest(
  'acknowledge → false: the records a persistent consumer did not take stay with its session and arrive at the next connect',
  async (t) => {
    const session = { clientId: 'backend-1-sess-ack', clean: false, sessionExpiryS: 600 } as const;
    const first = await consumer(tlsLink('backend-1', session));
    await first.link.subscribe(FLEET_UP, 1);
    await first.link.close();
    const key = await MqttLink.connect(tlsLink(HANDLE_A));
    t.teardown(() => key.close());
    for (const s of ['a1', 'a2', 'a3']) await key.publish(UP, text(s), { qos: 1 });

    // Takes one message, then acknowledges nothing more and leaves.
    const took: string[] = [];
    let taken = true;
    const picky = await MqttLink.connect({
      ...tlsLink('backend-1', session),
      onMessage: (_topic, payload) => {
        taken = took.length < 1;
        if (taken) took.push(Buffer.from(payload).toString('utf8'));
      },
      acknowledge: () => taken,
    });
    t.teardown(() => picky.close());
    await until(() => took.length === 1 && !taken, 10_000, 'the first record and one more offered');
    await picky.close();

    const back = await consumer(tlsLink('backend-1', session));
    t.teardown(() => back.link.close());
    await until(() => back.got.length >= 2, 10_000, `the records not acknowledged (got ${back.got})`);
    t.deepEqual(took, ['a1']);
    t.deepEqual(back.got, ['a2', 'a3']);
  },
);

test.serial(
  'against the embedded broker (MQTT 3.1.1): session and message expiry options are accepted and ignored; the 3.1.1 persistent session still queues',
  async (t) => {
    const broker = await startEmbeddedBroker();
    t.teardown(() => broker.close());
    const session = { clientId: 'backend-1-sess-c', clean: false, sessionExpiryS: 600, username: 'backend-1' } as const;
    const first = await consumer({ url: broker.url, reconnect: false, ...session });
    t.teardown(() => first.link.close());
    t.is(first.link.protocolVersion, 4, 'aedes refused MQTT 5; the link fell back to 3.1.1');
    await first.link.subscribe(FLEET_UP, 1);
    await first.link.close();

    const key = await MqttLink.connect({ url: broker.url, username: HANDLE_A, reconnect: false });
    t.teardown(() => key.close());
    t.is(key.protocolVersion, 4);
    await t.notThrowsAsync(key.publish(UP, text('short-lived'), { qos: 1, expiryS: 1 }));
    await key.publish(UP, text('kept'), { qos: 1 });
    await sleep(1500); // past the 1 s expiry, which 3.1.1 cannot carry

    const back = await consumer({ url: broker.url, reconnect: false, ...session });
    t.teardown(() => back.link.close());
    await until(() => back.got.length >= 2, 10_000, `the queued records (got ${back.got.length})`);
    t.deepEqual(back.got, ['short-lived', 'kept'], 'no expiry on 3.1.1: both kept, in order');
  },
);
