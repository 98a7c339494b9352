#!/usr/bin/env node
/**
 * `enigm` — the Enigm device suite CLI. Each subcommand parses arguments and calls a library.
 * Exit codes: 0 success, 1 run-time failure, 2 command-line misuse. Every command takes `--json`
 * and `--help`. A closed stdout (`enigm … | head -1`) ends the process quietly with exit 1.
 * @module
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pkg from '../../package.json' with { type: 'json' };
import { type Command, commandList, dispatch, EXIT, errorReason } from './cli.ts';
import { accountCommands } from './commands/account.ts';
import { attestCommands } from './commands/attest.ts';
import { auditCommands } from './commands/audit.ts';
import { brokerCommands } from './commands/broker.ts';
import { caCommands } from './commands/ca.ts';
import { cborCommands } from './commands/cbor.ts';
import { contactCommands } from './commands/contact.ts';
import { coseCommands } from './commands/cose.ts';
import { eventsCommands } from './commands/events.ts';
import { fwImageCommands } from './commands/fw.ts';
import { fwFlashCommands } from './commands/fw-flash.ts';
import { keyCommands } from './commands/key.ts';
import { keyEmergencyCommands } from './commands/key-emergency.ts';
import { keyLifecycleCommands } from './commands/key-lifecycle.ts';
import { keySessionCommands } from './commands/key-session.ts';
import { postureCommands } from './commands/posture.ts';
import { revocationCommands } from './commands/revocation.ts';
import { simCommands } from './commands/sim.ts';
import { simControlCommands } from './commands/sim-control.ts';
import { simOsdCommands } from './commands/sim-osd.ts';
import { simRunCommands } from './commands/sim-run.ts';
import { stationCommands } from './commands/station.ts';

/** Every command of the CLI (the table `dispatch` chooses from). */
export const COMMANDS: readonly Command[] = [
  ...simCommands,
  ...simRunCommands,
  ...simControlCommands,
  ...simOsdCommands,
  ...keyCommands,
  ...keySessionCommands,
  ...keyLifecycleCommands,
  ...keyEmergencyCommands,
  ...fwImageCommands,
  ...fwFlashCommands,
  ...cborCommands,
  ...coseCommands,
  ...attestCommands,
  ...auditCommands,
  ...caCommands,
  ...revocationCommands,
  ...stationCommands,
  ...accountCommands,
  ...eventsCommands,
  ...brokerCommands,
  ...contactCommands,
  ...postureCommands,
];

/** The CLI's version (of the package that installs the `enigm` binary). */
export const VERSION: string = pkg.version;

function usage(): string {
  return [
    'enigm — Enigm device suite CLI',
    '',
    'Usage: enigm <command> [options]   (enigm <command> --help for details)',
    '       enigm <group>               (lists the commands of a group: sim, key, fw, cbor, cose, attest, ca, audit, revocation, station, events, broker, contact, posture)',
    '       enigm --version',
    '',
    'Commands:',
    commandList(COMMANDS),
    '',
    'Every command accepts --json (machine-readable output) and --help (which also lists its',
    'short options, e.g. -p for --port).',
    'Exit codes: 0 success, 1 run-time failure (a Key that does not answer, a missing or corrupt',
    'input file, an invalid signature), 2 command-line misuse only.',
    '',
    'Environment:',
    '  ENIGM_HOME      where this host keeps its key (host-key.pem) and known Keys',
    '                  (known-keys.json); default ~/.config/enigm',
    '  ENIGM_SIM_DIR   simulator state folder (ports ttyKEYn, simulator.json) used by sim start',
    '                  and key list; default .sim-state in the current folder',
    '  ENIGM_BLE_ADAPTER  the Bluetooth LE adapter for ble:NAME ports and key list --ble: system',
    "                  (default), sim or sim:D (the virtual adapter of 'enigm sim start --ble'),",
    '                  or tcp://127.0.0.1:PORT',
    '  ENIGM_CA_PASSPHRASE  the CA passphrase for enigm ca (else --passphrase-file F or a',
    '                  prompt; never an argument)',
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(`${usage()}\n`);
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    if (argv.includes('--json')) process.stdout.write(`${JSON.stringify({ ok: true, version: VERSION })}\n`);
    else process.stdout.write(`enigm ${VERSION}\n`);
    return EXIT.ok;
  }
  return dispatch(COMMANDS, argv, usage());
}

function isEntry(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

/**
 * Ends the process quietly when a reader closes our output (`enigm … | head -1`): exit 1, since
 * the output was cut short, but no message and no stack trace.
 */
function exitQuietlyOnClosedOutput(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') process.exit(EXIT.failure);
    fatal(e);
  });
}

/** Last resort: one line with a code and a reason, never a stack trace (ENIGM_DEBUG=1 shows it). */
function fatal(e: unknown): void {
  const r = errorReason(e);
  const detail = process.env.ENIGM_DEBUG ? `\n${(e as Error)?.stack ?? ''}` : '';
  try {
    process.stderr.write(`enigm: internal error: ${r.code ? `${r.code}: ` : ''}${r.message}${detail}\n`);
  } catch {
    // stderr is gone too
  }
  process.exit(EXIT.failure);
}

if (isEntry()) {
  exitQuietlyOnClosedOutput(process.stdout);
  exitQuietlyOnClosedOutput(process.stderr);
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, fatal);
}
