/**
 * Copied test data says where it came from (issue 8 item 6: each source with its licence and a
 * README naming its origin and version): every file under `testdata/` belongs to a row of
 * `testdata/README.md` that names an upstream commit, tag or RFC and a licence, every upstream
 * folder keeps its licence file, and every vector folder under `protocols/test/vectors/` has a
 * README with a licence note.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TESTDATA = join(ROOT, 'testdata');
const VECTORS = join(ROOT, 'protocols', 'test', 'vectors');

function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else yield p;
  }
}

/** The rows of the first table of `readme`: first cell (the folder or file pattern) and the row. */
function sourceRows(readme: string): { folder: string; row: string }[] {
  const table = readme.split(/\n\n/).find((b) => b.startsWith('| folder | what |')) ?? '';
  return table
    .split('\n')
    .slice(2)
    .map((row) => ({ folder: /^\| `([^`*]+)/.exec(row)?.[1] ?? '', row }));
}

/** Whether `row` names an upstream version: a 40-hex commit, a tag, an RFC, or says none was recorded. */
const namesVersion = (row: string) => /\b[0-9a-f]{40}\b|tag `[^`]+`|\bRFC \d{3,5}\b|version not recorded/.test(row);

test('every file under testdata/ is in a README row naming its upstream version and licence', (t) => {
  const rows = sourceRows(readFileSync(join(TESTDATA, 'README.md'), 'utf8'));
  t.true(rows.length >= 5, 'the source table is found');
  for (const { folder, row } of rows) {
    t.true(namesVersion(row), `row ${folder} names a commit, tag or RFC`);
    t.regex(row, /Apache-2\.0|MIT|BSD|IETF Trust/, `row ${folder} names a licence`);
  }
  const orphans = [...files(TESTDATA)]
    .map((f) => relative(TESTDATA, f).split('\\').join('/'))
    .filter(
      (f) =>
        f !== 'README.md' &&
        !rows.some((r) => r.folder.includes('/') && f.startsWith(r.folder.slice(0, r.folder.lastIndexOf('/') + 1))),
    );
  t.deepEqual(orphans, [], 'files with no source row in testdata/README.md');
});

test('every upstream folder in testdata/ keeps its licence file', (t) => {
  for (const folder of ['wycheproof', 'noise', 'eventlogs/tpm2-tools', 'eventlogs/go-attestation'])
    t.true(
      ['LICENSE', 'COPYING'].some((l) => existsSync(join(TESTDATA, folder, l))),
      `testdata/${folder} has LICENSE or COPYING`,
    );
});

test('every vector folder under protocols/test/vectors has a README naming origin and licence', (t) => {
  const folders = readdirSync(VECTORS, { withFileTypes: true }).filter((e) => e.isDirectory());
  t.true(folders.length >= 4);
  for (const { name } of folders) {
    const readme = join(VECTORS, name, 'README.md');
    t.true(existsSync(readme), `protocols/test/vectors/${name}/README.md`);
    if (!existsSync(readme)) continue;
    const text = readFileSync(readme, 'utf8');
    t.regex(text, /Licen[cs]e/, `${name}/README.md has a licence note`);
    if (name.startsWith('rfc')) {
      t.true(text.includes(`RFC ${name.slice(3)}`), `${name}/README.md names RFC ${name.slice(3)}`);
      t.true(text.includes('LICENSE-IETF-code-components.txt'), `${name}/README.md points to the IETF licence text`);
    }
  }
  t.true(existsSync(join(VECTORS, 'LICENSE-IETF-code-components.txt')));
});
