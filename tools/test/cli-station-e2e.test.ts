/**
 * Issue 11 "Done means", end to end through the bundled CLI (`enigm.mjs`, built once for this
 * file, outside dist/) over real pseudo-terminals, each step a separate `enigm` process as an
 * operator runs it:
 * `ca init` (passphrase from the environment) → `sim start --keys 8` (8 ptys) → `station
 * provision` (audited) → `openssl verify -CAfile root -untrusted intermediate` on every manifest
 * certificate → `key attest --roots` on one Key → lifecycle as the station (`activate`; `suspend`
 * refused FORBIDDEN: the provisioning role may not; `revoke`), audited → `audit verify`
 * passes for both logs and catches a reordered and an inserted record in edited copies.
 *
 * Resumability with a real interruption: a station process killed with SIGKILL mid-batch (at a
 * Key's `install`) leaves no Key half-provisioned; the next run completes every Key and the
 * manifest (issue 11 "resumable: a Key interrupted mid-provision is detected on the next run and
 * completed").
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { AUDIT_FILE_HEADER, encodeAuditFrame, scanAuditFrames } from '@enigm/attestation';
import { ed25519Generate, ed25519PrivateKeyToPem, ed25519PublicKeyToPem } from '@enigm/protocols/crypto';
import { hasSocat } from '@enigm/sim';
import { stopChild } from '@enigm/sim/testing';
import test, { type ExecutionContext } from 'ava';
import { type Bundle, buildBundle } from './bundle.ts';

const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;
const PASS = 'done means passphrase';
const PRIVATE_MARKER = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

let bundle: Bundle | undefined;
const dirs: string[] = [];
const children: ChildProcess[] = [];
test.before(async () => {
  if (hasSocat() || process.env.CI === 'true') bundle = await buildBundle('repo');
});
test.after.always(async () => {
  for (const c of children) await stopChild(c, { graceMs: 5000 });
  bundle?.remove();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the bundled `enigm` to completion (bounded: killed after 45 s). */
function enigm(home: string, ...argv: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bundle?.cli as string, ...argv],
      { timeout: 45_000, killSignal: 'SIGKILL', env: { ...process.env, ENIGM_HOME: home, ENIGM_CA_PASSPHRASE: PASS } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const jsonLines = (s: string) =>
  s
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** `enigm sim start --keys N` in a child; resolves with its pty paths once it says ready. */
async function startSim(dir: string, keys: number): Promise<string[]> {
  const sim = spawn(
    process.execPath,
    [bundle?.cli as string, 'sim', 'start', '--keys', String(keys), '--no-control', '--no-mqtt', '--state-dir', dir, '--json'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  children.push(sim);
  const lines = createInterface({ input: sim.stdout as NodeJS.ReadableStream });
  const ready = await new Promise<{ keys: { serial: string }[] }>((resolve, reject) => {
    const exited = (code: number | null) => reject(new Error(`simulator exited (${code}) before it was ready`));
    sim.once('exit', exited);
    lines.on('line', (l) => {
      const e = JSON.parse(l) as { event?: string; keys: { serial: string }[] };
      if (e.event !== 'ready') return;
      sim.off('exit', exited);
      resolve(e);
    });
  });
  return ready.keys.map((k) => k.serial);
}

/** `openssl verify -CAfile root -untrusted intermediate` on every certificate of a manifest. */
function opensslVerifyManifest(t: ExecutionContext, dir: string, manifest: string, n: number): void {
  const entries = (JSON.parse(readFileSync(manifest, 'utf8')) as { entries: { certificatePem?: string }[] }).entries;
  t.is(entries.length, n);
  for (const [i, e] of entries.entries()) {
    t.truthy(e.certificatePem, `entry ${i} has a certificate`);
    const leaf = join(dir, `leaf-${i}.pem`);
    writeFileSync(leaf, e.certificatePem as string);
    const out = execFileSync(
      'openssl',
      ['verify', '-CAfile', join(dir, 'ca', 'root.pem'), '-untrusted', join(dir, 'ca', 'intermediate.pem'), leaf],
      { encoding: 'utf8', stdio: 'pipe' },
    );
    t.regex(out, /: OK/);
  }
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'enigm-done-means-'));
  dirs.push(d);
  return d;
}

function writeKey(path: string): void {
  const k = ed25519Generate();
  writeFileSync(path, ed25519PrivateKeyToPem(k.seed), { mode: 0o600 });
  writeFileSync(path.replace(/\.key$/, '.pub'), ed25519PublicKeyToPem(k.publicKey));
}

realTest(
  'done means: ca init → sim 8 ptys → station → openssl → attest to the root → lifecycle → audit verify and tampering',
  async (t) => {
    const dir = tempDir();
    const p = (f: string) => join(dir, f);
    const home = p('home');
    t.is((await enigm(home, 'ca', 'init', '--dir', p('ca'))).code, 0);
    const ports = await startSim(p('sim'), 8);
    t.is(ports.length, 8);
    writeKey(p('station.key'));
    writeKey(p('operator.key'));
    writeFileSync(p('account'), `${'cd'.repeat(32)}\n`, { mode: 0o600 });
    const station = ['--host-key', p('station-host.pem'), '--known', p('station-known.json')];

    const run = await enigm(
      home,
      ...['station', 'provision', '--ca', p('ca'), '--state-dir', p('sim'), '--manifest', p('batch')],
      ...['--account-secret-file', p('account'), '--audit', p('station.audit'), '--audit-key', p('station.key')],
      ...station,
      '--json',
    );
    t.is(run.code, 0, run.stderr);
    const summary = jsonLines(run.stdout).at(-1) as { event: string; byOutcome: Record<string, number> };
    t.like(summary, { event: 'summary', byOutcome: { provisioned: 8, failed: 0 } });
    opensslVerifyManifest(t, dir, p('batch.json'), 8);

    const key0 = ['--port', ports[0] as string, ...station];
    const attest = await enigm(home, 'key', 'attest', ...key0, '--roots', p('ca/root.pem'), '--json');
    t.is(attest.code, 0, attest.stderr);
    const checks = (JSON.parse(attest.stdout) as { checks: { name: string; status: string }[] }).checks;
    t.like(
      checks.find((c) => c.name === 'certificate'),
      { status: 'affirming' },
    );

    const audited = ['--audit', p('host.audit'), '--audit-key', p('operator.key')];
    t.is((await enigm(home, 'key', 'activate', ...key0, ...audited)).code, 0);
    const suspend = await enigm(home, 'key', 'suspend', ...key0, ...audited);
    t.is(suspend.code, 1, 'the provisioning role may not suspend');
    t.regex(suspend.stderr, /FORBIDDEN/);
    t.is((await enigm(home, 'key', 'revoke', '--yes', ...key0, ...audited)).code, 0);

    const verify = (log: string, trust: string) => enigm(home, 'audit', 'verify', '--trust', trust, '--json', log);
    const stationLog = await verify(p('station.audit'), p('station.pub'));
    t.is(stationLog.code, 0, stationLog.stdout + stationLog.stderr);
    const hostLog = await verify(p('host.audit'), p('operator.pub'));
    t.is(hostLog.code, 0, hostLog.stdout + hostLog.stderr);
    const shown = jsonLines((await enigm(home, 'audit', 'show', '--json', p('host.audit'))).stdout);
    t.deepEqual(
      shown.map((r) => [r.role, r.op, r.decision]),
      [
        ['provisioning', 'key.activate', 'allowed'],
        ['provisioning', 'key.suspend', 'refused'],
        ['provisioning', 'key.revoke', 'allowed'],
      ],
    );
    // Refused by the Key (its FORBIDDEN) or by the host's role preflight (KEY_FORBIDDEN), never a generic code.
    t.regex(String(shown[1]?.reason), /^(KEY_)?FORBIDDEN$/);

    // Tampered copies of the station's log: two records swapped, a record inserted twice.
    const frames = scanAuditFrames(readFileSync(p('station.audit'))).frames.map((f) => Uint8Array.from(f.bytes));
    t.is(frames.length, 8);
    const assemble = (recs: Uint8Array[]) => Buffer.concat([AUDIT_FILE_HEADER, ...recs.map(encodeAuditFrame)]);
    const [f0, f1, f2, f3, ...rest] = frames as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, ...Uint8Array[]];
    writeFileSync(p('reordered.audit'), assemble([f0, f2, f1, f3, ...rest]));
    writeFileSync(p('inserted.audit'), assemble([f0, f1, f2, f1, f3, ...rest]));
    for (const [file, kind] of [
      ['reordered.audit', 'reordered'],
      ['inserted.audit', 'inserted'],
    ] as const) {
      const r = await verify(p(file), p('station.pub'));
      t.is(r.code, 1, `${kind}: exit 1`);
      t.regex(r.stdout, new RegExp(kind), r.stdout);
    }
    for (const text of [run.stdout, run.stderr, readFileSync(p('batch.json'), 'utf8'), readFileSync(p('batch.csv'), 'utf8')])
      t.notRegex(text, PRIVATE_MARKER);
  },
);

realTest('a station killed with SIGKILL mid-batch: the next run completes every Key and the manifest', async (t) => {
  const dir = tempDir();
  const p = (f: string) => join(dir, f);
  const home = p('home');
  t.is((await enigm(home, 'ca', 'init', '--dir', p('ca'))).code, 0);
  const ports = await startSim(p('sim'), 4);
  const args = [
    ...['station', 'provision', '--ca', p('ca'), '--state-dir', p('sim'), '--manifest', p('batch')],
    ...['--host-key', p('station-host.pem'), '--known', p('station-known.json'), '--concurrency', '1', '--json'],
  ];
  // One Key at a time: killed when the third Key reaches `install` (the first two are done, the
  // third is paired with a CSR signed and its chain on the way, the fourth untouched).
  const child = spawn(process.execPath, [bundle?.cli as string, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ENIGM_HOME: home, ENIGM_CA_PASSPHRASE: PASS },
  });
  children.push(child);
  const victim = ports[2] as string;
  const killedAt = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the station exited (${code}) before the kill point`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      const e = JSON.parse(l) as { event?: string; port?: string; step?: string };
      if (e.event === 'step' && e.port === victim && e.step === 'install') {
        child.kill('SIGKILL');
        resolve(e.step);
      }
    });
  });
  t.is(killedAt, 'install');
  t.is(await stopChild(child), 'SIGKILL');
  const partial = JSON.parse(readFileSync(p('batch.json'), 'utf8')) as { entries: { port: string; outcome: string }[] };
  t.deepEqual(
    partial.entries.map((e) => [e.port, e.outcome]),
    [
      [ports[0], 'provisioned'],
      [ports[1], 'provisioned'],
    ],
    'the manifest holds the Keys finished before the kill',
  );

  const again = await enigm(home, ...args);
  t.is(again.code, 0, again.stderr);
  const done = jsonLines(again.stdout).filter((e) => e.event === 'done');
  t.deepEqual(
    done.map((e) => e.port),
    ports,
  );
  t.like(done[0], { outcome: 'already-provisioned' });
  t.like(done[1], { outcome: 'already-provisioned' });
  // The interrupted Key: its chain reached the Key (already-provisioned) or not (resumed from a known-host session).
  const interrupted = done[2] as { outcome: string; resumed?: boolean };
  t.true(
    interrupted.outcome === 'already-provisioned' || (interrupted.outcome === 'provisioned' && interrupted.resumed === true),
    JSON.stringify(interrupted),
  );
  t.like(done[3], { outcome: 'provisioned' });
  t.is((done[3] as { resumed?: boolean }).resumed, undefined, 'the fourth Key was untouched');
  opensslVerifyManifest(t, dir, p('batch.json'), 4);
});
