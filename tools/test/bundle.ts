/**
 * Test helper: builds the `enigm` bundle once per test file with `scripts/build.mjs`, never into
 * the working tree's `dist/`. Not a test file itself (no `.test.ts`).
 *
 * - `where: 'repo'` builds into `node_modules/.cache/enigm-test-<pid>/` (ignored by git), where the
 *   bundle still finds the native serial addon in `node_modules`, as an installed CLI does;
 * - `where: 'outside'` builds into a fresh folder under the system temp folder, outside the
 *   repository, as a user who copied `dist/enigm.mjs` has it.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** The repository root (two folders above this file). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A built bundle and how to remove it. */
export interface Bundle {
  /** Absolute path of the bundled `enigm.mjs`. */
  readonly cli: string;
  /** Removes the folder it was built in. */
  remove(): void;
}

/**
 * Builds the bundle with the project's build script.
 * @param where - `'repo'` (finds node_modules) or `'outside'` (a temp folder outside the repository)
 * @returns the bundle's path and a remover
 */
export async function buildBundle(where: 'repo' | 'outside'): Promise<Bundle> {
  let dir: string;
  if (where === 'outside') dir = mkdtempSync(join(tmpdir(), 'enigm-bundle-'));
  else {
    const cache = join(REPO_ROOT, 'node_modules', '.cache');
    mkdirSync(cache, { recursive: true });
    dir = mkdtempSync(join(cache, `enigm-test-${process.pid}-`));
  }
  const cli = join(dir, 'enigm.mjs');
  await exec(process.execPath, [join(REPO_ROOT, 'scripts', 'build.mjs'), '--outfile', cli], { cwd: REPO_ROOT });
  return { cli, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
