/**
 * `enigm sim start`: runs the Key simulator in the foreground until SIGINT/SIGTERM. One simulator
 * per state folder (a second one exits 1 with `SIM_STATE_LOCKED`; a taken control or Key TCP port
 * exits 1 with `CONTROL_PORT_IN_USE` / `SIM_PORT_IN_USE` before the state folder is touched); logs
 * links opened and closed, rejected frames and bounds hit on stderr (`--log-level`, `--verbose`), never message content;
 * a fault in one Key's work is contained and logged, never ends the process.
 * @module
 */

import { join } from 'node:path';
import { parseBrokerUrl } from '@enigm/mqtt';
import { ed25519PublicKeyFromPem } from '@enigm/protocols/crypto';
import { createLogger, describeError, Simulator, type SimulatorOptions } from '@enigm/sim';
import { ControlServer, dashboardPage } from '@enigm/sim/control';
import { tlsFiles } from '../broker-options.ts';
import {
  type Command,
  cliInvocation,
  EXIT,
  int,
  logLevel,
  logOptionsHelp,
  type ParsedArgs,
  readTextFile,
  str,
  UsageError,
} from '../cli.ts';
import { OUTBOX_FLAGS, OUTBOX_HELP, outboxBounds, outboxFlagOptions } from '../sim-outbox-options.ts';

/** `--cert-dir DIR`: each Key's client certificate and key, `DIR/<handle>.crt` and `DIR/<handle>.key`. */
function certDirOption(dir: string | undefined, ca: string | Uint8Array | undefined) {
  if (dir === undefined) return {};
  return {
    tlsFor: (handle: string) => ({
      ...(ca !== undefined ? { ca } : {}),
      cert: readTextFile(join(dir, `${handle}.crt`), `--cert-dir certificate of ${handle}`),
      key: readTextFile(join(dir, `${handle}.key`), `--cert-dir key of ${handle}`),
    }),
  };
}

/** Checks a --broker URL, as a usage error. */
function parseBrokerUrlOrUsage(url: string): void {
  try {
    parseBrokerUrl(url);
  } catch (e) {
    throw new UsageError(`--broker: ${(e as Error).message}`);
  }
}

/** Default simulator state directory (also read by `enigm key list`); an empty `ENIGM_SIM_DIR` is unset. */
export function defaultSimDir(): string {
  return process.env.ENIGM_SIM_DIR || '.sim-state';
}

/** How long `sim start` waits for a clean stop after SIGINT/SIGTERM before it exits anyway. */
const STOP_GRACE_MS = 10_000;

/** A plain decimal number (`0.05`, `.5`, `12`): no sign, exponent, hex, `Infinity` or blank. */
const DECIMAL = /^(\d+(\.\d*)?|\.\d+)$/;

/** Most one-way latency `--ble-latency` adds, ms. */
const MAX_BLE_LATENCY_MS = 10_000;

/**
 * A decimal option within [min, max], or undefined when not given.
 * @throws {@link UsageError} for anything else
 */
function decimal(args: ParsedArgs, name: string, min: number, max: number, what: string): number | undefined {
  const v = str(args, name);
  if (v === undefined) return undefined;
  const n = DECIMAL.test(v) ? Number(v) : Number.NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`--${name} must be ${what}, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * `--ble-loss`, `--ble-dup`, `--ble-reorder` (probabilities per fragment, drawn from one seeded
 * generator, so their sum is at most 1) and `--ble-latency` (one-way ms) as adapter options.
 * @throws {@link UsageError} for a value out of range or not a plain decimal, or a sum above 1
 */
function bleFaultOptions(args: ParsedArgs): {
  latencyMs?: number;
  faults?: { loss: number; duplicate: number; reorder: number };
} {
  const p = (name: string) => decimal(args, name, 0, 1, 'a probability in 0..1 (e.g. 0.02)');
  const loss = p('ble-loss');
  const duplicate = p('ble-dup');
  const reorder = p('ble-reorder');
  const latencyMs = decimal(args, 'ble-latency', 0, MAX_BLE_LATENCY_MS, `a latency in 0..${MAX_BLE_LATENCY_MS} ms`);
  const any = loss !== undefined || duplicate !== undefined || reorder !== undefined;
  const f = { loss: loss ?? 0, duplicate: duplicate ?? 0, reorder: reorder ?? 0 };
  if (f.loss + f.duplicate + f.reorder > 1)
    throw new UsageError(
      '--ble-loss, --ble-dup and --ble-reorder are shares of one draw per fragment: their sum must be at most 1',
    );
  return { ...(latencyMs !== undefined ? { latencyMs } : {}), ...(any ? { faults: f } : {}) };
}

/** The `--ble-…` options; any of them needs `--ble`. */
const BLE_OPTIONS = ['ble-phy', 'ble-mtu', 'ble-interval', 'no-ble-dle', 'ble-loss', 'ble-dup', 'ble-reorder', 'ble-latency'];

/**
 * `--ble` and its link and fault options as simulator options (undefined without `--ble`).
 * @throws {@link UsageError} for a bad PHY, MTU, interval, probability or latency, or BLE options without --ble
 */
function bleOption(args: ParsedArgs):
  | {
      link: { phy: '1M' | '2M'; mtu: number; connectionIntervalMs: number; dle: boolean };
      latencyMs?: number;
      faults?: { loss: number; duplicate: number; reorder: number };
    }
  | undefined {
  const given = BLE_OPTIONS.filter((o) => args.values[o] !== undefined);
  if (args.values.ble !== true) {
    if (given.length > 0) throw new UsageError(`--${given[0]} needs --ble`);
    return undefined;
  }
  const phy = (str(args, 'ble-phy') ?? '2M').toUpperCase();
  if (phy !== '1M' && phy !== '2M') throw new UsageError(`--ble-phy must be 1M or 2M, got ${phy}`);
  const interval = Number(str(args, 'ble-interval') ?? 15);
  if (!(interval >= 7.5 && interval <= 4000)) throw new UsageError('--ble-interval must be 7.5..4000 ms');
  return {
    link: {
      phy,
      mtu: int(args, 'ble-mtu', 247, 23, 517),
      connectionIntervalMs: interval,
      dle: args.values['no-ble-dle'] !== true,
    },
    ...bleFaultOptions(args),
  };
}

/**
 * Starts the simulator; if that fails, the control server holding the port is closed too.
 * @throws what {@link Simulator.start} throws
 */
async function startSimulator(server: ControlServer | undefined, options: SimulatorOptions): Promise<Simulator> {
  try {
    return await Simulator.start(options);
  } catch (e) {
    await server?.close();
    throw e;
  }
}

const startCmd: Command = {
  name: 'sim start',
  summary: 'run simulated Keys on pseudo-terminal serial ports, TCP and MQTT (foreground)',
  help: `Usage: enigm sim start [--keys N] [--state-dir D] [--tcp-port P] [--no-serial]
                       [--baud B [--latency MS]] [--erase-ms MS] [--trust-fw-key PUB.pem]...
                       [--ble [--ble-phy 1M|2M] [--ble-mtu N] [--ble-interval MS] [--no-ble-dle]
                              [--ble-loss P] [--ble-dup P] [--ble-reorder P] [--ble-latency MS]]
                       [--control-port P] [--control-host H] [--no-control]
                       [--broker URL [--ca F] [--cert F --key F] | --broker-port P | --no-mqtt]
                       [--outbox-records N] [--outbox-bytes SIZE] [--outbox-age DURATION]
                       [--log-level L | --verbose] [--json]

Runs N simulated Enigm Keys until interrupted (Ctrl-C). Each Key is exposed on a real
pseudo-terminal serial port (needs socat) and on TCP on 127.0.0.1, keeps its identity and
lifecycle state in D across restarts, and is listed in D/simulator.json. One simulator per
state folder: a second one on the same D exits 1 (SIM_STATE_LOCKED). A taken --control-port or
Key TCP port (--tcp-port P: Key i uses P+i) exits 1 (CONTROL_PORT_IN_USE, SIM_PORT_IN_USE) before
anything in D is created or changed.

Each Key also has an LTE-M uplink over MQTT (see docs/mqtt.md): with no --broker, an embedded
broker (MQTT 3.1.1) runs in this process on 127.0.0.1 and its URL is printed; every Key connects
under its handle (eh1-…, its association handle in the simulator's development account,
D/account.secret) while its radio is attached, answers hosts at mqtt://broker/HANDLE, keeps a
signed retained status and queues signed uplink records in D/key-N.outbox (kept while the radio
is off, sent in order when it is back).

It also serves the control API and the web dashboard on 127.0.0.1 (one port; the URL with its
token is printed, and written with the token to D/control.json, mode 0600): the Keys' buttons,
battery, GNSS, radio, USB and power (enigm sim press, battery, gnss, power, radio, usb, time,
watch use it), a live event stream, and the OpenAPI document at /api/openapi.json.

This is a simulator, not a vault: each Key's private keys are stored unencrypted in D/key-N.se
(plain CBOR in two slots, D/key-N.se and D/key-N.se.b, mode 0600) and D/fw-signing.key, which
every Key trusts to sign firmware, sits in the same folder. Anyone who can read D can impersonate
these Keys and sign firmware they accept.

Options:
  --keys N        number of Keys (default 1, max 1024)
  --state-dir D   state folder (default $ENIGM_SIM_DIR or .sim-state)
  --tcp-port P    TCP port of Key 0; Key i uses P+i (default: free ports)
  --no-serial     TCP only (no socat needed)
  --baud B        model each serial link as a UART at B baud (8N1: B/10 bytes/s each way)
  --latency MS    with --baud: latency added per chunk (default 1)
  --erase-ms MS   model flash erase time per 4 KiB page: the Key erases ahead of an upload and
                  sends keepalive events meanwhile (default 0: instant)
  --ble           also advertise each Key (name Enigm-K<i>) on a virtual BLE adapter served on a
                  loopback port (bleAdapter in D/simulator.json); hosts reach it with
                  ENIGM_BLE_ADAPTER=sim (or sim:D) and --port ble:Enigm-K0, through the real noble
  --ble-phy P     modelled PHY, 1M or 2M (default 2M); --ble-mtu N: ATT_MTU 23..517 (default
                  247); --ble-interval MS: connection interval (default 15); --no-ble-dle: LL
                  payloads of 27 bytes. The air time is modelled in real time
  --ble-loss P    faults on the air, per GATT fragment either way: lost (P), delivered twice
  --ble-dup P     (--ble-dup P) or after the next one (--ble-reorder P); each a probability in
  --ble-reorder P 0..1, their sum at most 1 (default 0; a fixed seed: the same pattern every
                  run). The Key and the host drop the partial message (BLE_FRAGMENT_SEQUENCE)
                  and the host's request retries recover, as after a corrupted UART frame
  --ble-latency MS  one-way latency added to every delivery, 0..${MAX_BLE_LATENCY_MS} ms (default 0)
  --trust-fw-key F  trust this firmware-signing public key (PEM) of a key you keep outside D.
                  On a new D the factory key then signs the factory image in memory and is
                  not kept (only D/fw-signing.pub): only your keys can sign updates. Without it
                  (or on a D that has one) D/fw-signing.key is trusted: sign test images with it
  --control-port P  port of the control API and dashboard (default: a free port)
  --control-host H  listen address of the control API (default 127.0.0.1; anything else lets
                  other machines reach it: they still need the token)
  --no-control    no control API and no dashboard
  --broker URL    an external MQTT broker (mqtt://host:port or mqtts://host:port) instead of the
                  embedded one; --ca F, --cert F, --key F: TLS files (PEM) for mqtts://. Under
                  mutual TLS the broker takes the username from the certificate CN, which must be
                  the Key's handle: give --cert-dir DIR holding <handle>.crt and <handle>.key
                  per Key instead of --cert/--key (the handles are stable: D/simulator.json lists
                  each Key's mqtt address after a first start with the embedded broker)
  --broker-port P port of the embedded broker (default: a free port)
  --no-mqtt       no MQTT uplink and no embedded broker
${OUTBOX_HELP}
${logOptionsHelp('info', 'links opened/closed, rejected frames, bounds hit (no addresses)')}
  --json          print one JSON line with the Keys' addresses when ready

Bounds: at most 4 TCP connections, 4 MQTT links and 1 BLE connection per Key (as a real Key's
radio); a connection whose host does not read its answers stops being read at 64 KiB queued and
is dropped at 1 MiB.

Then, in another terminal:
  enigm key info --port .sim-state/ttyKEY0
  enigm key ping --port tcp://127.0.0.1:<port>`,
  options: {
    keys: { type: 'string', short: 'n' },
    'state-dir': { type: 'string' },
    'tcp-port': { type: 'string' },
    'no-serial': { type: 'boolean' },
    baud: { type: 'string' },
    latency: { type: 'string' },
    'erase-ms': { type: 'string' },
    ble: { type: 'boolean' },
    'ble-phy': { type: 'string' },
    'ble-mtu': { type: 'string' },
    'ble-interval': { type: 'string' },
    'no-ble-dle': { type: 'boolean' },
    'ble-loss': { type: 'string' },
    'ble-dup': { type: 'string' },
    'ble-reorder': { type: 'string' },
    'ble-latency': { type: 'string' },
    'trust-fw-key': { type: 'string', multiple: true },
    'control-port': { type: 'string' },
    'control-host': { type: 'string' },
    'no-control': { type: 'boolean' },
    broker: { type: 'string' },
    'broker-port': { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    'cert-dir': { type: 'string' },
    'no-mqtt': { type: 'boolean' },
    ...outboxFlagOptions,
  },
  longRunning: true,
  async run(args, out) {
    const log = createLogger(logLevel(args, 'info'));
    const control = args.values['no-control'] !== true;
    const controlPort = int(args, 'control-port', 0, 0, 65535);
    const controlHost = str(args, 'control-host') ?? '127.0.0.1';
    if (!control && (str(args, 'control-port') !== undefined || str(args, 'control-host') !== undefined))
      throw new UsageError('--no-control excludes --control-port and --control-host');
    const mqtt = args.values['no-mqtt'] !== true;
    const broker = str(args, 'broker');
    if (!mqtt && (broker !== undefined || str(args, 'broker-port') !== undefined))
      throw new UsageError('--no-mqtt excludes --broker and --broker-port');
    const outbox = outboxBounds(args);
    const outboxFlag = OUTBOX_FLAGS.find((f) => str(args, f) !== undefined);
    if (!mqtt && outboxFlag) throw new UsageError(`--no-mqtt excludes --${outboxFlag} (there is no outbox without the uplink)`);
    if (broker !== undefined && str(args, 'broker-port') !== undefined)
      throw new UsageError('--broker-port sets the embedded broker; it does not go with --broker');
    const tls = tlsFiles(args);
    const certDir = str(args, 'cert-dir');
    if ((tls || certDir !== undefined) && broker === undefined)
      throw new UsageError('--ca, --cert, --key and --cert-dir need --broker mqtts://…');
    if (certDir !== undefined && tls?.cert !== undefined) throw new UsageError('--cert-dir and --cert/--key exclude each other');
    if (broker !== undefined) parseBrokerUrlOrUsage(broker);
    const ble = bleOption(args);
    const options: SimulatorOptions = {
      ...(ble ? { ble } : {}),
      log,
      ...(mqtt
        ? {
            mqtt:
              broker === undefined
                ? { brokerPort: int(args, 'broker-port', 0, 0, 65535), ...(outbox ? { outbox } : {}) }
                : { broker, ...(tls ? { tls } : {}), ...certDirOption(certDir, tls?.ca), ...(outbox ? { outbox } : {}) },
          }
        : {}),
      keys: int(args, 'keys', 1, 1, 1024),
      stateDir: str(args, 'state-dir') ?? defaultSimDir(),
      tcpBasePort: int(args, 'tcp-port', 0, 0, 65535),
      serial: args.values['no-serial'] !== true,
      eraseMsPerPage: int(args, 'erase-ms', 0, 0, 10_000),
      ...(str(args, 'baud')
        ? { link: { baud: int(args, 'baud', 115200, 300, 12_000_000), latencyMs: int(args, 'latency', 1, 0, 1000) } }
        : {}),
      trustedFirmwareKeys: ((args.values['trust-fw-key'] as string[] | undefined) ?? []).map((f) =>
        ed25519PublicKeyFromPem(readTextFile(f, '--trust-fw-key')),
      ),
    };
    // The control port first: a taken port is refused before the simulator touches its state folder.
    const server = control ? await ControlServer.listen({ host: controlHost, port: controlPort, log }) : undefined;
    const sim = await startSimulator(server, options);
    if (server) {
      server.attach(sim, sim.stateDir);
      // Build (from source) or unpack (bundle) the dashboard now, so the first page load is quick.
      dashboardPage().catch((e) => log.warn(`control: the dashboard is unavailable: ${describeError(e)}`));
    }
    // Last resort: an unhandled rejection in one Key's work is logged, not allowed to end the
    // process (and with it every other Key). The simulator's own code contains its faults; this
    // catches what a future change might miss.
    const previous = process.listeners('unhandledRejection');
    process.removeAllListeners('unhandledRejection');
    const contain = (e: unknown) => log.error(`an unhandled rejection was contained: ${describeError(e)}`);
    process.on('unhandledRejection', contain);
    const keys = sim.keys();
    const secretsWarning = `WARNING: simulator only: the Keys' private keys are stored unencrypted in ${sim.stateDir}/key-N.se (anyone who can read it can impersonate these Keys)${
      sim.factoryKeyKept
        ? `, and ${sim.signingKeyPath}, trusted by every Key to sign firmware, sits in the same folder (anyone who can read it can sign firmware they accept; --trust-fw-key on a new --state-dir keeps no signing key there)`
        : '; no firmware-signing private key is kept there: only --trust-fw-key keys sign updates'
    }`;
    // The stop signals are ours before 'ready' is announced: a supervisor that sends SIGTERM the
    // moment it reads the ready line gets a clean stop, not the default kill mid-start.
    const stopRequested = new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    out.data({
      ok: true,
      event: 'ready',
      stateDir: sim.stateDir,
      signingKey: sim.factoryKeyKept ? sim.signingKeyPath : null,
      keys,
      ...(sim.broker ? { broker: sim.broker } : {}),
      ...(outbox ? { outbox } : {}),
      ...(sim.bleAdapter ? { bleAdapter: sim.bleAdapter } : {}),
      ...(server ? { control: { url: server.url, dashboard: server.dashboardUrl } } : {}),
      warning: secretsWarning,
    });
    out.line(`Enigm Key simulator: ${keys.length} Key${keys.length > 1 ? 's' : ''} (state in ${sim.stateDir})`);
    for (const k of keys) {
      out.line(`  key ${k.index}  ${k.state.padEnd(9)} serial ${k.serial ?? '-'}  ${k.tcp ?? ''}`);
      if (k.mqtt) out.line(`         mqtt ${k.mqtt}`);
      if (k.ble) out.line(`         ${k.ble} (ENIGM_BLE_ADAPTER=sim:${sim.stateDir})`);
    }
    if (sim.broker)
      out.line(`MQTT broker: ${sim.broker.url}${sim.broker.embedded ? ' (embedded, MQTT 3.1.1, loopback only)' : ''}`);
    const first = keys[0];
    out.line(
      `firmware-signing key: ${sim.factoryKeyKept ? sim.signingKeyPath : 'none kept in the state folder (--trust-fw-key)'}`,
    );
    if (server) {
      out.line(`\nDashboard: ${server.dashboardUrl}`);
      out.line(
        `Control API: ${server.url}/api (token in ${sim.stateDir}/control.json; enigm sim press|battery|gnss|power|radio|usb|time|watch)`,
      );
      if (controlHost !== '127.0.0.1' && controlHost !== '::1' && controlHost !== 'localhost')
        out.warn(`WARNING: the control API listens on ${controlHost}, not only on this machine (the token still guards it)`);
    }
    out.warn(`\n${secretsWarning}.`);
    out.line(`\nTry:  ${cliInvocation()} key info --port ${first?.serial ?? first?.tcp}`);
    out.line('Press Ctrl-C to stop.');
    await stopRequested;
    // A stop is bounded: a second Ctrl-C, or STOP_GRACE_MS without an end, leaves at once (the
    // state folder stays consistent: every write in it is atomic, and the lock is taken over by PID).
    const force = (why: string) => {
      out.warn(`simulator: ${why}; exiting without a clean stop`);
      process.exit(EXIT.failure);
    };
    process.once('SIGINT', () => force('interrupted again'));
    process.once('SIGTERM', () => force('terminated again'));
    setTimeout(() => force(`the stop took longer than ${STOP_GRACE_MS / 1000} s`), STOP_GRACE_MS).unref();
    await server?.close();
    await sim.stop();
    process.off('unhandledRejection', contain);
    for (const l of previous) process.on('unhandledRejection', l as NodeJS.UnhandledRejectionListener);
    out.data({ ok: true, event: 'stopped' });
    out.line('simulator stopped');
    return EXIT.ok;
  },
};

/** Commands under `enigm sim`. */
export const simCommands: Command[] = [startCmd];
