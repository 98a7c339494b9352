/**
 * Test helper: runs CLI commands in-process through the CLI's own `dispatch` (the `--help`,
 * `--json` and exit-code rules of `enigm`), capturing stdout and stderr. Lets a command group be
 * tested before it is registered in enigm.ts. Not a test file itself (no `.test.ts`).
 *
 * Captures by replacing `process.stdout.write` / `process.stderr.write` for the duration of the
 * call, so tests using it must run serially (`test.serial`).
 */
import { type Command, dispatch } from '../src/cli.ts';

/** What a run printed and returned. */
export interface CommandRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `argv` (e.g. `['cose', 'sign', '--key', 'k.key', 'f']`) against `commands`.
 * @returns exit code and captured output; never throws for command errors (they become exit 1/2)
 * @example
 * const { code, stdout } = await runCommand(coseCommands, ['cose', 'keygen', '--out', prefix, '--json']);
 */
export async function runCommand(commands: Command[], argv: string[]): Promise<CommandRun> {
  let stdout = '';
  let stderr = '';
  const realOut = process.stdout.write;
  const realErr = process.stderr.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await dispatch(commands, argv);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
  }
}

/** Options of {@link runCommandProcess}. */
export interface ProcessRunOptions {
  /** Bytes piped into stdin (stdin is closed after them; empty when absent). */
  stdin?: Uint8Array | string;
  /** Extra node arguments, e.g. `['--max-old-space-size=64']`. */
  nodeArgs?: string[];
  /** Kills the process after this many ms (default 60,000). */
  timeoutMs?: number;
  /**
   * Called with each piece of stderr as it arrives (the whole text is still returned), so a test
   * can wait for a line the command prints once it is ready (e.g. its "watching …" line).
   */
  onStderr?: (text: string) => void;
  /** Sends the process SIGINT (as Ctrl-C does) when aborted. */
  interrupt?: AbortSignal;
}

/**
 * Runs `argv` against one command module's exported commands in a child process (through the
 * same `dispatch`), for what an in-process run cannot show: stdin, memory limits, the process exit
 * code. Loads only that module, so other command groups cannot affect it.
 * @param module - the command module, e.g. `new URL('../src/commands/cbor.ts', import.meta.url)`
 * @param exportName - its export holding the commands, e.g. `'cborCommands'`
 * @example
 * const r = await runCommandProcess(new URL('../src/commands/cbor.ts', import.meta.url), 'cborCommands', ['cbor', 'decode', '-'], { stdin: '' });
 */
export async function runCommandProcess(
  module: URL,
  exportName: string,
  argv: string[],
  options: ProcessRunOptions = {},
): Promise<CommandRun> {
  const { spawn } = await import('node:child_process');
  const cli = new URL('../src/cli.ts', import.meta.url).href;
  const script = `import { dispatch } from ${JSON.stringify(cli)}; import { ${exportName} as commands } from ${JSON.stringify(module.href)}; process.exitCode = await dispatch(commands, process.argv.slice(1));`;
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--import', 'tsx', '--input-type=module', '-e', script, ...argv],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  // Decoded as a stream: a multi-byte character split between two reads stays one character.
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
    options.onStderr?.(c);
  });
  const onInterrupt = () => child.kill('SIGINT');
  options.interrupt?.addEventListener('abort', onInterrupt, { once: true });
  child.stdin.on('error', () => {}); // the command may exit before reading it all
  child.stdin.end(options.stdin ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const code = await new Promise<number>((resolve) => child.once('close', (c, signal) => resolve(c ?? (signal ? 128 : -1))));
  clearTimeout(timer);
  options.interrupt?.removeEventListener('abort', onInterrupt);
  return { code, stdout, stderr };
}
