/**
 * The Enigm OS posture daemon emulator: serves the posture daemon protocol
 * (`@enigm/protocols/posture`) on a Unix domain socket with scriptable states and injected faults,
 * so the posture agent can be developed and tested without Enigm OS.
 *
 * Bounded: at most {@link OsdEmulatorOptions.maxConnections} connections, each with one frame
 * reader (frames over the protocol bound close the connection) and at most 64 answers pending.
 * Logs (optional {@link OsdEmulatorOptions.log}) connections, refusals, bad frames and faults
 * injected — by query name and counts, never anything it receives or answers.
 * @module
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { encode } from '@enigm/protocols/cbor';
import {
  DAEMON_MAX_FRAME_BYTES,
  DAEMON_PROTOCOL_VERSION,
  DAEMON_QUERIES,
  DAEMON_QUERY_NAMES,
  DaemonFrameReader,
  type DaemonQuery,
  type DaemonRequest,
  type DaemonResponse,
  decodeDaemonRequest,
  encodeDaemonResponse,
  frameDaemonPayload,
} from '@enigm/protocols/posture';
import { SimulatorError } from '../runtime/errors.ts';
import { type SimLogger, silentLogger } from '../runtime/log.ts';
import { type OsdFault, type OsdScript, type OsdStateEntry, type OsdStates, parseOsdScript } from './script.ts';

/** Options of {@link OsdEmulator.start}. */
export interface OsdEmulatorOptions {
  /** Path of the Unix socket to listen on. */
  socketPath: string;
  /** Script (checked with {@link parseOsdScript}). */
  script?: OsdScript | unknown;
  /** Clock for `ageMs` (default `Date.now`). */
  now?: () => number;
  /** Remove a stale socket file at `socketPath` first (only if it is a socket). Default false. */
  replace?: boolean;
  /** Most simultaneous connections (default 16); more are closed at once. */
  maxConnections?: number;
  /** Operational log (default silent): connections (info), refusals and bad frames (warn), faults (debug). */
  log?: SimLogger;
}

/** Counters of the emulator. */
export interface OsdEmulatorStats {
  /** Connections accepted. */
  connections: number;
  /** Connections refused over the bound. */
  refused: number;
  /** Requests decoded. */
  requests: number;
  /** Answers sent (faulty ones included). */
  answers: number;
  /** Faults injected. */
  faults: number;
  /** Connections closed for a bad request frame. */
  badRequests: number;
}

const MAX_PENDING_PER_CONNECTION = 64;

/** A running emulator. */
export class OsdEmulator {
  readonly socketPath: string;
  readonly #now: () => number;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #states = new Map<DaemonQuery, { entry: OsdStateEntry; since: number }>();
  readonly #maxConnections: number;
  readonly #log: SimLogger;
  #faults: OsdFault[] = [];
  #closed = false;
  readonly #stats: OsdEmulatorStats = { connections: 0, refused: 0, requests: 0, answers: 0, faults: 0, badRequests: 0 };

  private constructor(server: Server, opts: OsdEmulatorOptions, script: OsdScript) {
    this.#server = server;
    this.socketPath = opts.socketPath;
    this.#now = opts.now ?? Date.now;
    this.#maxConnections = opts.maxConnections ?? 16;
    this.#log = opts.log ?? silentLogger;
    this.setStates(script.states ?? {});
    this.#faults = (script.faults ?? []).map((f) => ({ ...f }));
    for (const step of script.steps ?? []) {
      this.#later(step.afterMs, () => {
        if (step.states) this.setStates(step.states);
        if (step.faults) this.setFaults(step.faults);
      });
    }
    server.on('connection', (s) => this.#accept(s));
  }

  /**
   * Starts listening on `socketPath`.
   * @throws {@link SimulatorError} `SIM_BAD_INPUT` for a bad script or option; the listen error
   *   (e.g. `EADDRINUSE`) if the socket cannot be bound
   */
  static async start(opts: OsdEmulatorOptions): Promise<OsdEmulator> {
    if (typeof opts.socketPath !== 'string' || opts.socketPath === '')
      throw new TypeError('socketPath must be a non-empty string');
    const max = opts.maxConnections ?? 16;
    if (!Number.isInteger(max) || max < 1 || max > 1024) throw new RangeError('maxConnections must be in [1, 1024]');
    const script = opts.script === undefined ? {} : parseOsdScript(opts.script);
    if (opts.replace) removeStaleSocket(opts.socketPath);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {});
    return new OsdEmulator(server, opts, script);
  }

  /** Sets the states of some queries (others keep theirs); their age restarts. */
  setStates(states: OsdStates): void {
    const now = this.#now();
    for (const [q, entry] of Object.entries(states) as [DaemonQuery, OsdStateEntry][]) {
      if (!(q in DAEMON_QUERIES)) throw new SimulatorError('SIM_BAD_INPUT', `unknown query ${q}`);
      this.#states.set(q, { entry, since: now });
    }
  }

  /** Replaces the fault list (an empty list clears every fault). */
  setFaults(faults: OsdFault[]): void {
    this.#faults = faults.map((f) => ({ ...f, ...(f.queries ? { queries: [...f.queries] } : {}) }));
  }

  /** The state currently served for a query, if any. */
  state(query: DaemonQuery): OsdStateEntry | undefined {
    return this.#states.get(query)?.entry;
  }

  /** Counters. */
  stats(): OsdEmulatorStats {
    return { ...this.#stats };
  }

  /** Stops listening, closes every connection, cancels pending answers and steps, removes the socket file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #later(ms: number, f: () => void): void {
    if (this.#closed) return;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#closed) f();
    }, ms);
    this.#timers.add(t);
  }

  #accept(socket: Socket): void {
    if (this.#closed || this.#sockets.size >= this.#maxConnections) {
      this.#stats.refused++;
      if (!this.#closed) this.#log.warn(`osd: connection refused: ${this.#maxConnections} already open`);
      socket.destroy();
      return;
    }
    this.#stats.connections++;
    const n = this.#stats.connections;
    this.#log.info(`osd: connection ${n} opened`);
    this.#sockets.add(socket);
    const reader = new DaemonFrameReader();
    let pending = 0;
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#sockets.delete(socket);
      this.#log.info(`osd: connection ${n} closed`);
    });
    socket.on('data', (chunk: Buffer) => {
      let requests: DaemonRequest[];
      try {
        requests = reader.push(chunk).map(decodeDaemonRequest);
      } catch {
        this.#stats.badRequests++;
        this.#log.warn(`osd: connection ${n} closed: a bad request frame`);
        socket.destroy();
        return;
      }
      for (const req of requests) {
        this.#stats.requests++;
        if (pending >= MAX_PENDING_PER_CONNECTION) {
          socket.destroy();
          return;
        }
        pending++;
        this.#answer(socket, req, () => pending--);
      }
    });
  }

  #takeFault(query: DaemonQuery): OsdFault | undefined {
    const i = this.#faults.findIndex((f) => !f.queries || f.queries.includes(query));
    if (i < 0) return undefined;
    const f = this.#faults[i] as OsdFault;
    if (f.times !== undefined) {
      f.times--;
      if (f.times <= 0) this.#faults.splice(i, 1);
    }
    this.#stats.faults++;
    this.#log.debug(`osd: fault ${f.kind} injected on ${query}`);
    return f;
  }

  #response(req: DaemonRequest): DaemonResponse {
    const base = { version: DAEMON_PROTOCOL_VERSION, id: req.id, query: req.query };
    const held = this.#states.get(req.query);
    if (!held) return { ...base, status: 'unavailable', reason: 'no state scripted' } as DaemonResponse;
    const ageMs = Math.min(Math.max(0, Math.floor(this.#now() - held.since)), 0xffff_ffff);
    const e = held.entry as Record<string, unknown>;
    if ('unavailable' in e) return { ...base, status: 'unavailable', reason: String(e.unavailable), ageMs } as DaemonResponse;
    if ('error' in e) return { ...base, status: 'error', reason: String(e.error) } as DaemonResponse;
    return { ...base, status: 'ok', state: held.entry, ageMs } as DaemonResponse;
  }

  #answer(socket: Socket, req: DaemonRequest, done: () => void): void {
    const fault = this.#takeFault(req.query);
    const send = (bytes: Uint8Array) => {
      done();
      if (socket.destroyed) return;
      this.#stats.answers++;
      socket.write(bytes);
    };
    const normal = () => frameDaemonPayload(encodeDaemonResponse(this.#response(req)));
    switch (fault?.kind) {
      case undefined:
        send(normal());
        break;
      case 'slow':
        this.#later(fault.delayMs ?? 0, () => send(normal()));
        break;
      case 'silent':
        done();
        break;
      case 'close':
        done();
        socket.destroy();
        break;
      case 'malformed':
        send(frameDaemonPayload(new Uint8Array([0xff, 0x00, 0x1c, 0xa1])));
        break;
      case 'wrong-type': {
        const m = new Map<number, unknown>([
          [1, DAEMON_PROTOCOL_VERSION],
          [2, req.id],
          [3, DAEMON_QUERIES[req.query]],
          [4, 0],
          [5, new Map([[1, 'not-an-enum']])],
        ]);
        send(frameDaemonPayload(encode(m as never)));
        break;
      }
      case 'oversized': {
        const head = new Uint8Array(4);
        new DataView(head.buffer).setUint32(0, DAEMON_MAX_FRAME_BYTES + 1);
        send(head);
        break;
      }
      case 'wrong-id':
        send(frameDaemonPayload(encodeDaemonResponse({ ...this.#response(req), id: (req.id + 1) >>> 0 })));
        break;
    }
  }
}

/** Removes `path` if it is a socket file (a stale one from an earlier run); anything else is left alone. */
function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // absent: nothing to remove
  }
}

/** Every query name the emulator serves. */
export const OSD_QUERIES: readonly DaemonQuery[] = DAEMON_QUERY_NAMES;
