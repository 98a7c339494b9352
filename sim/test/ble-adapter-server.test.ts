/**
 * The virtual BLE adapter's loopback server (sim/src/io/ble/adapter-server.ts, wire of
 * protocols/src/ble/adapter-wire.ts): a host's `start` call is answered with `stateChange`,
 * errors travel as `{"$error": …}`, a malformed or unknown line closes that host's connection
 * (others unaffected), and a closed connection leaves nothing listening on its bindings.
 */
import { connect, type Socket } from 'node:net';
import { BleAdapterServer, SimBleBindings } from '@enigm/sim';
import test from 'ava';

async function client(address: string): Promise<{ socket: Socket; lines: string[]; closed: Promise<void> }> {
  const m = /:(\d+)$/.exec(address);
  const socket = connect({ host: '127.0.0.1', port: Number(m?.[1]) });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.setEncoding('utf8');
  const lines: string[] = [];
  let buf = '';
  socket.on('data', (c: string) => {
    buf += c;
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return { socket, lines, closed };
}

/** Polls `pred` until it holds or 20 s have passed (generous for a loaded machine; fast when it holds). */
async function until(pred: () => boolean): Promise<void> {
  const end = Date.now() + 20_000;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

test.serial('start → stateChange; a connect to an unknown id → connect with {$error}; close leaves no listener', async (t) => {
  const made: SimBleBindings[] = [];
  const server = new BleAdapterServer(() => {
    const b = new SimBleBindings({ peripherals: () => [] });
    made.push(b);
    return b;
  });
  const address = await server.listen(0);
  try {
    const c = await client(address);
    c.socket.write('{"call":"start","args":[]}\n{"call":"connect","args":["c0de00000009",null]}\n');
    await until(() => c.lines.length >= 2);
    t.deepEqual(JSON.parse(c.lines[0] as string), { event: 'stateChange', args: ['poweredOn'] });
    t.deepEqual(JSON.parse(c.lines[1] as string), {
      event: 'connect',
      args: ['c0de00000009', { $error: 'no peripheral c0de00000009 in range' }],
    });
    t.is(server.clients, 1);
    c.socket.end();
    await c.closed;
    await until(() => server.clients === 0);
    t.is(server.clients, 0);
    t.is(made[0]?.eventNames().length, 0, 'nothing listens on the bindings of a closed connection');
  } finally {
    await server.close();
  }
});

for (const [what, line] of [
  ['not JSON', 'hello\n'],
  ['an unknown method', '{"call":"exec","args":["rm -rf /"]}\n'],
  ['an event from a host', '{"event":"discover","args":[]}\n'],
  ['a line over the bound', `${'x'.repeat(17 * 1024)}`],
] as const) {
  test.serial(`${what} closes that host's connection; another host keeps its adapter`, async (t) => {
    const server = new BleAdapterServer(() => new SimBleBindings({ peripherals: () => [] }));
    const address = await server.listen(0);
    try {
      const bad = await client(address);
      const good = await client(address);
      bad.socket.write(line);
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        bad.closed.then(() => 'closed'),
        new Promise((r) => {
          timer = setTimeout(() => r('still open after 20 s'), 20_000);
        }),
      ]);
      clearTimeout(timer);
      t.is(outcome, 'closed');
      good.socket.write('{"call":"start","args":[]}\n');
      await until(() => good.lines.length >= 1);
      t.regex(good.lines[0] ?? '', /stateChange/);
      good.socket.destroy();
    } finally {
      await server.close();
    }
  });
}
