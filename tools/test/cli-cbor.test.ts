/**
 * Checks `enigm cbor decode` (tools/src/commands/cbor.ts) inputs and exit codes (issue 9): a
 * missing --file is a run-time failure (exit 1, INPUT_NOT_FOUND), not usage; empty stdin or an
 * empty file is an error (INPUT_EMPTY); hex text that is not hex is INPUT_INVALID and the message
 * does not echo the input; a bad HEX argument is usage (2). Huge strings render in bounded memory
 * (a 10 MB byte string under a 64 MB heap), truncated with their size unless --full; items are
 * printed as they are decoded.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { cborCommands } from '../src/commands/cbor.ts';
import { runCommand, runCommandProcess } from './run-command.ts';

const CBOR = new URL('../src/commands/cbor.ts', import.meta.url);
let dir = '';

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'enigm-cbor-cli-'));
});

test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test.serial('a missing --file is exit 1 INPUT_NOT_FOUND with one code and a clean reason', async (t) => {
  const r = await runCommand(cborCommands, ['cbor', 'decode', '--file', join(dir, 'nope.cbor')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^enigm cbor decode: INPUT_NOT_FOUND: cannot read --file ".*nope\.cbor": no such file or directory\n$/);
  const j = await runCommand(cborCommands, ['cbor', 'decode', '--file', join(dir, 'nope.cbor'), '--json']);
  t.like(JSON.parse(j.stdout), { ok: false, error: { code: 'INPUT_NOT_FOUND' } });
});

test.serial('an empty file is INPUT_EMPTY; hex text with a stray character is INPUT_INVALID without echoing it', async (t) => {
  writeFileSync(join(dir, 'empty.cbor'), '');
  const empty = await runCommand(cborCommands, ['cbor', 'decode', '--file', join(dir, 'empty.cbor'), '--json']);
  t.is(empty.code, 1);
  t.like(JSON.parse(empty.stdout), { ok: false, error: { code: 'INPUT_EMPTY' } });
  writeFileSync(join(dir, 'odd.hex'), 'a1 61 6');
  const odd = await runCommand(cborCommands, ['cbor', 'decode', '--file', join(dir, 'odd.hex')]);
  t.is(odd.code, 1);
  t.regex(odd.stderr, /INPUT_INVALID: --file ".*odd\.hex" is not hex text: odd number of hex digits/);
  writeFileSync(join(dir, 'bin.cbor'), Buffer.from([0x00, 0x01, 0xff, 0x1b, 0x07]));
  const forced = await runCommand(cborCommands, ['cbor', 'decode', '--hex', '--file', join(dir, 'bin.cbor')]);
  t.is(forced.code, 1);
  t.regex(forced.stderr, /INPUT_INVALID: .* invalid character "\\u0000" \(U\+0000\) at offset 0\n$/);
  t.false(forced.stderr.includes('\u0000'));
});

test.serial('a bad or empty HEX argument is usage (exit 2)', async (t) => {
  t.is((await runCommand(cborCommands, ['cbor', 'decode', 'zz'])).code, 2);
  t.is((await runCommand(cborCommands, ['cbor', 'decode', ''])).code, 2);
  t.is((await runCommand(cborCommands, ['cbor', 'decode', '0x'])).code, 2);
});

test('empty stdin to cbor decode - is an error (INPUT_EMPTY, exit 1); piped hex and raw CBOR decode', async (t) => {
  const empty = await runCommandProcess(CBOR, 'cborCommands', ['cbor', 'decode', '-', '--json'], { stdin: '' });
  t.is(empty.code, 1, empty.stderr);
  t.like(JSON.parse(empty.stdout), { ok: false, error: { code: 'INPUT_EMPTY' } });
  t.regex(empty.stderr, /INPUT_EMPTY: no CBOR to decode: stdin is empty/);
  const hex = await runCommandProcess(CBOR, 'cborCommands', ['cbor', 'decode', '-'], { stdin: '83 01 02 03\n' });
  t.is(hex.code, 0, hex.stderr);
  t.is(hex.stdout, '[1, 2, 3]\n');
  const raw = await runCommandProcess(CBOR, 'cborCommands', ['cbor', 'decode', '-'], {
    stdin: Buffer.from([0xa1, 0x61, 0x61, 0xf5]),
  });
  t.is(raw.stdout, '{"a": true}\n');
});

/** A definite-length byte (major 2) or text (major 3) string of `content`. */
function cborString(major: 2 | 3, content: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = (major << 5) | 26;
  head.writeUInt32BE(content.length, 1);
  return Buffer.concat([head, content]);
}

test.serial('long strings show their first 4096 bytes and their size; --full shows them whole', async (t) => {
  const bytes = Buffer.from(Array.from({ length: 10_240 }, (_, i) => i % 251));
  writeFileSync(join(dir, 'long.cbor'), cborString(2, bytes));
  const r = await runCommand(cborCommands, ['cbor', 'decode', '--file', join(dir, 'long.cbor')]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `h'${bytes.subarray(0, 4096).toString('hex')}'... / 10240 bytes, 4096 bytes shown /\n`);
  const full = await runCommand(cborCommands, ['cbor', 'decode', '--full', '--file', join(dir, 'long.cbor'), '--json']);
  t.deepEqual(JSON.parse(full.stdout), { ok: true, items: [`h'${bytes.toString('hex')}'`] });

  const text = Buffer.from(`${'x'.repeat(4095)}\u{1F600}${'y'.repeat(100)}`); // an emoji straddles the cut
  writeFileSync(join(dir, 'text.cbor'), cborString(3, text));
  const tr = await runCommand(cborCommands, ['cbor', 'decode', '--file', join(dir, 'text.cbor')]);
  t.is(tr.stdout, `"${'x'.repeat(4095)}"... / ${text.length} bytes, 4095 characters shown /\n`);
  const tf = await runCommand(cborCommands, ['cbor', 'decode', '--full', '--file', join(dir, 'text.cbor')]);
  t.is(tf.stdout, `"${'x'.repeat(4095)}\\ud83d\\ude00${'y'.repeat(100)}"\n`);
});

test('a 10 MB byte string decodes in bounded memory (64 MB heap), raw and as hex text', async (t) => {
  const big = cborString(2, Buffer.alloc(10 * 1024 * 1024, 0xab));
  writeFileSync(join(dir, 'big.cbor'), big);
  writeFileSync(join(dir, 'big.hex'), big.toString('hex'));
  for (const f of ['big.cbor', 'big.hex']) {
    const r = await runCommandProcess(CBOR, 'cborCommands', ['cbor', 'decode', '--file', join(dir, f)], {
      nodeArgs: ['--max-old-space-size=64'],
    });
    t.is(r.code, 0, `${f}: ${r.stderr.slice(0, 500)}`);
    t.is(r.stdout, `h'${'ab'.repeat(4096)}'... / 10485760 bytes, 4096 bytes shown /\n`);
  }
  t.is(readFileSync(join(dir, 'big.cbor')).length, big.length);
});

test.serial('items are printed as they are decoded: a malformed item after good ones fails (exit 1) after them', async (t) => {
  const r = await runCommand(cborCommands, ['cbor', 'decode', '01 02 1a00']);
  t.is(r.code, 1);
  t.is(r.stdout, '1\n2\n');
  t.regex(r.stderr, /CBOR_TRUNCATED/);
  const j = await runCommand(cborCommands, ['cbor', 'decode', '01 02 1a00', '--json']);
  t.like(JSON.parse(j.stdout), { ok: false, error: { code: 'CBOR_TRUNCATED' } }); // one document, never half of one
});
