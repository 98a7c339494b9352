/**
 * The CA folder: private keys as PKCS#8 encrypted with a passphrase (RFC 5958 §3
 * EncryptedPrivateKeyInfo, PBES2 of RFC 8018) in 0600 files, `ca.json` without key material,
 * a wrong passphrase named `CA_PASSPHRASE_WRONG`, init refusing an existing CA, rotation keeping
 * the old intermediate's certificate (and destroying its key), and folder swaps that leave
 * nothing half-written.
 */
import { spawn, spawnSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AttestationError } from '../src/errors.ts';
import {
  CA_FILES,
  caExists,
  decryptPrivateKey,
  encryptPrivateKey,
  initCaFolder,
  issueKeyCertificate,
  KDF_ITERATIONS,
  loadIssuingCa,
  pbkdf2Iterations,
  readCaCertificates,
  readCaMetadata,
  rotateCaFolder,
  verifyKeyChain,
} from '../src/pki/index.ts';

const PASS = 'correct horse battery staple';
const NOW = new Date('2026-03-01T12:00:00Z');
const clock = { now: () => NOW };

let base = '';
test.before(() => {
  base = mkdtempSync(join(tmpdir(), 'enigm-ca-'));
});
test.after.always(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

let n = 0;
function freshDir(): string {
  return join(base, `ca${n++}`);
}

async function identityKey(): Promise<Uint8Array> {
  const k = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  return new Uint8Array(await webcrypto.subtle.exportKey('raw', k.publicKey));
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return e instanceof AttestationError ? e.code : `not an AttestationError: ${(e as Error).message}`;
  }
}

test('RFC 5958 §3: init writes root and intermediate keys as EncryptedPrivateKeyInfo PEM files of mode 0600; certificates and ca.json hold no key material', async (t) => {
  const dir = freshDir();
  const meta = await initCaFolder(dir, PASS, clock);
  t.deepEqual(readdirSync(dir).sort(), ['ca.json', 'intermediate.key', 'intermediate.pem', 'root.key', 'root.pem']);
  t.is(statSync(dir).mode & 0o777, 0o700);
  for (const key of [CA_FILES.rootKey, CA_FILES.intermediateKey]) {
    t.is(statSync(join(dir, key)).mode & 0o777, 0o600, key);
    const pem = readFileSync(join(dir, key), 'utf8');
    t.regex(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    t.notRegex(pem, /BEGIN PRIVATE KEY/);
  }
  const json = readFileSync(join(dir, 'ca.json'), 'utf8');
  t.notRegex(json, /BEGIN|PRIVATE KEY|correct horse/);
  t.is(meta.generation, 1);
  t.is(meta.root.subject, 'CN=Enigm Key Root CA, O=Enigm');
  t.is(meta.intermediate.authorityKeyId, meta.root.subjectKeyId);
  t.deepEqual(readCaMetadata(dir), meta);
  t.deepEqual(
    readdirSync(base).filter((f) => f.startsWith('.')),
    [],
    'no staging folder is left',
  );
});

test('RFC 8018 PBES2: openssl decrypts a CA key with the passphrase and refuses it without', async (t) => {
  if (spawnSync('openssl', ['version']).status !== 0) {
    if (process.env.CI === 'true') return t.fail('openssl is missing');
    return t.pass('openssl is not installed');
  }
  const dir = freshDir();
  await initCaFolder(dir, PASS, clock);
  const passFile = join(base, `pass${n}`);
  writeFileSync(passFile, PASS, { mode: 0o600 });
  const key = join(dir, CA_FILES.intermediateKey);
  const asn1 = spawnSync('openssl', ['asn1parse', '-in', key]).stdout.toString();
  t.regex(asn1, /PBES2/);
  t.regex(asn1, /aes-256-cbc/);
  t.regex(asn1, /hmacWithSHA256/);
  t.regex(asn1, /INTEGER\s+:0927C0/, 'PBKDF2 with 600,000 iterations');
  const ok = spawnSync('openssl', ['pkey', '-in', key, '-passin', `file:${passFile}`, '-pubout']);
  t.is(ok.status, 0, ok.stderr.toString());
  const pub = ok.stdout.toString();
  const certPub = spawnSync('openssl', [
    'x509',
    '-in',
    join(dir, CA_FILES.intermediateCert),
    '-noout',
    '-pubkey',
  ]).stdout.toString();
  t.is(pub, certPub, 'the key file holds the intermediate certificate’s key');
  writeFileSync(passFile, 'wrong passphrase!!', { mode: 0o600 });
  t.not(spawnSync('openssl', ['pkey', '-in', key, '-passin', `file:${passFile}`, '-noout']).status, 0);
});

test('a wrong passphrase is CA_PASSPHRASE_WRONG (issuing and rotation), and its message names the file, not the passphrase', async (t) => {
  const dir = freshDir();
  await initCaFolder(dir, PASS, clock);
  const err = await t.throwsAsync(loadIssuingCa(dir, 'not the passphrase'));
  t.is((err as AttestationError).code, 'CA_PASSPHRASE_WRONG');
  t.regex((err as Error).message, /intermediate\.key/);
  t.notRegex((err as Error).message, /not the passphrase/);
  t.is(await code(rotateCaFolder(dir, 'not the passphrase', clock)), 'CA_PASSPHRASE_WRONG');
  t.is(await code(loadIssuingCa(dir, '')), 'CA_PASSPHRASE_WRONG');
  t.is(readCaMetadata(dir).generation, 1, 'a refused rotation changes nothing');
});

test('a new CA passphrase shorter than 12 characters is CA_PASSPHRASE_WEAK and nothing is written', async (t) => {
  const dir = freshDir();
  t.is(await code(initCaFolder(dir, 'short pass', clock)), 'CA_PASSPHRASE_WEAK');
  t.false(existsSync(dir));
});

test('init refuses a folder that holds a CA (CA_EXISTS) unless forced, and a non-empty folder that holds none', async (t) => {
  const dir = freshDir();
  const first = await initCaFolder(dir, PASS, clock);
  t.is(await code(initCaFolder(dir, PASS, clock)), 'CA_EXISTS');
  t.is(readCaMetadata(dir).root.fingerprint, first.root.fingerprint);
  const second = await initCaFolder(dir, PASS, { ...clock, force: true });
  t.not(second.root.fingerprint, first.root.fingerprint);
  t.is(readCaMetadata(dir).root.fingerprint, second.root.fingerprint);
  const other = freshDir();
  mkdirSync(other);
  writeFileSync(join(other, 'notes.txt'), 'mine');
  t.is(await code(initCaFolder(other, PASS, { ...clock, force: true })), 'CA_EXISTS');
  t.is(readFileSync(join(other, 'notes.txt'), 'utf8'), 'mine');
  t.is(await code(initCaFolder(join(other, 'notes.txt'), PASS, clock)), 'CA_EXISTS', 'a file is not a folder');
  const empty = freshDir();
  mkdirSync(empty);
  await initCaFolder(empty, PASS, clock);
  t.true(existsSync(join(empty, 'ca.json')), 'an empty folder is used');
});

test('rotation: generation 2, the old intermediate certificate is kept in retired/ (its key is not), and chains of both verify with the root', async (t) => {
  const dir = freshDir();
  await initCaFolder(dir, PASS, clock);
  const identity = await identityKey();
  const old = await issueKeyCertificate(await loadIssuingCa(dir, PASS), { identityPublicKey: identity, model: 'EK1', ...clock });
  const oldKey = readFileSync(join(dir, CA_FILES.intermediateKey), 'utf8');
  const later = new Date(NOW.getTime() + 86_400_000);
  const meta = await rotateCaFolder(dir, PASS, { now: () => later });
  t.is(meta.generation, 2);
  t.is(meta.rotatedAt, later.toISOString());
  t.is(meta.retired.length, 1);
  t.is(meta.retired[0]?.file, 'retired/intermediate-G1.pem');
  t.deepEqual(readdirSync(join(dir, 'retired')), ['intermediate-G1.pem']);
  t.not(readFileSync(join(dir, CA_FILES.intermediateKey), 'utf8'), oldKey);
  t.is(statSync(join(dir, CA_FILES.intermediateKey)).mode & 0o777, 0o600);
  t.is(meta.intermediate.subject, 'CN=Enigm Key Provisioning CA G2, O=Enigm');
  const issuing = await loadIssuingCa(dir, PASS);
  const fresh = await issueKeyCertificate(issuing, { identityPublicKey: identity, model: 'EK1', now: () => later });
  const { rootPem, intermediatesPem } = readCaCertificates(dir);
  for (const leaf of [old, fresh]) {
    t.true((await verifyKeyChain(leaf.chainPem, { roots: rootPem, at: later })).valid);
    t.true((await verifyKeyChain(leaf.pem, { roots: rootPem, intermediates: intermediatesPem, at: later })).valid);
  }
  await rotateCaFolder(dir, PASS, { now: () => later });
  t.deepEqual(readdirSync(join(dir, 'retired')).sort(), ['intermediate-G1.pem', 'intermediate-G2.pem']);
  t.true(
    (await verifyKeyChain(old.pem, { roots: rootPem, intermediates: readCaCertificates(dir).intermediatesPem, at: later })).valid,
  );
});

test('a CA folder whose files do not belong together, or whose ca.json points outside retired/, is CA_MALFORMED; a missing one CA_NOT_FOUND', async (t) => {
  const a = freshDir();
  const b = freshDir();
  await initCaFolder(a, PASS, clock);
  await initCaFolder(b, PASS, clock);
  writeFileSync(join(a, CA_FILES.intermediateKey), readFileSync(join(b, CA_FILES.intermediateKey)));
  t.is(await code(loadIssuingCa(a, PASS)), 'CA_MALFORMED');
  writeFileSync(join(a, CA_FILES.intermediateKey), readFileSync(join(b, CA_FILES.rootKey)));
  t.is(await code(loadIssuingCa(a, PASS)), 'CA_MALFORMED');
  const c = freshDir();
  await initCaFolder(c, PASS, clock);
  writeFileSync(join(c, CA_FILES.intermediateCert), readFileSync(join(b, CA_FILES.intermediateCert)));
  t.is(await code(loadIssuingCa(c, PASS)), 'CA_MALFORMED', 'a certificate swapped with its key from elsewhere');
  const d = freshDir();
  const meta = await initCaFolder(d, PASS, clock);
  writeFileSync(
    join(d, 'ca.json'),
    JSON.stringify({ ...meta, retired: [{ ...meta.intermediate, generation: 1, file: '../../etc/passwd' }] }),
  );
  t.throws(() => readCaMetadata(d), { code: 'CA_MALFORMED' } as never);
  writeFileSync(join(d, 'ca.json'), '{"version": 1');
  t.throws(() => readCaMetadata(d), { code: 'CA_MALFORMED' } as never);
  t.throws(() => readCaMetadata(freshDir()), { code: 'CA_NOT_FOUND' } as never);
});

test('a wrong passphrase is CA_PASSPHRASE_WRONG even when it happens to decrypt to valid padding (1 in 256)', async (t) => {
  const k = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const { createPrivateKey } = await import('node:crypto');
  // written by Node itself (PBES2, 2,048 PBKDF2 iterations), so the search below is quick
  const pem = createPrivateKey({
    key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', k.privateKey)),
    format: 'der',
    type: 'pkcs8',
  }).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: PASS }) as string;
  // find a wrong passphrase whose AES-CBC padding checks out, so OpenSSL reports a parse error
  let lucky: string | undefined;
  for (let i = 0; i < 20_000 && lucky === undefined; i++) {
    try {
      createPrivateKey({ key: pem, format: 'pem', passphrase: `wrong passphrase ${i}` });
    } catch (e) {
      if (!/bad decrypt/i.test(`${(e as { code?: string }).code} ${(e as Error).message}`)) lucky = `wrong passphrase ${i}`;
    }
  }
  if (lucky === undefined) return t.fail('no wrong passphrase with valid padding in 20,000 tries');
  t.is(await code(decryptPrivateKey(pem, lucky, 'test.key')), 'CA_PASSPHRASE_WRONG');
  t.is(await code(decryptPrivateKey(pem, 'another wrong passphrase', 'test.key')), 'CA_PASSPHRASE_WRONG');
});

test('encryptPrivateKey/decryptPrivateKey round-trip to a non-extractable signing key; a plain PKCS#8 PEM is refused', async (t) => {
  const k = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const pem = await encryptPrivateKey(k.privateKey, PASS);
  const back = await decryptPrivateKey(pem, PASS, 'test.key');
  t.false(back.extractable);
  const sig = await webcrypto.subtle.sign('Ed25519', back, new Uint8Array([1, 2, 3]));
  t.true(await webcrypto.subtle.verify('Ed25519', k.publicKey, sig, new Uint8Array([1, 2, 3])));
  const plain = (await import('node:crypto')).createPrivateKey({
    key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', k.privateKey)),
    format: 'der',
    type: 'pkcs8',
  });
  t.is(
    await code(decryptPrivateKey(plain.export({ type: 'pkcs8', format: 'pem' }) as string, PASS, 'plain.key')),
    'CA_MALFORMED',
  );
  t.is(pbkdf2Iterations(pem), KDF_ITERATIONS);
  t.is(pbkdf2Iterations(await encryptPrivateKey(k.privateKey, PASS, 100_000)), 100_000);
  const exported = plain.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: PASS }) as string;
  t.is(pbkdf2Iterations(exported), 2048, 'a key written by Node itself');
  t.truthy(await decryptPrivateKey(exported, PASS, 'node.key'));
});

test('a key file asking for more than 10,000,000 PBKDF2 iterations is refused before any work (CA_MALFORMED)', async (t) => {
  const k = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const der = Buffer.from((await encryptPrivateKey(k.privateKey, PASS, 100_000)).replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const at = der.indexOf(Buffer.from([0x02, 0x03, 0x01, 0x86, 0xa0])); // INTEGER 100000
  t.true(at > 0);
  der[at + 2] = 0xff; // 0xff86a0 = 16,746,144 iterations
  const pem = `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${der.toString('base64')}\n-----END ENCRYPTED PRIVATE KEY-----\n`;
  t.is(pbkdf2Iterations(pem), 0xff86a0);
  // "before any work" without a clock: the right passphrase with the edited count derives a wrong key,
  // so a check made after the decryption attempt would answer CA_PASSPHRASE_WRONG, not this
  const e = await t.throwsAsync(decryptPrivateKey(pem, PASS, 'big.key'));
  t.is((e as AttestationError).code, 'CA_MALFORMED');
  t.regex((e as Error).message, /big\.key asks for more than 10000000 PBKDF2 iterations/);
});

test('a swap interrupted between its two renames is finished on the next read: the new folder (complete) becomes the CA', async (t) => {
  const dir = freshDir();
  const meta = await initCaFolder(dir, PASS, clock);
  const name = dir.split('/').pop() as string;
  const staged = join(base, `.${name}.new-0a0b0c`);
  const old = join(base, `.${name}.old-0a0b0c`);
  renameSync(dir, staged); // as if: old renamed away, crash before the staging folder took its place
  mkdirSync(old);
  writeFileSync(join(old, 'ca.json'), '{}');
  t.deepEqual(readCaMetadata(dir), meta);
  t.false(existsSync(staged));
  t.false(existsSync(old));
  t.truthy(await loadIssuingCa(dir, PASS));
  const leftover = join(base, `.${name}.old-ffffff`);
  mkdirSync(leftover);
  t.true(caExists(dir));
  t.false(existsSync(leftover), 'a replaced CA whose removal was cut short is removed');
});

test('kill -9 at any moment of init --force: the CA folder is always a complete CA, the old one or the new one', async (t) => {
  const dir = freshDir();
  await initCaFolder(dir, PASS, clock);
  const store = new URL('../src/pki/store.ts', import.meta.url).href;
  const script = `import { initCaFolder } from ${JSON.stringify(store)}; for (;;) await initCaFolder(${JSON.stringify(dir)}, ${JSON.stringify(PASS)}, { force: true });`;
  const seen = new Set<string>();
  /** ca.json as it is on disk now (read directly: no repair while the child runs). */
  const current = () => {
    try {
      return readFileSync(join(dir, 'ca.json'), 'utf8');
    } catch {
      return '';
    }
  };
  for (const delay of [0, 60, 120, 180, 240, 300]) {
    const before = current();
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'ignore' });
    // let the child complete one init (however slow its start is), then kill it `delay` ms into the next
    const deadline = Date.now() + 40_000;
    while (current() === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    const meta = readCaMetadata(dir);
    seen.add(meta.root.fingerprint);
    const issuing = await loadIssuingCa(dir, PASS);
    t.is(issuing.root.fingerprint, meta.root.fingerprint);
    const { X509Certificate } = await import('node:crypto');
    const root = new X509Certificate(readFileSync(join(dir, CA_FILES.rootCert)));
    const spki = new Uint8Array(root.publicKey.export({ type: 'spki', format: 'der' }));
    t.truthy(await decryptPrivateKey(readFileSync(join(dir, CA_FILES.rootKey), 'utf8'), PASS, 'root.key', spki));
    t.deepEqual(readdirSync(dir).sort(), ['ca.json', 'intermediate.key', 'intermediate.pem', 'root.key', 'root.pem']);
  }
  t.true(seen.size >= 6, 'every kill came after a completed init');
  t.deepEqual(
    readdirSync(base).filter((n) => n.startsWith(`.${dir.split('/').pop()}.old-`)),
    [],
  );
});
