/**
 * One simulated Key on TCP: a server on loopback, one {@link DeviceLink} per connection, at most
 * {@link LinkLimits.maxTcpLinksPerKey} connections, each with bounded queues ({@link LinkFlow}).
 * Logs connections opened, refused and closed (link number and reason; never the peer's address
 * or anything it sent).
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { KeyFirmware } from '../firmware/firmware.ts';
import { DeviceLink, type LinkHooks, linkHookOptions } from './device-link.ts';
import type { KeyScheduler, LongOperationTiming } from './key-scheduler.ts';
import { LinkFlow, type LinkLimits } from './link-flow.ts';
import { describeError, logLimited, RateLimiter, type SimLogger } from './log.ts';

/** What a {@link TcpEndpoint} needs. */
export interface TcpEndpointOptions {
  firmware: KeyFirmware;
  scheduler: KeyScheduler;
  timing: LongOperationTiming | undefined;
  limits: LinkLimits;
  log: SimLogger;
  /** Names the Key in log lines, e.g. `key 0`. */
  label: string;
  /** Power gate, frame metadata and link events for the simulator's event stream. */
  hooks?: LinkHooks;
}

/** Counters of one TCP connection (for tests and diagnostics). */
export interface TcpLinkStats {
  link: number;
  outputBytes: number;
  inputBytes: number;
  paused: boolean;
  pauses: number;
}

interface Conn {
  n: number;
  socket: Socket;
  link: DeviceLink;
  flow: LinkFlow;
}

/** A Key's TCP server. */
export class TcpEndpoint {
  readonly #o: TcpEndpointOptions;
  readonly #conns = new Set<Conn>();
  readonly #refuseLimiter = new RateLimiter();
  #server: Server | undefined;
  #next = 1;
  /** `tcp://host:port` once listening. */
  address: string | undefined;

  /** @param options - the Key, its scheduler, bounds and log */
  constructor(options: TcpEndpointOptions) {
    this.#o = options;
  }

  /**
   * Starts listening.
   * @throws Error (e.g. `EADDRINUSE`) if the port cannot be bound
   */
  async listen(host: string, port: number): Promise<void> {
    const server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
    server.on('error', (e) => this.#o.log.error(`${this.#o.label}: tcp server error: ${describeError(e)}`));
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(port, host, () => {
        server.off('error', rej);
        res();
      });
    });
    this.#server = server;
    const addr = server.address();
    if (addr && typeof addr === 'object') this.address = `tcp://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
    this.#o.log.info(`${this.#o.label}: tcp ready (at most ${this.#o.limits.maxTcpLinksPerKey} connections)`);
  }

  /** Per-connection counters. */
  stats(): TcpLinkStats[] {
    return [...this.#conns].map((c) => ({
      link: c.n,
      outputBytes: c.socket.writableLength,
      inputBytes: c.link.queuedBytes,
      paused: c.flow.paused,
      pauses: c.flow.stats.pauses,
    }));
  }

  /** Closes every connection and the server. */
  /** Open connections. */
  get connections(): number {
    return this.#conns.size;
  }

  /** Drops every connection (the Key lost power). */
  dropAll(): void {
    for (const c of this.#conns) c.socket.destroy();
  }

  async close(): Promise<void> {
    for (const c of this.#conns) c.socket.destroy();
    const s = this.#server;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  #accept(socket: Socket): void {
    const { firmware, scheduler, timing, limits, log, label } = this.#o;
    socket.on('error', () => {}); // reported by 'close'
    const hooks = this.#o.hooks;
    if (hooks?.powered && !hooks.powered()) {
      socket.destroy(); // a Key without power accepts no link
      return;
    }
    if (this.#conns.size >= limits.maxTcpLinksPerKey) {
      logLimited(
        log,
        'warn',
        this.#refuseLimiter,
        `${label}: refused a tcp connection: ${this.#conns.size} already open (bound ${limits.maxTcpLinksPerKey} per Key)`,
      );
      socket.destroy();
      return;
    }
    const n = this.#next++;
    const name = `${label} tcp#${n}`;
    let closeReason = 'closed by the host';
    let conn: Conn;
    const flow = new LinkFlow(
      {
        outputBytes: () => socket.writableLength,
        inputBytes: () => conn?.link.queuedBytes ?? 0,
        pause: () => socket.pause(),
        resume: () => socket.resume(),
        overflow: (reason) => {
          closeReason = `dropped: ${reason}`;
          socket.destroy();
        },
      },
      limits,
      log,
      name,
    );
    const link = new DeviceLink(
      firmware,
      (b) => {
        if (socket.destroyed) return;
        socket.write(b);
        if (socket.writableLength > limits.outputHigh) flow.update();
      },
      'tcp',
      timing,
      {
        scheduler,
        canSend: () => !socket.destroyed && flow.canSend(),
        maxQueuedBytes: limits.inputHard,
        onProgress: () => void flow.update(),
        log,
        label: name,
        ...linkHookOptions(hooks, `tcp#${n}`),
      },
    );
    conn = { n, socket, link, flow };
    hooks?.onLink?.(`tcp#${n}`, 'open');
    this.#conns.add(conn);
    log.info(`${label}: tcp link #${n} opened (${this.#conns.size} of ${limits.maxTcpLinksPerKey})`);
    socket.on('data', (chunk: Buffer) => {
      try {
        link.receive(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      } catch (e) {
        closeReason = `dropped: a failure was contained (${describeError(e)})`;
        log.error(`${name}: ${closeReason}`);
        socket.destroy();
      }
    });
    socket.on('drain', () => {
      if (flow.update()) link.resume();
    });
    socket.on('close', (hadError) => {
      link.close();
      this.#conns.delete(conn);
      hooks?.onLink?.(`tcp#${n}`, 'closed');
      log.info(
        `${label}: tcp link #${n} ${hadError && closeReason === 'closed by the host' ? 'closed on a socket error' : closeReason}`,
      );
    });
  }
}
