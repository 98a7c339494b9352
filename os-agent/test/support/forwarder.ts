/**
 * Test support: a TCP forwarder to a broker that is down until told, to model the network to the
 * broker being down and then up while the broker (and the backend subscribed on it) keeps running.
 *
 * It listens from the start, on a port of its own (so no other process can take the port between
 * choosing it and going up, as with a port found free and bound later); while down it cuts every
 * connection as soon as it is accepted, before a byte is forwarded.
 * @module
 */
import { connect, createServer, type Socket } from 'node:net';

/** A forwarder from `port` on 127.0.0.1 to a target port on 127.0.0.1. */
export interface Forwarder {
  /** The port it listens on (the broker URL to give the client). */
  readonly port: number;
  /** Starts forwarding: connections from now on reach the target. */
  up(): void;
  /** Stops listening and cuts every forwarded connection. */
  close(): Promise<void>;
}

/** Opens a forwarder to `target` on a free port of 127.0.0.1, down (connections are cut at once). */
export async function openForwarder(target: number): Promise<Forwarder> {
  const sockets = new Set<Socket>();
  let forwarding = false;
  const server = createServer((inbound) => {
    if (!forwarding) {
      inbound.destroy();
      return;
    }
    const outbound = connect(target, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('the forwarder has no port');
  return {
    port: address.port,
    up: () => {
      forwarding = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
