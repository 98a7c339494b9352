/**
 * `enigm ca`: the provisioning CA from the command line. The passphrase comes from
 * ENIGM_CA_PASSPHRASE or --passphrase-file, never from argv (an option for it does not exist);
 * a wrong one is CA_PASSPHRASE_WRONG (exit 1) and writes nothing; no source at all, with stdin
 * not a terminal, is CA_PASSPHRASE_MISSING; `ca show` needs no passphrase and prints no secret;
 * what `ca issue` writes passes `openssl verify -CAfile root.pem -untrusted intermediate.pem`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { caCommands } from '../src/commands/ca.ts';
import { runCommand, runCommandProcess } from './run-command.ts';

const PASS = 'tr0ub4dor & 3 staples';
const ENV = 'ENIGM_CA_PASSPHRASE';
const ID = 'a1'.repeat(32);
const OTHER_ID = 'b2'.repeat(32);

let base = '';
const saved = process.env[ENV];
test.before(() => {
  base = mkdtempSync(join(tmpdir(), 'enigm-cli-ca-'));
});
test.after.always(() => {
  if (base) rmSync(base, { recursive: true, force: true });
  if (saved === undefined) delete process.env[ENV];
  else process.env[ENV] = saved;
});

let n = 0;
const fresh = () => join(base, `d${n++}`);

/** Runs `enigm ca …` in-process with ENIGM_CA_PASSPHRASE set to `pass` (or unset). */
async function ca(argv: string[], pass: string | undefined = PASS) {
  if (pass === undefined) delete process.env[ENV];
  else process.env[ENV] = pass;
  try {
    return await runCommand(caCommands, ['ca', ...argv]);
  } finally {
    delete process.env[ENV];
  }
}

function hasOpenssl(): boolean {
  if (spawnSync('openssl', ['version']).status === 0) return true;
  if (process.env.CI === 'true') throw new Error('openssl is missing (scripts/setup.sh installs it)');
  return false;
}

test.serial('ca init with ENIGM_CA_PASSPHRASE writes the CA; its output shows no passphrase and no key', async (t) => {
  const dir = fresh();
  const r = await ca(['init', '--dir', dir, '--json']);
  t.is(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  t.is(doc.ok, true);
  t.is(doc.generation, 1);
  t.deepEqual(
    doc.keyFiles.map((k: { file: string; mode: string }) => `${k.file} ${k.mode}`),
    ['root.key 0600', 'intermediate.key 0600'],
  );
  for (const f of ['root.pem', 'root.key', 'intermediate.pem', 'intermediate.key', 'ca.json'])
    t.true(existsSync(join(dir, f)), f);
  t.false(`${r.stdout}${r.stderr}`.includes(PASS));
  t.notRegex(r.stdout, /PRIVATE KEY/);
});

test.serial('ca init refuses a folder that holds a CA (CA_EXISTS, exit 1) unless --force', async (t) => {
  const dir = fresh();
  t.is((await ca(['init', '--dir', dir])).code, 0);
  const before = readFileSync(join(dir, 'root.pem'), 'utf8');
  const again = await ca(['init', '--dir', dir]);
  t.is(again.code, 1);
  t.regex(again.stderr, /CA_EXISTS/);
  t.is(readFileSync(join(dir, 'root.pem'), 'utf8'), before);
  t.is((await ca(['init', '--dir', dir, '--force'])).code, 0);
  t.not(readFileSync(join(dir, 'root.pem'), 'utf8'), before);
});

test.serial('a passphrase is never an argument: --passphrase is misuse (exit 2) and its value is not echoed', async (t) => {
  const dir = fresh();
  const r = await ca(['init', '--dir', dir, '--passphrase', 'SECRET-VALUE-123'], undefined);
  t.is(r.code, 2);
  t.false(`${r.stdout}${r.stderr}`.includes('SECRET-VALUE-123'));
  t.false(existsSync(dir));
  for (const c of caCommands)
    for (const name of Object.keys(c.options)) t.true(!/pass/.test(name) || name === 'passphrase-file', `${c.name} --${name}`);
});

test.serial('--passphrase-file F: init, issue and rotate read the passphrase from the file’s first line', async (t) => {
  const dir = fresh();
  const passFile = join(base, `pass${n}`);
  writeFileSync(passFile, `${PASS}\n`, { mode: 0o600 });
  t.is((await ca(['init', '--dir', dir, '--passphrase-file', passFile], undefined)).code, 0);
  const leaf = join(base, `leaf${n}.pem`);
  const issued = await ca(
    ['issue', '--dir', dir, '--identity', ID, '--model', 'EK1', '--out', leaf, '--passphrase-file', passFile],
    undefined,
  );
  t.is(issued.code, 0, issued.stderr);
  t.true((await ca(['rotate', '--dir', dir], PASS)).code === 0, 'the environment holds the same passphrase');
  t.is((await ca(['rotate', '--dir', dir, '--passphrase-file', passFile], undefined)).code, 0);
  writeFileSync(passFile, '\n', { mode: 0o600 });
  const empty = await ca(['rotate', '--dir', dir, '--passphrase-file', passFile], undefined);
  t.is(empty.code, 1);
  t.regex(empty.stderr, /CA_PASSPHRASE_MISSING/);
  const missing = await ca(['rotate', '--dir', dir, '--passphrase-file', join(base, 'nope')], undefined);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /INPUT_NOT_FOUND/);
});

test.serial('a wrong passphrase is CA_PASSPHRASE_WRONG (exit 1): no certificate is written, the CA is unchanged', async (t) => {
  const dir = fresh();
  t.is((await ca(['init', '--dir', dir])).code, 0);
  const out = join(base, `wrong${n}.pem`);
  const r = await ca(['issue', '--dir', dir, '--identity', ID, '--model', 'EK1', '--out', out], 'this is not it!');
  t.is(r.code, 1);
  t.regex(r.stderr, /^enigm ca issue: CA_PASSPHRASE_WRONG: /);
  t.false(r.stderr.includes('this is not it!'));
  t.false(existsSync(out));
  const meta = readFileSync(join(dir, 'ca.json'), 'utf8');
  const rot = await ca(['rotate', '--dir', dir, '--json'], 'this is not it!');
  t.is(rot.code, 1);
  t.is(JSON.parse(rot.stdout).error.code, 'CA_PASSPHRASE_WRONG');
  t.is(readFileSync(join(dir, 'ca.json'), 'utf8'), meta);
});

test.serial(
  'without --passphrase-file, ENIGM_CA_PASSPHRASE or a terminal, ca issue is CA_PASSPHRASE_MISSING (exit 1)',
  async (t) => {
    const dir = fresh();
    t.is((await ca(['init', '--dir', dir])).code, 0);
    delete process.env[ENV];
    const r = await runCommandProcess(new URL('../src/commands/ca.ts', import.meta.url), 'caCommands', [
      'ca',
      'issue',
      '--dir',
      dir,
      '--identity',
      ID,
      '--model',
      'EK1',
      '--out',
      join(base, 'none.pem'),
    ]);
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, /CA_PASSPHRASE_MISSING/);
    const weak = await ca(['init', '--dir', fresh()], 'short');
    t.is(weak.code, 1);
    t.regex(weak.stderr, /CA_PASSPHRASE_WEAK/);
  },
);

test.serial(
  'ca show needs no passphrase and prints subjects, serials, validity, key ids and fingerprints, never key material',
  async (t) => {
    const dir = fresh();
    t.is((await ca(['init', '--dir', dir])).code, 0);
    const keys = ['root.key', 'intermediate.key'].map((f) => readFileSync(join(dir, f), 'utf8'));
    const human = await ca(['show', '--dir', dir], undefined);
    const json = await ca(['show', '--dir', dir, '--json'], undefined);
    t.is(human.code, 0, human.stderr);
    t.is(json.code, 0);
    const doc = JSON.parse(json.stdout);
    for (const field of ['subject', 'serial', 'notBefore', 'notAfter', 'subjectKeyId', 'fingerprint']) {
      t.is(typeof doc.root[field], 'string', field);
      t.true(human.stdout.includes(doc.intermediate[field]), field);
    }
    for (const text of [human.stdout, json.stdout]) {
      t.notRegex(text, /PRIVATE|BEGIN/);
      for (const k of keys) for (const line of k.split('\n').slice(1, -2)) t.false(text.includes(line));
      t.false(text.includes(PASS));
    }
    writeFileSync(join(dir, 'intermediate.pem'), readFileSync(join(dir, 'root.pem')));
    const swapped = await ca(['show', '--dir', dir], undefined);
    t.is(swapped.code, 1);
    t.regex(swapped.stderr, /CA_MALFORMED/);
    const none = await ca(['show', '--dir', fresh()], undefined);
    t.is(none.code, 1);
    t.regex(none.stderr, /CA_NOT_FOUND/);
  },
);

test.serial(
  'ca issue writes a Key certificate that openssl verify accepts; after ca rotate it still verifies, and so does a new one',
  async (t) => {
    const dir = fresh();
    t.is((await ca(['init', '--dir', dir])).code, 0);
    const leaf = join(base, `k${n}.pem`);
    const chain = join(base, `k${n}-chain.pem`);
    const r = await ca(['issue', '--dir', dir, '--identity', ID, '--model', 'EK 1.b', '--out', leaf, '--chain', chain, '--json']);
    t.is(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    t.regex(doc.subject, /^CN=K-[0-9a-f]{32}, OU=EK 1\.b, O=Enigm$/);
    t.is(doc.publicKey, ID);
    if (hasOpenssl()) {
      const v = spawnSync('openssl', [
        'verify',
        '-CAfile',
        join(dir, 'root.pem'),
        '-untrusted',
        join(dir, 'intermediate.pem'),
        leaf,
      ]);
      t.is(v.status, 0, v.stderr.toString());
    }
    t.is((await ca(['rotate', '--dir', dir])).code, 0);
    t.is((await ca(['verify', '--dir', dir, '--identity', ID, chain], undefined)).code, 0);
    t.is((await ca(['verify', '--dir', dir, leaf], undefined)).code, 0, 'the retired intermediate completes the path');
    const leaf2 = join(base, `k${n}-2.pem`);
    t.is((await ca(['issue', '--dir', dir, '--identity', ID, '--model', 'EK1', '--out', leaf2])).code, 0);
    if (hasOpenssl()) {
      const v = spawnSync('openssl', [
        'verify',
        '-CAfile',
        join(dir, 'root.pem'),
        '-untrusted',
        join(dir, 'intermediate.pem'),
        leaf2,
      ]);
      t.is(v.status, 0, v.stderr.toString());
    }
    const other = await ca(['verify', '--dir', dir, '--identity', OTHER_ID, leaf, '--json'], undefined);
    t.is(other.code, 1);
    t.is(JSON.parse(other.stdout).error.code, 'PKI_KEY_MISMATCH');
    const late = await ca(['verify', '--dir', dir, '--at', '2100-01-01T00:00:00Z', leaf], undefined);
    t.is(late.code, 1);
    t.regex(late.stderr, /PKI_CERT_EXPIRED/);
  },
);

test.serial('ca issue: a malformed --identity, --model or --not-after, or a missing --dir, is misuse (exit 2)', async (t) => {
  const dir = fresh();
  const out = join(base, 'x.pem');
  for (const argv of [
    ['issue', '--dir', dir, '--identity', 'zz', '--model', 'EK1', '--out', out],
    ['issue', '--dir', dir, '--identity', ID.slice(2), '--model', 'EK1', '--out', out],
    ['issue', '--dir', dir, '--identity', ID, '--model', 'EK1, O=Evil', '--out', out],
    ['issue', '--dir', dir, '--identity', ID, '--model', 'EK1', '--out', out, '--not-after', 'soon'],
    ['issue', '--identity', ID, '--model', 'EK1', '--out', out],
    ['show'],
  ]) {
    const r = await ca(argv);
    t.is(r.code, 2, argv.join(' '));
  }
});

/** Single-quotes a word for sh. */
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

test.serial(
  'on a terminal the passphrase is prompted for without echo, twice for ca init (a real pty via script(1))',
  async (t) => {
    if (spawnSync('script', ['--version']).status !== 0) {
      if (process.env.CI === 'true') return t.fail('script(1) from util-linux is missing');
      return t.pass('script(1) is not installed');
    }
    delete process.env[ENV];
    const dir = fresh();
    const enigm = new URL('../src/enigm.ts', import.meta.url).pathname;
    const cmd = [process.execPath, '--import', 'tsx', enigm, 'ca', 'init', '--dir', dir].map(sq).join(' ');
    const child = spawn('script', ['-qefc', cmd, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TERM: 'dumb' },
    });
    let seen = '';
    const answered = new Set<string>();
    const done = new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? -1)));
    child.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      for (const prompt of ['CA passphrase: ', 'CA passphrase again: '])
        if (seen.includes(prompt) && !answered.has(prompt) && seen.trimEnd().endsWith(prompt.trim())) {
          answered.add(prompt);
          child.stdin.write(`${PASS}\r`);
        }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    const code = await done;
    clearTimeout(timer);
    t.is(code, 0, seen);
    t.true(answered.has('CA passphrase: ') && answered.has('CA passphrase again: '), seen);
    t.false(seen.includes(PASS), 'the passphrase is not echoed');
    t.regex(seen, /created CA/);
    process.env[ENV] = PASS;
    t.is((await ca(['rotate', '--dir', dir])).code, 0, 'the prompted passphrase encrypted the keys');
  },
);

test.serial(
  'ca issue --csr: a PKCS#10 request made by openssl req with an Ed25519 key is issued for that key, its subject ignored',
  async (t) => {
    if (!hasOpenssl()) return t.pass('needs openssl');
    const dir = fresh();
    t.is((await ca(['init', '--dir', dir])).code, 0);
    const key = join(base, `csr${n}.key`);
    const csr = join(base, `csr${n}.csr`);
    const der = join(base, `csr${n}.der`);
    t.is(spawnSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key]).status, 0);
    t.is(spawnSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=Alice Owner/O=Customer Inc', '-out', csr]).status, 0);
    t.is(spawnSync('openssl', ['req', '-in', csr, '-outform', 'DER', '-out', der]).status, 0);
    const identity = spawnSync('openssl', ['pkey', '-in', key, '-pubout', '-outform', 'DER'])
      .stdout.subarray(-32)
      .toString('hex');
    const leaf = join(base, `csr${n}.pem`);
    const r = await ca(['issue', '--dir', dir, '--csr', csr, '--identity', identity, '--model', 'EK1', '--out', leaf, '--json']);
    t.is(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    t.is(doc.publicKey, identity);
    t.notRegex(doc.subject, /Alice|Customer/);
    const v = spawnSync('openssl', [
      'verify',
      '-CAfile',
      join(dir, 'root.pem'),
      '-untrusted',
      join(dir, 'intermediate.pem'),
      leaf,
    ]);
    t.is(v.status, 0, v.stderr.toString());
    t.is((await ca(['issue', '--dir', dir, '--csr', der, '--model', 'EK1', '--out', leaf])).code, 0, 'DER, no expected key');
    const other = await ca(['issue', '--dir', dir, '--csr', der, '--identity', OTHER_ID, '--model', 'EK1', '--out', leaf]);
    t.is(other.code, 1);
    t.regex(other.stderr, /PKI_KEY_MISMATCH/);
    const bytes = readFileSync(der);
    bytes[bytes.length - 2] = (bytes[bytes.length - 2] as number) ^ 0x01;
    writeFileSync(der, bytes);
    const bad = await ca(['issue', '--dir', dir, '--csr', der, '--model', 'EK1', '--out', join(base, 'never.pem')]);
    t.is(bad.code, 1);
    t.regex(bad.stderr, /PKI_CSR_INVALID/);
    t.false(existsSync(join(base, 'never.pem')));
  },
);
