/**
 * Issue 9 finding 4 and issue 16 finding 8: every queue of a link is bounded. A TCP client that
 * sends a valid `hello` and then 3,000-byte pings without ever reading must make the simulator
 * stop reading (not buffer responses without end); the other Key keeps answering; a Key accepts
 * only a few TCP connections. The simulator runs in its own process so its memory is its own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyClient, TcpTransport } from '@enigm/key-firmware-host';
import { encodeFrame } from '@enigm/protocols/framing';
import { encodeMessage, PROTOCOL_VERSION, PROTOCOL_VERSIONS } from '@enigm/protocols/messages';
import { autoDetect } from '@serialport/bindings-cpp';
import { SerialPortStream } from '@serialport/stream';
import test from 'ava';
import { hasSocat } from '../src/io/pty.ts';
import { DEFAULT_LINK_LIMITS } from '../src/runtime/link-flow.ts';
import { startSimProcess } from './support/sim-process.ts';

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function addressOf(tcp: string | undefined): { host: string; port: number } {
  const url = new URL(tcp as string);
  return { host: url.hostname, port: Number(url.port) };
}

function open(tcp: string | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(addressOf(tcp), () => resolve(s));
    s.once('error', reject);
  });
}

/** Waits until the simulator's stderr matches `re` (up to 20 s); whether it did. */
async function logShows(sim: Awaited<ReturnType<typeof startSimProcess>>, re: RegExp): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  while (!re.test(sim.stderr()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return re.test(sim.stderr());
}

/** hello, then `pings` 3,000-byte pings, as one buffer of frames. */
function floodBytes(pings: number, firstId: number): Buffer {
  const frames: Uint8Array[] = [];
  if (firstId === 1)
    frames.push(
      encodeFrame(
        encodeMessage({
          version: PROTOCOL_VERSION,
          name: 'hello',
          id: 1,
          body: { versions: [...PROTOCOL_VERSIONS], maxFrame: 4096 },
        }),
      ),
    );
  for (let i = 0; i < pings; i++)
    frames.push(
      encodeFrame(
        encodeMessage({
          version: PROTOCOL_VERSION,
          name: 'ping',
          id: firstId + 1 + i,
          body: { data: new Uint8Array(3000).fill(i) },
        }),
      ),
    );
  return Buffer.concat(frames);
}

/** Whether `s` emits 'drain' within `ms`. */
function drainWithin(s: Socket, ms: number): Promise<boolean> {
  return new Promise<boolean>((r) => {
    const onDrain = () => {
      clearTimeout(timer);
      r(true);
    };
    const timer = setTimeout(() => {
      s.off('drain', onDrain);
      r(false);
    }, ms);
    s.once('drain', onDrain);
  });
}

/**
 * Writes the flood without ever reading until the socket stops taking bytes because the Key
 * stopped reading (its link says `paused`, and then no drain for `stallMs`), or `maxBytes` went
 * out, or 60 s passed. A writer that waits without a drain while the Key is not paused goes on
 * waiting: a simulator slowed down by a loaded machine is not one that stopped reading.
 * @returns bytes the kernel accepted, and whether the writer stalled
 */
async function floodUntilStalled(
  s: Socket,
  sim: Awaited<ReturnType<typeof startSimProcess>>,
  maxBytes: number,
  stallMs = 1000,
): Promise<{ sent: number; stalled: boolean }> {
  s.pause(); // never read
  const deadline = Date.now() + 60_000;
  let sent = 0;
  let id = 1;
  while (sent < maxBytes && Date.now() < deadline) {
    const chunk = floodBytes(20, id);
    id += 20;
    const more = s.write(chunk);
    sent += chunk.length;
    if (more) continue;
    while (!(await drainWithin(s, 250))) {
      if ((await sim.stats())[0]?.tcp[0]?.paused === true && !(await drainWithin(s, stallMs)))
        return { sent: sent - s.writableLength, stalled: true };
      if (Date.now() > deadline) break;
    }
  }
  return { sent: sent - s.writableLength, stalled: false };
}

test('a never-reading TCP flood makes the Key stop reading: queues stay bounded, memory stays flat, the other Key answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-flood-'));
  dirs.push(dir);
  const sim = await startSimProcess({ keys: 2, stateDir: dir, serial: false });
  const sockets: Socket[] = [];
  try {
    const before = await sim.rss();
    const s = await open(sim.keys[0]?.tcp);
    sockets.push(s);
    const flood = await floodUntilStalled(s, sim, 200 * 1024 * 1024);
    t.true(flood.stalled, `the simulator stopped reading (sent ${flood.sent} bytes without a stall)`);
    t.true(flood.sent < 32 * 1024 * 1024, `only socket buffers' worth was accepted: ${flood.sent} bytes`);
    const link = (await sim.stats())[0]?.tcp[0];
    t.truthy(link);
    t.true(link?.paused, 'reading is paused');
    t.true(
      (link?.outputBytes ?? 0) <= DEFAULT_LINK_LIMITS.outputHigh + 4096,
      `output queued ${link?.outputBytes} ≤ ${DEFAULT_LINK_LIMITS.outputHigh} + one frame`,
    );
    t.true((link?.inputBytes ?? 0) <= DEFAULT_LINK_LIMITS.inputHard, `input queued ${link?.inputBytes}`);
    const after = await sim.rss();
    t.true(after - before < 48 * 1024 * 1024, `RSS grew by ${((after - before) / 2 ** 20).toFixed(1)} MiB`);
    // The other Key answers at once.
    const other = await KeyClient.connect(new TcpTransport(addressOf(sim.keys[1]?.tcp)), { timeoutMs: 10_000 });
    await other.request('ping', { data: new Uint8Array(8) });
    await other.close();
    t.true(sim.alive());
  } finally {
    for (const s of sockets) s.destroy();
    await sim.stop();
  }
});

const serialTest = process.env.CI === 'true' || hasSocat() ? test : test.skip;

serialTest('serial path: a host that writes pings and never reads makes the Key stop reading its port', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-flood-serial-'));
  dirs.push(dir);
  const sim = await startSimProcess({ keys: 1, stateDir: dir, tcp: false });
  const port = new SerialPortStream({ binding: autoDetect(), path: sim.keys[0]?.serial as string, baudRate: 115200 });
  try {
    await new Promise<void>((res, rej) => port.once('open', () => res()).once('error', rej));
    port.pause(); // never read
    let sent = 0;
    let id = 1;
    for (;;) {
      const chunk = floodBytes(20, id);
      id += 20;
      const more = port.write(chunk);
      sent += chunk.length;
      if (sent > 64 * 1024 * 1024) break;
      if (!more) {
        const drained = await new Promise<boolean>((r) => {
          const timer = setTimeout(() => r(false), 1000);
          port.once('drain', () => {
            clearTimeout(timer);
            r(true);
          });
        });
        if (!drained) break;
      }
    }
    t.true(sent < 16 * 1024 * 1024, `the Key stopped reading: ${sent} bytes written before the port stalled`);
    // Either the simulator paused reading its port, or socat stopped carrying the host's bytes
    // first (socat blocks on the host side it cannot write to): both hold the queues bounded.
    const serial = (await sim.stats())[0]?.serial;
    t.true(
      (serial?.outputBytes ?? 0) <= DEFAULT_LINK_LIMITS.outputHigh + 4096,
      `output queued ${serial?.outputBytes} ≤ ${DEFAULT_LINK_LIMITS.outputHigh} + one frame`,
    );
    t.true((serial?.inputBytes ?? 0) <= DEFAULT_LINK_LIMITS.inputHard);
    t.true(sim.alive());
  } finally {
    port.destroy();
    await sim.stop();
  }
});

test('a Key takes at most maxTcpLinksPerKey TCP connections; the next one is closed and logged', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-conns-'));
  dirs.push(dir);
  const sim = await startSimProcess({ keys: 1, stateDir: dir, serial: false, logLevel: 'info' });
  const clients: KeyClient[] = [];
  try {
    const limit = DEFAULT_LINK_LIMITS.maxTcpLinksPerKey;
    for (let i = 0; i < limit; i++)
      clients.push(await KeyClient.connect(new TcpTransport(addressOf(sim.keys[0]?.tcp)), { timeoutMs: 10_000 }));
    const refused = await KeyClient.connect(new TcpTransport(addressOf(sim.keys[0]?.tcp)), {
      timeoutMs: 1000,
      retries: 0,
    }).then(
      async (c) => {
        await c.close();
        return false;
      },
      () => true,
    );
    t.true(refused, `connection ${limit + 1} is refused`);
    // The log line comes through the child's stderr pipe: wait for it (20 s on a loaded machine).
    t.true(
      await logShows(sim, /refused a tcp connection: 4 already open \(bound 4 per Key\)/),
      `the refusal is logged; stderr:\n${sim.stderr()}`,
    );
    // Closing one makes room again, once the simulator has seen the close.
    await clients.pop()?.close();
    t.true(await logShows(sim, /tcp link #\d+ closed by the host/), `the close is logged; stderr:\n${sim.stderr()}`);
    clients.push(await KeyClient.connect(new TcpTransport(addressOf(sim.keys[0]?.tcp)), { timeoutMs: 10_000 }));
    t.notRegex(sim.stderr(), /127\.0\.0\.1/, 'the log names no peer address');
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await sim.stop();
  }
});
