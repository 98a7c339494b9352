/**
 * The simulated Key of the `mqtt` round-trip benchmark (`bench/mqtt.ts`), in a child process of its
 * own so the Key's work (its side of the session, its MQTT client and TLS) does not share the host's
 * event loop. One Key, serial off, TCP on, the MQTT uplink to the broker given (or the embedded
 * broker, which then runs in this process). Under mutual TLS the Key's certificate (CN = its
 * handle) is asked from the parent, which holds the CA.
 *
 * Messages in: `{ op: 'start', stateDir, broker?, ca? }`, `{ op: 'cert', handle, cert, key }`
 * (the answer to a request), `{ op: 'stop' }`. Messages out: `{ op: 'ready', tcp, mqtt }`,
 * `{ op: 'cert', handle }` (a request), `{ op: 'stopped' }`, `{ op: 'error', message }`.
 * @module
 */
import type { MqttTls } from '@enigm/mqtt';
import { Simulator } from '@enigm/sim';

/** A message from the parent. */
export type SimCommand =
  | { op: 'start'; stateDir: string; broker?: string; ca?: string }
  | { op: 'cert'; handle: string; cert: string; key: string }
  | { op: 'stop' };
/** A message to the parent. */
export type SimReply =
  | { op: 'ready'; tcp: string; mqtt: string }
  | { op: 'cert'; handle: string }
  | { op: 'stopped' }
  | { op: 'error'; message: string };

const send = (m: SimReply) => process.send?.(m);
const pending = new Map<string, (tls: { cert: string; key: string }) => void>();
let sim: Simulator | undefined;

process.on('message', (m: SimCommand) => {
  void (async () => {
    try {
      if (m.op === 'start') {
        const ca = m.ca;
        const tlsFor = (handle: string): Promise<MqttTls> =>
          new Promise((resolve) => {
            pending.set(handle, (t) => resolve({ ...(ca ? { ca } : {}), cert: t.cert, key: t.key }));
            send({ op: 'cert', handle });
          });
        sim = await Simulator.start({
          keys: 1,
          stateDir: m.stateDir,
          serial: false,
          tcp: true,
          mqtt: m.broker ? { broker: m.broker, ...(ca ? { tls: { ca }, tlsFor } : {}) } : true,
        });
        const k = sim.keys()[0];
        if (!k?.tcp || !k.mqtt) throw new Error('the simulated Key has no tcp or mqtt address');
        send({ op: 'ready', tcp: k.tcp, mqtt: k.mqtt });
      } else if (m.op === 'cert') {
        pending.get(m.handle)?.({ cert: m.cert, key: m.key });
        pending.delete(m.handle);
      } else {
        await sim?.stop();
        send({ op: 'stopped' });
        process.exit(0);
      }
    } catch (e) {
      send({ op: 'error', message: (e as Error).stack ?? String(e) });
    }
  })();
});
process.on('disconnect', () => {
  void sim?.stop().finally(() => process.exit(0));
});
