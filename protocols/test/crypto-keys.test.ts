/**
 * Tests of PEM key import/export (protocols/src/crypto/keys.ts): RFC 8410 (Ed25519/X25519 in
 * PKCS#8 RFC 5958 and SubjectPublicKeyInfo RFC 5280), interoperating with OpenSSL.
 *
 * Checks:
 * - Round trips for both curves; RFC 8032 TEST 1 key gives the exact PEM OpenSSL writes.
 * - With the `openssl` CLI (skipped if absent, required under CI): `openssl pkey -in ours.key
 *   -pubout` prints byte-for-byte our public PEM, `openssl pkey -in ours.key` re-emits our private
 *   PEM unchanged, and keys made by `openssl genpkey` load and derive the same public key.
 * - The public loaders accept a private-key PEM (deriving the public key).
 * - Wrong-type table: another curve, RSA, EC, a public PEM given to a private loader, an encrypted
 *   PKCS#8, garbage, an Ed25519 public key of small order → CRYPTO_INVALID_KEY with a message
 *   saying which; non-string input → TypeError.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import {
  ed25519Generate,
  ed25519PrivateKeyFromPem,
  ed25519PrivateKeyToPem,
  ed25519PublicKeyFromPem,
  ed25519PublicKeyToPem,
  x25519Generate,
  x25519PrivateKeyFromPem,
  x25519PrivateKeyToPem,
  x25519PublicKey,
  x25519PublicKeyFromPem,
  x25519PublicKeyToPem,
} from '../src/crypto/index.ts';
import { ProtocolError } from '../src/errors.ts';

const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const opensslTest = hasOpenssl || process.env.CI === 'true' ? test : test.skip;

function throwsKey(t: ExecutionContext, fn: () => unknown, message: RegExp): void {
  const err = t.throws(fn, { instanceOf: ProtocolError }) as ProtocolError;
  t.is(err.code, 'CRYPTO_INVALID_KEY');
  t.regex(err.message, message);
}

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

let dir = '';
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'enigm-keys-'));
});
test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('RFC 8410 / RFC 8032 TEST 1: the Ed25519 PEMs are the ones OpenSSL writes', (t) => {
  const seed = bytes('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
  const pub = bytes('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  const priv = ed25519PrivateKeyToPem(seed);
  t.is(
    priv,
    '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n',
  );
  t.is(
    ed25519PublicKeyToPem(pub),
    '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n',
  );
  t.deepEqual(ed25519PrivateKeyFromPem(priv), seed);
  t.deepEqual(ed25519PublicKeyFromPem(priv), pub);
});

test('round trips: Ed25519 and X25519, private and public', (t) => {
  const e = ed25519Generate();
  t.deepEqual(ed25519PrivateKeyFromPem(ed25519PrivateKeyToPem(e.seed)), e.seed);
  t.deepEqual(ed25519PublicKeyFromPem(ed25519PublicKeyToPem(e.publicKey)), e.publicKey);
  t.deepEqual(ed25519PublicKeyFromPem(ed25519PrivateKeyToPem(e.seed)), e.publicKey);
  const x = x25519Generate();
  t.deepEqual(x25519PrivateKeyFromPem(x25519PrivateKeyToPem(x.privateKey)), x.privateKey);
  t.deepEqual(x25519PublicKeyFromPem(x25519PublicKeyToPem(x.publicKey)), x.publicKey);
  t.deepEqual(x25519PublicKeyFromPem(x25519PrivateKeyToPem(x.privateKey)), x.publicKey);
});

opensslTest('openssl pkey reads our PEMs: -pubout gives our public PEM, re-export gives our private PEM', (t) => {
  const e = ed25519Generate();
  const x = x25519Generate();
  for (const [name, privPem, pubPem] of [
    ['ed25519', ed25519PrivateKeyToPem(e.seed), ed25519PublicKeyToPem(e.publicKey)],
    ['x25519', x25519PrivateKeyToPem(x.privateKey), x25519PublicKeyToPem(x.publicKey)],
  ] as const) {
    const keyFile = join(dir, `${name}.key`);
    writeFileSync(keyFile, privPem, { mode: 0o600 });
    t.is(openssl(['pkey', '-in', keyFile, '-pubout']), pubPem, name);
    t.is(openssl(['pkey', '-in', keyFile]), privPem, name);
    const pubFile = join(dir, `${name}.pub`);
    writeFileSync(pubFile, pubPem);
    t.is(openssl(['pkey', '-pubin', '-in', pubFile, '-pubout']), pubPem, name);
  }
});

opensslTest('keys made by openssl genpkey load, and derive the public key openssl derives', (t) => {
  for (const alg of ['ed25519', 'x25519'] as const) {
    const keyFile = join(dir, `gen-${alg}.key`);
    openssl(['genpkey', '-algorithm', alg, '-out', keyFile]);
    const pem = readFileSync(keyFile, 'utf8');
    const pubPem = openssl(['pkey', '-in', keyFile, '-pubout']);
    if (alg === 'ed25519') {
      const seed = ed25519PrivateKeyFromPem(pem);
      t.deepEqual(ed25519PublicKeyFromPem(pubPem), ed25519Generate(() => seed).publicKey);
      t.is(ed25519PrivateKeyToPem(seed), pem);
    } else {
      const priv = x25519PrivateKeyFromPem(pem);
      t.deepEqual(x25519PublicKeyFromPem(pubPem), x25519PublicKey(priv));
      t.is(x25519PrivateKeyToPem(priv), pem);
    }
  }
});

test('wrong key types and formats: CRYPTO_INVALID_KEY saying which', (t) => {
  const e = ed25519Generate();
  const x = x25519Generate();
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsaPriv = rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const rsaPub = rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string;
  const ecPriv = ec.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const encrypted = ec.privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string;

  throwsKey(
    t,
    () => ed25519PrivateKeyFromPem(x25519PrivateKeyToPem(x.privateKey)),
    /expected an Ed25519 private key, got an X25519 key/,
  );
  throwsKey(
    t,
    () => x25519PrivateKeyFromPem(ed25519PrivateKeyToPem(e.seed)),
    /expected an X25519 private key, got an Ed25519 key/,
  );
  throwsKey(
    t,
    () => ed25519PublicKeyFromPem(x25519PublicKeyToPem(x.publicKey)),
    /expected an Ed25519 public key, got an X25519 key/,
  );
  throwsKey(
    t,
    () => x25519PublicKeyFromPem(ed25519PublicKeyToPem(e.publicKey)),
    /expected an X25519 public key, got an Ed25519 key/,
  );
  throwsKey(t, () => ed25519PrivateKeyFromPem(rsaPriv), /got an RSA key/);
  throwsKey(t, () => ed25519PublicKeyFromPem(rsaPub), /got an RSA key/);
  throwsKey(t, () => x25519PrivateKeyFromPem(ecPriv), /got an EC/);
  throwsKey(
    t,
    () => ed25519PrivateKeyFromPem(ed25519PublicKeyToPem(e.publicKey)),
    /a public key or certificate, where a private key is needed/,
  );
  throwsKey(t, () => ed25519PrivateKeyFromPem(encrypted), /encrypted private key/);
  throwsKey(t, () => ed25519PublicKeyFromPem(encrypted), /encrypted private key/);
  for (const junk of [
    '',
    'hello',
    '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA',
  ]) {
    throwsKey(t, () => ed25519PrivateKeyFromPem(junk), /cannot load Ed25519 private key/);
    throwsKey(t, () => x25519PublicKeyFromPem(junk), /cannot load X25519 public key/);
  }
  // a well-formed SPKI holding the identity point: a small-order Ed25519 key
  const identity = bytes('0100000000000000000000000000000000000000000000000000000000000000');
  throwsKey(t, () => ed25519PublicKeyFromPem(ed25519PublicKeyToPem(identity)), /small order|large order/);
});

test('wrong argument types: TypeError; raw keys of the wrong length: CRYPTO_INVALID_KEY', (t) => {
  for (const b of [null, 1, new Uint8Array(3), Buffer.from('-----BEGIN PRIVATE KEY-----')] as unknown[]) {
    const any = b as string;
    t.throws(() => ed25519PrivateKeyFromPem(any), { instanceOf: TypeError, message: /^pem must be a string/ });
    t.throws(() => ed25519PublicKeyFromPem(any), { instanceOf: TypeError });
    t.throws(() => x25519PrivateKeyFromPem(any), { instanceOf: TypeError });
    t.throws(() => x25519PublicKeyFromPem(any), { instanceOf: TypeError });
  }
  for (const b of ['00', null, [1]] as unknown[]) {
    const any = b as Uint8Array;
    t.throws(() => ed25519PrivateKeyToPem(any), { instanceOf: TypeError, message: /^seed must be/ });
    t.throws(() => x25519PublicKeyToPem(any), { instanceOf: TypeError, message: /^publicKey must be/ });
  }
  for (const n of [0, 31, 33, 64]) {
    throwsKey(t, () => ed25519PrivateKeyToPem(new Uint8Array(n)), /seed must be 32 bytes/);
    throwsKey(t, () => ed25519PublicKeyToPem(new Uint8Array(n)), /publicKey must be 32 bytes/);
    throwsKey(t, () => x25519PrivateKeyToPem(new Uint8Array(n)), /privateKey must be 32 bytes/);
    throwsKey(t, () => x25519PublicKeyToPem(new Uint8Array(n)), /publicKey must be 32 bytes/);
  }
});
