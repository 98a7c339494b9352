/**
 * Tests find their files relative to the test file, never the working directory (issue 8,
 * "self-contained tests": resolve paths relative to the test file). A test that reads
 * `readFileSync('docs/x.md')` passes only when ava runs from the repository root; run from a
 * package folder (`npm test -w protocols`, an editor's test runner) it crashes at import. This
 * check scans every test, benchmark and example source for a file-system call whose first
 * argument is a relative string literal.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The `node:fs` calls that take a path first (sync, callback and promise forms share a name). */
const FS_CALLS = [
  'readFileSync',
  'readFile',
  'createReadStream',
  'openSync',
  'open',
  'opendir',
  'opendirSync',
  'existsSync',
  'statSync',
  'stat',
  'lstatSync',
  'lstat',
  'readdirSync',
  'readdir',
  'accessSync',
  'access',
];

/**
 * A call of {@link FS_CALLS} (bare, or as `fs.`/`fsp.`/`promises.` member; not a method of another
 * object such as `transport.open(…)`) whose first argument is a string or template literal that
 * starts with neither `/` nor a `${…}` substitution.
 */
const CWD_RELATIVE = new RegExp(
  String.raw`(?<![\w$.])(?:(?:fs|fsp|promises)\.)?(?:${FS_CALLS.join('|')})\(\s*(['"\x60])(?!\/|\$\{)([^'"\x60]*)\1?`,
  'g',
);

/** The relative literal paths read by file-system calls in `text`. */
function cwdRelativeReads(text: string): string[] {
  return [...text.matchAll(CWD_RELATIVE)].map((m) => m[2] ?? '');
}

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (/\.(ts|mts|mjs|js)$/.test(entry.name)) yield path;
  }
}

/** Every test folder of every top-level folder (`*\/test`), plus `bench/` and `examples/`. */
function scannedFiles(): string[] {
  const dirs = readdirSync(ROOT, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== 'node_modules' && !e.name.startsWith('.'))
    .flatMap((e) => {
      const test = join(ROOT, e.name, 'test');
      const own = e.name === 'bench' || e.name === 'examples' ? [join(ROOT, e.name)] : [];
      return [...own, ...(readdirSync(join(ROOT, e.name)).includes('test') ? [test] : [])];
    });
  return dirs.flatMap((d) => [...sources(d)]);
}

test('no test, benchmark or example reads a file by a path relative to the working directory', (t) => {
  const self = fileURLToPath(import.meta.url); // its own fixtures below are the offending shapes
  const files = scannedFiles().filter((f) => f !== self);
  t.true(
    files.some((f) => relative(ROOT, f) === join('protocols', 'test', 'crypto-hash.test.ts')),
    'protocols/test is scanned',
  );
  t.true(
    files.some((f) => relative(ROOT, f) === join('scripts', 'test', 'boundaries.test.ts')),
    'scripts/test is scanned',
  );
  const offenders = files.flatMap((f) => cwdRelativeReads(readFileSync(f, 'utf8')).map((p) => `${relative(ROOT, f)}: '${p}'`));
  t.deepEqual(offenders, [], "resolve the path from the test file: new URL('./vectors/…', import.meta.url)");
});

test('the scanner flags relative literal reads and passes file-relative, absolute and computed ones', (t) => {
  const flagged = [
    "readFileSync('docs/firmware.md', 'utf8')",
    "JSON.parse(readFileSync('protocols/test/vectors/rfc8032/ed25519.json', 'utf8'))",
    'await readFile("./x.json")',
    'fs.existsSync(`testdata/keys`)',
    "await fsp.readdir('fixtures')",
    "createReadStream('../data.bin')",
  ];
  t.deepEqual(flagged.flatMap(cwdRelativeReads), [
    'docs/firmware.md',
    'protocols/test/vectors/rfc8032/ed25519.json',
    './x.json',
    'testdata/keys',
    'fixtures',
    '../data.bin',
  ]);
  const passed = [
    "readFileSync(new URL('../../docs/firmware.md', import.meta.url), 'utf8')",
    "readFileSync(join(TESTDATA, 'wycheproof/x.json'), 'utf8')",
    "readFileSync('/proc/self/stat', 'utf8')",
    `readFileSync(\`/proc/\${pid}/stat\`)`,
    `existsSync(\`\${path}.lock\`)`,
    "await transport.open('serial:./key.pty')",
    "doc('docs/protocol.md')",
  ];
  t.deepEqual(passed.flatMap(cwdRelativeReads), []);
});
