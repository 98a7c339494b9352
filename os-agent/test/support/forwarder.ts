/**
 * Test support: a TCP forwarder to a broker that starts listening only when told, to model the
 * network to the broker being down and then up while the broker (and the backend subscribed on
 * it) keeps running.
 * @module
 */
import { connect, createServer, type Socket } from 'node:net';

/** A forwarder from `port` on 127.0.0.1 to `target` on 127.0.0.1. */
export interface Forwarder {
  /** Starts accepting and forwarding. */
  up(): Promise<void>;
  /** Stops listening and cuts every forwarded connection. */
  close(): Promise<void>;
}

/** Makes a forwarder (not listening yet). */
export function forwarder(port: number, target: number): Forwarder {
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = connect(target, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  let listening = false;
  return {
    up: () =>
      new Promise<void>((r) => {
        listening = true;
        server.listen(port, '127.0.0.1', () => r());
      }),
    close: async () => {
      for (const s of sockets) s.destroy();
      if (listening) await new Promise((r) => server.close(r));
    },
  };
}
