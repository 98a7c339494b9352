/**
 * `enigm sim start`: runs the Key simulator in the foreground until SIGINT/SIGTERM.
 * @module
 */
import { Simulator } from '../../../sim/src/runtime/simulator.ts';
import { type Command, EXIT, int, str } from '../cli.ts';

/** Default simulator state directory (also read by `enigm key list`). */
export function defaultSimDir(): string {
  return process.env.ENIGM_SIM_DIR ?? '.sim-state';
}

const startCmd: Command = {
  name: 'sim start',
  summary: 'run simulated Keys on pseudo-terminal serial ports and TCP (foreground)',
  help: `Usage: enigm sim start [--keys N] [--state-dir D] [--tcp-port P] [--no-serial] [--json]

Runs N simulated Enigm Keys until interrupted (Ctrl-C). Each Key is exposed on a real
pseudo-terminal serial port (needs socat) and on TCP on 127.0.0.1, keeps its identity and
lifecycle state in D across restarts, and is listed in D/simulator.json.

Options:
  --keys N        number of Keys (default 1, max 1024)
  --state-dir D   state folder (default $ENIGM_SIM_DIR or .sim-state)
  --tcp-port P    TCP port of Key 0; Key i uses P+i (default: free ports)
  --no-serial     TCP only (no socat needed)
  --json          print one JSON line with the Keys' addresses when ready

Then, in another terminal:
  enigm key info --port .sim-state/ttyKEY0
  enigm key ping --port tcp://127.0.0.1:<port>`,
  options: {
    keys: { type: 'string', short: 'n' },
    'state-dir': { type: 'string' },
    'tcp-port': { type: 'string' },
    'no-serial': { type: 'boolean' },
  },
  async run(args, out) {
    const sim = await Simulator.start({
      keys: int(args, 'keys', 1, 1, 1024),
      stateDir: str(args, 'state-dir') ?? defaultSimDir(),
      tcpBasePort: int(args, 'tcp-port', 0, 0, 65535),
      serial: args.values['no-serial'] !== true,
    });
    const keys = sim.keys();
    out.data({ ok: true, event: 'ready', stateDir: sim.stateDir, keys });
    out.line(`Enigm Key simulator: ${keys.length} Key${keys.length > 1 ? 's' : ''} (state in ${sim.stateDir})`);
    for (const k of keys) out.line(`  key ${k.index}  ${k.state.padEnd(9)} serial ${k.serial ?? '-'}  ${k.tcp ?? ''}`);
    const first = keys[0];
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
