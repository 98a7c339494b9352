/**
 * One hex helper (issue 8 item 5): bytes become hex only through `toHex` in
 * `protocols/src/bytes.ts` (`@enigm/protocols/bytes`). Local `hex` lambdas and inline
 * `Buffer.from(x).toString('hex')` came back after the issue closed; this check keeps them out of
 * every package's `src/`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Files allowed to encode hex themselves, each with the reason. */
const EXCEPTIONS: Record<string, string> = {
  'protocols/src/bytes.ts': 'the one hex encoder, toHex',
};

/** `x.toString('hex')` (any quote): an inline encoder, or the body of a local `hex` lambda. */
const HEX_ENCODE = /\.toString\(\s*(['"`])hex\1\s*\)/;

/** The offending lines of `text` (comment lines skipped), as `line: text`. */
function hexEncodings(text: string): string[] {
  return text
    .split('\n')
    .map((line, i) => ({ line, n: i + 1 }))
    .filter(({ line }) => !/^\s*(\*|\/\/|\/\*)/.test(line))
    .filter(({ line }) => HEX_ENCODE.test(line))
    .map(({ line, n }) => `${n}: ${line.trim()}`);
}

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

function packageSources(): string[] {
  return readdirSync(ROOT, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== 'node_modules' && readdirSync(join(ROOT, e.name)).includes('package.json'))
    .filter((e) => readdirSync(join(ROOT, e.name)).includes('src'))
    .flatMap((e) => [...sources(join(ROOT, e.name, 'src'))]);
}

test('no package source encodes hex except through toHex (@enigm/protocols/bytes)', (t) => {
  const files = packageSources().map((f) => relative(ROOT, f));
  t.true(files.includes('protocols/src/bytes.ts') && files.includes('tools/src/cli.ts'), 'every package src is scanned');
  for (const f of Object.keys(EXCEPTIONS)) t.true(files.includes(f), `exception ${f} still exists`);
  const offenders = files
    .filter((f) => !(f in EXCEPTIONS))
    .flatMap((f) => hexEncodings(readFileSync(join(ROOT, f), 'utf8')).map((l) => `${f}:${l}`));
  t.deepEqual(offenders, [], "use toHex(bytes) from '@enigm/protocols/bytes' (fromHex to decode)");
});

test('the check flags inline encoders and local lambdas, not toHex, digests or doc comments', (t) => {
  const text = [
    "const a = Buffer.from(id).toString('hex');",
    `const b = \`host-\${randomBytes(5).toString("hex")}\`;`,
    "const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');",
    '  return b.toString(`hex`);',
    'const c = toHex(id);',
    "const d = createHash('sha256').update(x).digest('hex');",
    " * asBuffer(Uint8Array.of(1)).toString('hex') === '01'",
    `const e = (0xc0de).toString(16); const hex = (n: number) => \`0x\${n.toString(16)}\`;`,
  ].join('\n');
  t.deepEqual(
    hexEncodings(text).map((l) => Number(l.split(':')[0])),
    [1, 2, 3, 4],
  );
});
