/**
 * The programs under `examples/` run as a user runs them (`node --import tsx examples/<file>`,
 * from the repository root) and import only the packages' public entry points: a specifier that
 * is not a `node:` built-in must be a package's name plus a subpath its `exports` map lists.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { hasSocat } from '@enigm/sim';
import test from 'ava';

const exec = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXAMPLES = join(ROOT, 'examples');
const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;

/** Every import specifier in a TypeScript source (static imports and re-exports). */
function importsOf(source: string): string[] {
  return [...source.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1] as string);
}

/** `@enigm/<pkg>[/<sub>]` → whether `<pkg>`'s exports map lists `./<sub>` (or `.`). */
function isPublicEntry(spec: string): boolean {
  const m = /^@enigm\/([a-z-]+)(\/.*)?$/.exec(spec);
  if (!m) return false;
  let exportsMap: Record<string, string>;
  try {
    exportsMap = JSON.parse(readFileSync(join(ROOT, m[1] as string, 'package.json'), 'utf8')).exports ?? {};
  } catch {
    return false;
  }
  return `.${m[2] ?? ''}` in exportsMap;
}

test('examples import only node built-ins and public entry points of @enigm packages', (t) => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.ts'));
  t.true(files.includes('flash-a-key.ts'));
  for (const f of files) {
    const specs = importsOf(readFileSync(join(EXAMPLES, f), 'utf8'));
    t.true(specs.length > 0, `${f} imports something`);
    for (const s of specs) t.true(s.startsWith('node:') || isPublicEntry(s), `${f} imports ${s}, not a public entry point`);
  }
  // the check itself tells a deep import from a public one
  t.true(isPublicEntry('@enigm/protocols/firmware'));
  t.false(isPublicEntry('@enigm/protocols/src/firmware/image.ts'));
  t.false(isPublicEntry('@enigm/key-firmware-host/src/key/key.ts'));
  t.false(isPublicEntry('../key-firmware-host/src/index.ts'));
  t.deepEqual(importsOf("import { a } from './x.ts';\nexport { b } from '@enigm/sim';\nimport type { C } from 'node:fs';"), [
    './x.ts',
    '@enigm/sim',
    'node:fs',
  ]);
});

realTest('examples/flash-a-key.ts starts a simulated Key, pairs, reads info, attests and flashes a signed image', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'enigm-example-home-'));
  try {
    const r = await exec(process.execPath, ['--import', 'tsx', 'examples/flash-a-key.ts'], {
      cwd: ROOT,
      timeout: 60_000,
      env: { ...process.env, ENIGM_HOME: home },
    }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    const code = 'code' in r ? r.code : 0;
    t.is(code, 0, r.stderr);
    const out = r.stdout;
    t.regex(out, /^simulated Key on \S+ttyKEY0$/m);
    t.regex(out, /^info: enigm-key-1 firmware 1\.0\.0, state factory, handle [0-9a-f]{32}$/m);
    t.regex(out, /^paired as owner; identity [0-9a-f]{16}… pinned$/m);
    t.regex(out, /^attested: model enigm-key-1, firmware 1\.0\.0, security counter 1$/m);
    const steps = [...out.matchAll(/^flash: (\w+)$/gm)].map((m) => m[1]);
    t.deepEqual(steps, ['upload', 'finish', 'test', 'health', 'confirm']);
    t.regex(out, /^ {2}100% \(65536\/65536 B\)$/m);
    t.regex(out, /^flashed 1\.1\.0: confirmed, security counter 2$/m);
    t.regex(out, /^the Key now runs 1\.1\.0$/m);
    t.regex(out, /^done$/m);
    t.is(readdirSync(home).length, 0, 'nothing written to ENIGM_HOME: the example keeps its files in a temp folder');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
