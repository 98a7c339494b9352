/**
 * Packaging of the posture agent (issue 14): the single-file bundle (scripts/build.mjs --agent)
 * runs from a folder outside the repository with no node_modules; the example systemd unit is
 * hardened (dedicated user, ProtectSystem=strict, NoNewPrivileges, only the TPM device and its
 * state folder writable) — checked by parsing its directives always, and by
 * `systemd-analyze verify` (no warning allowed) where systemd-analyze exists; the example
 * configuration parses and agrees with the unit's folders and user.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { parseAgentConfig } from '../src/config.ts';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG = join(ROOT, 'os-agent', 'packaging');
const unitText = readFileSync(join(PKG, 'enigm-posture-agent.service'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'enigm-agent-pkg-'));
const bundle = join(dir, 'enigm-posture-agent.mjs');
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** The unit's directives: section → key → values (in order). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(\w+)\]$/.exec(line);
    if (s) {
      section = new Map();
      out.set(s[1] as string, section);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || !section) throw new Error(`not a directive: ${line}`);
    const list = section.get(kv[1] as string) ?? [];
    list.push(kv[2] as string);
    section.set(kv[1] as string, list);
  }
  return out;
}

const unit = parseUnit(unitText);
const svc = unit.get('Service') as Map<string, string[]>;
const one = (k: string) => {
  const v = svc.get(k);
  return v?.length === 1 ? v[0] : v === undefined ? undefined : `(${v.length} values)`;
};

test.before(async () => {
  await exec(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), '--agent', '--outfile', bundle], {
    cwd: ROOT,
    timeout: 60_000,
  });
});

test('the unit runs as a dedicated user with no privileges, a read-only system and only the TPM device', (t) => {
  t.is(one('User'), 'enigm-posture');
  t.is(one('Group'), 'enigm-posture');
  t.is(one('NoNewPrivileges'), 'yes');
  t.is(one('ProtectSystem'), 'strict');
  t.is(one('ProtectHome'), 'yes');
  t.is(one('PrivateTmp'), 'yes');
  t.is(one('CapabilityBoundingSet'), '');
  t.is(one('AmbientCapabilities'), '');
  t.is(one('DevicePolicy'), 'closed');
  t.deepEqual(svc.get('DeviceAllow'), ['/dev/tpmrm0 rw']);
  t.is(one('StateDirectory'), 'enigm-posture');
  t.is(one('StateDirectoryMode'), '0700');
  t.is(svc.get('ReadWritePaths'), undefined, 'nothing writable beyond the state and runtime folders');
  t.is(one('PrivateDevices'), undefined, 'PrivateDevices would hide the TPM; DevicePolicy=closed limits devices instead');
  for (const k of [
    'ProtectKernelTunables',
    'ProtectKernelModules',
    'ProtectControlGroups',
    'RestrictSUIDSGID',
    'LockPersonality',
  ])
    t.is(one(k), 'yes', k);
  t.is(one('RestrictAddressFamilies'), 'AF_UNIX AF_INET AF_INET6');
  t.regex(
    one('ExecStart') ?? '',
    /^\/usr\/bin\/node \/usr\/lib\/enigm\/enigm-posture-agent\.mjs --config \/etc\/enigm\/posture-agent\.json$/,
  );
});

test('the example configuration parses and agrees with the unit (state folder, API socket folder, user)', (t) => {
  const config = parseAgentConfig(JSON.parse(readFileSync(join(PKG, 'posture-agent.example.json'), 'utf8')));
  t.is(config.stateDir, `/var/lib/${one('StateDirectory')}`);
  t.is(dirname(config.apiSocket), `/run/${one('RuntimeDirectory')}`);
  t.is(config.tpm, 'device');
  const sysusers = readFileSync(join(PKG, 'enigm-posture.sysusers.conf'), 'utf8');
  t.regex(sysusers, /^u enigm-posture - .* \/var\/lib\/enigm-posture$/m);
  t.regex(sysusers, /^m enigm-posture tss$/m);
});

const hasAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;

test('systemd-analyze verify accepts the unit without a warning (directives parsed above where it is absent)', (t) => {
  if (!hasAnalyze) {
    // Absent (also under CI): the directive checks above are the check; say so instead of skipping silently.
    t.log('systemd-analyze is not installed: the unit was checked by parsing its directives');
    t.true(svc.size > 20);
    return;
  }
  const copy = join(dir, 'enigm-posture-agent.service');
  writeFileSync(copy, unitText.replace('/usr/bin/node /usr/lib/enigm/enigm-posture-agent.mjs', `${process.execPath} ${bundle}`));
  const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 30_000 });
  const warnings = `${r.stdout}${r.stderr}`
    .split('\n')
    .filter((l) => l.trim() !== '' && !/network-online\.target|multi-user\.target|Unit .* not found|tss|enigm-posture/.test(l));
  t.is(r.status, 0, r.stderr);
  t.deepEqual(warnings, []);
  // the checker itself fails on a bad directive (so this test can fail)
  const bad = join(dir, 'bad.service');
  writeFileSync(
    bad,
    unitText
      .replace('ProtectSystem=strict', 'ProtectSystem=bogus')
      .replace('/usr/bin/node /usr/lib/enigm/enigm-posture-agent.mjs', `${process.execPath} ${bundle}`),
  );
  const rb = spawnSync('systemd-analyze', ['verify', bad], { encoding: 'utf8', timeout: 30_000 });
  t.regex(rb.stderr, /protect system/i);
});

test('the bundle runs from a folder with no node_modules: --help exits 0, no --config exits 2, a bad config exits 1', async (t) => {
  const run = async (...args: string[]) => {
    try {
      const r = await exec(process.execPath, [bundle, ...args], { cwd: dir, timeout: 30_000 });
      return { code: 0, out: r.stdout + r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, out: x.stdout + x.stderr };
    }
  };
  t.false(bundle.startsWith(ROOT));
  t.is((await run('--help')).code, 0);
  t.is((await run()).code, 2);
  const cfg = join(dir, 'bad.json');
  writeFileSync(cfg, JSON.stringify({ handle: 'nope' }));
  const bad = await run('--config', cfg);
  t.is(bad.code, 1);
  t.regex(bad.out, /CONFIG_INVALID/);
});
