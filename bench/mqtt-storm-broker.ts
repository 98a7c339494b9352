/**
 * The broker of the reconnect storm (`bench/mqtt-storm.ts`), in a child process of its own so the
 * 1,000 clients and the broker do not share one event loop: the embedded broker (aedes, the
 * Enigm ACL), started and stopped on command over the IPC channel.
 *
 * Messages in: `{ op: 'start', port }` (0: a free port), `{ op: 'stop' }`, `{ op: 'exit' }`.
 * Messages out: `{ op: 'ready', port }` once it listens, `{ op: 'stopped' }`, `{ op: 'error', message }`.
 * @module
 */
import { type EmbeddedBroker, startEmbeddedBroker } from '@enigm/mqtt/broker';

/** A command from the parent. */
export type StormBrokerCommand = { op: 'start'; port: number } | { op: 'stop' } | { op: 'exit' };
/** An answer to the parent. */
export type StormBrokerReply = { op: 'ready'; port: number } | { op: 'stopped' } | { op: 'error'; message: string };

let broker: EmbeddedBroker | undefined;
const reply = (m: StormBrokerReply) => process.send?.(m);

process.on('message', (m: StormBrokerCommand) => {
  void (async () => {
    try {
      if (m.op === 'start') {
        broker = await startEmbeddedBroker({ port: m.port });
        reply({ op: 'ready', port: broker.port });
      } else if (m.op === 'stop') {
        await broker?.close();
        broker = undefined;
        reply({ op: 'stopped' });
      } else {
        await broker?.close();
        process.exit(0);
      }
    } catch (e) {
      reply({ op: 'error', message: (e as Error).message });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
