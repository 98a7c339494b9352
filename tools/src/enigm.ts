#!/usr/bin/env node
/**
 * `enigm` — the Enigm device suite CLI. Each subcommand parses arguments and calls a library.
 * Exit codes: 0 success, 1 failure, 2 usage error. Every command takes `--json` and `--help`.
 * @module
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Command, dispatch, EXIT } from './cli.ts';
import { attestCommands } from './commands/attest.ts';
import { cborCommands } from './commands/cbor.ts';
import { coseCommands } from './commands/cose.ts';
import { fwImageCommands } from './commands/fw.ts';
import { fwFlashCommands } from './commands/fw-flash.ts';
import { keyCommands } from './commands/key.ts';
import { keySessionCommands } from './commands/key-session.ts';
import { simCommands } from './commands/sim.ts';

const COMMANDS: Command[] = [
  ...simCommands,
  ...keyCommands,
  ...keySessionCommands,
  ...fwImageCommands,
  ...fwFlashCommands,
  ...cborCommands,
  ...coseCommands,
  ...attestCommands,
];

function usage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'enigm — Enigm device suite CLI',
    '',
    'Usage: enigm <command> [options]   (enigm <command> --help for details)',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Every command accepts --json (machine-readable output) and --help.',
    'Exit codes: 0 success, 1 failure, 2 usage error.',
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(`${usage()}\n`);
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
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

if (isEntry()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`enigm: internal error: ${(e as Error).stack ?? e}\n`);
      process.exitCode = EXIT.failure;
    },
  );
}
