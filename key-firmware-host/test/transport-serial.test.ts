/**
 * SerialTransport over real pseudo-terminals made by socat (sim/src/io/pty.ts), through the real
 * serialport binding on both sides. The peer is the simulator's side of the pair, opened with
 * `@serialport/stream` exactly as the simulator opens it.
 *
 * "The peer goes away" means the simulated Key is unplugged: the device side closes and socat
 * exits, so the host's pty hangs up. A device side that merely closes is not observable by the
 * host (socat keeps both pty slaves open), which a separate test pins down.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPtyPair, type PtyPair, socatAvailability } from '@enigm/sim';
import { autoDetect } from '@serialport/bindings-cpp';
import { SerialPortStream } from '@serialport/stream';
import test from 'ava';
import { SerialTransport } from '../src/transport/serial.ts';
import { TransportError } from '../src/transport/transport.ts';
import { concat, patternBytes, RecordingSink, sendUntilBusy, transportContract, waitUntil } from './transport-contract.ts';

const socat = socatAvailability();

function openDevice(path: string): Promise<SerialPortStream> {
  return new Promise((resolve, reject) => {
    const port: SerialPortStream = new SerialPortStream({ binding: autoDetect(), path, baudRate: 115200 }, (error) =>
      error ? reject(error) : resolve(port),
    );
  });
}

function closeDevice(port: SerialPortStream): Promise<void> {
  if (!port.isOpen) return Promise.resolve();
  return new Promise((resolve) => port.close(() => resolve()));
}

function writeDevice(port: SerialPortStream, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    port.write(Buffer.from(bytes), (error) => {
      if (error) return reject(error);
      port.drain((drainError) => (drainError ? reject(drainError) : resolve()));
    });
  });
}

/** Bytes the process `pid` has written so far (`wchar` of /proc/PID/io): socat writes only the relayed data. */
function socatWrites(pid: number): number {
  const m = /^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  if (!m) throw new Error(`no wchar in /proc/${pid}/io`);
  return Number(m[1]);
}

interface Rig {
  pair: PtyPair;
  linkDir: string;
  device: SerialPortStream;
  cleanup(): Promise<void>;
}

async function rig(): Promise<Rig> {
  const linkDir = mkdtempSync(join(tmpdir(), 'enigm-serial-'));
  const pair = await createPtyPair({ linkDir, name: 'key' });
  const device = await openDevice(pair.devicePath);
  device.on('error', () => undefined);
  return {
    pair,
    linkDir,
    device,
    cleanup: async () => {
      await closeDevice(device);
      await pair.close();
      rmSync(linkDir, { recursive: true, force: true });
    },
  };
}

test('constructor validates options', (t) => {
  t.throws(() => new SerialTransport({ path: '' }), { instanceOf: RangeError });
  t.throws(() => new SerialTransport({ path: '/dev/x', baudRate: 0 }), { instanceOf: RangeError });
  t.throws(() => new SerialTransport({ path: '/dev/x', maxPayload: -1 }), { instanceOf: RangeError });
  const transport = new SerialTransport({ path: '/dev/x' });
  t.is(transport.maxPayload, 65536);
  t.false(transport.isOpen);
});

test('open on a missing path → TRANSPORT_OPEN_FAILED with the cause kept', async (t) => {
  const transport = new SerialTransport({ path: '/dev/enigm-no-such-port' });
  const error = await t.throwsAsync(transport.open(new RecordingSink()), { instanceOf: TransportError });
  t.is(error?.code, 'TRANSPORT_OPEN_FAILED');
  t.true(error?.cause instanceof Error);
  t.regex(error?.message ?? '', /enigm-no-such-port/);
  t.false(transport.isOpen);
  t.is(transport.description, 'serial:/dev/enigm-no-such-port');
});

test('a path that is not a serial device says so: /dev/null, a plain file, a directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-not-serial-'));
  const file = join(dir, 'image.bin');
  writeFileSync(file, 'not a tty');
  try {
    for (const [path, kind] of [
      ['/dev/null', /not a serial device \(it is not a terminal\)/],
      [file, /a regular file, not a serial device/],
      [dir, /a directory, not a serial device/],
    ] as const) {
      const transport = new SerialTransport({ path });
      const error = await t.throwsAsync(transport.open(new RecordingSink()), { instanceOf: TransportError });
      t.is(error?.code, 'TRANSPORT_OPEN_FAILED');
      t.regex(error?.message ?? '', kind);
      t.notRegex(error?.message ?? '', /ioctl|baud/i, 'no binding jargon');
      t.false(transport.isOpen);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

if (!socat.available) {
  if (socat.required) {
    test('serial transport: socat is required (CI=true)', (t) => {
      t.fail(socat.message);
    });
  } else {
    console.warn(`transport-serial: ${socat.message}`);
    test.skip(`serial transport tests skipped: ${socat.message}`, () => undefined);
  }
} else {
  transportContract('serial over pty', async () => {
    const r = await rig();
    const current = r.device;
    return {
      host: new SerialTransport({ path: r.pair.hostPath }),
      peer: {
        write: (bytes) => writeDevice(current, bytes),
        onData: (callback) => {
          current.on('data', (chunk: Buffer) => callback(new Uint8Array(chunk)));
        },
        close: async () => {
          await closeDevice(current);
          await r.pair.close();
        },
      },
      cleanup: r.cleanup,
    };
  });

  test.serial('the port is locked: a second host cannot open it; lock:false can', async (t) => {
    const r = await rig();
    const first = new SerialTransport({ path: r.pair.hostPath });
    const second = new SerialTransport({ path: r.pair.hostPath });
    const unlocked = new SerialTransport({ path: r.pair.hostPath, lock: false });
    try {
      await first.open(new RecordingSink());
      const error = await t.throwsAsync(second.open(new RecordingSink()), { instanceOf: TransportError });
      t.is(error?.code, 'TRANSPORT_OPEN_FAILED');
      t.regex(error?.message ?? '', /lock/i);
      await unlocked.open(new RecordingSink());
      t.true(unlocked.isOpen);
      await first.close();
      await second.open(new RecordingSink());
      t.true(second.isOpen);
    } finally {
      await Promise.all([first.close(), second.close(), unlocked.close()]);
      await r.cleanup();
    }
  });

  test.serial('host opens, closes and reopens (new instances) while the device stays up', async (t) => {
    const r = await rig();
    const seen: Buffer[] = [];
    r.device.on('data', (chunk: Buffer) => {
      seen.push(chunk);
      void writeDevice(
        r.device,
        Uint8Array.from(chunk, (byte) => byte ^ 0xff),
      );
    });
    try {
      for (let round = 0; round < 3; round++) {
        const host = new SerialTransport({ path: r.pair.hostPath });
        const sink = new RecordingSink();
        await host.open(sink);
        const request = patternBytes(100, round + 1);
        await host.send(request);
        await waitUntil(() => sink.received >= 100, `round ${round} echo`, 10000);
        t.deepEqual(
          sink.bytes(),
          Uint8Array.from(request, (byte) => byte ^ 0xff),
        );
        await host.close();
        t.deepEqual(sink.closedCalls, [undefined]);
      }
      t.is(Buffer.concat(seen).length, 300);
    } finally {
      await r.cleanup();
    }
  });

  test.serial('bytes the device wrote while no host had the port open are discarded at open', async (t) => {
    const r = await rig();
    const host = new SerialTransport({ path: r.pair.hostPath });
    const sink = new RecordingSink();
    try {
      const relayed = socatWrites(r.pair.pid);
      await writeDevice(r.device, Uint8Array.of(0xde, 0xad));
      // The stale bytes must be on the host side before it opens: wait until socat wrote them there
      // (a fixed 200 ms sleep lost to a socat kept off the CPU; the bytes then came after the open).
      await waitUntil(() => socatWrites(r.pair.pid) >= relayed + 2, 'socat to pass the stale bytes on', 10000);
      await host.open(sink);
      await writeDevice(r.device, Uint8Array.of(1, 2, 3));
      await waitUntil(() => sink.received >= 3, 'the fresh bytes', 10000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      t.deepEqual([...sink.bytes()], [1, 2, 3]);
    } finally {
      await host.close();
      await r.cleanup();
    }
  });

  test.serial('device side closing is not seen by the host; a reopened device side works', async (t) => {
    const r = await rig();
    const host = new SerialTransport({ path: r.pair.hostPath });
    const sink = new RecordingSink();
    let device2: SerialPortStream | undefined;
    try {
      await host.open(sink);
      await closeDevice(r.device);
      await new Promise((resolve) => setTimeout(resolve, 300));
      t.true(host.isOpen, 'host still open');
      t.deepEqual(sink.closedCalls, []);
      device2 = await openDevice(r.pair.devicePath);
      const got: Buffer[] = [];
      device2.on('data', (chunk: Buffer) => got.push(chunk));
      await host.send(Uint8Array.of(1, 2, 3));
      await waitUntil(() => Buffer.concat(got).length >= 3, 'bytes at the reopened device', 10000);
      t.deepEqual([...Buffer.concat(got)], [1, 2, 3]);
      await writeDevice(device2, Uint8Array.of(4, 5));
      await waitUntil(() => sink.received >= 2, 'bytes from the reopened device', 10000);
      t.deepEqual([...sink.bytes()], [4, 5]);
    } finally {
      await host.close();
      if (device2) await closeDevice(device2);
      await r.cleanup();
    }
  });

  test.serial('hang-up is detected without spinning the CPU', async (t) => {
    const r = await rig();
    const host = new SerialTransport({ path: r.pair.hostPath });
    const sink = new RecordingSink();
    try {
      await host.open(sink);
      await closeDevice(r.device);
      await r.pair.close();
      await waitUntil(() => sink.closedCalls.length > 0, 'closed after socat exit', 15000);
      t.is(sink.closedCalls[0]?.code, 'TRANSPORT_CLOSED');
      t.regex(sink.closedCalls[0]?.message ?? '', /closed/);
      const before = process.cpuUsage();
      await new Promise((resolve) => setTimeout(resolve, 500));
      const used = process.cpuUsage(before);
      const ms = (used.user + used.system) / 1000;
      t.true(ms < 250, `CPU time over 500 ms after the hang-up: ${ms.toFixed(0)} ms`);
    } finally {
      await host.close();
      await r.cleanup();
    }
  });

  test.serial('send on a hung-up port before the read side notices → TransportError', async (t) => {
    const r = await rig();
    const host = new SerialTransport({ path: r.pair.hostPath });
    const sink = new RecordingSink();
    try {
      await host.open(sink);
      await closeDevice(r.device);
      await r.pair.close();
      // Either the read side already closed the link (TRANSPORT_NOT_OPEN) or the write fails.
      const error = await t.throwsAsync(host.send(Uint8Array.of(1)), { instanceOf: TransportError });
      t.true(['TRANSPORT_NOT_OPEN', 'TRANSPORT_IO', 'TRANSPORT_CLOSED'].includes(error?.code ?? ''), String(error?.code));
      await waitUntil(() => sink.closedCalls.length > 0, 'closed', 15000);
      t.is(sink.closedCalls.length, 1);
    } finally {
      await host.close();
      await r.cleanup();
    }
  });

  test.serial(
    'a device that does not read: sends past the queue bound are refused (TRANSPORT_BUSY), the port stays usable',
    async (t) => {
      const r = await rig();
      const maxQueuedBytes = 64 * 1024;
      const host = new SerialTransport({ path: r.pair.hostPath, maxPayload: 4096, maxQueuedBytes });
      try {
        // No 'data' listener: the device side reads nothing, so the pty fills, then the host's queue.
        await host.open(new RecordingSink());
        const fill = await sendUntilBusy(host, 4096, 20_000);
        t.true(fill.refusal instanceof TransportError, `refused after ${fill.bytes.length} sends`);
        t.is((fill.refusal as TransportError).code, 'TRANSPORT_BUSY');
        t.true(host.queuedBytes <= maxQueuedBytes, `${host.queuedBytes} bytes queued`);
        t.true(host.isOpen);
        const got: Buffer[] = [];
        r.device.on('data', (chunk: Buffer) => got.push(chunk));
        await Promise.all(fill.accepted);
        const expected = concat(fill.bytes);
        await waitUntil(() => Buffer.concat(got).length >= expected.length, 'every accepted byte at the device', 15000);
        t.true(Buffer.concat(got).equals(Buffer.from(expected)), 'the accepted sends arrived in order; the refused one never');
      } finally {
        await host.close();
        await r.cleanup();
      }
    },
  );
}
