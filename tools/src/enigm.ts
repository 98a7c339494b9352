#!/usr/bin/env node
/**
 * `enigm` — the Enigm device suite CLI. Each subcommand parses arguments and calls a library.
 * Exit codes: 0 success, 1 failure, 2 usage error. Every command takes `--json` and `--help`.
 * @module
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Command, EXIT, makeOutput, parseCommandArgs, UsageError } from './cli.ts';
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
  const cmd = COMMANDS.find((c) => {
    const parts = c.name.split(' ');
    return parts.every((p, i) => argv[i] === p);
  });
  if (!cmd) {
    process.stderr.write(`enigm: unknown command '${argv.slice(0, 2).join(' ')}'\n\n${usage()}\n`);
    return EXIT.usage;
  }
  const rest = argv.slice(cmd.name.split(' ').length);
  const json = rest.includes('--json');
  const out = makeOutput(json);
  try {
    const args = parseCommandArgs(cmd, rest);
    if (args.values.help) {
      process.stdout.write(`${cmd.help}\n`);
      return EXIT.ok;
    }
    return await cmd.run(args, out);
  } catch (e) {
    const err = e as Error & { code?: string; toJSON?: () => unknown };
    if (e instanceof UsageError) {
      if (json) out.data({ ok: false, error: { name: 'UsageError', message: err.message } });
      process.stderr.write(`enigm ${cmd.name}: ${err.message}\nTry 'enigm ${cmd.name} --help'.\n`);
      return EXIT.usage;
    }
    if (json) out.data({ ok: false, error: err.toJSON ? err.toJSON() : { name: err.name, message: err.message } });
    process.stderr.write(`enigm ${cmd.name}: ${err.code ? `${err.code}: ` : ''}${err.message}\n`);
    return EXIT.failure;
  }
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
