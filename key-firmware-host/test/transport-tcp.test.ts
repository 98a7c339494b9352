/**
 * TcpTransport against a real `node:net` server on 127.0.0.1 (port 0). The peer is the server's
 * side of the current connection; "the peer goes away" means it ends the connection.
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import test from 'ava';
import { TcpTransport } from '../src/transport/tcp.ts';
import { TransportError } from '../src/transport/transport.ts';
import { concat, patternBytes, RecordingSink, sendUntilBusy, transportContract, waitUntil } from './transport-contract.ts';

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
  // Port 1 (tcpmux, privileged): nothing of the suite listens there. A port closed just before
  // could be taken meanwhile by another test file's server, and the connect would succeed.
  const transport = new TcpTransport({ host: '127.0.0.1', port: 1 });
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
    await waitUntil(() => sink.closedCalls.length > 0, 'closed after reset', 15000);
    t.is(sink.closedCalls.length, 1);
    t.is(sink.closedCalls[0]?.code, 'TRANSPORT_CLOSED');
    t.false(transport.isOpen);
  } finally {
    await transport.close();
    await listening.close();
  }
});

test.serial('close flushes queued sends before ending the connection, in order, byte-exact', async (t) => {
  const received: Uint8Array[] = [];
  let ended = false;
  const listening = await listen((bytes) => received.push(bytes));
  const transport = new TcpTransport({ host: '127.0.0.1', port: listening.port });
  try {
    await transport.open(new RecordingSink());
    (await listening.current()).once('end', () => {
      ended = true;
    });
    const first = patternBytes(60000, 1);
    const second = patternBytes(60000, 2);
    const sends = [transport.send(first), transport.send(second)];
    await transport.close();
    await Promise.all(sends);
    await waitUntil(() => ended, 'the server saw the end of the connection', 15000);
    // Everything arrived before the end, the first send's bytes before the second's.
    t.deepEqual(Buffer.from(concat(received)), Buffer.concat([first, second]));
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

test.serial(
  'a peer that does not read: sends past the queue bound are refused (TRANSPORT_BUSY), the link stays usable',
  async (t) => {
    const received: Uint8Array[] = [];
    const listening = await listen((bytes) => received.push(bytes));
    const maxQueuedBytes = 256 * 1024;
    const transport = new TcpTransport({ host: '127.0.0.1', port: listening.port, maxQueuedBytes });
    try {
      await transport.open(new RecordingSink());
      const server = await listening.current();
      server.pause(); // the peer stops reading: the kernel buffers fill, then the host's queue
      const fill = await sendUntilBusy(transport, 64 * 1024, 4096);
      t.true(fill.refusal instanceof TransportError, `refused after ${fill.bytes.length} sends`);
      t.is((fill.refusal as TransportError).code, 'TRANSPORT_BUSY');
      t.true(transport.queuedBytes <= maxQueuedBytes, `${transport.queuedBytes} bytes queued`);
      t.true(transport.isOpen, 'a refused send does not close the link');
      server.resume();
      await Promise.all(fill.accepted);
      const last = patternBytes(100, 9999);
      await transport.send(last);
      const expected = Buffer.concat([...fill.bytes, last]);
      await waitUntil(() => received.reduce((n, b) => n + b.length, 0) >= expected.length, 'every accepted byte', 15000);
      t.true(Buffer.from(concat(received)).equals(expected), 'the accepted sends arrived in order; the refused one never');
    } finally {
      await transport.close();
      await listening.close();
    }
  },
);

test('constructor refuses a queue bound below the largest send', (t) => {
  t.throws(() => new TcpTransport({ host: 'x', port: 1, maxPayload: 1000, maxQueuedBytes: 999 }), { instanceOf: RangeError });
  t.is(new TcpTransport({ host: 'x', port: 1 }).maxQueuedBytes, 1024 * 1024);
});
