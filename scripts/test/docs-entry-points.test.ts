/**
 * The package docs say what the packages really export and import (issue 8 item 7: package
 * READMEs describe what their package really holds; docs/architecture.md lists the entry points):
 * every `exports` subpath of every workspace package is named in docs/architecture.md's entry-point
 * table and in the package's own README, the table names nothing that is not exported, and each
 * package README's "May import:" line equals the rule `scripts/boundaries.ts` enforces
 * (`PACKAGE_RULES`).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { PACKAGE_RULES } from '../boundaries.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Every public entry point (`@enigm/x` or `@enigm/x/sub`) of every workspace package. */
function entryPoints(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const folder of Object.keys(PACKAGE_RULES)) {
    const pkg = JSON.parse(read(`${folder}/package.json`)) as { name: string; exports?: Record<string, string> };
    out.set(
      folder,
      Object.keys(pkg.exports ?? {}).map((sub) => (sub === '.' ? pkg.name : `${pkg.name}${sub.slice(1)}`)),
    );
  }
  return out;
}

/**
 * The entry points named in the first column of the "Public entry points" table of
 * `architecture`: `@enigm/x/a`, or `@enigm/x/a`, `…/b` (the same package's `b`).
 */
function tableEntryPoints(architecture: string): string[] {
  const section = architecture.split(/^### Public entry points$/m)[1]?.split(/^#/m)[0] ?? '';
  const names: string[] = [];
  for (const row of section.split('\n').filter((l) => l.startsWith('| `'))) {
    const cell = row.split('|')[1] ?? '';
    let pkg = '';
    for (const [, name] of cell.matchAll(/`([^`]+)`/g)) {
      if (name?.startsWith('@enigm/')) {
        pkg = name.split('/').slice(0, 2).join('/');
        names.push(name);
      } else if (name?.startsWith('…/') && pkg) names.push(`${pkg}/${name.slice(2)}`);
    }
  }
  return names;
}

/**
 * The packages a README's `May import:` line names (before any parenthesis), or `[]` for
 * "nothing"; undefined when the README has no such line or more than one.
 */
function mayImport(readme: string): string[] | undefined {
  const lines = readme.split('\n').filter((l) => l.startsWith('May import:'));
  if (lines.length !== 1) return undefined;
  const list = (lines[0] as string).slice('May import:'.length).split(' (')[0] as string;
  const names = [...list.matchAll(/`@enigm\/([\w-]+)`/g)].map((m) => m[1] as string);
  if (names.length === 0 && !/\bnothing\b/.test(list)) return undefined;
  return names;
}

test('docs/architecture.md names every exports subpath of every package, and nothing else', (t) => {
  const all = [...entryPoints().values()].flat().sort();
  t.true(all.includes('@enigm/protocols/emergency') && all.includes('@enigm/mqtt/broker'), 'every package is read');
  t.deepEqual([...new Set(tableEntryPoints(read('docs/architecture.md')))].sort(), all);
});

test("each package's README names each of its entry points", (t) => {
  for (const [folder, names] of entryPoints()) {
    t.true(existsSync(join(ROOT, folder, 'README.md')), `${folder}/README.md exists`);
    const readme = read(`${folder}/README.md`);
    t.deepEqual(
      names.filter((n) => !readme.includes(`\`${n}\``)),
      [],
      `${folder}/README.md must name these entry points`,
    );
  }
});

test("each package README's 'May import:' line is the enforced rule (PACKAGE_RULES)", (t) => {
  for (const [folder, may] of Object.entries(PACKAGE_RULES)) {
    const line = mayImport(read(`${folder}/README.md`));
    t.deepEqual(line && [...line].sort(), [...may].sort(), `${folder}/README.md "May import:" line`);
  }
});

test('the checks fail on drift: a missing subpath, a stale may-import line, no line at all', (t) => {
  const table = [
    '### Public entry points',
    '',
    '| entry point | holds |',
    '|---|---|',
    '| `@enigm/protocols/errors`, `…/bytes` | errors; hex |',
    '| `@enigm/mqtt` | the link (not `@enigm/protocols/cbor`, only the first cell counts) |',
    '',
    '## Next',
    '| `@enigm/sim` | after the section: not counted |',
  ].join('\n');
  t.deepEqual(tableEntryPoints(table), ['@enigm/protocols/errors', '@enigm/protocols/bytes', '@enigm/mqtt']);
  t.deepEqual(mayImport('x\nMay import: `protocols/` only.\n'), undefined, 'the old wording names no package');
  t.deepEqual(mayImport('May import: `@enigm/protocols` (never `@enigm/sim`)'), ['protocols']);
  t.deepEqual(mayImport('May import: nothing in the repository.'), []);
  t.is(mayImport('Its source may import `@enigm/protocols`.'), undefined);
  t.not(mayImport('May import: `@enigm/protocols`')?.join(), PACKAGE_RULES.sim?.join(), 'sim also may import mqtt');
});

test('README.md says the packages export TypeScript sources and shows how to run each example', (t) => {
  const readme = read('README.md');
  t.regex(readme, /export their TypeScript sources/);
  t.regex(readme, /TypeScript-aware\s+loader/);
  const examples = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.ts'));
  t.true(examples.includes('flash-a-key.ts'));
  for (const f of examples)
    t.true(readme.includes(`node --import tsx examples/${f}`), `README.md shows how to run examples/${f}`);
});
