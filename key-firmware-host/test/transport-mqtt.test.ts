/**
 * The MQTT transport (key-firmware-host/src/transport/mqtt.ts) passes the shared transport
 * contract (ordering, max payload, close, reopen, loss) through a real broker — the embedded
 * one — with a raw MQTT client standing for the Key on the other side of the topics; "the Key
 * going away" is its status turning offline. Also: an open to a handle that was never online, or
 * whose status says offline, fails at once with the reason.
 */
import { MqttLink } from '@enigm/mqtt';
import { type EmbeddedBroker, startEmbeddedBroker } from '@enigm/mqtt/broker';
import { startTcpRelay, targetOf } from '@enigm/mqtt/testing';
import { ed25519Generate } from '@enigm/protocols/crypto';
import { keyDownFilter, keyTopic, parseKeyTopic, sealStatus } from '@enigm/protocols/mqtt';
import test from 'ava';
import { MqttTransport } from '../src/transport/mqtt.ts';
import { TransportError } from '../src/transport/transport.ts';
import { RecordingSink, transportContract } from './transport-contract.ts';

const HANDLE = `eh1-${'d'.repeat(26)}`;
const identity = ed25519Generate();
const online = (on: boolean) => sealStatus({ online: on, time: Date.now() }, HANDLE, { seed: identity.seed });

let broker: EmbeddedBroker | undefined;
test.before(async () => {
  broker = await startEmbeddedBroker();
});
test.after.always(async () => {
  await broker?.close();
});

transportContract('mqtt', async () => {
  const url = (broker as EmbeddedBroker).url;
  const key = await MqttLink.connect({ url, username: HANDLE, reconnect: false });
  await key.publish(keyTopic(HANDLE, 'status'), online(true), { retain: true });
  let onData: (bytes: Uint8Array) => void = () => undefined;
  let respTopic: string | undefined;
  key.onMessage((topic, payload) => {
    const t = parseKeyTopic(topic);
    if (t?.channel !== 'down') return;
    respTopic = keyTopic(HANDLE, 'resp', t.client, t.link);
    onData(Uint8Array.from(payload));
  });
  await key.subscribe(keyDownFilter(HANDLE));
  return {
    host: new MqttTransport({ broker: url, handle: HANDLE, client: 'host-contract' }),
    peer: {
      write: async (bytes) => {
        if (respTopic === undefined) throw new Error('the host has not sent anything yet');
        // one MQTT message per write, at most the Key's maximum per message
        for (let o = 0; o < bytes.length; o += 16 * 1024) await key.publish(respTopic, bytes.subarray(o, o + 16 * 1024));
      },
      onData: (callback) => {
        onData = callback;
      },
      close: async () => {
        await key.publish(keyTopic(HANDLE, 'status'), online(false), { retain: true });
        await key.close();
      },
    },
    cleanup: async () => {
      await key.close();
    },
  };
});

test.serial('an open fails at once for a handle never online, and for one whose status is offline', async (t) => {
  const url = (broker as EmbeddedBroker).url;
  const never = new MqttTransport({ broker: url, handle: `eh1-${'e'.repeat(26)}`, client: 'host-x' });
  const e1 = await t.throwsAsync(never.open(new RecordingSink()), { instanceOf: TransportError });
  t.is(e1?.code, 'TRANSPORT_OPEN_FAILED');
  t.regex(e1?.message ?? '', /has been online on this broker/);
  const key = await MqttLink.connect({ url, username: HANDLE, reconnect: false });
  await key.publish(keyTopic(HANDLE, 'status'), online(false), { retain: true });
  await key.close();
  const off = new MqttTransport({ broker: url, handle: HANDLE, client: 'host-x' });
  const e2 = await t.throwsAsync(off.open(new RecordingSink()), { instanceOf: TransportError });
  t.regex(e2?.message ?? '', /the Key is offline/);
  t.false(off.isOpen);
});

test.serial(
  'the broker going away ends an open period: sink.closed(TRANSPORT_CLOSED) once, then TRANSPORT_NOT_OPEN; nothing reconnects',
  async (t) => {
    const own = await startEmbeddedBroker();
    t.teardown(() => own.close());
    // The host reaches the broker through a relay that keeps its port when the broker is replaced
    // (restarting a broker on the port it had released raced the suite's other processes for it).
    const relay = await startTcpRelay(targetOf(own.url));
    t.teardown(() => relay.close());
    const key = await MqttLink.connect({ url: own.url, username: HANDLE, reconnect: false });
    t.teardown(() => key.close());
    await key.publish(keyTopic(HANDLE, 'status'), online(true), { retain: true });
    const host = new MqttTransport({ broker: `mqtt://127.0.0.1:${relay.port}`, handle: HANDLE, client: 'host-drop' });
    const sink = new RecordingSink();
    await host.open(sink);
    t.true(host.isOpen);
    const connections = relay.accepted;
    relay.target = undefined;
    await own.close();
    const end = Date.now() + 15_000;
    while (sink.closedCalls.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    const [error] = sink.closedCalls;
    t.true(error instanceof TransportError, 'closed with a TransportError, not left hanging');
    t.is(error?.code, 'TRANSPORT_CLOSED');
    t.regex(error?.message ?? '', /broker connection dropped/);
    t.false(host.isOpen);
    const sendError = await t.throwsAsync(host.send(Uint8Array.of(1)), { instanceOf: TransportError });
    t.is(sendError?.code, 'TRANSPORT_NOT_OPEN');
    // A broker back at the same address: the ended period's connection does not come back by itself.
    const again = await startEmbeddedBroker();
    t.teardown(() => again.close());
    relay.target = targetOf(again.url);
    await new Promise((r) => setTimeout(r, 1500));
    t.is(relay.accepted, connections, 'no connection attempt after the drop');
    t.is(again.stats().clients, 0, 'no client reconnected');
    await host.close();
    t.is(sink.closedCalls.length, 1, 'closed exactly once');
  },
);
