/**
 * Test support for the red-team tests: a man in the middle on a real TCP link. The proxy listens
 * on loopback, connects each host connection to the simulator's TCP port, reassembles frames in
 * both directions, and hands every decoded message to a hook that may forward it unchanged, drop
 * it, rewrite it, or inject other messages. Frames leave with a fresh CRC, exactly as an attacker
 * on the wire would send them.
 */
import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { encodeFrame, FrameDecoder } from '@enigm/protocols/framing';
import { decodeMessage, encodeMessage, type Message } from '@enigm/protocols/messages';

/** Direction of a message through the proxy. */
export type Direction = 'toKey' | 'toHost';

/**
 * Decides what happens to one message: `undefined` forwards it unchanged, an array replaces it
 * (empty: drop). `m` is the decoded message, or undefined for bytes that do not decode.
 */
export type Hook = (dir: Direction, m: Message | undefined, payload: Uint8Array) => Uint8Array[] | undefined;

/** A running man in the middle. */
export interface Mitm {
  /** Address hosts connect to (`tcp://127.0.0.1:port`). */
  address: string;
  /** The hook (replace at any time). */
  hook: Hook;
  /** Messages seen, in order, per direction. */
  seen: { dir: Direction; m: Message | undefined }[];
  /** Sends a payload to the host on every open connection (a forged message). */
  injectToHost(payload: Uint8Array): void;
  close(): Promise<void>;
}

/** Re-encodes a message (after a rewrite). */
export const reencode = (m: Message): Uint8Array => encodeMessage(m as never);

/**
 * Starts a proxy in front of the Key at `target` (`tcp://host:port`).
 * @throws Error if the target address is not `tcp://host:port`
 */
export async function startMitm(target: string): Promise<Mitm> {
  const t = /^tcp:\/\/([^:]+):(\d+)$/.exec(target);
  if (!t) throw new Error(`not a tcp address: ${target}`);
  const [, host, port] = t as unknown as [string, string, string];
  const sockets = new Set<Socket>();
  const toHostSockets = new Set<Socket>();
  const mitm: Mitm = {
    address: '',
    hook: () => undefined,
    seen: [],
    injectToHost(payload) {
      for (const s of toHostSockets) if (!s.destroyed) s.write(encodeFrame(payload));
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const pipe = (dir: Direction, from: Socket, to: Socket) => {
    const decoder = new FrameDecoder({ maxPayload: 65536 });
    from.on('data', (chunk) => {
      for (const ev of decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))) {
        if (ev.kind !== 'frame') continue;
        let m: Message | undefined;
        try {
          m = decodeMessage(ev.payload);
        } catch {
          m = undefined;
        }
        mitm.seen.push({ dir, m });
        const out = mitm.hook(dir, m, ev.payload) ?? [ev.payload];
        for (const p of out) if (!to.destroyed) to.write(encodeFrame(p));
      }
    });
    from.on('close', () => to.destroy());
    from.on('error', () => {});
  };
  const server: Server = createServer({ noDelay: true }, (hostSide) => {
    const keySide = netConnect({ host, port: Number(port), noDelay: true });
    sockets.add(hostSide);
    sockets.add(keySide);
    toHostSockets.add(hostSide);
    hostSide.on('close', () => toHostSockets.delete(hostSide));
    pipe('toKey', hostSide, keySide);
    pipe('toHost', keySide, hostSide);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  if (!addr || typeof addr !== 'object') throw new Error('proxy did not bind');
  mitm.address = `tcp://127.0.0.1:${addr.port}`;
  return mitm;
}
