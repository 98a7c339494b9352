/**
 * The `enigm` CLI's exit codes and its two error classes: {@link UsageError} (command-line
 * misuse, exit 2) and {@link CliError} (a run-time failure the CLI detects itself, exit 1, with a
 * stable {@link CliErrorCode}). Re-exported by `cli.ts`, where commands import them from.
 * @module
 */

/** Exit codes. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A usage error: bad or missing arguments. Exits with 2 and prints the command's help hint. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Stable codes of {@link CliError}. */
export type CliErrorCode =
  /** an input file (or stdin) does not exist */
  | 'INPUT_NOT_FOUND'
  /** an input file exists but cannot be read (permissions, a directory, an I/O error) */
  | 'INPUT_UNREADABLE'
  /** an input was read but its content is not what the command needs (not JSON, not PEM, …) */
  | 'INPUT_INVALID'
  /** an input is empty */
  | 'INPUT_EMPTY'
  /** an output file cannot be written */
  | 'OUTPUT_FAILED';

/** A run-time failure detected by the CLI itself (exit 1), with a stable code and a human reason. */
export class CliError extends Error {
  override readonly name = 'CliError';
  /**
   * @param code - stable machine-readable code
   * @param message - human reason; names the file and flag, never echoes file content
   * @param options - optional `cause`
   */
  constructor(
    readonly code: CliErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** `{ name, code, message }` for `--json` output. */
  toJSON(): { name: string; code: CliErrorCode; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}
