/**
 * The local API server (wire format in `wire.ts`) and its client. The server answers from the
 * agent's current view (a callback); it never reads anything itself. Bounded: at most 8
 * connections, 30 s idle per connection (a challenge report may wait for the TPM), frames ≤
 * 256 KiB; a bad frame closes that connection only. Answers go out in request order.
 * The socket file is created with mode 0660 (the agent's group, e.g. the Enigm App's).
 * @module
 */
import { chmodSync, lstatSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { CborValue } from '@enigm/protocols/cbor';
import { AgentError } from '../errors.ts';
import { API_OPS, type ApiOp, type ApiValue, FrameReader, frame, fromCborValue, toCborValue } from './wire.ts';

/** Answers one operation (`nonce` only for `challenge`); throwing or rejecting answers an error. */
export type ApiHandler = (op: ApiOp, nonce?: Uint8Array) => unknown;

const OP_NAMES = new Map<number, ApiOp>(Object.entries(API_OPS).map(([k, v]) => [v, k as ApiOp]));

/** A running local API server. */
export class ApiServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly path: string;

  private constructor(server: Server, path: string) {
    this.#server = server;
    this.path = path;
  }

  /**
   * Listens on `path` (a stale socket file there is replaced; any other file is an error).
   * @throws {@link AgentError} `API_UNAVAILABLE` when the socket cannot be bound
   */
  static async start(path: string, handler: ApiHandler): Promise<ApiServer> {
    try {
      if (lstatSync(path).isSocket()) rmSync(path);
    } catch {
      // nothing there
    }
    const server = createServer();
    const api = new ApiServer(server, path);
    server.maxConnections = 8;
    server.on('connection', (s) => api.#serve(s, handler));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(
          new AgentError('API_UNAVAILABLE', `the API socket cannot be bound (${(e as NodeJS.ErrnoException).code})`, {
            cause: e,
          }),
        ),
      );
      server.listen(path, () => resolve());
    });
    try {
      chmodSync(path, 0o660);
    } catch {
      // best effort
    }
    return api;
  }

  #serve(s: Socket, handler: ApiHandler): void {
    this.#sockets.add(s);
    s.setTimeout(30_000, () => s.destroy());
    let chain: Promise<void> = Promise.resolve();
    s.on('close', () => this.#sockets.delete(s));
    s.on('error', () => s.destroy());
    const reader = new FrameReader();
    s.on('data', (chunk: Buffer) => {
      let items: CborValue[];
      try {
        items = reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      } catch {
        s.destroy();
        return;
      }
      for (const item of items) {
        chain = chain.then(async () => {
          const answer = await this.#answer(item, handler);
          if (!s.destroyed) s.write(answer);
        });
      }
    });
  }

  async #answer(item: CborValue, handler: ApiHandler): Promise<Uint8Array> {
    const err = (code: string, message: string) =>
      frame(
        new Map<number, CborValue>([
          [1, 1],
          [3, code],
          [4, message],
        ]),
      );
    const op = item instanceof Map ? OP_NAMES.get(item.get(1) as number) : undefined;
    if (op === undefined || !(item instanceof Map)) return err('API_PROTOCOL', 'the request is not { 1: op } with a known op');
    const nonce = item.get(2);
    const shapeOk =
      op === 'challenge'
        ? item.size === 2 && nonce instanceof Uint8Array && nonce.length >= 8 && nonce.length <= 64
        : item.size === 1;
    if (!shapeOk) return err('API_PROTOCOL', 'challenge takes { 1: 2, 2: nonce of 8..64 bytes }; other ops take { 1: op }');
    try {
      const body = await handler(op, op === 'challenge' ? (nonce as Uint8Array) : undefined);
      return frame(
        new Map<number, CborValue>([
          [1, 0],
          [2, toCborValue(body)],
        ]),
      );
    } catch (e) {
      return err((e as { code?: string }).code ?? 'API_ERROR', (e as Error).message.slice(0, 200));
    }
  }

  /** Stops listening, closes connections, removes the socket file. Bounded. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
    rmSync(this.path, { force: true });
  }
}

/**
 * Asks the agent's local API.
 * @throws {@link AgentError} `API_UNAVAILABLE` (nothing listening), `API_TIMEOUT`, `API_PROTOCOL`,
 *   or the error code the agent answered with
 * @param options - `timeoutMs` (default 5 s, 30 s for a challenge); `nonce` for `challenge`
 * @throws RangeError for a challenge without a nonce of 8..64 bytes
 * @example const status = await queryAgent('/run/enigm-posture/api.sock', 'status');
 */
export function queryAgent(path: string, op: ApiOp, options: { timeoutMs?: number; nonce?: Uint8Array } = {}): Promise<ApiValue> {
  const timeoutMs = options.timeoutMs ?? (op === 'challenge' ? 30_000 : 5000);
  if (op === 'challenge' && !(options.nonce instanceof Uint8Array && options.nonce.length >= 8 && options.nonce.length <= 64))
    return Promise.reject(new RangeError('a challenge needs a nonce of 8..64 bytes'));
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    const reader = new FrameReader();
    let done = false;
    const finish = (e: Error | undefined, v?: ApiValue) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      if (e) reject(e);
      else resolve(v as ApiValue);
    };
    const timer = setTimeout(
      () => finish(new AgentError('API_TIMEOUT', `the local API did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const request = new Map<number, CborValue>([[1, API_OPS[op]]]);
    if (op === 'challenge') request.set(2, options.nonce as Uint8Array);
    s.on('connect', () => s.write(frame(request)));
    s.on('error', (e: NodeJS.ErrnoException) =>
      finish(new AgentError('API_UNAVAILABLE', `nothing answers on the local API socket (${e.code ?? 'error'})`, { cause: e })),
    );
    s.on('close', () => finish(new AgentError('API_UNAVAILABLE', 'the local API closed the connection without an answer')));
    s.on('data', (chunk: Buffer) => {
      try {
        const items = reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        const r = items[0];
        if (r === undefined) return;
        if (!(r instanceof Map) || (r.get(1) !== 0 && r.get(1) !== 1))
          throw new AgentError('API_PROTOCOL', 'the answer is not a response');
        if (r.get(1) === 1) {
          const code = String(r.get(3));
          finish(new AgentError('API_REFUSED', `${code.slice(0, 40)}: ${String(r.get(4)).slice(0, 200)}`));
          return;
        }
        finish(undefined, fromCborValue(r.get(2) as CborValue));
      } catch (e) {
        finish(e instanceof AgentError ? e : new AgentError('API_PROTOCOL', 'the answer does not decode', { cause: e }));
      }
    });
  });
}
