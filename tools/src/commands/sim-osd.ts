/**
 * `enigm sim osd`: runs the Enigm OS posture daemon emulator (`@enigm/sim/osd`) on a Unix socket in
 * the foreground until SIGINT/SIGTERM, serving scripted states and faults, so the posture agent can
 * be developed without Enigm OS.
 * @module
 */

import { OSD_FAULT_KINDS, OSD_HEALTHY_STATES, OsdEmulator } from '@enigm/sim/osd';
import { type Command, EXIT, logLevel, logOptionsHelp, readJsonFile, stderrLogger, str, UsageError } from '../cli.ts';

const osdCmd: Command = {
  name: 'sim osd',
  summary: 'run the Enigm OS posture daemon emulator on a Unix socket (foreground)',
  help: `Usage: enigm sim osd --socket PATH [--script FILE] [--replace] [--log-level L | --verbose] [--json]

Serves the Enigm OS posture daemon protocol (docs/posture.md) on the Unix socket PATH until
interrupted (Ctrl-C): Trust Security Center posture, device-management state, privacy mode,
network policy, OTA verification and the remote-attestation outcome.

  --socket PATH   Unix socket to listen on (the agent config's "daemonSocket")
  --script FILE   JSON script: { "states": {...}, "faults": [...], "steps": [{ "afterMs", "states",
                  "faults" }] }. Without it every query answers a healthy device. Faults: ${OSD_FAULT_KINDS.join(', ')}
                  (each with optional "queries", "times"; slow takes "delayMs")
  --replace       remove a stale socket file at PATH first (only if it is a socket)
${logOptionsHelp('warn', 'refused connections and bad frames; info: connections; debug: faults injected')}
  --json          print one JSON line when ready and one when stopped

Example script:
  { "states": { "tsc": { "level": "secure" }, "ota": { "unavailable": "no channel" } },
    "steps": [{ "afterMs": 10000, "states": { "tsc": { "level": "at-risk" } },
                "faults": [{ "kind": "slow", "delayMs": 5000, "queries": ["network"] }] }] }`,
  options: {
    socket: { type: 'string' },
    script: { type: 'string' },
    replace: { type: 'boolean' },
  },
  longRunning: true,
  async run(args, out) {
    const log = stderrLogger(logLevel(args, 'warn'));
    const socketPath = str(args, 'socket');
    if (socketPath === undefined) throw new UsageError('--socket PATH is required');
    const scriptFile = str(args, 'script');
    const script = scriptFile === undefined ? { states: OSD_HEALTHY_STATES } : readJsonFile(scriptFile, '--script');
    const emu = await OsdEmulator.start({ socketPath, script, replace: args.values.replace === true, log });
    // ours before 'ready' is announced: a SIGTERM sent at the ready line is a clean stop
    const stopRequested = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    out.data({ ok: true, event: 'ready', socket: socketPath });
    out.line(`Enigm OS daemon emulator listening on ${socketPath} (Ctrl-C to stop)`);
    await stopRequested;
    await emu.close();
    const stats = emu.stats();
    out.data({ ok: true, event: 'stopped', stats });
    out.line(`stopped: ${stats.requests} requests, ${stats.faults} faults injected`);
    return EXIT.ok;
  },
};

/** Commands under `enigm sim osd`. */
export const simOsdCommands: Command[] = [osdCmd];
