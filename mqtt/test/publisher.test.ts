/**
 * OutboxPublisher (mqtt/src/client/publisher.ts, docs/mqtt.md "Client behaviour"): drains a
 * queue in order through a real link (embedded broker) and acknowledges each entry; a queue that
 * fails under it (closed during a shutdown) ends the round without an unhandled rejection and keeps
 * what is left; the Deduplicator is bounded.
 */
import test from 'ava';
import { startEmbeddedBroker } from '../src/broker/index.ts';
import { Deduplicator, MqttLink, OutboxPublisher, type QueuedMessage } from '../src/index.ts';

const HANDLE = `eh1-${'p'.repeat(26)}`;
const topic = `enigm/v1/key/${HANDLE}/up`;

function queue(n: number, failAck = false) {
  const items: QueuedMessage[] = Array.from({ length: n }, (_, i) => ({
    id: new Uint8Array(16).fill(i),
    topic,
    payload: new Uint8Array([i]),
  }));
  return {
    items,
    pending: (limit = 16) => items.slice(0, limit),
    ack: async (id: Uint8Array) => {
      if (failAck) throw Object.assign(new Error('the outbox is closed'), { code: 'OUTBOX_CLOSED' });
      const i = items.findIndex((m) => m.id[0] === id[0]);
      if (i >= 0) items.splice(i, 1);
      return i >= 0;
    },
  };
}

test.serial('drains in order and acknowledges each entry; a queue failing under it is no unhandled rejection', async (t) => {
  const broker = await startEmbeddedBroker();
  const rejections: unknown[] = [];
  const onRejection = (e: unknown) => rejections.push(e);
  process.on('unhandledRejection', onRejection);
  const key = await MqttLink.connect({ url: broker.url, username: HANDLE, reconnect: false });
  const consumer = await MqttLink.connect({ url: broker.url, username: 'backend-1', reconnect: false });
  try {
    const got: number[] = [];
    consumer.onMessage((_t, p) => got.push(p[0] as number));
    await consumer.subscribe(topic);
    const q = queue(40);
    const publisher = new OutboxPublisher(key, q, { window: 8 });
    const end = Date.now() + 10_000;
    while ((q.items.length > 0 || got.length < 40) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    t.deepEqual(
      got,
      Array.from({ length: 40 }, (_, i) => i),
      'in order, all of them',
    );
    t.is(publisher.stats().delivered, 40);
    publisher.stop();
    const failing = queue(5, true);
    const p2 = new OutboxPublisher(key, failing);
    await new Promise((r) => setTimeout(r, 200));
    await p2.idle();
    t.is(failing.items.length, 5, 'nothing lost from a queue that failed');
    t.true(p2.stats().failures >= 1);
    p2.stop();
    t.deepEqual(rejections, []);
  } finally {
    process.off('unhandledRejection', onRejection);
    await key.close();
    await consumer.close();
    await broker.close();
  }
});

test('Deduplicator: a seen id is not fresh; the oldest is forgotten past the capacity', (t) => {
  const d = new Deduplicator(2);
  const id = (n: number) => new Uint8Array([n]);
  t.true(d.fresh(id(1)));
  t.false(d.fresh(id(1)));
  t.true(d.fresh(id(2)));
  t.true(d.fresh(id(3)));
  t.true(d.fresh(id(1)), 'forgotten after two newer ids');
  t.throws(() => new Deduplicator(0), { instanceOf: RangeError });
});
