/**
 * The package boundary check (`scripts/boundaries.ts`, run by `npm run lint`): it passes on the
 * repository, it fails on each kind of forbidden import in a fixture repository, and
 * `docs/architecture.md` shows the rules it enforces.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { checkBoundaries, importsOf, renderRulesTable } from '../boundaries.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A fixture repository with the six packages (empty sources) and the given extra files. */
function fixture(files: Record<string, string>): { root: string; done: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'enigm-boundaries-'));
  const pkg = (folder: string, exports: Record<string, string>, deps: string[] = []) =>
    JSON.stringify({ name: `@enigm/${folder}`, exports, dependencies: Object.fromEntries(deps.map((d) => [d, '0.1.0'])) });
  const base: Record<string, string> = {
    'protocols/package.json': pkg('protocols', { '.': './src/index.ts', './cbor': './src/cbor/index.ts' }),
    'protocols/src/index.ts': 'export const a = 1;\n',
    'key-firmware-host/package.json': pkg('key-firmware-host', { '.': './src/index.ts' }, ['@enigm/protocols']),
    'sim/package.json': pkg('sim', { '.': './src/index.ts' }, ['@enigm/protocols']),
    'attestation/package.json': pkg('attestation', { '.': './src/index.ts' }, ['@enigm/protocols']),
    'os-agent/package.json': pkg('os-agent', {}),
    'tools/package.json': pkg('tools', {}),
  };
  for (const [p, text] of Object.entries({ ...base, ...files })) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return { root, done: () => rmSync(root, { recursive: true, force: true }) };
}

function rulesBroken(files: Record<string, string>): string[] {
  const f = fixture(files);
  try {
    return checkBoundaries(f.root).map((v) => `${v.rule} ${v.file}`);
  } finally {
    f.done();
  }
}

test('the repository respects every package boundary', (t) => {
  t.deepEqual(checkBoundaries(ROOT), []);
});

test('the import scanner sees static, type-only, multi-line, re-export and dynamic imports, not comments', (t) => {
  const text = [
    "import { a } from './a.ts';",
    "import type { B } from '@enigm/sim';",
    'import {',
    '  c,',
    '  d,',
    "} from '@enigm/protocols/cbor';",
    "export * from './e.ts';",
    "const f = await import('./f.ts');",
    "// import { g } from './g.ts';",
    "/* import { h } from './h.ts'; */",
    "const url = 'tcp://host'; import './side-effect.ts';",
  ].join('\n');
  t.deepEqual(
    importsOf(text).sort(),
    ['./a.ts', './e.ts', './f.ts', './side-effect.ts', '@enigm/protocols/cbor', '@enigm/sim'].sort(),
  );
});

test('a clean fixture passes', (t) => {
  t.deepEqual(
    rulesBroken({
      'sim/src/index.ts': "import { a } from '@enigm/protocols';\nimport type { C } from '@enigm/protocols/cbor';\n",
      'sim/test/x.test.ts': "import { k } from '@enigm/key-firmware-host';\n",
    }),
    [],
  );
});

test('fails: protocols importing anything in the repo', (t) => {
  t.deepEqual(rulesBroken({ 'protocols/src/x.ts': "import { s } from '@enigm/sim';\n" }), [
    'forbidden-package protocols/src/x.ts',
  ]);
});

test('fails: sim importing key-firmware-host, and the reverse', (t) => {
  const uses = "import { p } from '@enigm/protocols';\n"; // its declared dependency, so only the rule under test fails
  t.deepEqual(rulesBroken({ 'sim/src/x.ts': `${uses}import { k } from '@enigm/key-firmware-host';\n` }), [
    'forbidden-package sim/src/x.ts',
  ]);
  t.deepEqual(rulesBroken({ 'key-firmware-host/src/x.ts': `${uses}import type { S } from '@enigm/sim';\n` }), [
    'forbidden-package key-firmware-host/src/x.ts',
  ]);
});

test('fails: any package, test or benchmark importing tools', (t) => {
  t.true(rulesBroken({ 'bench/x.ts': "import { t } from '@enigm/tools';\n" }).includes('imports-tools bench/x.ts'));
  t.deepEqual(rulesBroken({ 'sim/test/x.test.ts': "import { run } from '../../tools/src/cli.ts';\n" }), [
    'deep-import sim/test/x.test.ts',
    'imports-tools sim/test/x.test.ts',
  ]);
});

test("fails: deep imports past another package's exports (relative path or unexported subpath)", (t) => {
  t.deepEqual(rulesBroken({ 'sim/src/x.ts': "import { e } from '../../protocols/src/index.ts';\n" }), [
    'deep-import sim/src/x.ts',
  ]);
  t.deepEqual(rulesBroken({ 'sim/src/x.ts': "import { e } from '@enigm/protocols/src/cbor/decode.ts';\n" }), [
    'deep-import sim/src/x.ts',
  ]);
  t.deepEqual(rulesBroken({ 'examples/x.ts': "import { e } from '@enigm/attestation/internal';\n" }), [
    'deep-import examples/x.ts',
  ]);
});

test('fails: an undeclared dependency, and a cycle between packages', (t) => {
  t.deepEqual(
    rulesBroken({
      'attestation/src/x.ts': "export {} from '@enigm/protocols';\n",
      'attestation/package.json': '{"name":"@enigm/attestation","exports":{".":"./src/index.ts"}}',
    }),
    ['undeclared-dependency attestation/src/x.ts'],
  );
  // key-firmware-host may import attestation; attestation importing key-firmware-host is both forbidden and a cycle
  const broken = rulesBroken({
    'key-firmware-host/package.json': JSON.stringify({
      name: '@enigm/key-firmware-host',
      exports: { '.': './src/index.ts' },
      dependencies: { '@enigm/attestation': '0' },
    }),
    'key-firmware-host/src/x.ts': "import { a } from '@enigm/attestation';\n",
    'attestation/src/y.ts': "import { k } from '@enigm/key-firmware-host';\n",
  });
  t.true(broken.includes('forbidden-package attestation/src/y.ts'));
  t.true(broken.some((b) => b.startsWith('cycle ')));
});

test('fails: a third-party import its package does not declare (node: and bare builtins pass, tests may use any)', (t) => {
  const sim = (deps: Record<string, Record<string, string>>) =>
    JSON.stringify({ name: '@enigm/sim', exports: { '.': './src/index.ts' }, ...deps });
  const files = {
    'sim/src/x.ts': [
      "import { a } from '@enigm/protocols';",
      "import { WebSocketServer } from 'ws';",
      "import { SerialPortStream } from '@serialport/stream/dist/index.js';",
      "import { readFileSync } from 'node:fs';",
      "import { join } from 'path';",
      "import './y.ts';",
    ].join('\n'),
    'sim/test/x.test.ts': "import fc from 'fast-check';\n",
  };
  t.deepEqual(rulesBroken({ ...files, 'sim/package.json': sim({ dependencies: { '@enigm/protocols': '0' } }) }), [
    'undeclared-dependency sim/src/x.ts',
    'undeclared-dependency sim/src/x.ts',
  ]);
  const declared = sim({
    dependencies: { '@enigm/protocols': '0', '@serialport/stream': '0' },
    peerDependencies: { ws: '0' },
  });
  t.deepEqual(rulesBroken({ ...files, 'sim/package.json': declared }), []);
  t.deepEqual(
    rulesBroken({
      'sim/package.json': declared,
      'sim/src/x.ts': "import '@enigm/protocols'; import 'ws'; import '@serialport/stream';\nconst y = require('yaml');\n",
    }),
    ['undeclared-dependency sim/src/x.ts'],
    'require() of an undeclared package is seen',
  );
});

test("fails: a runtime dependency its package's source never imports (test-only packages are devDependencies)", (t) => {
  const protocols = (deps: Record<string, Record<string, string>>) =>
    JSON.stringify({ name: '@enigm/protocols', exports: { '.': './src/index.ts' }, ...deps });
  const files = {
    'protocols/src/hpke.ts': "import { CipherSuite } from '@hpke/core';\n",
    'protocols/test/hpke.test.ts': "import { DhkemX25519HkdfSha256 } from '@hpke/dhkem-x25519';\n",
  };
  t.deepEqual(
    rulesBroken({
      ...files,
      'protocols/package.json': protocols({ dependencies: { '@hpke/core': '0', '@hpke/dhkem-x25519': '0' } }),
    }),
    ['unused-dependency protocols/package.json'],
  );
  t.deepEqual(
    rulesBroken({
      ...files,
      'protocols/package.json': protocols({
        dependencies: { '@hpke/core': '0' },
        devDependencies: { '@hpke/dhkem-x25519': '0' },
      }),
    }),
    [],
  );
  t.deepEqual(
    rulesBroken({
      'sim/package.json': JSON.stringify({ name: '@enigm/sim', dependencies: { '@enigm/protocols': '0', '@enigm/mqtt': '0' } }),
      'sim/src/x.ts': "import { a } from '@enigm/protocols';\n",
    }),
    ['unused-dependency sim/package.json'],
    'an unused workspace dependency too',
  );
});

test('docs/architecture.md shows the enforced rules table', (t) => {
  const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  t.true(
    doc.includes(renderRulesTable()),
    'regenerate the table in docs/architecture.md from scripts/boundaries.ts renderRulesTable()',
  );
});
