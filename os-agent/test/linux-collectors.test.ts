/**
 * Spec: issue 14 "Plain-Linux collectors": Secure Boot (efivars), kernel lockdown, active LSMs,
 * root-disk encryption (/proc/mounts → dm-crypt), OS and kernel version, firewall presence, TPM
 * presence and PCR banks, each read under an injectable root (fixture trees in
 * test/fixtures/linux) and each degrading to "unknown, with reason" where the source is absent or
 * malformed; on this machine (probably a container or a VM without EFI) every signal is ok or
 * unknown with a reason. No fixture path, host name or serial number reaches a signal.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { activeDefenseCollector } from '../src/collect/activedefense.ts';
import { linuxCollectors, rootMount, tpmCollector } from '../src/collect/linux/index.ts';
import { collectAll, SIGNALS, type Signal, signalProblem } from '../src/signals.ts';

const FIXTURES = new URL('./fixtures/linux/', import.meta.url).pathname;
const NOW = 1_764_590_000_000;

async function collect(root: string, extra: Parameters<typeof linuxCollectors>[0] = {}): Promise<Map<string, Signal>> {
  const signals = await collectAll(linuxCollectors({ root, ...extra }), { now: () => NOW, timeoutMs: 10_000 });
  for (const s of signals) {
    const problem = signalProblem(s);
    if (problem) throw new Error(problem);
    if (!SIGNALS[s.name].sources.includes(s.source)) throw new Error(`${s.name}: source ${s.source} is not in the signal table`);
  }
  return new Map(signals.map((s) => [s.name, s]));
}

const summary = (m: Map<string, Signal>) =>
  Object.fromEntries([...m].map(([n, s]) => [n, s.status === 'ok' ? s.value : `unknown: ${s.reason}`]));

test('laptop with Secure Boot, integrity lockdown, LUKS under LVM, iptables + nftables and a TPM 2.0', async (t) => {
  const m = await collect(join(FIXTURES, 'laptop-luks'), { pcrBanks: async () => ['sha384', 'sha256', 'sha1', 'sha256'] });
  t.deepEqual(summary(m), {
    secureboot: 'enabled',
    'kernel.lockdown': 'integrity',
    'lsm.active': ['capability', 'landlock', 'lockdown', 'yama', 'apparmor'],
    'disk.encryption.root': 'encrypted',
    'os.version': { id: 'ubuntu', versionId: '24.04' },
    'kernel.version': '6.8.0-45-generic',
    'firewall.present': { present: true, frameworks: ['iptables', 'nftables'] },
    'tpm.present': 'tpm2',
    'tpm.pcrBanks': ['sha1', 'sha256', 'sha384'],
  });
  t.is(m.get('secureboot')?.source, 'linux:/sys/firmware/efi');
  t.is(m.get('kernel.version')?.collectedAt, NOW);
  t.is(m.get('kernel.version')?.maxAgeMs, SIGNALS['kernel.version'].maxAgeMs);
});

test('container: overlay root, no EFI, no securityfs, no TPM — unknown with reasons, versions still known', async (t) => {
  const m = await collect(join(FIXTURES, 'container'));
  t.deepEqual(summary(m), {
    secureboot: 'unknown: no EFI firmware interface (legacy boot, or a container without it)',
    'kernel.lockdown': 'unknown: lockdown interface not present (securityfs not mounted, or kernel without lockdown)',
    'lsm.active': 'unknown: LSM list not present (securityfs not mounted)',
    'disk.encryption.root':
      'unknown: root file system is overlay (a container or network root): its backing device is not visible',
    'os.version': { id: 'debian', versionId: '12' },
    'kernel.version': '6.1.0-26-cloud-amd64',
    'firewall.present': { present: false, frameworks: [] },
    'tpm.present': 'none',
    'tpm.pcrBanks': 'unknown: no TPM',
  });
});

test('Secure Boot setup mode, confidentiality lockdown, a plain root partition, TPM 1.2, os-release under /usr/lib', async (t) => {
  const m = await collect(join(FIXTURES, 'setup-mode'));
  t.deepEqual(summary(m), {
    secureboot: 'setup-mode',
    'kernel.lockdown': 'confidentiality',
    'lsm.active': ['capability', 'selinux'],
    'disk.encryption.root': 'unencrypted',
    'os.version': { id: 'fedora', versionId: '41' },
    'kernel.version': '6.11.4-301.fc41.x86_64',
    'firewall.present': { present: false, frameworks: [] },
    'tpm.present': 'tpm1.2',
    'tpm.pcrBanks': 'unknown: PCR banks are read from TPM 2.0 only',
  });
});

test('malformed sources are unknown with a reason that holds no path or content of the file', async (t) => {
  const m = await collect(join(FIXTURES, 'malformed'));
  t.deepEqual(summary(m), {
    secureboot: 'unknown: EFI variable SecureBoot is malformed',
    'kernel.lockdown': 'unknown: lockdown interface has an unexpected format',
    'lsm.active': 'unknown: LSM list has an unexpected format',
    'disk.encryption.root': 'unknown: no root mount in the mount table',
    'os.version': 'unknown: os-release has no VERSION_ID (a rolling release?)',
    'kernel.version': 'unknown: kernel release has an unexpected format',
    'firewall.present': 'unknown: network state of the kernel not visible (no proc file system)',
    'tpm.present': 'unknown: a TPM is present but its version is not readable',
    'tpm.pcrBanks': 'unknown: no TPM client configured',
  });
});

test('an empty root: every signal unknown with a non-empty reason', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'linux-empty-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const m = await collect(root);
  t.is(m.size, 9);
  for (const s of m.values()) {
    t.is(s.status, 'unknown', s.name);
    t.true((s.reason ?? '').length > 0);
  }
});

test('a PCR-bank reader that fails (locked or missing TPM) gives unknown with the error code; one that answers marks a TPM 2.0 present', async (t) => {
  const locked = Object.assign(new Error('TPM_RC_LOCKOUT at /dev/tpmrm0'), { code: 'TPM_RESPONSE' });
  const c = tpmCollector({
    root: join(FIXTURES, 'laptop-luks'),
    pcrBanks: async () => {
      throw locked;
    },
  });
  const [presence, banks] = await c.collect({ now: () => NOW });
  t.is(presence?.value, 'tpm2');
  t.is(banks?.reason, 'TPM not usable (TPM_RESPONSE)');
  const swtpm = tpmCollector({ root: join(FIXTURES, 'container'), pcrBanks: async () => ['sha256'] });
  const [p2, b2] = await swtpm.collect({ now: () => NOW });
  t.like(p2, { status: 'ok', value: 'tpm2', source: 'tpm' });
  t.deepEqual(b2?.value, ['sha256']);
});

test('rootMount: the last / entry wins and octal escapes are decoded', (t) => {
  t.deepEqual(rootMount('/dev/sda1 / ext4 rw 0 0\n/dev/mapper/a\\040b / btrfs rw 0 0\n/dev/sdb1 /data ext4 rw 0 0'), {
    device: '/dev/mapper/a b',
    fstype: 'btrfs',
  });
  t.is(rootMount('proc /proc proc rw 0 0'), null);
});

test('no fixture path, host name, serial number, user name or MAC address appears in any signal', async (t) => {
  const all: Signal[] = [];
  for (const tree of ['laptop-luks', 'container', 'setup-mode', 'malformed']) {
    all.push(...(await collect(join(FIXTURES, tree))).values());
  }
  const text = JSON.stringify(all);
  for (const needle of [
    FIXTURES,
    'fixtures',
    'fixture-host',
    'SN99887766',
    'fixture user',
    'vgfixture',
    'luks-fixture',
    'buildd',
    '02:42:ac',
    'nvme0n1',
    'sda2',
    '/home',
  ]) {
    t.false(text.includes(needle), needle);
  }
  t.false(text.includes(hostname()));
});

test('on this machine every plain-Linux signal is ok or unknown with a non-empty reason', async (t) => {
  const signals = await collectAll(linuxCollectors(), { now: Date.now, timeoutMs: 10_000 });
  t.is(signals.length, 9);
  for (const s of signals) {
    t.is(signalProblem(s), null, s.name);
    t.true(s.status === 'ok' || (s.status === 'unknown' && (s.reason ?? '').length > 0), s.name);
  }
  const text = JSON.stringify(signals);
  t.false(text.includes(hostname()), 'hostname');
  const user = userInfo().username;
  if (user.length > 3) t.false(text.includes(`"${user}"`), 'user name');
  t.log(signals.map((s) => `${s.name}: ${s.status === 'ok' ? JSON.stringify(s.value) : `unknown (${s.reason})`}`).join('\n'));
});

test('Active Defense findings: aggregated and sorted, stale assessments keep their time, extra fields refuse the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ad-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { writeFileSync } = await import('node:fs');
  const file = join(dir, 'findings.json');
  const WALL = 1_764_590_000_000;
  const c = activeDefenseCollector({ path: file, wallClock: () => WALL });
  const MONO = 5_000_000; // the agent collects on a monotonic clock
  const read = async () => (await c.collect({ now: () => MONO }))[0] as Signal;
  t.is((await read()).reason, 'no Active Defense assessment yet');
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      assessedAt: WALL - 60_000,
      findings: [
        { severity: 'low', category: 'configuration', count: 1 },
        { severity: 'high', category: 'phishing', count: 2 },
        { severity: 'high', category: 'phishing', count: 1 },
      ],
    }),
  );
  const ok = await read();
  t.deepEqual(ok.value, [
    { severity: 'high', category: 'phishing', count: 3 },
    { severity: 'low', category: 'configuration', count: 1 },
  ]);
  t.is(ok.collectedAt, MONO - 60_000, 'a minute-old assessment is a minute old on the collection clock');
  t.is(signalProblem(ok), null);
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      assessedAt: NOW,
      findings: [{ severity: 'high', category: 'phishing', count: 1, url: 'https://bank.example/login', sender: 'alice' }],
    }),
  );
  const refused = await read();
  t.is(refused.status, 'unknown');
  t.is(refused.reason, 'a finding has fields outside its schema');
  t.false(JSON.stringify(refused).includes('bank.example'));
  writeFileSync(file, '{"version":1,');
  t.is((await read()).reason, 'findings file is not JSON');
  writeFileSync(file, JSON.stringify({ version: 2, assessedAt: NOW, findings: [] }));
  t.is((await read()).reason, 'findings file has an unsupported version');
});
