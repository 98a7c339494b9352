// Bundles the enigm CLI into one ESM file, dist/enigm.mjs. Native addons stay external and load
// from node_modules at run time.
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';

const started = performance.now();
const result = await build({
  entryPoints: ['tools/src/enigm.ts'],
  outfile: 'dist/enigm.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  external: ['@serialport/bindings-cpp'],
  // CommonJS dependencies inside an ESM bundle need a require function.
  banner: {
    js: "import { createRequire as __enigmCreateRequire } from 'node:module'; const require = __enigmCreateRequire(import.meta.url);",
  },
  metafile: true,
  logLevel: 'warning',
});
chmodSync('dist/enigm.mjs', 0o755);
const bytes = Object.values(result.metafile.outputs).reduce((a, o) => a + o.bytes, 0);
console.log(`built dist/enigm.mjs (${(bytes / 1024).toFixed(0)} KiB with map) in ${(performance.now() - started).toFixed(0)} ms`);
