/**
 * `enigm key list | info | ping`: find Keys and talk to them over serial or TCP.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BleSighting, candidateSerialPorts, probePorts, scanBle, transportFromAddress } from '@enigm/key-firmware-host';
import { toHex } from '@enigm/protocols/bytes';
import { type SimulatorStateFile, STATE_FILE } from '@enigm/sim';
import { type Command, EXIT, int, str, UsageError } from '../cli.ts';
import { PORT_HELP, portOptions, withKey } from './key-connect.ts';
import { defaultSimDir } from './sim.ts';

function simulatorPorts(dir: string): string[] {
  try {
    const s = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as SimulatorStateFile;
    return s.keys.flatMap((k) => (k.serial ? [k.serial] : []));
  } catch {
    return [];
  }
}

const listCmd: Command = {
  name: 'key list',
  summary: 'list serial ports that answer as Keys (model, firmware, state)',
  help: `Usage: enigm key list [--port ADDR]... [--state-dir D] [--ble [--scan MS]] [--all] [--json]

Probes /dev/ttyACM*, /dev/ttyUSB*, the simulator's ports (from D/simulator.json) and any
--port given, and lists those that answer hello as an Enigm Key. With --ble it also scans for
Keys advertising the Enigm GATT service (on the adapter ENIGM_BLE_ADAPTER names: the system's,
or sim / sim:D / tcp://127.0.0.1:PORT for the simulator's) and probes each as ble:<name>.

Options:
  --port ADDR     also probe ADDR (repeatable; serial path or tcp://host:port)
  --state-dir D   simulator state folder (default $ENIGM_SIM_DIR or .sim-state)
  --timeout MS    probe timeout per port (default 500; BLE Keys get at least 5000)
  --ble           also scan for BLE Keys and probe them
  --scan MS       how long to scan with --ble (default 2000)
  --all           also list ports that did not answer, with the reason`,
  options: {
    port: { type: 'string', short: 'p', multiple: true },
    'state-dir': { type: 'string' },
    timeout: { type: 'string' },
    all: { type: 'boolean' },
    ble: { type: 'boolean' },
    scan: { type: 'string' },
  },
  async run(args, out) {
    const extra = (args.values.port as string[] | undefined) ?? [];
    const simDir = str(args, 'state-dir') ?? defaultSimDir();
    let sightings: BleSighting[] = [];
    if (args.values.ble === true) sightings = await scanBle({ durationMs: int(args, 'scan', 2000, 100, 60_000) });
    else if (str(args, 'scan') !== undefined) throw new UsageError('--scan goes with --ble');
    const blePorts = sightings.map((s) => `ble:${s.name ?? s.id}`);
    const ports = [...candidateSerialPorts(), ...simulatorPorts(simDir), ...extra];
    const timeoutMs = int(args, 'timeout', 500, 1, 60_000);
    const serialFound = await probePorts(ports, { timeoutMs, open: (p) => transportFromAddress(p) });
    // A BLE probe scans, connects and discovers before its hello: it gets a longer budget.
    const bleFound = await probePorts(blePorts, { timeoutMs: Math.max(timeoutMs, 5000), open: (p) => transportFromAddress(p) });
    const keys = [...serialFound.keys, ...bleFound.keys];
    const silent = [...serialFound.silent, ...bleFound.silent];
    out.data({ ok: true, keys, ...(args.values.ble === true ? { ble: sightings } : {}), ...(args.values.all ? { silent } : {}) });
    if (keys.length === 0) {
      out.line(`no Keys found (${ports.length} port${ports.length === 1 ? '' : 's'} probed)`);
      out.line(`simulated Keys are read from ${simDir}/${STATE_FILE}: give --state-dir D or set ENIGM_SIM_DIR`);
    } else {
      const w = Math.max(4, ...keys.map((k) => k.port.length));
      out.line(`${'PORT'.padEnd(w)}  MODEL        FIRMWARE  STATE`);
      for (const k of keys) out.line(`${k.port.padEnd(w)}  ${k.model.padEnd(11)}  ${k.firmware.padEnd(8)}  ${k.state}`);
    }
    if (args.values.all) for (const s of silent) out.line(`${s.port}: no Key (${s.error})`);
    return EXIT.ok;
  },
};

const infoCmd: Command = {
  name: 'key info',
  summary: "print a Key's capabilities and public info",
  help: `Usage: enigm key info --port ADDR [--json]

Connects, negotiates capabilities (hello) and prints the Key's public facts: model,
hardware, firmware, lifecycle state, device handle, boot count, uptime, battery, and the
negotiated link (protocol version, max frame, window, features).

Options:
${PORT_HELP}`,
  options: portOptions,
  async run(args, out) {
    return withKey(args, async (key) => {
      const info = await key.info();
      const h = key.hello;
      out.data({ ok: true, info, link: { version: h.version, maxFrame: h.maxFrame, window: h.window, features: h.features } });
      out.line(`model        ${info.model} (hardware ${info.hardware})`);
      out.line(`firmware     ${info.firmware}`);
      out.line(`state        ${info.state}`);
      out.line(`handle       ${info.handle ? toHex(info.handle) : '(shown only to paired hosts, or while the Key is pairable)'}`);
      out.line(`boot count   ${info.bootCount}`);
      out.line(`uptime       ${(info.uptimeMs / 1000).toFixed(1)} s`);
      out.line(`battery      ${info.batteryPct}%`);
      out.line(
        `link         protocol v${h.version}, max frame ${h.maxFrame} B, window ${h.window}, features ${h.features.join(', ')}`,
      );
      return EXIT.ok;
    });
  },
};

const pingCmd: Command = {
  name: 'key ping',
  summary: 'measure round-trip time to a Key',
  help: `Usage: enigm key ping --port ADDR [--count N] [--size B] [--json]

Sends N pings (default 4) each carrying B random bytes (default 0) and prints each
round-trip time and a summary (min/avg/max). Exit 1 if any ping fails.

Options:
${PORT_HELP}
  --count N       number of pings (default 4)
  --size B        payload bytes per ping (default 0; must fit the Key's max frame)`,
  options: { ...portOptions, count: { type: 'string', short: 'c' }, size: { type: 'string', short: 's' } },
  async run(args, out) {
    const count = int(args, 'count', 4, 1, 1_000_000);
    const size = int(args, 'size', 0, 0, 65536);
    return withKey(args, async (key) => {
      const rtts: number[] = [];
      for (let i = 0; i < count; i++) {
        const data = size > 0 ? new Uint8Array(randomBytes(size)) : undefined;
        const r = await key.ping(data);
        rtts.push(r.rttMs);
        out.data({ seq: i, rttMs: r.rttMs, bytes: size });
        out.line(`ping ${i}: ${size} bytes, rtt ${r.rttMs.toFixed(3)} ms`);
      }
      const min = Math.min(...rtts);
      const max = Math.max(...rtts);
      const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
      out.data({ ok: true, count, minMs: min, avgMs: avg, maxMs: max });
      out.line(`${count} pings: min ${min.toFixed(3)} / avg ${avg.toFixed(3)} / max ${max.toFixed(3)} ms`);
      return EXIT.ok;
    });
  },
};

/** Commands under `enigm key`. */
export const keyCommands: Command[] = [listCmd, infoCmd, pingCmd];
