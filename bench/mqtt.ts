/**
 * The Key ↔ host link over MQTT (`npm run bench -- mqtt`).
 *
 * **Request round trips through a broker, secure session on.** One simulated Key (in a child
 * process, `mqtt-sim.ts`; serial off) is opened twice by the same host: by `mqtts://127.0.0.1:PORT/HANDLE`
 * through mosquitto with mutual TLS (the host's certificate CN `bench-host`, the Key's CN its
 * handle via `tlsFor`, the ACL of `mosquittoAcl({ hosts: ['bench-host'] })`) and by its
 * `tcp://` address — the **baseline**, measured in the same run, alternately in short rounds so
 * load from other processes hits both alike. The host pairs once over TCP (`pair('owner')`), then
 * opens a Noise IK session on each link. The request is `key.fwStatus()`: the facade's `fw.status`
 * sealed inside the session (`key.info()` is a public request and does not use the session).
 * Sequential: one in flight, with p50/p99 latency; pipelined: the Key's window in flight. A second
 * simulator on the embedded broker (aedes, plain MQTT 3.1.1, in the simulator's process, as
 * `enigm sim start` runs it) gives the third row, against its own Key's TCP link. Three processes
 * (host, Key, mosquitto) or two (host, Key and aedes). Without mosquitto its rows say so
 * (`unit: 'skipped'`, a `note`) and the embedded rows still run.
 *
 * **Reconnect storm** ({@link benchStorm}, `mqtt-storm.ts`): 1,000 `MqttLink` clients, broker
 * stopped and restarted; full jitter against a fixed reconnect period; histograms in the JSON and a
 * PNG plot in docs/img/mqtt-reconnect-storm.png.
 *
 * The outbox's throughput is the `outbox` group's.
 *
 * Run directly: `npx tsx bench/mqtt.ts` (both parts) or `npx tsx bench/mqtt-storm.ts` (the storm).
 * @module
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Key, loadOrCreateHostKey, openKey } from '@enigm/key-firmware-host';
import type { MqttTls } from '@enigm/mqtt';
import { findMosquitto, MOSQUITTO_INSTALL_HINT, type Mosquitto, startMosquitto } from '@enigm/mqtt/broker';
import { mosquittoAcl } from '@enigm/protocols/mqtt';
import { benchPki } from './broker-pki.ts';
import { type BenchResult, result } from './harness.ts';
import type { SimCommand, SimReply } from './mqtt-sim.ts';
import { benchStorm } from './mqtt-storm.ts';

const HOST = 'bench-host';
/** Rounds per measurement; each round runs every link for `roundMs`. */
const ROUNDS = 4;

/** Latencies and counts of one link in one mode, summed over rounds. */
interface Samples {
  n: number;
  ms: number;
  lat: number[];
}

const empty = (): Samples => ({ n: 0, ms: 0, lat: [] });

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** `workers` loops of `key.fwStatus()` for `ms`, adding to `into`. */
async function run(key: Key, workers: number, ms: number, into: Samples): Promise<void> {
  const t0 = performance.now();
  const end = t0 + ms;
  const worker = async () => {
    while (performance.now() < end) {
      const a = performance.now();
      await key.fwStatus();
      into.lat.push(performance.now() - a);
      into.n++;
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  into.ms += performance.now() - t0;
}

/** What one broker path measured against its Key's TCP link. */
interface PathFigures {
  label: string;
  window: number;
  tcp: { seq: Samples; pipe: Samples };
  mqtt: { seq: Samples; pipe: Samples };
}

/** The simulated Key in its child process (`mqtt-sim.ts`). */
class SimChild {
  readonly #child: ChildProcess;
  readonly #replies: ((m: SimReply) => void)[] = [];
  private constructor(child: ChildProcess, issue: (handle: string) => Promise<{ cert: string; key: string }>) {
    this.#child = child;
    child.on('message', (m: SimReply) => {
      if (m.op === 'cert')
        void issue(m.handle).then((t) => child.send({ op: 'cert', handle: m.handle, ...t } satisfies SimCommand));
      else this.#replies.shift()?.(m);
    });
  }
  /** Starts the child and its simulator; `issue` makes the Key's client certificate (mutual TLS). */
  static async start(
    start: Extract<SimCommand, { op: 'start' }>,
    issue: (handle: string) => Promise<{ cert: string; key: string }> = () => Promise.reject(new Error('no CA')),
  ): Promise<{ sim: SimChild; tcp: string; mqtt: string }> {
    const script = fileURLToPath(new URL('./mqtt-sim.ts', import.meta.url));
    // fork inherits this process' execArgv: the tsx loader comes along.
    const sim = new SimChild(fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }), issue);
    const r = await sim.#ask(start);
    if (r.op !== 'ready') throw new Error(`simulator child: ${r.op === 'error' ? r.message : r.op}`);
    return { sim, tcp: r.tcp, mqtt: r.mqtt };
  }
  #ask(m: SimCommand): Promise<SimReply> {
    const answer = new Promise<SimReply>((r) => this.#replies.push(r));
    this.#child.send(m);
    return answer;
  }
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const gone = new Promise((r) => this.#child.once('exit', r));
    await Promise.race([this.#ask({ op: 'stop' }), new Promise((r) => setTimeout(r, 10_000))]);
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (this.#child.exitCode === null) this.#child.kill('SIGKILL');
  }
}

/**
 * Pairs over TCP, opens sessions on both links, then alternates TCP and MQTT rounds, sequential
 * then pipelined.
 */
async function measure(
  label: string,
  addresses: { tcp: string; mqtt: string },
  home: string,
  mqttOptions: { client?: string; tls?: MqttTls },
  roundMs: number,
): Promise<PathFigures> {
  const hostKey = loadOrCreateHostKey(join(home, 'host-key.pem'));
  const known = join(home, 'known-keys.json');
  const tcp = await openKey(addresses.tcp, { hostKey, known });
  let mqtt: Key | undefined;
  try {
    await tcp.pair('owner');
    await tcp.session();
    mqtt = await openKey(addresses.mqtt, { hostKey, known, mqtt: mqttOptions });
    await mqtt.session();
    const window = Math.min(tcp.client.link.window, mqtt.client.link.window);
    for (const key of [tcp, mqtt]) for (let i = 0; i < 50; i++) await key.fwStatus(); // warm-up
    const f: PathFigures = {
      label,
      window,
      tcp: { seq: empty(), pipe: empty() },
      mqtt: { seq: empty(), pipe: empty() },
    };
    for (let r = 0; r < ROUNDS; r++) {
      await run(tcp, 1, roundMs, f.tcp.seq);
      await run(mqtt, 1, roundMs, f.mqtt.seq);
    }
    for (let r = 0; r < ROUNDS; r++) {
      await run(tcp, window, roundMs, f.tcp.pipe);
      await run(mqtt, window, roundMs, f.mqtt.pipe);
    }
    return f;
  } finally {
    await mqtt?.close();
    await tcp.close();
  }
}

function results(f: PathFigures): BenchResult[] {
  const rate = (s: Samples) => s.n / (s.ms / 1000);
  const q = (s: Samples, p: number) =>
    quantile(
      [...s.lat].sort((a, b) => a - b),
      p,
    );
  const name = `mqtt.rtt.${f.label}`;
  return [
    result(`${name}.sequential`, rate(f.mqtt.seq), 'req/s', rate(f.tcp.seq)),
    result(`${name}.sequential.p50`, q(f.mqtt.seq, 0.5), 'ms', q(f.tcp.seq, 0.5)),
    result(`${name}.sequential.p99`, q(f.mqtt.seq, 0.99), 'ms', q(f.tcp.seq, 0.99)),
    result(`${name}.pipelined-window-${f.window}`, rate(f.mqtt.pipe), 'req/s', rate(f.tcp.pipe)),
    result(`${name}.pipelined-window-${f.window}.p50`, q(f.mqtt.pipe, 0.5), 'ms', q(f.tcp.pipe, 0.5)),
    result(`${name}.pipelined-window-${f.window}.p99`, q(f.mqtt.pipe, 0.99), 'ms', q(f.tcp.pipe, 0.99)),
  ];
}

/** The mosquitto rows when they could not be measured (not installed, or it failed): they say so. */
function mosquittoNotMeasured(unit: string, note: string): BenchResult[] {
  process.stderr.write(`mqtt: the mosquitto rows are ${unit}: ${note}\n`);
  return ['sequential', 'pipelined'].map((m) => ({ bench: `mqtt.rtt.mosquitto-mtls.${m}`, value: Number.NaN, unit, note }));
}

/** Round trips through mosquitto (mutual TLS) and the embedded broker, each against TCP. */
export async function benchMqttRoundTrips(roundMs = 500): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-bench-mqtt-'));
  const out: BenchResult[] = [];
  try {
    if (findMosquitto() === undefined)
      out.push(
        ...mosquittoNotMeasured('SKIPPED (mosquitto not installed)', `mosquitto is not installed: ${MOSQUITTO_INSTALL_HINT}`),
      );
    else {
      const p = await benchPki(join(dir, 'pki'));
      const server = await p.identity('mqtt-broker', 'server');
      const host = await p.identity(HOST);
      let broker: Mosquitto | undefined;
      let sim: SimChild | undefined;
      try {
        broker = await startMosquitto({
          dir: join(dir, 'mosquitto'),
          tls: { caFile: p.caFile, certFile: server.certFile, keyFile: server.keyFile },
          aclText: mosquittoAcl({ hosts: [HOST] }),
        });
        const started = await SimChild.start(
          { op: 'start', stateDir: join(dir, 'sim-mosquitto'), broker: broker.url, ca: p.caPem },
          (handle) => p.identity(handle),
        );
        sim = started.sim;
        const tls = { ca: p.caPem, cert: host.cert, key: host.key };
        out.push(
          ...results(await measure('mosquitto-mtls', started, join(dir, 'home-mosquitto'), { client: HOST, tls }, roundMs)),
        );
      } finally {
        await sim?.stop();
        await broker?.stop();
      }
    }
    const started = await SimChild.start({ op: 'start', stateDir: join(dir, 'sim-embedded') });
    try {
      out.push(...results(await measure('embedded', started, join(dir, 'home-embedded'), { client: HOST }, roundMs)));
    } finally {
      await started.sim.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/** Runs the mqtt group: round trips, then the reconnect storm. */
export async function benchMqtt(): Promise<BenchResult[]> {
  return [...(await benchMqttRoundTrips()), ...(await benchStorm())];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const r of await benchMqtt()) process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}
