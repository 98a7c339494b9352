// Works around a defect in ava 7.0.0's TAP reporter (node_modules/ava/lib/reporters/tap.js).
//
// When ava's inactivity timeout fires, or a test file calls process.exit(), the reporter lists
// the tests still pending with a plain `new Error(...)`, but `dumpError` expects ava's serialized
// error record and throws `TypeError: Cannot set properties of undefined (setting 'name')`. The
// reporter dies, the TAP stream ends without a summary, and the names of the tests that hung —
// the one thing CI needs to show — are never printed.
//
// This script makes `dumpError` accept a plain Error (message and first stack line). It is
// idempotent, touches nothing else, and refuses loudly (exit 1) if the file no longer has the
// expected shape, so an ava upgrade cannot silently undo it. ava 8 needs Node 22, so the suite
// stays on 7.0.0 (pinned in package.json) while it targets Node 20.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const file = fileURLToPath(new URL('../node_modules/ava/lib/reporters/tap.js', import.meta.url));
const MARK = '/* enigm: plain Error guard */';
const ANCHOR = "\tif (type === 'unknown') {";
const GUARD = `\t${MARK}
\tif (originalError === undefined) {
\t\tconst plain = arguments[0];
\t\treturn {message: String(plain?.message ?? plain), at: String(plain?.stack ?? '').split('\\n')[1]?.trim() ?? ''};
\t}

`;

const source = readFileSync(file, 'utf8');
if (source.includes(MARK)) process.exit(0);
if (!source.includes(ANCHOR) || !source.includes('originalError.name = name;')) {
  console.error(`patch-ava: ${file} does not have the expected shape; the TAP timeout guard was not applied`);
  process.exit(1);
}
writeFileSync(file, source.replace(ANCHOR, GUARD + ANCHOR));
console.log('patch-ava: TAP reporter guard applied (pending tests are listed when ava times out)');
