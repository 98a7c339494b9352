/**
 * TcpTransport against a real `node:net` server on 127.0.0.1 (port 0). The peer is the server's
 * side of the current connection; "the peer goes away" means it ends the connection.
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import test from 'ava';
import { TcpTransport } from '../src/transport/tcp.ts';
import { TransportError } from '../src/transport/transport.ts';
import { RecordingSink, transportContract, waitUntil } from './transport-contract.ts';

interface Listening {
  server: Server;
  port: number;
  sockets: Set<Socket>;
  /** The latest accepted connection, once there is one. */
  current(): Promise<Socket>;
  close(): Promise<void>;
}

async function listen(onData: (bytes: Uint8Array) => void = () => undefined): Promise<Listening> {
  const sockets = new Set<Socket>();
  let latest: Socket | undefined;
  let waiters: Array<(socket: Socket) => void> = [];
  const server = createServer((socket) => {
    sockets.add(socket);
    latest = socket;
    socket.on('data', (chunk: Buffer) => onData(new Uint8Array(chunk)));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      if (latest === socket) latest = undefined;
    });
    for (const waiter of waiters) waiter(socket);
    waiters = [];
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    sockets,
    current: () => (latest ? Promise.resolve(latest) : new Promise((resolve) => waiters.push(resolve))),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

transportContract('tcp', async () => {
  let onData: (bytes: Uint8Array) => void = () => undefined;
  const listening = await listen((bytes) => onData(bytes));
  return {
    host: new TcpTransport({ host: '127.0.0.1', port: listening.port }),
    peer: {
      write: async (bytes) => {
        const socket = await listening.current();
        await new Promise<void>((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve())));
      },
      onData: (callback) => {
        onData = callback;
      },
      close: async () => {
        const socket = await listening.current();
        await new Promise<void>((resolve) => socket.end(resolve));
      },
    },
    cleanup: () => listening.close(),
  };
});

test.serial('connection refused → TRANSPORT_OPEN_FAILED with the cause kept', async (t) => {
  const listening = await listen();
  const { port } = listening;
  await listening.close();
  const transport = new TcpTransport({ host: '127.0.0.1', port });
  const error = await t.throwsAsync(transport.open(new RecordingSink()), { instanceOf: TransportError });
  t.is(error?.code, 'TRANSPORT_OPEN_FAILED');
  t.is((error?.cause as NodeJS.ErrnoException | undefined)?.code, 'ECONNREFUSED');
  t.false(transport.isOpen);
});

test.serial('peer reset → sink.closed(TRANSPORT_CLOSED)', async (t) => {
  const listening = await listen();
  const transport = new TcpTransport({ host: '127.0.0.1', port: listening.port });
  const sink = new RecordingSink();
  try {
    await transport.open(sink);
    (await listening.current()).resetAndDestroy();
    await waitUntil(() => sink.closedCalls.length > 0, 'closed after reset', 5000);
    t.is(sink.closedCalls.length, 1);
    t.is(sink.closedCalls[0]?.code, 'TRANSPORT_CLOSED');
    t.false(transport.isOpen);
  } finally {
    await transport.close();
    await listening.close();
  }
});

test.serial('close flushes queued sends before ending the connection', async (t) => {
  const received: Uint8Array[] = [];
  const listening = await listen((bytes) => received.push(bytes));
  const transport = new TcpTransport({ host: '127.0.0.1', port: listening.port });
  try {
    await transport.open(new RecordingSink());
    const sends = [transport.send(new Uint8Array(60000).fill(1)), transport.send(new Uint8Array(60000).fill(2))];
    await transport.close();
    await Promise.all(sends);
    await waitUntil(() => received.reduce((n, b) => n + b.length, 0) >= 120000, 'all bytes at the server', 5000);
    t.pass();
  } finally {
    await transport.close();
    await listening.close();
  }
});

test('constructor validates options and describes IPv6 hosts in brackets', (t) => {
  t.throws(() => new TcpTransport({ host: '', port: 1 }), { instanceOf: RangeError });
  t.throws(() => new TcpTransport({ host: 'x', port: 0 }), { instanceOf: RangeError });
  t.throws(() => new TcpTransport({ host: 'x', port: 70000 }), { instanceOf: RangeError });
  t.throws(() => new TcpTransport({ host: 'x', port: 1, connectTimeoutMs: 0 }), { instanceOf: RangeError });
  t.is(new TcpTransport({ host: '::1', port: 7001 }).description, 'tcp://[::1]:7001');
  t.is(new TcpTransport({ host: 'localhost', port: 7001 }).description, 'tcp://localhost:7001');
});
