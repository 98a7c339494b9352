/**
 * Test support: a TCP port on 127.0.0.1 that refuses connections for as long as the test holds
 * it. A port merely found free (bind to 0, close) can be taken by another process right after —
 * CI runs several test files at once — and a connection to it then reaches a stranger. This one
 * is the local end of a connection this process keeps open: no other socket can listen on it
 * meanwhile (binding it conflicts with that connection), so a connection to it is refused.
 * @module
 */
import { connect, createServer, type Socket } from 'node:net';

/** A port nothing listens on, reserved until {@link ClosedPort.release}. */
export interface ClosedPort {
  readonly port: number;
  /** Closes the connection that reserves the port (and its server). */
  release(): Promise<void>;
}

/** Reserves a port on 127.0.0.1 on which every connection is refused (ECONNREFUSED). */
export async function closedPort(): Promise<ClosedPort> {
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    s.on('error', () => undefined);
    accepted.push(s);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no server port');
  const client = connect(address.port, '127.0.0.1');
  client.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  const port = client.localPort;
  if (port === undefined) throw new Error('the reserving connection has no local port');
  return {
    port,
    async release() {
      client.destroy();
      for (const s of accepted) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
