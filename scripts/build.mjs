// Bundles the enigm CLI into one self-contained ESM file, dist/enigm.mjs (or --outfile F).
//
// Native addons are never loaded at start-up: `@serialport/bindings-cpp` (a C++ addon) is
// replaced by a small stub that `require`s the real module on first use, from the bundle's own
// location. So a copied bundle runs every command that does not open a serial port (cbor, cose,
// fw sign/verify, attest, --help, --version, TCP Keys) without any node_modules; commands that
// open a serial port fail with SERIAL_UNAVAILABLE and a hint instead of ERR_MODULE_NOT_FOUND.
//
// The simulator dashboard (sim/src/control/dashboard/, served by `enigm sim start`) is built here
// first and embedded as the constant __ENIGM_DASHBOARD__ ({ js, css }), so a copied bundle serves
// it without esbuild or the sources; from source the control server builds it on first request.
//
// With --agent, bundles the Enigm OS posture agent instead (os-agent/src/bin.ts): one file,
// dist/enigm-posture-agent.mjs (or --outfile F), no native addon, no dashboard.
//
// Usage: node scripts/build.mjs [--agent] [--outfile PATH]
import { chmodSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const { values } = parseArgs({ options: { outfile: { type: 'string' }, agent: { type: 'boolean' } } });
const outfile = values.outfile ?? (values.agent ? 'dist/enigm-posture-agent.mjs' : 'dist/enigm.mjs');

/** CommonJS dependencies inside an ESM bundle need a require function. */
const REQUIRE_BANNER =
  "import { createRequire as __enigmCreateRequire } from 'node:module'; const require = __enigmCreateRequire(import.meta.url);";

if (values.agent) {
  const t0 = performance.now();
  const r = await build({
    entryPoints: ['os-agent/src/bin.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    banner: { js: `#!/usr/bin/env node\n${REQUIRE_BANNER}` },
    metafile: true,
    logLevel: 'warning',
  });
  chmodSync(outfile, 0o755);
  const kib = Object.values(r.metafile.outputs).reduce((a, o) => a + o.bytes, 0) / 1024;
  console.log(
    `built ${relative(process.cwd(), outfile) || outfile} (${kib.toFixed(0)} KiB) in ${(performance.now() - t0).toFixed(0)} ms`,
  );
  process.exit(0);
}

/** Native modules loaded lazily, and the names the source imports from each (checked by esbuild). */
const LAZY_NATIVE = {
  '@serialport/bindings-cpp': {
    functions: ['autoDetect'],
    classes: ['BindingsError'],
    hint: 'serial ports need the native module @serialport/bindings-cpp, which is not installed where this enigm runs: install the CLI with its dependencies (see tools/README.md: npm install -g, or npx), or run npm install @serialport/bindings-cpp in the folder of enigm.mjs; tcp://host:port addresses work without it',
  },
};

/** The stub module standing in for a native module until first use. */
function lazyStub(name, { functions, classes, hint }) {
  return `
import { createRequire } from 'node:module';
const nativeRequire = createRequire(import.meta.url);
let real;
function load() {
  if (real === undefined) {
    try {
      real = nativeRequire(${JSON.stringify(name)});
    } catch (cause) {
      const e = new Error(${JSON.stringify(hint)} + ' (' + (cause && cause.code ? cause.code : 'load failed') + ')', { cause });
      e.code = 'SERIAL_UNAVAILABLE';
      throw e;
    }
${classes.map((c) => `    ${c} = real.${c};`).join('\n')}
  }
  return real;
}
${functions.map((f) => `export function ${f}(...args) { return load().${f}(...args); }`).join('\n')}
${classes.map((c) => `export let ${c} = class ${c} extends Error {};`).join('\n')}
`;
}

/** esbuild plugin: resolves each {@link LAZY_NATIVE} module to its stub. */
const lazyNative = {
  name: 'lazy-native',
  setup(b) {
    const filter = new RegExp(
      `^(${Object.keys(LAZY_NATIVE)
        .map((n) => n.replace(/[/.]/g, '\\$&'))
        .join('|')})$`,
    );
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'lazy-native' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-native' }, (args) => ({
      contents: lazyStub(args.path, LAZY_NATIVE[args.path]),
      loader: 'js',
      resolveDir: process.cwd(),
    }));
  },
};

const started = performance.now();

/** The dashboard's script and style (the same options as sim/src/control/dashboard-assets.ts). */
async function dashboardAssets() {
  const r = await build({
    entryPoints: ['sim/src/control/dashboard/main.ts'],
    bundle: true,
    format: 'iife',
    target: 'chrome110',
    minify: true,
    write: false,
    logLevel: 'warning',
  });
  return { js: r.outputFiles[0].text, css: readFileSync('sim/src/control/dashboard/style.css', 'utf8') };
}
const dashboard = await dashboardAssets();

const result = await build({
  entryPoints: ['tools/src/enigm.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  plugins: [lazyNative],
  define: { __ENIGM_DASHBOARD__: JSON.stringify(dashboard) },
  // only imported (lazily) to build the dashboard from source; the bundle carries it prebuilt
  external: ['esbuild'],
  banner: { js: REQUIRE_BANNER },
  metafile: true,
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
const bytes = Object.values(result.metafile.outputs).reduce((a, o) => a + o.bytes, 0);
console.log(
  `built ${relative(process.cwd(), outfile) || outfile} (${(bytes / 1024).toFixed(0)} KiB with map) in ${(performance.now() - started).toFixed(0)} ms`,
);
