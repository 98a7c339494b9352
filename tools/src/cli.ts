/**
 * Shared plumbing of the `enigm` CLI: argument parsing, output in human or `--json` form, exit
 * codes (0 success, 1 failure, 2 usage error). Commands stay thin: parse, call a library, print.
 * @module
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Exit codes. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A usage error: bad or missing arguments. Exits with 2 and prints the command's help hint. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Output sink: human text or JSON lines, never both. */
export interface Output {
  readonly json: boolean;
  /** Prints a human line (suppressed under --json). */
  line(text: string): void;
  /** Prints a JSON value as one line (only under --json). */
  data(value: unknown): void;
  /** Prints a diagnostic to stderr (both modes). */
  warn(text: string): void;
}

/** Makes an {@link Output} writing to the process streams. */
export function makeOutput(json: boolean): Output {
  return {
    json,
    line: (t) => {
      if (!json) process.stdout.write(`${t}\n`);
    },
    data: (v) => {
      if (json) process.stdout.write(`${JSON.stringify(v, jsonReplacer)}\n`);
    },
    warn: (t) => process.stderr.write(`${t}\n`),
  };
}

/** JSON replacer: bytes as hex, bigints as decimal strings. */
export function jsonReplacer(_k: string, v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (typeof v === 'bigint') return v.toString();
  return v;
}

/** One CLI command. */
export interface Command {
  /** e.g. `key info` */
  readonly name: string;
  /** One-line summary for the command list. */
  readonly summary: string;
  /** Full help text (usage, options, examples). */
  readonly help: string;
  /** Option declarations for node:util parseArgs (`json` and `help` are added). */
  readonly options: NonNullable<ParseArgsConfig['options']>;
  /** Whether positional arguments are accepted. */
  readonly positionals?: boolean;
  /** Runs the command; resolves with the exit code. */
  run(args: ParsedArgs, out: Output): Promise<number>;
}

/** Parsed arguments of a command. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/**
 * Parses argv for one command.
 * @throws {@link UsageError} on unknown options or bad values
 */
export function parseCommandArgs(cmd: Command, argv: string[]): ParsedArgs {
  try {
    const r = parseArgs({
      args: argv,
      options: { ...cmd.options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: cmd.positionals ?? false,
      strict: true,
    });
    return { values: r.values as ParsedArgs['values'], positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Reads a string option. */
export function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

/**
 * Reads an integer option within bounds.
 * @throws {@link UsageError} if not an integer in [min, max]
 */
export function int(args: ParsedArgs, name: string, dflt: number, min: number, max: number): number {
  const v = str(args, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got ${v}`);
  return n;
}

/**
 * Finds the command `argv` names, parses its options, runs it, and turns errors into exit codes:
 * a {@link UsageError} (or an unknown command) is 2, any other error is 1 with its code and message
 * (and `{ ok: false, error }` under `--json`).
 * @param commands - the commands to choose from
 * @param argv - arguments without node and script, e.g. `['key', 'info', '--port', 'P']`
 * @param usage - text printed after an unknown command
 */
export async function dispatch(commands: readonly Command[], argv: string[], usage = ''): Promise<number> {
  const cmd = commands.find((c) => c.name.split(' ').every((p, i) => argv[i] === p));
  if (!cmd) {
    process.stderr.write(`enigm: unknown command '${argv.slice(0, 2).join(' ')}'\n${usage ? `\n${usage}\n` : ''}`);
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
