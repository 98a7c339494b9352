/**
 * Checks the shared CLI plumbing (tools/src/cli.ts) that every command inherits (issue 9):
 * exit 2 only for command-line misuse and 1 for run-time failures, including missing or corrupt
 * input files read through readInputFile/readTextFile/readJsonFile (stable INPUT_* codes, one
 * code per message — no `ENOENT: ENOENT:` — and no file content echoed); a group name alone lists
 * its commands; --help lists the short options; an option value starting with '-' gets a clear
 * message.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { type Command, EXIT, int, readInputFile, readJsonFile, readTextFile, str } from '../src/cli.ts';
import { COMMANDS } from '../src/enigm.ts';
import { runCommand } from './run-command.ts';

let dir = '';
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'enigm-dispatch-'));
});
test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Fake commands: `demo read|json|text|count|raw` exercise the helpers through dispatch. */
const demo: Command[] = [
  {
    name: 'demo read',
    summary: 'read a file',
    help: 'Usage: enigm demo read --in F',
    options: { in: { type: 'string', short: 'i' } },
    async run(args, out) {
      const bytes = readInputFile(str(args, 'in') ?? '', '--in file');
      out.data({ ok: true, size: bytes.length });
      return EXIT.ok;
    },
  },
  {
    name: 'demo json',
    summary: 'read a JSON file',
    help: 'Usage: enigm demo json F',
    options: {},
    positionals: true,
    async run(args, out) {
      out.data({ ok: true, value: readJsonFile(args.positionals[0] as string, '--expect file') });
      return EXIT.ok;
    },
  },
  {
    name: 'demo text',
    summary: 'read a text file',
    help: 'Usage: enigm demo text F',
    options: {},
    positionals: true,
    async run(args) {
      readTextFile(args.positionals[0] as string, 'key');
      return EXIT.ok;
    },
  },
  {
    name: 'demo count',
    summary: 'an integer option',
    help: 'Usage: enigm demo count --count N',
    options: { count: { type: 'string', short: 'c' } },
    async run(args, out) {
      out.data({ ok: true, count: int(args, 'count', 1, 1, 10) });
      return EXIT.ok;
    },
  },
  {
    name: 'demo raw',
    summary: 'a raw Node file error escapes a command',
    help: 'Usage: enigm demo raw',
    options: {},
    async run() {
      const { readFileSync } = await import('node:fs');
      readFileSync(join(dir, 'not-there'));
      return EXIT.ok;
    },
  },
  { name: 'other thing', summary: 'another group', help: '', options: {}, run: async () => EXIT.ok },
];
const enigm = (...argv: string[]) => runCommand(demo, argv);

test.serial('a missing input file is a run-time failure: exit 1, INPUT_NOT_FOUND, one code, no "Try --help"', async (t) => {
  const r = await enigm('demo', 'read', '--in', join(dir, 'nope.bin'));
  t.is(r.code, 1);
  t.is(
    r.stderr,
    `enigm demo read: INPUT_NOT_FOUND: cannot read --in file ${JSON.stringify(join(dir, 'nope.bin'))}: no such file or directory\n`,
  );
  const j = await enigm('demo', 'read', '--in', join(dir, 'nope.bin'), '--json');
  t.deepEqual(JSON.parse(j.stdout).error.code, 'INPUT_NOT_FOUND');
  const isDir = await enigm('demo', 'read', '--in', dir);
  t.is(isDir.code, 1);
  t.regex(isDir.stderr, /INPUT_UNREADABLE: .*: it is a directory\n$/);
});

test.serial('a corrupt JSON file is INPUT_INVALID (exit 1) and its content is never echoed', async (t) => {
  const secret = '\u0000\u0001binary-SECRET\u00ff';
  writeFileSync(join(dir, 'bad.json'), secret);
  const r = await enigm('demo', 'json', join(dir, 'bad.json'));
  t.is(r.code, 1);
  t.regex(r.stderr, /INPUT_INVALID: --expect file ".*bad\.json" is not valid JSON( \(error at character \d+\))?\n$/);
  t.false(r.stderr.includes('SECRET'));
  writeFileSync(join(dir, 'empty.json'), '');
  t.regex((await enigm('demo', 'json', join(dir, 'empty.json'))).stderr, /is not valid JSON \(it is empty\)/);
  writeFileSync(join(dir, 'trunc.json'), '{"a":');
  t.regex((await enigm('demo', 'json', join(dir, 'trunc.json'))).stderr, /is not valid JSON/);
  writeFileSync(join(dir, 'good.json'), '{"a":1}');
  t.deepEqual(JSON.parse((await enigm('demo', 'json', join(dir, 'good.json'), '--json')).stdout), { ok: true, value: { a: 1 } });
  t.is((await enigm('demo', 'text', join(dir, 'nope.pem'))).code, 1);
});

test.serial('a raw Node file error that escapes a command shows its code once (no "ENOENT: ENOENT:")', async (t) => {
  const r = await enigm('demo', 'raw');
  t.is(r.code, 1);
  t.regex(r.stderr, /^enigm demo raw: ENOENT: no such file or directory \(open ".*not-there"\)\n$/);
  const j = JSON.parse((await enigm('demo', 'raw', '--json')).stdout);
  t.like(j, { ok: false, error: { code: 'ENOENT' } });
});

test.serial('a group name alone lists its commands; an unknown one lists them too (exit 2); --help exit 0', async (t) => {
  const alone = await enigm('demo');
  t.is(alone.code, 2);
  t.regex(alone.stderr, /^enigm demo: a command is missing\n\nUsage: enigm demo <command>/);
  t.regex(alone.stderr, /\n {2}demo read {3}read a file\n/);
  t.notRegex(alone.stderr, /other thing/);
  const unknown = await enigm('demo', 'nope');
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /^enigm: unknown command 'demo nope'\n[\s\S]*demo count/);
  const help = await enigm('demo', '--help');
  t.is(help.code, 0);
  t.regex(help.stdout, /demo json/);
  t.is((await enigm('nothing')).code, 2);
});

test.serial("--help lists the command's short options", async (t) => {
  const h = await enigm('demo', 'read', '--help');
  t.is(h.code, 0);
  t.regex(h.stdout, /Short options: -i = --in, -h = --help\.\n$/);
  t.notRegex((await enigm('other', 'thing', '--help')).stdout, /Short options/);
});

test.serial(
  "option values starting with '-': a negative number meets the range check, anything else a clear hint (exit 2)",
  async (t) => {
    for (const argv of [['--count', '-1'], ['-c', '-1'], ['--count=-1']]) {
      const r = await enigm('demo', 'count', ...argv);
      t.is(r.code, 2, argv.join(' '));
      t.is(r.stderr.split('\n')[0], 'enigm demo count: --count must be an integer in [1, 10], got "-1"');
    }
    const dash = await enigm('demo', 'count', '--count', '-x');
    t.is(dash.code, 2);
    t.is(
      dash.stderr.split('\n')[0],
      "enigm demo count: --count needs a value; for a value starting with '-' write --count=VALUE",
    );
    t.regex((await enigm('demo', 'count', '-c', '-x')).stderr, /^enigm demo count: -c needs a value; .* write --count=VALUE\n/);
    t.is((await enigm('demo', 'count', '--count', '')).code, 2);
  },
);

test.serial(
  "option misuse is the CLI's one-line usage error (exit 2), never Node's parseArgs text: unknown option, missing value, value to a flag, stray argument",
  async (t) => {
    const cases: [string[], string][] = [
      [['demo', 'read', '--in', 'f', '--yes'], "enigm demo read: unknown option '--yes'"],
      [['demo', 'read', '-y'], "enigm demo read: unknown option '-y'"],
      [['demo', 'read', '--in'], 'enigm demo read: --in needs a value'],
      [['demo', 'read', '-i'], 'enigm demo read: --in needs a value'],
      [['demo', 'read', '--json=yes'], 'enigm demo read: --json takes no value'],
      [['demo', 'read', 'stray'], 'enigm demo read: unexpected argument "stray": this command takes options only'],
    ];
    for (const [argv, first] of cases) {
      const r = await enigm(...argv);
      t.is(r.code, 2, argv.join(' '));
      t.is(r.stderr, `${first}\nTry 'enigm ${argv[0]} ${argv[1]} --help'.\n`, argv.join(' '));
      t.notRegex(r.stderr, /To specify a positional argument|<value>|place it at the end/);
    }
    // The case the audit met: `key unpair KEYID --yes` (a flag of key revoke/retire, not of unpair).
    const unpair = await runCommand([...COMMANDS], ['key', 'unpair', '0123456789abcdef', '--port', 'x', '--yes']);
    t.is(unpair.code, 2);
    t.is(unpair.stderr, "enigm key unpair: unknown option '--yes'\nTry 'enigm key unpair --help'.\n");
  },
);
