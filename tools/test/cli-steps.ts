/**
 * Test helper: the `enigm` command sequences several CLI tests set up with (a signed contact set, a
 * signed firmware image), run through whichever runner a test uses (in-process `runCommand` or the
 * bundled CLI in a child process). Not a test file itself (no `.test.ts`).
 */
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { CommandRun } from './run-command.ts';

/** Runs one `enigm` command line (e.g. `('fw', 'status', '--json')`) and returns what it printed. */
export type CliRunner = (...argv: string[]) => Promise<CommandRun>;

/**
 * The owner's signed contact set, made as users make it: the owner's signing key
 * (`cose keygen --out DIR/owner`), one contact's keys (`contact keygen --out DIR/NAME`) and the set
 * v1 naming that contact (`contact set-make … --out DIR/contacts.cose`). Asserts each step exits 0.
 * @param t - the test the assertions belong to
 * @param run - runs an `enigm` command line
 * @param dir - the folder the keys and the set are written to
 * @param contact - the contact's name (its keys are `DIR/NAME.key` / `DIR/NAME.pub`)
 * @returns the path of the signed set (`DIR/contacts.cose`)
 * @example
 * const set = await makeContactSet(t, (...argv) => runCommand(commands, argv), dir);
 */
export async function makeContactSet(t: ExecutionContext, run: CliRunner, dir: string, contact = 'alice'): Promise<string> {
  const f = (name: string) => join(dir, name);
  t.is((await run('cose', 'keygen', '--out', f('owner'))).code, 0);
  t.is((await run('contact', 'keygen', '--out', f(contact))).code, 0);
  const made = await run(
    'contact',
    'set-make',
    '--owner-key',
    f('owner.key'),
    '--version',
    '1',
    '--contact',
    `${contact}=${f(`${contact}.pub`)}`,
    '--out',
    f('contacts.cose'),
  );
  t.is(made.code, 0, made.stderr);
  return f('contacts.cose');
}

/** What {@link signFirmware} signs. */
export interface FirmwareSigning {
  /** The firmware signing key file (`--key`). */
  readonly key: string;
  /** The image's version (`--version`), e.g. `'2.0.0'`. */
  readonly version: string;
  /** The image's security counter (`--counter`). */
  readonly counter: number;
  /** Where the signed image is written (`--out`). */
  readonly out: string;
  /** The payload file to sign. */
  readonly payload: string;
  /** The Key model it is for (`--model`; default `'enigm-key-1'`). */
  readonly model?: string;
}

/**
 * Signs a firmware payload as a release does: `enigm fw sign --key K --model M --version V
 * --counter N --out OUT PAYLOAD`.
 * @param run - runs an `enigm` command line
 * @returns the command's run (the caller asserts on it)
 * @example
 * const signed = await signFirmware(run, { key, version: '2.0.0', counter: 2, out: 'fw.ekfw', payload: 'fw.bin' });
 * t.is(signed.code, 0, signed.stderr);
 */
export function signFirmware(run: CliRunner, o: FirmwareSigning): Promise<CommandRun> {
  return run(
    'fw',
    'sign',
    '--key',
    o.key,
    '--model',
    o.model ?? 'enigm-key-1',
    '--version',
    o.version,
    '--counter',
    String(o.counter),
    '--out',
    o.out,
    o.payload,
  );
}
