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
