import test from 'ava';
import { createMemoryLink, type MemoryTransport } from '../src/transport/memory.ts';
import { TransportError, type TransportSink } from '../src/transport/transport.ts';
import { concat, patternBytes, RecordingSink, transportContract, waitUntil } from './transport-contract.ts';

/**
 * The device end of a memory link as a contract peer. Like a simulator waiting for the next
 * connection, it opens its end again whenever the host's close ends it, until `peer.close()`.
 */
async function memoryPair(options: { chunking?: number; maxPayload?: number } = {}) {
  const { host, device } = createMemoryLink(options);
  let onData: (bytes: Uint8Array) => void = () => undefined;
  let stopped = false;
  const sink: TransportSink = {
    data: (chunk) => onData(chunk),
    closed: () => {
      if (!stopped) void device.open(sink);
    },
  };
  await device.open(sink);
  return {
    host,
    device,
    peer: {
      write: async (bytes: Uint8Array) => {
        for (let offset = 0; offset < bytes.length; offset += device.maxPayload) {
          await device.send(bytes.subarray(offset, offset + device.maxPayload));
        }
      },
      onData: (callback: (bytes: Uint8Array) => void) => {
        onData = callback;
      },
      close: () => {
        stopped = true;
        return device.close();
      },
    },
    cleanup: async () => {
      stopped = true;
      await device.close();
    },
  };
}

transportContract('memory', () => memoryPair());
transportContract('memory (chunked by 7, maxPayload 1000)', () => memoryPair({ chunking: 7, maxPayload: 1000 }));

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function openBoth(options: { chunking?: number; maxPayload?: number } = {}) {
  const { host, device } = createMemoryLink(options);
  const hostSink = new RecordingSink();
  const deviceSink = new RecordingSink();
  await host.open(hostSink);
  await device.open(deviceSink);
  return { host, device, hostSink, deviceSink };
}

test('delivery is asynchronous and in order', async (t) => {
  const { host, deviceSink } = await openBoth();
  const sending = host.send(Uint8Array.of(1, 2));
  t.is(deviceSink.received, 0, 'nothing delivered synchronously');
  await sending;
  await host.send(Uint8Array.of(3));
  await tick();
  t.deepEqual([...deviceSink.bytes()], [1, 2, 3]);
});

test('sent and lastWrite record copies of successful sends', async (t) => {
  const { host } = await openBoth();
  t.is(host.lastWrite, undefined);
  const buffer = Uint8Array.of(1, 2, 3);
  await host.send(buffer);
  buffer[0] = 99;
  await host.send(Uint8Array.of(4));
  t.deepEqual(
    host.sent.map((bytes) => [...bytes]),
    [[1, 2, 3], [4]],
  );
  t.deepEqual([...(host.lastWrite ?? [])], [4]);
});

test('bytes sent while the other end is closed are dropped', async (t) => {
  const { host, device } = createMemoryLink();
  await host.open(new RecordingSink());
  await host.send(Uint8Array.of(1));
  const deviceSink = new RecordingSink();
  await device.open(deviceSink);
  await host.send(Uint8Array.of(2));
  await tick();
  t.deepEqual([...deviceSink.bytes()], [2]);
});

test('injectData delivers to this end, subject to chunking', async (t) => {
  const { host, hostSink } = await openBoth({ chunking: 3 });
  host.injectData(patternBytes(10));
  await tick();
  t.deepEqual(
    hostSink.chunks.map((chunk) => chunk.length),
    [3, 3, 3, 1],
  );
  t.deepEqual(hostSink.bytes(), patternBytes(10));
  t.deepEqual(host.sent, [], 'injected bytes are not sends');
});

test('injectData on a closed end throws TRANSPORT_NOT_OPEN', (t) => {
  const { host } = createMemoryLink();
  const error = t.throws(() => host.injectData(Uint8Array.of(1)), { instanceOf: TransportError });
  t.is(error?.code, 'TRANSPORT_NOT_OPEN');
});

test('chunking can be changed per end', async (t) => {
  const { host, device, deviceSink } = await openBoth();
  device.chunking = 4;
  t.is(device.chunking, 4);
  await host.send(patternBytes(9));
  await tick();
  t.deepEqual(
    deviceSink.chunks.map((chunk) => chunk.length),
    [4, 4, 1],
  );
  t.throws(
    () => {
      device.chunking = 0;
    },
    { instanceOf: RangeError },
  );
});

test('failNextSend fails exactly one send, keeps the link open and sends nothing', async (t) => {
  const { host, deviceSink } = await openBoth();
  host.failNextSend();
  const error = await t.throwsAsync(host.send(Uint8Array.of(1)), { instanceOf: TransportError });
  t.is(error?.code, 'TRANSPORT_IO');
  const custom = new Error('boom');
  host.failNextSend(custom);
  await t.throwsAsync(host.send(Uint8Array.of(2)), { is: custom });
  await host.send(Uint8Array.of(3));
  await tick();
  t.true(host.isOpen);
  t.deepEqual([...deviceSink.bytes()], [3]);
  t.deepEqual(
    host.sent.map((bytes) => [...bytes]),
    [[3]],
  );
});

test('failNextOpen fails exactly one open with TRANSPORT_OPEN_FAILED', async (t) => {
  const { host } = createMemoryLink();
  const cause = new Error('cable unplugged');
  host.failNextOpen(cause);
  const error = await t.throwsAsync(host.open(new RecordingSink()), { instanceOf: TransportError });
  t.is(error?.code, 'TRANSPORT_OPEN_FAILED');
  t.is(error?.cause, cause);
  t.false(host.isOpen);
  await host.open(new RecordingSink());
  t.true(host.isOpen);
});

test('corruptNext alters exactly the next delivered chunk (mutate or replace)', async (t) => {
  const { host, device, deviceSink } = await openBoth();
  device.corruptNext((chunk) => {
    chunk[0] = 0xff;
  });
  await host.send(Uint8Array.of(1, 2));
  await host.send(Uint8Array.of(3, 4));
  device.corruptNext((chunk) => chunk.subarray(1));
  await host.send(Uint8Array.of(5, 6));
  await tick();
  t.deepEqual(
    deviceSink.chunks.map((chunk) => [...chunk]),
    [[0xff, 2], [3, 4], [6]],
  );
  t.deepEqual([...(host.lastWrite ?? [])], [5, 6], 'the sender history is not corrupted');
});

test('close tells the peer TRANSPORT_CLOSED after bytes in flight', async (t) => {
  const { host, device, hostSink, deviceSink } = await openBoth();
  await device.send(Uint8Array.of(9));
  await device.close();
  t.deepEqual(deviceSink.closedCalls, [undefined]);
  t.false(device.isOpen);
  await tick();
  t.deepEqual([...hostSink.bytes()], [9], 'in-flight byte delivered before the close');
  t.is(hostSink.closedCalls.length, 1);
  t.is(hostSink.closedCalls[0]?.code, 'TRANSPORT_CLOSED');
  t.false(host.isOpen);
});

test('disconnect closes both ends with the error and drops bytes in flight', async (t) => {
  const { host, device, hostSink, deviceSink } = await openBoth();
  const sending = device.send(Uint8Array.of(1));
  host.disconnect();
  await sending;
  t.false(host.isOpen);
  t.false(device.isOpen);
  await tick();
  t.is(hostSink.received, 0, 'in-flight bytes lost');
  t.is(hostSink.closedCalls[0]?.code, 'TRANSPORT_CLOSED');
  t.is(deviceSink.closedCalls[0]?.code, 'TRANSPORT_CLOSED');
  t.is(hostSink.closedCalls.length, 1);
  t.is(deviceSink.closedCalls.length, 1);
  const error = await t.throwsAsync(host.send(Uint8Array.of(1)), { instanceOf: TransportError });
  t.is(error?.code, 'TRANSPORT_NOT_OPEN');
  await host.close();
  t.is(hostSink.closedCalls.length, 1, 'close after disconnect does not call closed again');
});

test('disconnect passes a given error; ends can reopen afterwards', async (t) => {
  const { host, device, hostSink } = await openBoth();
  const reason = new TransportError('TRANSPORT_IO', 'line noise');
  device.disconnect(reason);
  await tick();
  t.is(hostSink.closedCalls[0], reason);
  const again = new RecordingSink();
  await host.open(again);
  await device.open(new RecordingSink());
  await device.send(Uint8Array.of(5));
  await tick();
  t.deepEqual([...again.bytes()], [5]);
});

test('bytes queued for a closed-and-reopened end do not leak into the new session', async (t) => {
  const { host, device, deviceSink } = await openBoth();
  const sending = host.send(Uint8Array.of(1));
  await device.close();
  await sending;
  const fresh = new RecordingSink();
  await device.open(fresh);
  await tick();
  t.is(deviceSink.received, 0);
  t.is(fresh.received, 0);
});

test('options are validated', (t) => {
  t.throws(() => createMemoryLink({ maxPayload: 0 }), { instanceOf: RangeError });
  t.throws(() => createMemoryLink({ chunking: 1.5 }), { instanceOf: RangeError });
  const { host, device } = createMemoryLink({ maxPayload: 10 });
  t.is(host.maxPayload, 10);
  t.is(host.description, 'memory:host');
  t.is(device.description, 'memory:device');
});

test('256 KiB reassembles through 1-byte chunks', async (t) => {
  const { host, device, deviceSink } = await openBoth({ chunking: 1 });
  const data = patternBytes(256 * 1024, 3);
  for (let offset = 0; offset < data.length; offset += host.maxPayload) {
    await host.send(data.subarray(offset, offset + host.maxPayload));
  }
  await waitUntil(() => deviceSink.received >= data.length, 'all bytes', 10000);
  t.is(deviceSink.chunks.length, data.length);
  t.deepEqual(concat(deviceSink.chunks), data);
  t.true((device as MemoryTransport).isOpen);
});
