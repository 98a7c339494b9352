/**
 * Test support: loopback ports that nobody else takes while a test hands them to another piece
 * of code (or another process) to bind.
 *
 * A port from `listen(0)` comes from the kernel's ephemeral range, the range every `listen(0)` on
 * the machine and every outgoing connection also draws from; released and bound again later, it
 * can be taken meanwhile (a listener elsewhere, the local port of an outgoing connection, or one
 * of its TIME_WAIT sockets for a minute after it closed: all make the later bind EADDRINUSE).
 * Ports below that range are never handed out by the kernel, so one checked free here stays free
 * unless some program asks for that very number.
 * @module
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

/** The lowest port the kernel hands out on its own (Linux `ip_local_port_range`; 32768 elsewhere). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

/** Listens on 127.0.0.1:`port`; resolves the server, or undefined if the port is taken. */
function tryListen(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const s = createServer((c) => c.destroy());
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

function closeServer(s: Server): Promise<void> {
  return new Promise((r) => s.close(() => r()));
}

/**
 * `count` consecutive loopback ports below the kernel's ephemeral range, each of which could be
 * bound just now (they are released again before this resolves).
 * @returns the first of them
 * @throws Error if no free run of ports was found in 200 tries
 */
export async function quietPorts(count = 1): Promise<number> {
  const high = Math.min(ephemeralLow(), 65536) - count;
  const low = Math.min(10_000, high - 1000);
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = randomInt(low, high);
    const held: Server[] = [];
    for (let i = 0; i < count; i++) {
      const s = await tryListen(base + i);
      if (!s) break;
      held.push(s);
    }
    const ok = held.length === count;
    await Promise.all(held.map(closeServer));
    if (ok) return base;
  }
  throw new Error(`no run of ${count} free loopback ports below ${high + count}`);
}

/**
 * A loopback port below the ephemeral range held by a plain listener (that drops connections),
 * as another program holding it would; `close` releases it.
 */
export async function heldQuietPort(): Promise<{ port: number; close(): Promise<void> }> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await quietPorts(1);
    const s = await tryListen(port);
    if (s) return { port, close: () => closeServer(s) };
  }
  throw new Error('no free loopback port to hold');
}
