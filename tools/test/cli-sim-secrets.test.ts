/**
 * docs/security.md "Secrets at rest in the simulator" (issue 16 finding 9): `enigm sim start` says
 * loudly, at every start, that the Keys' private keys sit unencrypted in the state folder
 * (`key-N.se`) and that the firmware-signing private key (`fw-signing.key`) sits beside them; a
 * fresh state folder started with `--trust-fw-key PUB.pem` keeps no signing private key at all, and
 * the warning says so. The simulator runs as its own process (the CLI from source through tsx),
 * stopped with a bounded wait; the test waits on its output, not on a clock.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ed25519Generate, ed25519PublicKeyToPem } from '@enigm/protocols/crypto';
import { killAfter, stopChild } from '@enigm/sim/testing';
import test, { type ExecutionContext } from 'ava';

const ENIGM = new URL('../src/enigm.ts', import.meta.url).pathname;

/**
 * Starts `enigm sim start --keys 1 … EXTRA` and resolves with its stderr once the secrets warning
 * (printed when the simulator is ready) has been written; rejects if it exits first.
 */
async function simStart(t: ExecutionContext, stateDir: string, extra: readonly string[] = []): Promise<string[]> {
  const args = ['sim', 'start', '--keys', '1', '--no-serial', '--no-control', '--no-mqtt', '--state-dir', stateDir, ...extra];
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', ENIGM, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const cancelKill = killAfter(child, 50_000); // the last resort if the teardown never runs
  t.teardown(async () => {
    await stopChild(child, { graceMs: 10_000 });
    cancelKill();
  });
  const log: string[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', () => undefined);
  return new Promise<string[]>((resolve, reject) => {
    const exited = (code: number | null) =>
      reject(new Error(`sim start exited (${code}) before it was ready:\n${log.join('\n')}`));
    child.once('exit', exited);
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (l) => {
      log.push(l);
      if (l.startsWith('WARNING: simulator only')) {
        child.off('exit', exited);
        resolve(log);
      }
    });
  });
}

test('a fresh state folder: the WARNING names key-N.se and fw-signing.key, which is kept there', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-sim-secrets-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'st');
  const log = await simStart(t, state);
  const warning = log.find((l) => l.startsWith('WARNING: simulator only')) ?? '';
  t.true(warning.includes(`${state}/key-N.se`), warning);
  t.true(warning.includes(join(state, 'fw-signing.key')), warning);
  t.regex(warning, /stored unencrypted/);
  t.regex(warning, /anyone who can read it can sign firmware/);
  t.regex(warning, /--trust-fw-key on a new --state-dir keeps no signing key there/);
  t.true(existsSync(join(state, 'fw-signing.key')), 'the signing key is in the state folder, as the warning says');
});

test('a fresh state folder with --trust-fw-key: no firmware-signing private key is kept there, and the WARNING says so', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-sim-secrets-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pub = join(dir, 'release.pub.pem');
  writeFileSync(pub, ed25519PublicKeyToPem(ed25519Generate().publicKey));
  const state = join(dir, 'st');
  const log = await simStart(t, state, ['--trust-fw-key', pub]);
  const warning = log.find((l) => l.startsWith('WARNING: simulator only')) ?? '';
  t.true(warning.includes(`${state}/key-N.se`), warning);
  t.regex(warning, /no firmware-signing private key is kept there: only --trust-fw-key keys sign updates/);
  t.false(warning.includes('fw-signing.key'), warning);
  t.false(existsSync(join(state, 'fw-signing.key')), 'no signing private key in the state folder');
  t.true(existsSync(join(state, 'key-0.se')), 'the Key itself was created there');
});
