/**
 * A fleet of simulated Keys in one process against mosquitto with mutual TLS (`npm run bench --
 * fleet-tls`, or `npx tsx bench/fleet-mosquitto.ts [N]`, default 1,000): the MQTT issue's "connected
 * simulated Keys per simulator process" with the production-like broker, where the `fleet` group
 * uses the embedded one.
 *
 * Each run is a fresh child process (`node --import=tsx bench/fleet-mosquitto.ts --child
 * '{"keys":N,"dir":…}'`, so the RSS is the simulator's process): it creates a fresh CA
 * (`createCa`) and the broker's server identity, starts mosquitto (`startMosquitto`, the ACL of
 * `mosquittoAcl({ hosts: [], backends: ['bench-backend'] })`, default `max_queued_messages`), then
 * `Simulator.start({ keys: N, serial: false, tcp: false, stateDir, mqtt: { broker, tls: { ca },
 * tlsFor } })` where `tlsFor` issues each Key a P-256 client certificate whose CN is its handle
 * (once per handle, cached), in the same process. It polls `linkStats()[i].mqtt.connected` every
 * 10 ms for at most 90 s after the start began. Figures: start time, time until every Key is
 * connected (or how many are within 90 s), the child's RSS before `Simulator.start` (modules
 * loaded, CA made, mosquitto started) and once connected (includes the certificates issued in
 * this process), the summed durations of the `tlsFor` calls that issued (they overlap: the sum can
 * exceed wall time; one certificate issued alone after the run, mean of 50, gives the cost), mosquitto's RSS (`VmRSS` of `/proc/<pid>/status`) and `stop()`.
 * Baseline: the same with 10 Keys in the same run, scaled to N.
 *
 * **Provisioned fleet** (`FLEET_TLS_MODE=provisioned`, or `npx tsx bench/fleet-mosquitto.ts N
 * provisioned`): as in production, the Keys exist and hold their client certificates before the
 * measured start. A first child creates the Keys (`Simulator.start` on the embedded broker, which
 * names each Key's handle), the CA, the broker identity and one client certificate per handle,
 * writes them to the run's folder and exits; a second child starts mosquitto with them and times
 * `Simulator.start` of the same state folder (a restart: no Key is created) with `tlsFor`
 * answering from the files. Its RSS holds no PKI work. The default mode (`fresh`) keeps creating
 * Keys and issuing certificates inside the timed start.
 *
 * `FLEET_PROGRESS=1` prints the count connected every 2 s; `FLEET_TLS_NODE_ARGS` adds node flags
 * to the children (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 *
 * The parent makes and removes the temporary folder, and kills mosquitto by the pid the child
 * announces if the child has to be killed (a run is bounded to 4 minutes).
 * @module
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttTls } from '@enigm/mqtt';
import type { Mosquitto } from '@enigm/mqtt/broker';
import { benchPki } from './broker-pki.ts';
import { type BenchResult, result } from './harness.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));
const MiB = 2 ** 20;
/** How long a run waits for every Key to connect after the start began, ms. */
const WAIT_MS = 90_000;
/** How long a child run may take in all before it is killed, ms. */
const CHILD_MS = 240_000;
/** How long the child waits for `sim.stop()` / `mosquitto.stop()` when cleaning up, ms. */
const STOP_MS = 30_000;

/** See the module documentation. */
type Mode = 'fresh' | 'provisioned';

/** What a provisioning child leaves in the run's folder for the measured child. */
interface Provisioned {
  caPem: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Each Key's client certificate chain and key (PEM) by handle. */
  clients: Record<string, { cert: string; key: string }>;
}

/** What one child run measured. */
interface Run {
  keys: number;
  /** `fresh`: Keys created and certificates issued in the timed start; `provisioned`: both made before. */
  mode: Mode;
  /** createCa and the broker's identity, ms. */
  pkiMs: number;
  /** startMosquitto until it accepted TLS, ms. */
  mosquittoStartMs: number;
  /** Simulator.start until it resolved, ms. */
  startMs: number;
  /** Keys whose uplink was connected at the end of the wait. */
  connected: number;
  /** Simulator.start until every Key's uplink reported connected, ms; undefined if not within {@link WAIT_MS}. */
  connectedMs?: number | undefined;
  /** Client certificates issued (tlsFor misses) and the sum of their durations, ms. */
  certsIssued: number;
  certMsSum: number;
  /** The first issue's start to the last one's end, ms. */
  certSpanMs: number;
  /** One client certificate (key pair and certificate) issued alone, after the run: mean of 50, ms. */
  certSequentialMs: number;
  /** Simulator.start until the first Key's uplink reported connected, ms. */
  firstConnectedMs?: number | undefined;
  /** Child RSS after modules load; before Simulator.start (CA made, mosquitto up); once connected, bytes. */
  rssStart: number;
  rssBefore: number;
  rssAfter: number;
  /** mosquitto's VmRSS once connected, bytes. */
  mosquittoRss: number;
  /** stop(), ms. */
  stopMs: number;
}

function vmRss(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A fresh CA in `dir` and the broker's identity files (server chain and key). */
async function brokerPki(dir: string) {
  const pki = await benchPki(dir);
  const server = await pki.identity('mqtt-broker', 'server');
  return { pki, caPem: pki.caPem, caFile: pki.caFile, certFile: server.certFile, keyFile: server.keyFile };
}

/**
 * In the provisioning child (not measured): creates the Keys in `dir/sim` (the embedded broker
 * names their handles), the broker's PKI and a client certificate per handle, in `dir/provisioned.json`.
 */
async function provision(opts: { keys: number; dir: string }): Promise<void> {
  const { Simulator } = await import('@enigm/sim');
  const pki = await brokerPki(opts.dir);
  const sim = await Simulator.start({ keys: opts.keys, serial: false, tcp: false, stateDir: join(opts.dir, 'sim'), mqtt: true });
  const handles = sim.keys().map((k) => /\/(eh1-[a-z2-7]+)$/.exec(k.mqtt ?? '')?.[1]);
  await bounded(sim.stop(), STOP_MS, 'sim.stop()');
  const clients: Provisioned['clients'] = {};
  for (const handle of handles) {
    if (handle === undefined) throw new Error('a Key has no MQTT handle');
    const { cert, key } = await pki.pki.clientTls(handle);
    clients[handle] = { cert: cert as string, key: key as string };
  }
  const out: Provisioned = { caPem: pki.caPem, caFile: pki.caFile, certFile: pki.certFile, keyFile: pki.keyFile, clients };
  writeFileSync(join(opts.dir, 'provisioned.json'), JSON.stringify(out), { mode: 0o600 });
}

/** In the child: one run in `dir` (made and removed by the parent). */
async function child(opts: { keys: number; dir: string; mode?: Mode }): Promise<Run> {
  const mode = opts.mode ?? 'fresh';
  const { Simulator } = await import('@enigm/sim');
  const { startMosquitto } = await import('@enigm/mqtt/broker');
  const { mosquittoAcl } = await import('@enigm/protocols/mqtt');
  const rssStart = process.memoryUsage().rss;
  let mosquitto: Mosquitto | undefined;
  let sim: Awaited<ReturnType<typeof Simulator.start>> | undefined;
  try {
    const p0 = performance.now();
    const given =
      mode === 'provisioned' ? (JSON.parse(readFileSync(join(opts.dir, 'provisioned.json'), 'utf8')) as Provisioned) : undefined;
    const made = given ?? (await brokerPki(opts.dir));
    const { caPem, caFile, certFile, keyFile } = made;
    // provisioned: a CA of its own only for the per-certificate figure
    const ca = 'pki' in made ? made.pki : await benchPki(join(opts.dir, 'alone'));
    const pkiMs = performance.now() - p0;

    const m0 = performance.now();
    mosquitto = await startMosquitto({
      dir: join(opts.dir, 'mosquitto'),
      tls: { caFile, certFile, keyFile },
      aclText: mosquittoAcl({ hosts: [], backends: ['bench-backend'] }),
    });
    const mosquittoStartMs = performance.now() - m0;
    // The parent kills mosquitto by this pid if it has to kill this process.
    process.stdout.write(`${JSON.stringify({ mosquittoPid: mosquitto.pid })}\n`);

    const issued = new Map<string, Promise<MqttTls>>();
    let certMsSum = 0;
    let firstIssue = Number.POSITIVE_INFINITY;
    let lastIssued = 0;
    const tlsFor = (handle: string): Promise<MqttTls> => {
      if (given) {
        const c = given.clients[handle];
        if (c === undefined) return Promise.reject(new Error(`no provisioned certificate for ${handle}`));
        return Promise.resolve({ ca: caPem, cert: c.cert, key: c.key });
      }
      let tls = issued.get(handle);
      if (tls === undefined) {
        tls = (async () => {
          const a = performance.now();
          firstIssue = Math.min(firstIssue, a);
          const client = await ca.clientTls(handle);
          const b = performance.now();
          certMsSum += b - a;
          lastIssued = Math.max(lastIssued, b);
          return client;
        })();
        issued.set(handle, tls);
      }
      return tls;
    };

    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    sim = await Simulator.start({
      keys: opts.keys,
      serial: false,
      tcp: false,
      stateDir: join(opts.dir, 'sim'),
      mqtt: { broker: mosquitto.url, tls: { ca: caPem }, tlsFor },
    });
    const startMs = performance.now() - t0;
    const deadline = t0 + WAIT_MS;
    let connected = 0;
    let last = 0;
    let firstConnectedMs: number | undefined;
    for (;;) {
      connected = sim.linkStats().filter((s) => s.mqtt?.connected === true).length;
      if (connected > 0) firstConnectedMs ??= performance.now() - t0;
      if (connected === opts.keys || performance.now() > deadline) break;
      if (process.env.FLEET_PROGRESS && performance.now() - last > 2000) {
        last = performance.now();
        process.stderr.write(`${Math.round(last - t0)} ms: ${connected} connected, ${issued.size} certificates\n`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const connectedMs = connected === opts.keys ? performance.now() - t0 : undefined;
    const rssAfter = process.memoryUsage().rss;
    const mosquittoRss = vmRss(mosquitto.pid);
    const t1 = performance.now();
    const s = sim;
    sim = undefined;
    await bounded(s.stop(), STOP_MS, 'sim.stop()');
    const stopMs = performance.now() - t1;
    // What one certificate costs when nothing else runs (the concurrent tlsFor calls overlap).
    const c0 = performance.now();
    for (let i = 0; i < 50; i++) await ca.clientTls(`seq-${i}`);
    const certSequentialMs = (performance.now() - c0) / 50;
    return {
      keys: opts.keys,
      mode,
      pkiMs,
      mosquittoStartMs,
      startMs,
      connected,
      connectedMs,
      certsIssued: issued.size,
      certMsSum,
      certSpanMs: issued.size ? lastIssued - firstIssue : 0,
      certSequentialMs,
      firstConnectedMs,
      rssStart,
      rssBefore,
      rssAfter,
      mosquittoRss,
      stopMs,
    };
  } finally {
    if (sim) await bounded(sim.stop(), STOP_MS, 'sim.stop()').catch(() => undefined);
    if (mosquitto) await bounded(mosquitto.stop(), STOP_MS, 'mosquitto.stop()').catch(() => undefined);
  }
}

/** Extra node flags for the child, e.g. `FLEET_TLS_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'`. */
function nodeArgs(): string[] {
  return (process.env.FLEET_TLS_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '');
}

/** In the parent: one run in a fresh child process and a fresh temporary folder. */
async function run(keys: number, mode: Mode): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-bench-fleet-tls-'));
  let mosquittoPid: number | undefined;
  try {
    if (mode === 'provisioned') await childProcess('--provision', { keys, dir }, () => undefined);
    return JSON.parse(
      await childProcess('--child', { keys, dir, mode }, (out) => {
        const m = /\{"mosquittoPid":(\d+)\}/.exec(out);
        if (m) mosquittoPid = Number(m[1]);
      }),
    ) as Run;
  } finally {
    // The child stops mosquitto itself; only if it was killed (or failed to) is it still there.
    if (mosquittoPid !== undefined) {
      try {
        if (/mosquitto/.test(readFileSync(`/proc/${mosquittoPid}/cmdline`, 'utf8'))) process.kill(mosquittoPid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs this file as a child (`flag` `--child` or `--provision`); resolves with its last stdout line. */
function childProcess(flag: string, opts: object, onOutput: (out: string) => void): Promise<string> {
  const keys = (opts as { keys: number }).keys;
  return new Promise<string>((resolve, reject) => {
    const p = spawn(
      process.execPath,
      [...nodeArgs(), '--import=tsx', fileURLToPath(import.meta.url), flag, JSON.stringify(opts)],
      { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const timer = setTimeout(() => {
      process.stderr.write(`fleet-tls: the ${keys}-Key child took more than ${CHILD_MS} ms; killing it\n`);
      p.kill('SIGKILL');
    }, CHILD_MS);
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      onOutput(out);
    });
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.once('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || (flag === '--child' && !line.startsWith('{"keys"')))
        reject(new Error(`fleet-tls ${flag} (${keys} Keys) exited ${code ?? signal}: ${out}`));
      else resolve(line);
    });
  });
}

/** Runs the fleet-tls benchmark: 10 Keys (the baseline), then `n` Keys, each in a child process. */
export async function benchFleetTls(
  n = 1000,
  mode: Mode = process.env.FLEET_TLS_MODE === 'provisioned' ? 'provisioned' : 'fresh',
): Promise<BenchResult[]> {
  const small = await run(10, mode);
  const big = await run(n, mode);
  const scale = n / small.keys;
  const name = `fleet-tls.mosquitto-mtls${mode === 'provisioned' ? '.provisioned' : ''}`;
  return [
    result(`${name}.connected-keys-${n}`, big.connected, 'keys', small.connected * scale),
    ...(big.connectedMs !== undefined && small.connectedMs !== undefined
      ? [result(`${name}.connected-${n}`, big.connectedMs, 'ms', small.connectedMs * scale, 10_000)]
      : []),
    ...(big.firstConnectedMs !== undefined && small.firstConnectedMs !== undefined
      ? [result(`${name}.first-connected-${n}`, big.firstConnectedMs, 'ms', small.firstConnectedMs)]
      : []),
    result(`${name}.start-${n}`, big.startMs, 'ms', small.startMs * scale),
    result(`${name}.rss-before-start`, big.rssBefore / MiB, 'MiB', small.rssBefore / MiB),
    result(
      `${name}.rss-${n}`,
      big.rssAfter / MiB,
      'MiB',
      small.rssBefore / MiB + ((small.rssAfter - small.rssBefore) / MiB) * scale,
      300e6 / MiB,
    ),
    result(
      `${name}.rss-per-key`,
      (big.rssAfter - big.rssBefore) / big.keys / 1024,
      'KiB',
      (small.rssAfter - small.rssBefore) / small.keys / 1024,
    ),
    result(`${name}.cert-issue-sum-${n}`, big.certMsSum, 'ms', small.certMsSum * scale),
    result(`${name}.cert-issue-span-${n}`, big.certSpanMs, 'ms', small.certSpanMs * scale),
    result(`${name}.cert-issue-alone`, big.certSequentialMs, 'ms', small.certSequentialMs),
    result(`${name}.certs-issued-${n}`, big.certsIssued, 'certs', small.certsIssued * scale),
    result(`${name}.mosquitto-rss-${n}`, big.mosquittoRss / MiB, 'MiB', small.mosquittoRss / MiB),
    result(`${name}.stop-${n}`, big.stopMs, 'ms', small.stopMs * scale),
    result(`${name}.ca-and-server-identity`, big.pkiMs, 'ms', small.pkiMs),
    result(`${name}.mosquitto-start`, big.mosquittoStartMs, 'ms', small.mosquittoStartMs),
  ];
}

const childAt = process.argv.indexOf('--child');
const provisionAt = process.argv.indexOf('--provision');
if (provisionAt >= 0) {
  let code = 0;
  try {
    await provision(JSON.parse(process.argv[provisionAt + 1] as string) as { keys: number; dir: string });
  } catch (e) {
    process.stderr.write(`fleet-tls provisioning child: ${(e as Error).stack ?? String(e)}\n`);
    code = 1;
  }
  process.exit(code);
} else if (childAt >= 0) {
  let code = 0;
  try {
    const r = await child(JSON.parse(process.argv[childAt + 1] as string) as { keys: number; dir: string; mode?: Mode });
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } catch (e) {
    process.stderr.write(`fleet-tls child: ${(e as Error).stack ?? String(e)}\n`);
    code = 1;
  }
  process.exit(code);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const n = Number(process.argv[2] ?? 1000);
  const mode = process.argv[3] === 'provisioned' ? 'provisioned' : undefined;
  for (const r of await benchFleetTls(n, mode)) process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}
