/**
 * One simulated Key on TCP: a server on loopback, one {@link DeviceLink} per connection, at most
 * `LinkLimits.maxTcpLinksPerKey` connections, each with bounded queues ({@link LinkFlow}).
 * Logs connections opened, refused and closed (link number and reason; never the peer's address
 * or anything it sent).
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net';
import { DeviceLink, type KeyEndpointOptions, linkHookOptions } from './device-link.ts';
import { SimulatorError } from './errors.ts';
import { LinkFlow } from './link-flow.ts';
import { describeError, logLimited, RateLimiter } from './log.ts';

/** What a {@link TcpEndpoint} needs: what every face of a Key needs. */
export type TcpEndpointOptions = KeyEndpointOptions;

/**
 * Binds a Key's TCP port before the Key exists, so a taken port is found before anything else
 * starts. Until {@link TcpEndpoint.attach}, a connection is closed at once.
 * @param host - listen address
 * @param port - port (0: any free port)
 * @param label - names the Key in the error, e.g. `key 0`
 * @returns the listening server
 * @throws {@link SimulatorError} `SIM_PORT_IN_USE` if the port is taken; Error if it cannot be bound otherwise
 */
export async function bindTcpPort(host: string, port: number, label: string): Promise<Server> {
  const server = createServer({ noDelay: true }, (socket) => socket.destroy());
  try {
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(port, host, () => {
        server.off('error', rej);
        res();
      });
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new SimulatorError(
        'SIM_PORT_IN_USE',
        `the TCP port ${host}:${port} of ${label} is taken (another simulator, or another program?): choose another --tcp-port, or leave it out for free ports`,
        { cause: e },
      );
    throw e;
  }
  return server;
}

/**
 * Binds the TCP ports of `n` Keys (`base + i`, or free ports when `base` is 0), all or none.
 * @throws {@link SimulatorError} `SIM_PORT_IN_USE` if one is taken, `SIM_BAD_INPUT` if `base + n - 1`
 *   is above 65535 (nothing is left bound)
 */
export async function bindTcpPorts(host: string, base: number, n: number): Promise<Server[]> {
  if (!(Number.isInteger(base) && base >= 0 && (base === 0 || base + n - 1 <= 65535)))
    throw new SimulatorError('SIM_BAD_INPUT', `the TCP ports of ${n} Keys from ${base} do not fit below 65536`);
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await bindTcpPort(host, base === 0 ? 0 : base + i, `key ${i}`));
  } catch (e) {
    await closeTcpPorts(servers);
    throw e;
  }
  return servers;
}

/** Closes the servers of {@link bindTcpPorts} that are still listening (no Key took them). */
export async function closeTcpPorts(servers: readonly Server[]): Promise<void> {
  await Promise.all(servers.filter((s) => s.listening).map((s) => new Promise<void>((r) => s.close(() => r()))));
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
   * @throws {@link SimulatorError} `SIM_PORT_IN_USE` if the port is taken; Error if it cannot be bound otherwise
   */
  async listen(host: string, port: number): Promise<void> {
    this.attach(await bindTcpPort(host, port, this.#o.label), host);
  }

  /**
   * Serves connections on a server {@link bindTcpPort} bound (the port held before the Key started).
   * @param server - a listening server without a connection handler
   * @param host - the address it listens on (for {@link TcpEndpoint.address})
   */
  attach(server: Server, host: string): void {
    server.removeAllListeners('connection');
    server.removeAllListeners('error');
    server.on('connection', (socket) => this.#accept(socket));
    server.on('error', (e) => this.#o.log.error(`${this.#o.label}: tcp server error: ${describeError(e)}`));
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
