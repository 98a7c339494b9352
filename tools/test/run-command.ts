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
