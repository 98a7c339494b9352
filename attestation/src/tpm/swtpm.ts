/**
 * swtpm transports: the TCP data channel (`swtpm socket --server type=tcp,port=P`: plain TPM
 * command bytes in, response bytes out) and the control channel (`--ctrl type=tcp,port=C`) for
 * power-cycling the simulated TPM (swtpm `CMD_INIT`, `CMD_SHUTDOWN`, big-endian).
 *
 * @module
 */
import { connect, type Socket } from 'node:net';
import { AttestationError } from '../errors.ts';
import { MAX_RESPONSE_BYTES, type TpmTransport } from './transport.ts';

/** Where a swtpm listens. */
export interface SwtpmAddress {
  host: string;
  port: number;
}

/** swtpm control commands used here. */
export const SWTPM_CMD = { INIT: 2, SHUTDOWN: 3 } as const;

function open(addr: SwtpmAddress, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: addr.host, port: addr.port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new AttestationError('TPM_TRANSPORT', `connecting to ${addr.host}:${addr.port} timed out`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(new AttestationError('TPM_TRANSPORT', `cannot connect to ${addr.host}:${addr.port}: ${e.message}`, { cause: e }));
    });
  });
}

/** Reads exactly-framed replies from a socket: `frameLength(buf)` says when a reply is complete. */
class Exchange {
  private chunks: Buffer[] = [];
  private waiter:
    | { frame: (b: Buffer) => number | undefined; resolve: (b: Buffer) => void; reject: (e: Error) => void }
    | undefined;
  private failure: Error | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.poll();
    });
    const fail = (e: Error) => {
      this.failure = e;
      this.waiter?.reject(e);
      this.waiter = undefined;
    };
    socket.on('error', (e) => fail(new AttestationError('TPM_TRANSPORT', `swtpm connection failed: ${e.message}`, { cause: e })));
    socket.on('close', () => fail(new AttestationError('TPM_TRANSPORT', 'swtpm closed the connection')));
  }

  private poll(): void {
    if (!this.waiter) return;
    const buf = Buffer.concat(this.chunks);
    this.chunks = [buf];
    const n = this.waiter.frame(buf);
    if (n === undefined || buf.length < n) return;
    this.chunks = buf.length > n ? [buf.subarray(n)] : [];
    const w = this.waiter;
    this.waiter = undefined;
    w.resolve(buf.subarray(0, n));
  }

  /** Writes `data` and resolves with one reply; calls are queued. */
  request(data: Uint8Array, frame: (b: Buffer) => number | undefined): Promise<Uint8Array> {
    const run = () =>
      new Promise<Uint8Array>((resolve, reject) => {
        if (this.failure) return reject(this.failure);
        const timer = setTimeout(() => {
          this.waiter = undefined;
          reject(new AttestationError('TPM_TRANSPORT', `no reply within ${this.timeoutMs} ms`));
        }, this.timeoutMs);
        this.waiter = {
          frame,
          resolve: (b) => {
            clearTimeout(timer);
            resolve(new Uint8Array(b));
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        this.socket.write(data);
        this.poll();
      });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }
}

function tpmFrame(b: Buffer): number | undefined {
  if (b.length < 10) return undefined;
  const n = b.readUInt32BE(2);
  if (n < 10 || n > MAX_RESPONSE_BYTES) throw new AttestationError('TPM_MARSHAL', `response header announces ${n} bytes`);
  return n;
}

/**
 * Connects to swtpm's TCP data channel.
 * @throws {@link AttestationError} `TPM_TRANSPORT` if the connection fails
 * @example const tpm = new TpmClient(await connectSwtpm({ host: '127.0.0.1', port: 2321 }));
 */
export async function connectSwtpm(addr: SwtpmAddress, options: { timeoutMs?: number } = {}): Promise<TpmTransport> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const socket = await open(addr, timeoutMs);
  const ex = new Exchange(socket, timeoutMs);
  return {
    send: (command) =>
      ex.request(command, (b) => {
        try {
          return tpmFrame(b);
        } catch (e) {
          socket.destroy();
          throw e;
        }
      }),
    close: () =>
      new Promise((resolve) => {
        if (socket.destroyed) return resolve();
        socket.end(() => resolve());
        socket.destroySoon();
      }),
  };
}

/**
 * Sends one swtpm control command (`CMD_INIT` with flags 0, or `CMD_SHUTDOWN`) on its own
 * connection and checks the 32-bit result code.
 * @throws {@link AttestationError} `TPM_TRANSPORT` on connection failure or a non-zero result
 */
export async function swtpmControl(
  addr: SwtpmAddress,
  cmd: 'init' | 'shutdown',
  options: { timeoutMs?: number } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const socket = await open(addr, timeoutMs);
  try {
    const ex = new Exchange(socket, timeoutMs);
    const req = Buffer.alloc(cmd === 'init' ? 8 : 4);
    req.writeUInt32BE(cmd === 'init' ? SWTPM_CMD.INIT : SWTPM_CMD.SHUTDOWN, 0);
    const res = await ex.request(req, () => 4);
    const result = Buffer.from(res).readUInt32BE(0);
    if (result !== 0) throw new AttestationError('TPM_TRANSPORT', `swtpm control ${cmd} returned 0x${result.toString(16)}`);
  } finally {
    socket.destroy();
  }
}
