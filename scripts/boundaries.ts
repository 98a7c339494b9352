/**
 * The package boundary check run by `npm run lint`: reads every import in the repository and fails
 * on imports the architecture forbids.
 *
 * Rules (see `docs/architecture.md`, whose table is rendered by {@link renderRulesTable}):
 * - a package's source (`<pkg>/src/**`) imports only the packages listed for it in
 *   {@link PACKAGE_RULES} (so protocols imports nothing in the repo, sim and key-firmware-host never
 *   import each other, nothing imports tools);
 * - tests (`<pkg>/test/**`), benchmarks, scripts and examples may use any package except tools, but
 *   only through its public entry points;
 * - no import reaches past a package's `exports`: a relative path into another top-level folder, or
 *   `@enigm/x/sub` where `./sub` is not in x's `exports`;
 * - every `@enigm/*` import in a package's source is declared in its `dependencies`, and the
 *   packages' dependency graph (from source imports) has no cycle;
 * - every third-party (bare, non-builtin) import in a package's source is declared in its
 *   `dependencies`, `peerDependencies` or `optionalDependencies`, and every package in its
 *   `dependencies` is imported by its source (test-only packages are devDependencies).
 *
 * Imports are read with a small scanner (comments stripped, strings kept) that sees `import`,
 * `import type`, `export … from`, dynamic `import()` and `require()` of a string literal;
 * type-only imports count like any other.
 * @module
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** Which workspace packages each package's source may import (by folder name). */
export const PACKAGE_RULES: Readonly<Record<string, readonly string[]>> = {
  protocols: [],
  mqtt: ['protocols'],
  'key-firmware-host': ['protocols', 'attestation', 'mqtt'],
  sim: ['protocols', 'mqtt'],
  attestation: ['protocols'],
  'os-agent': ['protocols', 'attestation', 'mqtt'],
  tools: ['protocols', 'mqtt', 'key-firmware-host', 'sim', 'attestation', 'os-agent'],
};

/** Folders that are not packages but consume them (public entry points only, never tools). */
export const CONSUMER_FOLDERS: readonly string[] = ['bench', 'scripts', 'examples'];

/** One forbidden import. */
export interface Violation {
  /** Importing file, relative to the root, with `/` separators. */
  readonly file: string;
  /** The import specifier as written (or the package cycle, for `cycle`). */
  readonly specifier: string;
  /** Which rule it breaks. */
  readonly rule: 'forbidden-package' | 'deep-import' | 'undeclared-dependency' | 'unused-dependency' | 'cycle' | 'imports-tools';
  /** Why, in words. */
  readonly reason: string;
}

interface PackageInfo {
  folder: string;
  name: string;
  exports: Set<string>;
  dependencies: Set<string>;
  /** `dependencies`, `peerDependencies` and `optionalDependencies`: what its source may import. */
  declared: Set<string>;
}

const SOURCE_EXT = /\.(ts|mts|mjs|js)$/;
const STRIP = /('(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`)|\/\*[\s\S]*?\*\/|\/\/[^\n]*/g;
const STATIC = /(?:^|[;\n}])\s*(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"\n]+)['"]/g;
const DYNAMIC = /\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/g;
const REQUIRE = /(?<![\w$.])require(?:\.resolve)?\(\s*['"]([^'"\n]+)['"]\s*\)/g;
const BUILTINS = new Set(builtinModules);

/**
 * The npm package a bare specifier names (`@scope/name` or `name`), or undefined for relative
 * paths, `node:` and bare builtins, and workspace (`@enigm/*`) packages.
 * @example packageOf('@serialport/stream/dist/x.js') === '@serialport/stream'
 */
export function packageOf(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || spec.startsWith('@enigm/')) return undefined;
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
  return BUILTINS.has(name) ? undefined : name;
}

/**
 * The module specifiers a source text imports (static, type-only, re-exports and dynamic).
 * @example importsOf("import { a } from './a.ts';") // ['./a.ts']
 */
export function importsOf(text: string): string[] {
  const code = text.replace(STRIP, (m, str: string | undefined) => (str === undefined ? '' : m));
  const out: string[] = [];
  for (const re of [STATIC, DYNAMIC, REQUIRE]) {
    re.lastIndex = 0;
    for (let m = re.exec(code); m !== null; m = re.exec(code)) out.push(m[1] as string);
  }
  return out;
}

function walk(dir: string, out: string[]): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (SOURCE_EXT.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
}

function readPackages(root: string): Map<string, PackageInfo> {
  const byName = new Map<string, PackageInfo>();
  for (const folder of Object.keys(PACKAGE_RULES)) {
    const file = join(root, folder, 'package.json');
    if (!existsSync(file)) continue;
    const j = JSON.parse(readFileSync(file, 'utf8')) as {
      name: string;
      exports?: Record<string, string> | string;
      dependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    const exp = typeof j.exports === 'string' ? { '.': j.exports } : (j.exports ?? {});
    byName.set(j.name, {
      folder,
      name: j.name,
      exports: new Set(Object.keys(exp)),
      dependencies: new Set(Object.keys(j.dependencies ?? {})),
      declared: new Set([j.dependencies, j.peerDependencies, j.optionalDependencies].flatMap((d) => Object.keys(d ?? {}))),
    });
  }
  return byName;
}

/**
 * Checks every source file under `root` against the rules.
 * @param root the repository root (a folder holding the package folders)
 * @returns the violations, empty when the boundaries hold
 * @example checkBoundaries(process.cwd()).length === 0
 */
export function checkBoundaries(root: string): Violation[] {
  const packages = readPackages(root);
  const folderToPkg = new Map([...packages.values()].map((p) => [p.folder, p]));
  const violations: Violation[] = [];
  const edges = new Map<string, Set<string>>();
  /** Per package folder, every package (workspace or npm) its source imports. */
  const used = new Map<string, Set<string>>();
  const topOf = (abs: string) => relative(root, abs).split(sep)[0] ?? '';
  const files: string[] = [];
  for (const top of [...Object.keys(PACKAGE_RULES), ...CONSUMER_FOLDERS]) {
    if (existsSync(join(root, top)) && statSync(join(root, top)).isDirectory()) walk(join(root, top), files);
  }
  for (const abs of files) {
    const file = relative(root, abs).split(sep).join('/');
    const top = topOf(abs);
    const own = folderToPkg.get(top);
    const isSource = own !== undefined && file.startsWith(`${top}/src/`);
    for (const spec of importsOf(readFileSync(abs, 'utf8'))) {
      const add = (rule: Violation['rule'], reason: string) => violations.push({ file, specifier: spec, rule, reason });
      let target: PackageInfo | undefined;
      if (spec.startsWith('.')) {
        const targetAbs = resolve(dirname(abs), spec);
        const targetTop = topOf(targetAbs);
        // the same folder, or a file at the repository root (e.g. the root package.json)
        if (targetTop === top || dirname(targetAbs) === resolve(root)) continue;
        target = folderToPkg.get(targetTop);
        add(
          'deep-import',
          `a relative path into ${targetTop}/ bypasses its package exports; import ${target?.name ?? 'its public API'}`,
        );
      } else {
        const m = /^(@enigm\/[^/]+)(\/.*)?$/.exec(spec);
        if (!m) {
          const npm = packageOf(spec);
          if (npm === undefined || !isSource || !own) continue;
          used.set(top, (used.get(top) ?? new Set()).add(npm));
          if (!own.declared.has(npm))
            add('undeclared-dependency', `${npm} is not in ${top}/package.json dependencies (or peer/optional)`);
          continue;
        }
        target = packages.get(m[1] as string);
        if (!target) {
          add('deep-import', `${m[1]} is not a workspace package`);
          continue;
        }
        const sub = m[2] ? `.${m[2]}` : '.';
        if (!target.exports.has(sub))
          add('deep-import', `${target.name} does not export "${sub}" (exports: ${[...target.exports].join(', ') || 'none'})`);
      }
      if (!target || target.folder === top) continue;
      if (target.folder === 'tools') {
        add('imports-tools', 'nothing may import the CLI package (tools)');
        continue;
      }
      if (isSource && own) {
        if (!(PACKAGE_RULES[top] ?? []).includes(target.folder))
          add(
            'forbidden-package',
            `${own.name} source may import only: ${(PACKAGE_RULES[top] ?? []).join(', ') || 'nothing in the repo'}`,
          );
        else if (!own.dependencies.has(target.name))
          add('undeclared-dependency', `${target.name} is not in ${top}/package.json dependencies`);
        used.set(top, (used.get(top) ?? new Set()).add(target.name));
        const set = edges.get(top) ?? new Set<string>();
        set.add(target.folder);
        edges.set(top, set);
      }
    }
  }
  for (const pkg of packages.values()) {
    if (!existsSync(join(root, pkg.folder, 'src'))) continue;
    for (const dep of pkg.dependencies) {
      if (used.get(pkg.folder)?.has(dep)) continue;
      violations.push({
        file: `${pkg.folder}/package.json`,
        specifier: dep,
        rule: 'unused-dependency',
        reason: `${pkg.folder}/src never imports ${dep}: drop it, or make it a devDependency if only tests use it`,
      });
    }
  }
  const cycle = findCycle(edges);
  if (cycle)
    violations.push({
      file: `${cycle[0]}/package.json`,
      specifier: cycle.join(' → '),
      rule: 'cycle',
      reason: 'packages import each other in a cycle',
    });
  return violations;
}

/** A cycle in `edges` as a list of nodes (first repeated at the end), or undefined. */
function findCycle(edges: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'open') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'open');
    stack.push(n);
    for (const m of edges.get(n) ?? []) {
      const c = visit(m);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of edges.keys()) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

/**
 * The Markdown table of packages and what their source may import, as `docs/architecture.md`
 * shows it (a test checks the document holds exactly this table).
 * @example renderRulesTable().startsWith('| package |')
 */
export function renderRulesTable(): string {
  const rows = Object.entries(PACKAGE_RULES).map(
    ([folder, may]) =>
      `| \`${folder}/\` (\`@enigm/${folder}\`) | ${may.length ? may.map((m) => `\`@enigm/${m}\``).join(', ') : 'nothing in the repo'} |`,
  );
  return ['| package | its source may import |', '|---|---|', ...rows].join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
  const v = checkBoundaries(root);
  for (const x of v) console.error(`${x.file}: ${x.rule}: '${x.specifier}' — ${x.reason}`);
  if (v.length) {
    console.error(`boundaries: ${v.length} violation(s) of the package rules; see docs/architecture.md`);
    process.exit(1);
  }
  console.log('boundaries: every import respects the package rules');
}
