/**
 * The control API server: HTTP (`node:http`) + WebSocket (`ws`) over a {@link ControlTarget}.
 * REST for the physical controls and the clock, `/api/events` for the live event stream, the
 * OpenAPI document at `/api/openapi.json` and the dashboard at `/`. Listens on 127.0.0.1 unless
 * `host` says otherwise; a random bearer token guards every request (401 without it); request
 * bodies are bounded; bad input is a typed JSON error and changes nothing.
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ControlTarget } from '../firmware/physical/types.ts';
import { type SimLogger, silentLogger } from '../runtime/log.ts';
import { removeControlFile, writeControlFile } from './control-file.ts';
import { dashboardPage } from './dashboard-assets.ts';
import { ControlError, errorAnswer } from './errors.ts';
import { DEFAULT_EVENT_HUB_LIMITS, EventHub, type EventHubLimits, type EventHubStats } from './event-hub.ts';
import { OPENAPI } from './openapi.ts';
import { ROUTES, type Route } from './routes.ts';

/** Options of {@link ControlServer.start}. */
export interface ControlServerOptions {
  /** Listen address (default `127.0.0.1`: loopback only). */
  readonly host?: string;
  /** TCP port (default 0: any free port). */
  readonly port?: number;
  /** Bearer token (default: 32 random bytes, base64url). */
  readonly token?: string;
  /** Write `control.json` (URL and token) into this state folder, and remove it on close. */
  readonly stateDir?: string;
  /** Largest request body accepted, bytes (default 1 MiB: a GNSS track of 10,000 fixes fits). */
  readonly maxBodyBytes?: number;
  /** Most WebSocket clients at once (default 64). */
  readonly maxClients?: number;
  /** Unsent bytes after which a WebSocket client is dropped (default 1 MiB). */
  readonly maxClientBacklogBytes?: number;
  /** Most open TCP connections (HTTP and WebSocket together; default 256): more are closed at once. */
  readonly maxConnections?: number;
  /** Serve the dashboard at `/` (default true). */
  readonly dashboard?: boolean;
  /** Operational log: listening, clients dropped, refused requests (never tokens or bodies). */
  readonly log?: SimLogger;
}

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** A running control server. */
export class ControlServer {
  readonly #server: Server;
  #target: ControlTarget | undefined;
  #hub: EventHub | undefined;
  readonly #hubLimits: EventHubLimits;
  readonly #tokenDigest: Buffer;
  readonly #maxBody: number;
  readonly #dashboard: boolean;
  readonly #log: SimLogger;
  #stateDir: string | undefined;
  #host = '127.0.0.1';
  /** The bearer token. */
  readonly token: string;
  #url = '';
  #closed = false;

  private constructor(options: ControlServerOptions) {
    this.token = options.token ?? randomBytes(32).toString('base64url');
    this.#tokenDigest = digest(this.token);
    this.#maxBody = options.maxBodyBytes ?? 1024 * 1024;
    this.#dashboard = options.dashboard ?? true;
    this.#log = options.log ?? silentLogger;
    this.#stateDir = options.stateDir;
    this.#hubLimits = {
      maxClients: options.maxClients ?? DEFAULT_EVENT_HUB_LIMITS.maxClients,
      maxBacklogBytes: options.maxClientBacklogBytes ?? DEFAULT_EVENT_HUB_LIMITS.maxBacklogBytes,
    };
    this.#server = createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => void this.#handle(req, res));
    this.#server.maxConnections = options.maxConnections ?? 256;
    this.#server.headersTimeout = 10_000;
    this.#server.requestTimeout = 30_000;
    this.#server.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
    this.#server.on('clientError', (_e, socket) => socket.destroy());
  }

  /**
   * Starts serving `target`: {@link ControlServer.listen} and {@link ControlServer.attach} in one.
   * @param target - the simulator (or anything implementing {@link ControlTarget})
   * @param options - listen address, token, bounds
   * @returns the listening server
   * @throws {@link ControlError} `CONTROL_PORT_IN_USE` if the port is taken (nothing is left
   *   listening or written); the listener's error for anything else
   */
  static async start(target: ControlTarget, options: ControlServerOptions = {}): Promise<ControlServer> {
    const s = await ControlServer.listen(options);
    s.attach(target, options.stateDir);
    return s;
  }

  /**
   * Holds the port before there is anything to serve, so a taken port is found before a simulator
   * starts (and touches its state folder). Until {@link ControlServer.attach}, every request is
   * `503 CONTROL_BUSY` and nothing is written.
   * @param options - listen address, token, bounds (`stateDir` is used by {@link ControlServer.attach})
   * @returns the listening server, without a target
   * @throws {@link ControlError} `CONTROL_PORT_IN_USE` if the port is taken (nothing is left
   *   listening); the listener's error for anything else
   * @example const server = await ControlServer.listen({ port: 8080 }); const sim = await Simulator.start(); server.attach(sim, sim.stateDir);
   */
  static async listen(options: ControlServerOptions = {}): Promise<ControlServer> {
    const s = new ControlServer(options);
    const host = options.host ?? '127.0.0.1';
    try {
      await new Promise<void>((resolve, reject) => {
        s.#server.once('error', reject);
        s.#server.listen(options.port ?? 0, host, () => {
          s.#server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      s.#closed = true;
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE')
        throw new ControlError(
          'CONTROL_PORT_IN_USE',
          `the control port ${host}:${options.port} is taken (another simulator?): choose another, or 0 for any free port`,
          { cause: e },
        );
      throw e;
    }
    s.#host = host;
    const port = (s.#server.address() as AddressInfo).port;
    s.#url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    return s;
  }

  /**
   * Starts serving `target` on the held port, and writes `control.json` (URL and token) into
   * `stateDir` (removed on close).
   * @param target - the simulator (or anything implementing {@link ControlTarget})
   * @param stateDir - state folder for `control.json` (default: the `stateDir` option, if any)
   * @throws Error if a target is attached already or the server is closed
   */
  attach(target: ControlTarget, stateDir: string | undefined = this.#stateDir): void {
    if (this.#closed || this.#target) throw new Error('ControlServer.attach: closed, or a target is attached already');
    this.#target = target;
    this.#hub = new EventHub(target, this.#hubLimits, this.#log);
    this.#stateDir = stateDir;
    if (stateDir)
      writeControlFile(stateDir, {
        pid: process.pid,
        url: this.#url,
        host: this.#host,
        port: this.port,
        token: this.token,
        dashboard: this.dashboardUrl,
      });
    this.#log.info(`control: API and dashboard on ${this.#url} (token in ${stateDir ? 'control.json' : 'memory'})`);
  }

  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  get url(): string {
    return this.#url;
  }

  /** The port listened on. */
  get port(): number {
    return (this.#server.address() as AddressInfo | null)?.port ?? 0;
  }

  /** The dashboard's URL with the token (`/?token=…`). */
  get dashboardUrl(): string {
    return `${this.#url}/?token=${encodeURIComponent(this.token)}`;
  }

  /** Event stream counters. */
  stats(): EventHubStats {
    return this.#hub?.stats() ?? { clients: 0, events: 0, dropped: 0 };
  }

  /** Stops listening, drops every client and removes `control.json`. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#hub?.close();
    if (this.#stateDir && this.#target) removeControlFile(this.#stateDir);
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /**
   * Whether the request carries the token: in `Authorization: Bearer T`, or — only for the page
   * and the WebSocket, which a browser opens without headers — as `?token=T`.
   */
  #authorised(req: IncomingMessage, url: URL): boolean {
    const header = req.headers.authorization;
    const queryAllowed = url.pathname === '/' || url.pathname === '/index.html' || url.pathname === '/api/events';
    const given = header?.startsWith('Bearer ') ? header.slice(7).trim() : queryAllowed ? url.searchParams.get('token') : null;
    return given !== null && given !== undefined && timingSafeEqual(digest(given), this.#tokenDigest);
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://control');
    const refuse = (status: number, e: ControlError) => {
      const body = JSON.stringify(errorAnswer(e).body);
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 404 ? 'Not Found' : 'Service Unavailable'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    };
    if (!this.#authorised(req, url)) refuse(401, new ControlError('CONTROL_UNAUTHORIZED', 'a bearer token is required'));
    else if (url.pathname !== '/api/events')
      refuse(404, new ControlError('CONTROL_NOT_FOUND', `no WebSocket at ${url.pathname.slice(0, 80)}`));
    else if (!this.#hub) refuse(503, starting());
    else if (this.#hub.full) {
      this.#log.warn('control: an event stream client was refused: too many clients');
      refuse(503, new ControlError('CONTROL_BUSY', 'too many event stream clients'));
    } else this.#hub.accept(req, socket, head);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://control');
      if (!this.#authorised(req, url)) {
        res.setHeader('www-authenticate', 'Bearer');
        throw new ControlError(
          'CONTROL_UNAUTHORIZED',
          'a bearer token is required (Authorization: Bearer T; ?token=T for the page and the event stream)',
        );
      }
      if (url.pathname === '/' || url.pathname === '/index.html') return await this.#page(req, res);
      if (url.pathname === '/api/openapi.json') {
        if (req.method !== 'GET') throw methodError(['GET']);
        return send(res, 200, OPENAPI);
      }
      const { route, params } = match(url.pathname, req.method ?? 'GET');
      const parsed = await readBody(req, this.#maxBody);
      const target = this.#target;
      if (!target) throw starting();
      const body = route.body ? parsed : undefined;
      const index = params.index === undefined ? undefined : this.#keyIndex(target, params.index);
      send(res, 200, route.run({ target, index: index ?? -1, body }));
    } catch (e) {
      const { status, body } = errorAnswer(e);
      if (status === 500) this.#log.error(`control: a request failed: ${(e as Error)?.name ?? 'error'}`);
      if (status === 413) res.setHeader('connection', 'close');
      if (!res.headersSent) send(res, status, body);
      else res.destroy();
    }
  }

  #keyIndex(target: ControlTarget, text: string): number {
    const n = Number(text);
    if (!/^\d{1,7}$/.test(text) || n >= target.keyCount)
      throw new ControlError(
        'SIM_NO_SUCH_KEY',
        `no Key ${JSON.stringify(text.slice(0, 20))}: this simulator has Keys 0..${target.keyCount - 1}`,
      );
    return n;
  }

  async #page(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#dashboard) throw new ControlError('CONTROL_NOT_FOUND', 'the dashboard is turned off');
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodError(['GET']);
    const page = await dashboardPage();
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': page.csp,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    });
    res.end(req.method === 'HEAD' ? undefined : page.html);
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** The answer while the port is held and the simulator is still starting. */
function starting(): ControlError {
  return new ControlError('CONTROL_BUSY', 'the simulator is still starting: try again in a moment');
}

function methodError(allowed: string[]): ControlError {
  return new ControlError('CONTROL_METHOD_NOT_ALLOWED', `this route accepts ${allowed.join(', ')}`);
}

function send(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Finds the route for `path` and `method`. */
function match(path: string, method: string): { route: Route; params: Record<string, string> } {
  let allowed: string[] = [];
  for (const route of ROUTES) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    if (route.method === method) return { route, params: m.groups ?? {} };
    allowed = [...allowed, route.method];
  }
  if (allowed.length > 0) throw methodError(allowed);
  throw new ControlError('CONTROL_NOT_FOUND', `no route ${method} ${path.slice(0, 80)}`);
}

/**
 * Reads a JSON request body of at most `max` bytes (an empty body is `undefined`).
 * @throws {@link ControlError} `CONTROL_BODY_TOO_LARGE`, `SIM_BAD_INPUT` (not JSON)
 */
async function readBody(req: IncomingMessage, max: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  const tooLarge = () => new ControlError('CONTROL_BODY_TOO_LARGE', `the request body is larger than ${max} bytes`);
  if (declared > max) {
    req.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) {
      req.resume();
      throw tooLarge();
    }
    chunks.push(c as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ControlError('SIM_BAD_INPUT', 'the request body is not valid JSON');
  }
}
