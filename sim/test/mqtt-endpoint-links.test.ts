/**
 * The bounds of a Key's host links through the broker (sim/src/runtime/mqtt-endpoint.ts, issue
 * "the Key ↔ backend link over MQTT": "no crash, no unbounded memory"): each `{client}/{link}` on
 * the Key's downlink is one link, at most `LinkLimits.maxTcpLinksPerKey` (4) at once; a new one
 * past the bound is ignored with a log line; a link that has sent nothing for the idle bound is
 * closed (measured on an injected clock), which frees its place.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttLink } from '@enigm/mqtt';
import { startEmbeddedBroker } from '@enigm/mqtt/broker';
import { encodeFrame } from '@enigm/protocols/framing';
import { encodeMessage } from '@enigm/protocols/messages';
import { keyTopic, parseKeyTopic } from '@enigm/protocols/mqtt';
import test, { type ExecutionContext } from 'ava';
import { KeyFirmware } from '../src/firmware/firmware.ts';
import { loadSecureElement } from '../src/firmware/secure-element.ts';
import { FileStorage } from '../src/runtime/file-storage.ts';
import { KeyScheduler } from '../src/runtime/key-scheduler.ts';
import { DEFAULT_LINK_LIMITS } from '../src/runtime/link-flow.ts';
import type { SimLogger } from '../src/runtime/log.ts';
import { MQTT_LINK_IDLE_MS, MqttEndpoint } from '../src/runtime/mqtt-endpoint.ts';
import { seededRandom } from '../src/testing.ts';
import { until } from './support/wait.ts';

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Waits for `cond`; a loaded machine gets 20 s before the test fails. */
const waitFor = (cond: () => boolean, what: string) => until(cond, 20_000, what);

/** A Key's endpoint on an embedded broker, a host `host-9` subscribed to its answers, and a fake idle clock. */
async function rig(t: ExecutionContext) {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-mqtt-links-'));
  dirs.push(dir);
  const broker = await startEmbeddedBroker();
  t.teardown(() => broker.close());
  const random = seededRandom(9);
  const seStorage = new FileStorage(join(dir, 'key-0.se'));
  const firmware = new KeyFirmware({
    storage: new FileStorage(join(dir, 'key-0.cbor')),
    secureElement: loadSecureElement(seStorage, random),
    secureElementStorage: seStorage,
    clock: { now: () => 1000 },
    random,
  });
  const lines: string[] = [];
  const log: SimLogger = {
    level: 'debug',
    error: (m) => lines.push(`error ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    info: (m) => lines.push(`info ${m}`),
    debug: () => undefined,
  };
  const clock = { now: 0 };
  const events: string[] = [];
  const ep = new MqttEndpoint({
    firmware,
    scheduler: new KeyScheduler(log, 'key 0'),
    timing: undefined,
    limits: DEFAULT_LINK_LIMITS,
    log,
    label: 'key 0',
    hooks: { onLink: (link, phase) => events.push(`${link} ${phase}`) },
    uplink: { broker: broker.url },
    accountSecret: new Uint8Array(32).fill(3),
    outboxPath: join(dir, 'key-0.outbox'),
    now: () => 1_700_000_000_000,
    linkIdle: { idleMs: MQTT_LINK_IDLE_MS, sweepMs: 20, now: () => clock.now },
  });
  await ep.open();
  t.teardown(() => ep.close());
  await ep.setRadio(true);
  await waitFor(() => ep.connected, 'the uplink');
  const host = await MqttLink.connect({ url: broker.url, username: 'host-9' });
  t.teardown(() => host.close());
  const answered: string[] = [];
  /** Answers received per link. */
  const answers = new Map<string, number>();
  host.onMessage((topic) => {
    const link = parseKeyTopic(topic)?.link;
    if (link && !answered.includes(link)) answered.push(link);
    if (link) answers.set(link, (answers.get(link) ?? 0) + 1);
  });
  await host.subscribe(`${keyTopic(ep.handle, 'resp', 'host-9', 'x').slice(0, -1)}+`, 1);
  let id = 1;
  /** Says hello on link `link` (a new link the first time). */
  const hello = (link: string) =>
    host.publish(
      keyTopic(ep.handle, 'down', 'host-9', link),
      encodeFrame(encodeMessage({ version: 1, name: 'hello', id: id++, body: { versions: [1], maxFrame: 65536 } })),
      { qos: 1 },
    );
  return { ep, clock, lines, events, answered, answers, hello };
}

test('a host opening 6 links gets 4 answered (maxTcpLinksPerKey); the others are ignored with a log line', async (t) => {
  const { ep, lines, answered, hello } = await rig(t);
  t.is(DEFAULT_LINK_LIMITS.maxTcpLinksPerKey, 4);
  for (let i = 1; i <= 6; i++) await hello(`l${i}`);
  await waitFor(() => answered.length >= 4 && lines.some((l) => l.includes('ignored a new mqtt link')), 'the answers');
  await new Promise((r) => setTimeout(r, 300)); // a fifth answer would have come by now
  t.deepEqual(answered, ['l1', 'l2', 'l3', 'l4']);
  t.is(ep.connections, 4);
  t.true(lines.includes('warn key 0: ignored a new mqtt link: 4 open (bound 4 per Key)'), lines.join('\n'));
  // An open link keeps working at the bound.
  await hello('l2');
  await hello('l5');
  await new Promise((r) => setTimeout(r, 300));
  t.is(ep.connections, 4);
  t.false(answered.includes('l5'));
});

test('a link idle for MQTT_LINK_IDLE_MS is closed (injected clock), logged, and its place is free again', async (t) => {
  const { ep, clock, lines, events, answered, answers, hello } = await rig(t);
  for (let i = 1; i <= 4; i++) await hello(`l${i}`);
  await waitFor(() => answered.length === 4, 'four links');
  clock.now += MQTT_LINK_IDLE_MS - 1000;
  await hello('l4'); // l4 is active; the others are not
  // Its answer shows the Key took the input at this time (the publish resolving says only that
  // the broker has it): advancing the clock before that would make l4 idle too.
  await waitFor(() => answers.get('l4') === 2, 'l4 handled');
  t.is(ep.connections, 4);
  await new Promise((r) => setTimeout(r, 100)); // several sweeps: nobody is idle yet
  t.is(ep.connections, 4, 'not idle before the bound');
  clock.now += 2000; // l1..l3 idle for MQTT_LINK_IDLE_MS + 1 s, l4 for 2 s
  await waitFor(() => ep.connections === 1, 'the idle links to close');
  t.deepEqual(events.filter((e) => e.endsWith('closed')).sort(), ['mqtt#1 closed', 'mqtt#2 closed', 'mqtt#3 closed']);
  t.is(lines.filter((l) => / mqtt link mqtt#\d closed: idle for more than 300 s$/.test(l)).length, 3, lines.join('\n'));
  for (const l of ['l5', 'l6', 'l7']) await hello(l);
  await waitFor(() => answered.length === 7, 'three new links in the freed places');
  t.is(ep.connections, 4);
});
