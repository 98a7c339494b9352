/**
 * `enigm sim start`: runs the Key simulator in the foreground until SIGINT/SIGTERM.
 * @module
 */
import { readFileSync } from 'node:fs';
import { ed25519PublicKeyFromPem } from '@enigm/protocols/crypto';
import { Simulator } from '@enigm/sim';
import { type Command, EXIT, int, str } from '../cli.ts';

/** Default simulator state directory (also read by `enigm key list`). */
export function defaultSimDir(): string {
  return process.env.ENIGM_SIM_DIR ?? '.sim-state';
}

const startCmd: Command = {
  name: 'sim start',
  summary: 'run simulated Keys on pseudo-terminal serial ports and TCP (foreground)',
  help: `Usage: enigm sim start [--keys N] [--state-dir D] [--tcp-port P] [--no-serial]
                       [--baud B [--latency MS]] [--trust-fw-key PUB.pem]... [--json]

Runs N simulated Enigm Keys until interrupted (Ctrl-C). Each Key is exposed on a real
pseudo-terminal serial port (needs socat) and on TCP on 127.0.0.1, keeps its identity and
lifecycle state in D across restarts, and is listed in D/simulator.json.

Options:
  --keys N        number of Keys (default 1, max 1024)
  --state-dir D   state folder (default $ENIGM_SIM_DIR or .sim-state)
  --tcp-port P    TCP port of Key 0; Key i uses P+i (default: free ports)
  --no-serial     TCP only (no socat needed)
  --baud B        model each serial link as a UART at B baud (8N1: B/10 bytes/s each way)
  --latency MS    with --baud: latency added per chunk (default 1)
  --erase-ms MS   model flash erase time per 4 KiB page: the Key erases ahead of an upload and
                  sends keepalive events meanwhile (default 0: instant)
  --trust-fw-key F  also trust this firmware-signing public key (PEM); D/fw-signing.key is
                  always trusted and signs the factory image (sign test images with it)
  --json          print one JSON line with the Keys' addresses when ready

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
    'trust-fw-key': { type: 'string', multiple: true },
  },
  async run(args, out) {
    const sim = await Simulator.start({
      keys: int(args, 'keys', 1, 1, 1024),
      stateDir: str(args, 'state-dir') ?? defaultSimDir(),
      tcpBasePort: int(args, 'tcp-port', 0, 0, 65535),
      serial: args.values['no-serial'] !== true,
      eraseMsPerPage: int(args, 'erase-ms', 0, 0, 10_000),
      ...(str(args, 'baud')
        ? { link: { baud: int(args, 'baud', 115200, 300, 12_000_000), latencyMs: int(args, 'latency', 1, 0, 1000) } }
        : {}),
      trustedFirmwareKeys: ((args.values['trust-fw-key'] as string[] | undefined) ?? []).map((f) =>
        ed25519PublicKeyFromPem(readFileSync(f, 'utf8')),
      ),
    });
    const keys = sim.keys();
    out.data({ ok: true, event: 'ready', stateDir: sim.stateDir, signingKey: sim.signingKeyPath, keys });
    out.line(`Enigm Key simulator: ${keys.length} Key${keys.length > 1 ? 's' : ''} (state in ${sim.stateDir})`);
    for (const k of keys) out.line(`  key ${k.index}  ${k.state.padEnd(9)} serial ${k.serial ?? '-'}  ${k.tcp ?? ''}`);
    const first = keys[0];
    out.line(`firmware-signing key: ${sim.signingKeyPath}`);
    out.line(`\nTry:  npm run enigm -- key info --port ${first?.serial ?? first?.tcp}`);
    out.line('Press Ctrl-C to stop.');
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await sim.stop();
    out.data({ ok: true, event: 'stopped' });
    out.line('simulator stopped');
    return EXIT.ok;
  },
};

/** Commands under `enigm sim`. */
export const simCommands: Command[] = [startCmd];
