/**
 * A copied CLI bundle (`dist/enigm.mjs` alone, outside the repository, no node_modules) serves the
 * control API and the dashboard: `scripts/build.mjs` embeds the prebuilt page, and `ws` is bundled.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { stopChild } from '../src/child-stop.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

test('a copied bundle serves the dashboard (prebuilt, no esbuild) and the control commands work through it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'enigm-control-bundle-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const bundle = join(dir, 'enigm.mjs');
  await run(process.execPath, ['scripts/build.mjs', '--outfile', bundle], { cwd: ROOT });
  const proc = spawn(process.execPath, [bundle, 'sim', 'start', '--no-serial', '--json', '--state-dir', join(dir, 'st')], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  t.teardown(() => stopChild(proc));
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const ready = await new Promise<{ control?: { url: string; dashboard: string } } | undefined>((resolve) => {
    createInterface({ input: proc.stdout }).on('line', (l) => {
      if (l.includes('"ready"')) resolve(JSON.parse(l));
    });
    void exited.then(() => resolve(undefined));
  });
  t.truthy(ready?.control, stderr);
  const page = await fetch(ready?.control?.dashboard ?? '');
  t.is(page.status, 200);
  const html = await page.text();
  t.regex(html, /<script>.+<\/script>/s);
  t.regex(page.headers.get('content-security-policy') ?? '', /script-src 'sha256-[A-Za-z0-9+/=]+'/);
  const keys = await run(process.execPath, [bundle, 'sim', 'keys', '--json', '--state-dir', join(dir, 'st')], { cwd: dir });
  t.is(JSON.parse(keys.stdout).keys.length, 1);
});
