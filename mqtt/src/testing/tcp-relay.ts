/**
 * Test helper: a TCP relay on 127.0.0.1 that keeps its port for the whole test while the broker
 * behind it goes away and comes back (on another port), or while "the network" is down. A test
 * that stopped a broker and started another on the same port raced every other process of the
 * suite for that port (a `bind(0)` elsewhere, an outgoing connection or its TIME_WAIT socket); the
 * relay holds it instead. While it has no target it refuses connections (accepts and closes them
 * at once, before a byte is forwarded). Either side closing closes the other.
 * @module
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Where the relay forwards new connections; `undefined`: none (they are closed at once). */
export interface RelayTarget {
  readonly host: string;
  readonly port: number;
}

/** A running relay ({@link startTcpRelay}). */
export interface TcpRelay {
  /** The relay's own port (held until {@link TcpRelay.close}). */
  readonly port: number;
  /** Where new connections go; set `undefined` to refuse them. Open connections are not moved. */
  target: RelayTarget | undefined;
  /** Connections accepted so far (refused ones included). */
  readonly accepted: number;
  /** Closes every open relayed connection (both sides). */
  dropAll(): void;
  /** Stops listening and closes every connection (bounded). */
  close(): Promise<void>;
}

/**
 * The host and port of an `mqtt://` / `mqtts://` URL.
 * @throws TypeError for a string that is no URL
 */
export function targetOf(url: string): RelayTarget {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
}

/**
 * Starts a relay on 127.0.0.1 (a port the kernel picks) forwarding to `target`.
 * @param target - where connections go; omitted: none yet (they are closed at once)
 * @returns the running relay
 * @throws the listen error (never expected on port 0)
 */
export async function startTcpRelay(target?: RelayTarget): Promise<TcpRelay> {
  const open = new Set<Socket>();
  const track = (s: Socket) => {
    open.add(s);
    s.once('close', () => open.delete(s));
  };
  const relay = { target, accepted: 0 } as { target: RelayTarget | undefined; accepted: number };
  const server: Server = createServer((client) => {
    relay.accepted++;
    track(client);
    client.on('error', () => client.destroy());
    const to = relay.target;
    if (!to) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: to.host, port: to.port });
    track(upstream);
    upstream.on('error', () => upstream.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    get accepted() {
      return relay.accepted;
    },
    get target() {
      return relay.target;
    },
    set target(t: RelayTarget | undefined) {
      relay.target = t;
    },
    dropAll() {
      for (const s of open) s.destroy();
    },
    close() {
      for (const s of open) s.destroy();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
