/**
 * Shared plumbing of the `enigm` CLI: argument parsing, output in human or `--json` form, exit
 * codes, reading input files, and turning errors into a stable code and a human reason.
 *
 * Exit codes: 0 success; 1 anything that fails at run time (a Key that does not answer, a missing
 * or corrupt input file, an invalid signature); 2 only command-line misuse (an unknown command or
 * option, a missing required option, a malformed option value). Commands throw
 * {@link UsageError} for misuse and any error with a `code` for the rest; input files are read
 * with {@link readInputFile} / {@link readTextFile} / {@link readJsonFile}, which throw
 * {@link CliError} (`INPUT_NOT_FOUND`, `INPUT_UNREADABLE`, `INPUT_INVALID`, `INPUT_EMPTY`, exit 1).
 * The exit codes and the two error classes live in `cli-errors.ts` (re-exported here).
 * @module
 */

import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { writeFileAtomicSync } from '@enigm/attestation';
import { toHex } from '@enigm/protocols/bytes';
import { isLogLevel, LOG_LEVELS, type LogLevel, type SimLogger } from '@enigm/sim';
import { CliError, EXIT, UsageError } from './cli-errors.ts';

export { CliError, type CliErrorCode, EXIT, UsageError } from './cli-errors.ts';

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
  if (v instanceof Uint8Array) return toHex(v);
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
  /**
   * Runs until interrupted (or for minutes): it takes {@link LOG_OPTIONS} (`--log-level L |
   * --verbose`, added and checked by {@link parseCommandArgs}; read with {@link logLevel}), and its
   * help lists them ({@link logOptionsHelp}).
   */
  readonly longRunning?: boolean;
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
  const options = { ...cmd.options, ...(cmd.longRunning ? LOG_OPTIONS : {}) };
  let parsed: ParsedArgs;
  try {
    const r = parseArgs({
      args: joinNegativeValues(options, argv),
      options: { ...options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: cmd.positionals ?? false,
      strict: true,
    });
    parsed = { values: r.values as ParsedArgs['values'], positionals: r.positionals };
  } catch (e) {
    throw new UsageError(parseArgsReason(e as Error & { code?: string }));
  }
  if (cmd.longRunning && parsed.values.help !== true) logLevel(parsed, 'info');
  return parsed;
}

/**
 * A parseArgs error in the CLI's words: Node's text (e.g. "To specify a positional argument
 * starting with a '-', place it at the end of the command after '--'…") names no flag a user can
 * act on.
 */
function parseArgsReason(err: Error & { code?: string }): string {
  const quoted = /'([^']*)'/.exec(err.message)?.[1] ?? '';
  const ambiguous = /^Option '(-[^']*)' argument is ambiguous/.exec(err.message);
  if (ambiguous) {
    const long = /use '(--[\w-]+)=/.exec(err.message)?.[1] ?? ambiguous[1];
    return `${ambiguous[1]} needs a value; for a value starting with '-' write ${long}=VALUE`;
  }
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${quoted}'`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${JSON.stringify(quoted)}: this command takes options only`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const long = /--[\w-]+/.exec(quoted)?.[0] ?? quoted;
      return / argument missing$/.test(err.message) ? `${long} needs a value` : `${long} takes no value`;
    }
    default:
      return err.message.split('\n')[0] ?? err.message;
  }
}

/**
 * How a user runs this CLI, for the commands shown in hints: `enigm` from the bundle
 * (`dist/enigm.mjs`, installed as the `enigm` binary), `npm run enigm --` from the sources (the
 * module's own URL ends in `.ts` only there).
 * @param moduleUrl - the URL of this module (default `import.meta.url`; tests pass others)
 * @example `Try:  ${cliInvocation()} key info --port …`
 */
export function cliInvocation(moduleUrl: string = import.meta.url): string {
  return moduleUrl.endsWith('.ts') ? 'npm run enigm --' : 'enigm';
}

/** The shared logging options of every long-running command ({@link Command.longRunning}). */
export const LOG_OPTIONS = {
  'log-level': { type: 'string' },
  verbose: { type: 'boolean' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/**
 * The help lines of {@link LOG_OPTIONS}.
 * @param dflt - the command's default level
 * @param what - what the command logs, e.g. `'links opened/closed, rejected frames'`
 */
export function logOptionsHelp(dflt: LogLevel, what: string): string {
  return `  --log-level L   ${LOG_LEVELS.join(', ')} (default ${dflt}): ${what}, on stderr; never message
                  content or key material
  --verbose       same as --log-level debug`;
}

/**
 * The log level `--log-level L` or `--verbose` (= debug) asks for.
 * @param dflt - the level when neither is given
 * @throws {@link UsageError} for an unknown level, or `--verbose` with another level
 * @example const log = createLogger(logLevel(args, 'info'));
 */
export function logLevel(args: ParsedArgs, dflt: LogLevel): LogLevel {
  const given = str(args, 'log-level');
  const verbose = args.values.verbose === true;
  if (given === undefined) return verbose ? 'debug' : dflt;
  if (!isLogLevel(given))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(given)}`);
  if (verbose && given !== 'debug')
    throw new UsageError(`--verbose is --log-level debug; it does not go with --log-level ${given}`);
  return given;
}

/**
 * A logger for the CLI's own long-running commands: each message as one plain line on stderr
 * (the simulator's timestamped format is `createLogger` in `@enigm/sim`). Messages hold metadata
 * only (counts, codes, states), never content.
 * @param level - lines above this level are dropped
 * @param sink - receives each line with its newline (default stderr)
 */
export function stderrLogger(level: LogLevel, sink: (line: string) => void = (l) => void process.stderr.write(l)): SimLogger {
  const rank = LOG_LEVELS.indexOf(level);
  const at = (l: Exclude<LogLevel, 'silent'>) => (message: string) => {
    if (LOG_LEVELS.indexOf(l) <= rank) sink(`${message}\n`);
  };
  return { level, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

/**
 * `--count -1` → `--count=-1`, so a negative number given to a value option reaches the option's
 * own range check (a clear "must be an integer in [1, …], got -1") instead of parseArgs'
 * "argument is ambiguous".
 */
function joinNegativeValues(options: Command['options'], argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = argv[i + 1];
    const name = a.startsWith('--')
      ? a.slice(2)
      : a.length === 2 && a.startsWith('-')
        ? shortName(options, a[1] as string)
        : undefined;
    if (name && !a.includes('=') && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

function shortName(options: Command['options'], short: string): string | undefined {
  return Object.entries(options).find(([, o]) => o.short === short)?.[0];
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
  const n = v.trim() === '' ? Number.NaN : Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return n;
}

/** A file name as shown in messages: quoted, control characters escaped. */
export function showPath(path: string): string {
  return JSON.stringify(path);
}

/** Human reasons for the file-system errors a user meets. */
const FS_REASONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a component of the path is not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
};

/**
 * Writes an output file atomically: a temp file in the same folder, fsync, rename — a reader never
 * sees half a file, and a failure leaves the old file (or none) in place.
 * @param what - how the user named it, e.g. `--out`, `IMAGE` (used in the message)
 * @throws {@link CliError} `OUTPUT_FAILED` with a human reason (exit 1)
 * @example writeOutputFile('report.json', text, '--out');
 */
export function writeOutputFile(path: string, data: string | Uint8Array, what: string, mode = 0o644): void {
  try {
    writeFileAtomicSync(path, data, { mode });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'its folder does not exist'
        : code === 'EISDIR'
          ? 'it is a directory'
          : code
            ? (FS_REASONS[code] ?? code)
            : (e as Error).message;
    throw new CliError('OUTPUT_FAILED', `cannot write ${what} ${showPath(path)}: ${why}`, { cause: e });
  }
}

/** The errno code of a Node system error, if `e` is one. */
function systemCode(e: unknown): string | undefined {
  const x = e as { code?: unknown; syscall?: unknown };
  return typeof x?.code === 'string' && typeof x.syscall === 'string' ? x.code : undefined;
}

/** The human reason of a file-system error, without Node's `ENOENT: …, open 'x'` decoration. */
function fsReason(e: unknown): string {
  const code = systemCode(e);
  if (code && FS_REASONS[code]) return FS_REASONS[code];
  return stripCodePrefix(e instanceof Error ? e.message : String(e), code);
}

function fsError(e: unknown, what: string, path: string): CliError {
  const code = systemCode(e) === 'ENOENT' ? 'INPUT_NOT_FOUND' : 'INPUT_UNREADABLE';
  return new CliError(code, `cannot read ${what} ${showPath(path)}: ${fsReason(e)}`, { cause: e });
}

/**
 * Reads an input file as bytes.
 * @param path - the file name as the user gave it
 * @param what - what the file is, for the message, e.g. `'firmware image'`, `'--expect file'`
 * @returns the file's bytes
 * @throws {@link CliError} `INPUT_NOT_FOUND` if it does not exist, `INPUT_UNREADABLE` if it
 *   cannot be read (exit 1, never 2: a missing file is a run-time failure, not misuse)
 * @example
 * const image = readInputFile(file, 'firmware image');
 */
export function readInputFile(path: string, what = 'file'): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw fsError(e, what, path);
  }
}

/**
 * Reads an input file as UTF-8 text (e.g. a PEM key).
 * @throws {@link CliError} as {@link readInputFile}
 */
export function readTextFile(path: string, what = 'file'): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw fsError(e, what, path);
  }
}

/**
 * Reads and parses a JSON input file. The message of a parse error gives the position, never
 * the file's content.
 * @returns the parsed value (unchecked: the caller validates its shape)
 * @throws {@link CliError} as {@link readInputFile}; `INPUT_INVALID` if it is not JSON
 * @example
 * const reference = readJsonFile<KeyReferenceValues>(expect, '--expect file');
 */
export function readJsonFile<T = unknown>(path: string, what = 'file'): T {
  const text = readTextFile(path, what);
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    const where = text.trim() === '' ? ' (it is empty)' : at === undefined ? '' : ` (error at character ${at})`;
    throw new CliError('INPUT_INVALID', `${what} ${showPath(path)} is not valid JSON${where}`, { cause: e });
  }
}

/** Reads all of stdin. */
export async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

/**
 * Reads FILE, or all of stdin for `-`.
 * @param path - a file name or `-`
 * @param what - what the input is, for messages
 * @param options - `allowEmpty` (default false): accept an empty input
 * @throws {@link CliError} as {@link readInputFile}; `INPUT_EMPTY` if empty and not allowed
 */
export async function readInput(path: string, what = 'input', options: { allowEmpty?: boolean } = {}): Promise<Uint8Array> {
  const bytes = path === '-' ? await readStdin() : readInputFile(path, what);
  if (bytes.length === 0 && !options.allowEmpty) {
    throw new CliError('INPUT_EMPTY', `${what} ${path === '-' ? '(stdin)' : showPath(path)} is empty`);
  }
  return bytes;
}

/** Drops a leading `CODE: ` from `message` when the code is shown separately. */
function stripCodePrefix(message: string, code: string | undefined): string {
  return code && message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message;
}

/** `{ code, message }` of any thrown value, as shown to the user: one stable code, one reason. */
export function errorReason(e: unknown): { name: string; code?: string; message: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  const x = err as Error & { code?: unknown; toJSON?: () => unknown };
  const code = typeof x.code === 'string' ? x.code : undefined;
  const message = systemCode(err) ? `${fsReason(err)}${describeSyscall(err)}` : stripCodePrefix(err.message, code);
  return code ? { name: err.name, code, message } : { name: err.name, message };
}

function describeSyscall(e: unknown): string {
  const x = e as { syscall?: string; path?: string };
  return x.path ? ` (${x.syscall} ${showPath(x.path)})` : '';
}

/** The short aliases of a command's options, e.g. `-p = --port`, for its help. */
function shortOptionsHelp(cmd: Command): string {
  const pairs = Object.entries(cmd.options)
    .filter(([, o]) => typeof o.short === 'string')
    .map(([name, o]) => `-${o.short} = --${name}`);
  return pairs.length === 0 ? '' : `\n\nShort options: ${pairs.join(', ')}, -h = --help.`;
}

/** The command list of a group (`key`, `fw`, …) or of everything, as help text. */
export function commandList(commands: readonly Command[], group?: string): string {
  const shown = group === undefined ? commands : commands.filter((c) => c.name.split(' ')[0] === group);
  const w = Math.max(...shown.map((c) => c.name.length));
  return shown.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join('\n');
}

function groupUsage(commands: readonly Command[], group: string): string {
  return [
    `Usage: enigm ${group} <command> [options]   (enigm ${group} <command> --help for details)`,
    '',
    'Commands:',
    commandList(commands, group),
  ].join('\n');
}

/**
 * Finds the command `argv` names, parses its options, runs it, and turns errors into exit codes:
 * a {@link UsageError} (or an unknown command) is 2, any other error is 1 with its code and message
 * (and `{ ok: false, error }` under `--json`). A group name alone (`enigm key`) lists the group's
 * commands (exit 0 with `--help`, else 2: a command is missing).
 * @param commands - the commands to choose from
 * @param argv - arguments without node and script, e.g. `['key', 'info', '--port', 'P']`
 * @param usage - text printed after an unknown command
 */
export async function dispatch(commands: readonly Command[], argv: string[], usage = ''): Promise<number> {
  const cmd = commands.find((c) => c.name.split(' ').every((p, i) => argv[i] === p));
  if (!cmd) {
    const group = argv[0];
    const inGroup = group !== undefined && commands.some((c) => c.name.split(' ')[0] === group);
    if (inGroup) {
      const sub = argv[1];
      if (sub === '--help' || sub === '-h') {
        process.stdout.write(`${groupUsage(commands, group)}\n`);
        return EXIT.ok;
      }
      const what =
        sub === undefined || sub.startsWith('-')
          ? `enigm ${group}: a command is missing`
          : `enigm: unknown command '${group} ${sub}'`;
      process.stderr.write(`${what}\n\n${groupUsage(commands, group)}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`enigm: unknown command '${argv.slice(0, 2).join(' ')}'\n${usage ? `\n${usage}\n` : ''}`);
    return EXIT.usage;
  }
  const rest = argv.slice(cmd.name.split(' ').length);
  const json = rest.includes('--json');
  const out = makeOutput(json);
  try {
    const args = parseCommandArgs(cmd, rest);
    if (args.values.help) {
      process.stdout.write(`${cmd.help}${shortOptionsHelp(cmd)}\n`);
      return EXIT.ok;
    }
    return await cmd.run(args, out);
  } catch (e) {
    if (e instanceof UsageError) {
      if (json) out.data({ ok: false, error: { name: 'UsageError', message: e.message } });
      process.stderr.write(`enigm ${cmd.name}: ${e.message}\nTry 'enigm ${cmd.name} --help'.\n`);
      return EXIT.usage;
    }
    const reason = errorReason(e);
    const err = e as { toJSON?: () => unknown };
    if (json) out.data({ ok: false, error: typeof err?.toJSON === 'function' ? err.toJSON() : reason });
    process.stderr.write(`enigm ${cmd.name}: ${reason.code ? `${reason.code}: ` : ''}${reason.message}\n`);
    return EXIT.failure;
  }
}
