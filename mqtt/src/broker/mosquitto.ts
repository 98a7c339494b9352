/**
 * A mosquitto launcher: writes `mosquitto.conf` and the ACL file into a folder, starts
 * mosquitto on 127.0.0.1 with mutual TLS (`require_certificate`, `use_identity_as_username`: the
 * client certificate's CN is the username the ACL sees), waits until it accepts TLS connections,
 * and stops it by pid (SIGTERM, then SIGKILL). For tests and a local production-like broker;
 * the same settings are in `examples/mosquitto/mosquitto.conf`.
 *
 * `max_queued_messages` defaults to 100,000: mosquitto's own default (1,000) silently drops the
 * QoS 1 messages queued for an offline persistent session beyond that. mosquitto writes nothing
 * to disk (persistence off) and logs to `mosquitto.log` in the folder. Debian installs the binary
 * as `/usr/sbin/mosquitto`, often not on a non-root user's PATH: both are looked up.
 *
 * How mosquitto 2.0's `acl_file` enforces the ACL (what the tests prove): a PUBLISH without
 * `write` access is dropped — an MQTT 5 client gets PUBACK reason 0x87 (not authorized), a 3.1.1
 * client a plain PUBACK; a SUBSCRIBE is granted whatever its filter (even `#`), and `read` access
 * is checked for each message at delivery, so a forbidden subscription receives nothing. The
 * embedded broker refuses such a SUBSCRIBE outright (0x80): clients must not rely on either.
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { BrokerError } from './errors.ts';

/** Default `max_queued_messages` of {@link startMosquitto}. */
export const MOSQUITTO_MAX_QUEUED = 100_000;

/** How to install mosquitto (in {@link BrokerError} `BROKER_MISSING` messages). */
export const MOSQUITTO_INSTALL_HINT =
  'install it with `sudo apt-get install mosquitto` (Debian/Ubuntu; the binary is /usr/sbin/mosquitto) or run `npm run setup`; ' +
  'the tests start their own broker, so a system mosquitto service is not needed (`sudo systemctl disable --now mosquitto`)';

/** Where mosquitto is looked for besides `PATH`. */
export const MOSQUITTO_PATHS: readonly string[] = [
  '/usr/sbin/mosquitto',
  '/usr/local/sbin/mosquitto',
  '/opt/homebrew/sbin/mosquitto',
];

/** TLS settings of {@link startMosquitto} (PEM files). */
export interface MosquittoTlsOptions {
  /** CA certificates that client certificates must chain to (root and intermediate). */
  caFile: string;
  /** The broker's certificate (then its intermediate). */
  certFile: string;
  /** The broker's private key. */
  keyFile: string;
  /** Refuse clients without a valid certificate (default true). */
  requireCertificate?: boolean;
}

/** Options of {@link startMosquitto}. */
export interface MosquittoOptions {
  /** Folder for mosquitto.conf, the ACL file and the log (created if missing). */
  dir: string;
  /** TCP port on 127.0.0.1 (default 0: a free port). */
  port?: number;
  tls: MosquittoTlsOptions;
  /** The ACL file's text, e.g. from `mosquittoAcl()` of `@enigm/protocols/mqtt`. */
  aclText: string;
  /** `max_queued_messages` per client (default {@link MOSQUITTO_MAX_QUEUED}). */
  maxQueuedMessages?: number;
  /** Log every packet (`log_type all`), for debugging. */
  protocolLog?: boolean;
  /** The mosquitto binary (default: {@link findMosquitto}). */
  binary?: string;
  /** How long to wait for TLS connections to be accepted (default 10 s). */
  startTimeoutMs?: number;
}

/** A running mosquitto. */
export interface Mosquitto {
  /** `mqtts://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** The config file written. */
  readonly configFile: string;
  /** The log file's text so far. */
  logText(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves when the process has exited. Idempotent. */
  stop(): Promise<void>;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The mosquitto binary: `$MOSQUITTO`, then `PATH`, then {@link MOSQUITTO_PATHS}; `undefined` if none. */
export function findMosquitto(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env.MOSQUITTO;
  if (explicit) return executable(explicit) ? explicit : undefined;
  const dirs = (env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const p of [...dirs.map((d) => join(d, 'mosquitto')), ...MOSQUITTO_PATHS]) if (executable(p)) return p;
  return undefined;
}

/** Whether the mosquitto tests run: `run`, `skip` (missing, outside CI) or `fail` (missing under `CI=true`). */
export interface MosquittoAvailability {
  readonly mode: 'run' | 'skip' | 'fail';
  /** The binary, when found. */
  readonly binary?: string;
  /** Why not, with the install hint (when not `run`). */
  readonly reason?: string;
}

let warned = false;

/**
 * Like the swtpm fixture's mode: `run` when mosquitto is installed; without it `fail` under
 * `CI=true` (a missing component is an error there) and `skip` elsewhere (printing why once).
 */
export function mosquittoAvailability(env: NodeJS.ProcessEnv = process.env): MosquittoAvailability {
  const binary = findMosquitto(env);
  if (binary) return { mode: 'run', binary };
  const reason = `mosquitto is not installed: ${MOSQUITTO_INSTALL_HINT}`;
  if (env.CI === 'true') return { mode: 'fail', reason };
  if (!warned && env === process.env) console.warn(`${reason} (skipping the mosquitto tests; CI=true makes this an error)`);
  if (env === process.env) warned = true;
  return { mode: 'skip', reason };
}

/** A free TCP port on 127.0.0.1 (bind to 0, read it, close). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolvePort(port));
    });
  });
}

/** The mosquitto.conf text for a listener on 127.0.0.1:`port` with files in `dir`. */
export function mosquittoConfig(o: {
  dir: string;
  port: number;
  tls: MosquittoTlsOptions;
  aclFile: string;
  maxQueuedMessages: number;
  protocolLog?: boolean;
  user?: string;
}): string {
  const path = (p: string) => {
    const abs = isAbsolute(p) ? p : resolve(p);
    if (/[\r\n]/.test(abs)) throw new BrokerError('BROKER_CONFIG_INVALID', 'a file path holds a line break');
    return abs;
  };
  const lines = [
    '# Written by startMosquitto (@enigm/mqtt/broker).',
    'per_listener_settings false',
    'allow_anonymous false',
    'persistence false',
    `max_queued_messages ${o.maxQueuedMessages}`,
    'max_queued_bytes 0',
    'set_tcp_nodelay true',
    `acl_file ${path(o.aclFile)}`,
    `log_dest file ${path(join(o.dir, 'mosquitto.log'))}`,
    ...(o.protocolLog ? ['log_type all'] : ['log_type error', 'log_type warning', 'log_type notice', 'log_type information']),
    'connection_messages true',
    'log_timestamp_format %Y-%m-%dT%H:%M:%S',
    // As root, mosquitto would drop to user "mosquitto", which cannot read the key or write the log here.
    ...(o.user ? [`user ${o.user}`] : []),
    '',
    `listener ${o.port} 127.0.0.1`,
    `cafile ${path(o.tls.caFile)}`,
    `certfile ${path(o.tls.certFile)}`,
    `keyfile ${path(o.tls.keyFile)}`,
    `require_certificate ${o.tls.requireCertificate === false ? 'false' : 'true'}`,
    'use_identity_as_username true',
    'tls_version tlsv1.2',
    '',
  ];
  return lines.join('\n');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether something speaks TLS on the port: a completed handshake, or a TLS alert (e.g. "certificate required"). */
function tlsAnswers(port: number, ca: string, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      done(ok);
    };
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', rejectUnauthorized: false });
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('secureConnect', () => finish(true));
    socket.once('error', (e: NodeJS.ErrnoException) => finish(/alert|SSL|certificate/i.test(`${e.code} ${e.message}`)));
  });
}

function tail(text: string, lines = 30): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Starts mosquitto with mutual TLS and an ACL file, and waits until it accepts TLS connections.
 * @throws {@link BrokerError} `BROKER_MISSING` (with the install hint), `BROKER_CONFIG_INVALID`,
 *   `BROKER_START_FAILED` (with the log tail), `BROKER_TIMEOUT`
 * @example
 * const m = await startMosquitto({ dir, tls: { caFile, certFile, keyFile }, aclText: mosquittoAcl({ hosts: ['host-1'] }) });
 * try { ... mqtt.connect(m.url, { ca, cert, key }) ... } finally { await m.stop(); }
 */
export async function startMosquitto(options: MosquittoOptions): Promise<Mosquitto> {
  const binary = options.binary ?? findMosquitto();
  if (!binary) throw new BrokerError('BROKER_MISSING', `mosquitto is not installed: ${MOSQUITTO_INSTALL_HINT}`);
  const maxQueuedMessages = options.maxQueuedMessages ?? MOSQUITTO_MAX_QUEUED;
  if (!Number.isInteger(maxQueuedMessages) || maxQueuedMessages < 1)
    throw new BrokerError('BROKER_CONFIG_INVALID', 'maxQueuedMessages must be a positive integer');
  const wanted = options.port ?? 0;
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65535)
    throw new BrokerError('BROKER_CONFIG_INVALID', 'port must be an integer in [0, 65535]');
  if (typeof options.aclText !== 'string') throw new BrokerError('BROKER_CONFIG_INVALID', 'aclText must be a string');
  for (const f of [options.tls.caFile, options.tls.certFile, options.tls.keyFile])
    if (!existsSync(f)) throw new BrokerError('BROKER_CONFIG_INVALID', `TLS file ${f} does not exist`);
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true });
  const aclFile = join(dir, 'acl');
  writeFileSync(aclFile, options.aclText, { mode: 0o600 });
  const ca = readFileSync(options.tls.caFile, 'utf8');
  // A free port can be taken between the probe and mosquitto's bind: try a few when choosing.
  for (let attempt = 1; ; attempt++) {
    const port = wanted === 0 ? await freeLoopbackPort() : wanted;
    try {
      return await launch(binary, dir, port, aclFile, ca, maxQueuedMessages, options);
    } catch (e) {
      const inUse = e instanceof BrokerError && /address already in use/i.test(e.message);
      if (!(wanted === 0 && inUse && attempt < 3)) throw e;
    }
  }
}

async function launch(
  binary: string,
  dir: string,
  port: number,
  aclFile: string,
  ca: string,
  maxQueuedMessages: number,
  options: MosquittoOptions,
): Promise<Mosquitto> {
  const configFile = join(dir, 'mosquitto.conf');
  const logFile = join(dir, 'mosquitto.log');
  writeFileSync(logFile, '');
  writeFileSync(
    configFile,
    mosquittoConfig({
      dir,
      port,
      tls: options.tls,
      aclFile,
      maxQueuedMessages,
      protocolLog: options.protocolLog === true,
      ...(process.getuid?.() === 0 ? { user: userInfo().username } : {}),
    }),
  );
  return spawnMosquitto({
    binary,
    configFile,
    port,
    ca,
    logFile,
    ...(options.startTimeoutMs ? { startTimeoutMs: options.startTimeoutMs } : {}),
  });
}

/** Options of {@link spawnMosquitto}. */
export interface SpawnMosquittoOptions {
  /** A mosquitto.conf of your own (e.g. `examples/mosquitto/mosquitto.conf` adapted). */
  configFile: string;
  /** The TLS port it listens on, on 127.0.0.1, polled until it answers TLS. */
  port: number;
  /** PEM CA certificates the readiness probe trusts (it does not check the server's identity). */
  ca: string;
  /** The file the config logs to, for `logText()` and error messages (else stdout and stderr only). */
  logFile?: string;
  binary?: string;
  startTimeoutMs?: number;
}

/**
 * Runs mosquitto with a given config file and waits until 127.0.0.1:`port` answers TLS. What
 * {@link startMosquitto} does after writing its config; for running a config file of your own.
 * @throws {@link BrokerError} `BROKER_MISSING`, `BROKER_START_FAILED` (with the log tail), `BROKER_TIMEOUT`
 */
export async function spawnMosquitto(options: SpawnMosquittoOptions): Promise<Mosquitto> {
  const binary = options.binary ?? findMosquitto();
  if (!binary) throw new BrokerError('BROKER_MISSING', `mosquitto is not installed: ${MOSQUITTO_INSTALL_HINT}`);
  const { configFile, port, ca, logFile } = options;
  const child: ChildProcess = spawn(binary, ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (d: Buffer) => {
    if (output.length < 64_000) output += d.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const spawnError = new Promise<Error>((r) => child.once('error', r));
  const exited = new Promise<void>((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r();
    else child.once('exit', () => r());
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  const logText = () => {
    if (logFile === undefined) return output;
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (child.pid === undefined || !running()) return;
      child.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
      if (killed) return;
      child.kill('SIGKILL');
      const gone = await Promise.race([exited.then(() => true), sleep(2000).then(() => false)]);
      if (!gone) throw new BrokerError('BROKER_TIMEOUT', `mosquitto (pid ${child.pid}) did not exit after SIGKILL`);
    })();
    return stopping;
  };
  if (child.pid === undefined) {
    const e = await spawnError;
    throw new BrokerError('BROKER_START_FAILED', `mosquitto (${binary}) did not start: ${e.message}`, { cause: e });
  }
  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  for (;;) {
    if (!running()) {
      const why = tail(logFile === undefined ? output : `${output}\n${logText()}`);
      throw new BrokerError('BROKER_START_FAILED', `mosquitto exited (code ${child.exitCode ?? child.signalCode}):\n${why}`);
    }
    if (await tlsAnswers(port, ca, 1000)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new BrokerError('BROKER_TIMEOUT', `mosquitto did not accept TLS on 127.0.0.1:${port} in time:\n${tail(logText())}`);
    }
    await sleep(50);
  }
  return { url: `mqtts://127.0.0.1:${port}`, port, pid: child.pid, configFile, logText, stop };
}
