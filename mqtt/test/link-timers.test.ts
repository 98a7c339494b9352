/**
 * MqttLink leaves nothing running after a failed connection attempt (mqtt/src/client/link.ts,
 * STYLE "no leaked handles"): an unreachable broker rejects `connect`, and mqtt.js'
 * CONNACK timer of that attempt is cleared with it — before the fix it stayed armed for
 * `connectTimeoutMs` (10 s by default) per attempt, holding a process (a CLI, a test worker)
 * open long after everything was closed.
 */
import test from 'ava';
import { MqttError, MqttLink } from '../src/index.ts';

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/**
 * Whether the armed timers fall back to `count` within 15 s (the socket's close is asynchronous;
 * the bound is for a loaded machine, it settles in a few loop turns).
 */
async function settlesTo(count: number): Promise<boolean> {
  const end = Date.now() + 15_000;
  while (timers() > count) {
    if (Date.now() > end) return false;
    await new Promise((r) => setImmediate(r));
  }
  return true;
}

test.serial('a connection attempt to a port where nothing listens leaves no timer behind', async (t) => {
  // Port 1 (tcpmux, privileged): nothing of the suite listens there. A port found free and released
  // could be taken meanwhile by another test file's broker, and the connect would succeed.
  const port = 1;
  const before = timers();
  for (let i = 0; i < 5; i++) {
    const e = await t.throwsAsync(
      MqttLink.connect({ url: `mqtt://127.0.0.1:${port}`, username: 'host-1', connectTimeoutMs: 60_000 }),
      {
        instanceOf: MqttError,
      },
    );
    t.is(e?.code, 'MQTT_CONNECT_FAILED');
  }
  t.true(await settlesTo(before), `timers before ${before}, after ${timers()}`);
});
