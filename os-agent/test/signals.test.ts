/**
 * Spec: issue 14 "each signal carries value, source, time collected and freshness" — the signal
 * table (closed names, value types, privacy rationale), ok/unknown signals, safe reasons,
 * freshness, and collectAll (per-collector timeout; a slow, failing, cancelled or lying collector
 * yields its signals as unknown with a reason; it never throws and never hangs).
 */
import test from 'ava';
import fc from 'fast-check';
import {
  type Collector,
  collectAll,
  isFresh,
  isSignalName,
  MAX_REASON_LENGTH,
  okSignal,
  SIGNAL_NAMES,
  SIGNALS,
  type Signal,
  safeReason,
  signalProblem,
  unknownSignal,
} from '../src/signals.ts';

test('the signal table is closed and every row has a value description, sources, a privacy rationale and a freshness bound', (t) => {
  t.deepEqual(SIGNAL_NAMES, [
    'tsc.posture',
    'mdm.state',
    'privacy.mode',
    'network.policy',
    'ota.verified',
    'attestation.outcome',
    'secureboot',
    'kernel.lockdown',
    'lsm.active',
    'disk.encryption.root',
    'os.version',
    'kernel.version',
    'firewall.present',
    'tpm.present',
    'tpm.pcrBanks',
    'activedefense.findings',
  ]);
  for (const n of SIGNAL_NAMES) {
    const s = SIGNALS[n];
    t.true(s.value.length > 0 && s.privacy.length > 0 && s.sources.length > 0, n);
    t.true(Number.isInteger(s.maxAgeMs) && s.maxAgeMs > 0, n);
  }
  t.false(isSignalName('hostname'));
  t.false(isSignalName('toString'));
  t.true(SIGNALS['activedefense.findings'].optional);
});

test('value checks accept the declared types only', (t) => {
  t.true(SIGNALS['network.policy'].check({ vpn: 'on', proxy: true, torGateway: false, esimProfile: 'none' }));
  t.false(
    SIGNALS['network.policy'].check({ vpn: 'on', proxy: true, torGateway: false, esimProfile: 'none', endpoint: '10.0.0.1' }),
  );
  t.false(SIGNALS['network.policy'].check({ vpn: 'maybe', proxy: true, torGateway: false, esimProfile: 'none' }));
  t.true(SIGNALS['firewall.present'].check({ present: true, frameworks: ['iptables', 'nftables'] }));
  t.false(SIGNALS['firewall.present'].check({ present: true, frameworks: ['nftables', 'iptables'] }), 'unsorted');
  t.false(SIGNALS['tpm.pcrBanks'].check(['sha256', 'md5']));
  t.false(SIGNALS['activedefense.findings'].check([{ severity: 'high', category: 'phishing', count: 1, subject: 'x' }]));
  t.false(SIGNALS['activedefense.findings'].check([{ severity: 'high', category: 'phishing', count: 0 }]));
  t.false(SIGNALS['kernel.version'].check('6.1 build@host'));
  t.false(SIGNALS['os.version'].check({ id: 'debian' }));
  t.throws(() => okSignal('secureboot', 'on' as never, { source: 'x', now: 1 }), { instanceOf: TypeError });
});

test('okSignal and unknownSignal build valid signals with the table freshness bound', (t) => {
  const ok = okSignal('kernel.lockdown', 'integrity', { source: 'linux:/sys/kernel/security/lockdown', now: 10 });
  t.deepEqual(ok, {
    name: 'kernel.lockdown',
    value: 'integrity',
    status: 'ok',
    source: 'linux:/sys/kernel/security/lockdown',
    collectedAt: 10,
    maxAgeMs: SIGNALS['kernel.lockdown'].maxAgeMs,
  });
  const unknown = unknownSignal('secureboot', 'no EFI', { source: 'linux:/sys/firmware/efi', now: 10, maxAgeMs: 5 });
  t.like(unknown, { status: 'unknown', value: null, reason: 'no EFI', maxAgeMs: 5 });
  t.is(signalProblem(ok), null);
  t.is(signalProblem(unknown), null);
  t.is(signalProblem({ ...unknown, reason: '' }), 'secureboot: unknown without a reason');
  t.is(signalProblem({ ...ok, value: 'on' }), 'kernel.lockdown: value does not fit its type');
  t.is(signalProblem({ ...ok, name: 'hostname' }), 'unknown signal name');
});

test('safeReason removes paths and control characters and caps the length', (t) => {
  t.is(
    safeReason("ENOENT: no such file or directory, open '/home/alice/x/findings.json'"),
    "ENOENT: no such file or directory, open '<path>'",
  );
  t.is(safeReason('read ./relative/file and ~/secret failed'), 'read <path> and <path> failed');
  t.is(safeReason('a\nb\u0000c'), 'a b c');
  t.is(safeReason('  '), 'unknown');
  fc.assert(
    fc.property(fc.string({ maxLength: 500 }), (s) => {
      const r = safeReason(s);
      t.true(r.length > 0 && r.length <= MAX_REASON_LENGTH);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: checking that none remain
      t.false(/[\u0000-\u001f]/.test(r));
    }),
  );
});

test('isFresh: fresh from collectedAt to collectedAt + maxAgeMs, not before (a clock gone backwards) or after', (t) => {
  const s = { collectedAt: 1000, maxAgeMs: 500 };
  t.true(isFresh(s, 1000));
  t.true(isFresh(s, 1500));
  t.false(isFresh(s, 1501));
  t.false(isFresh(s, 999));
});

const collector = (name: string, signals: Signal['name'][], collect: Collector['collect']): Collector => ({
  name,
  signals,
  collect,
});

test('collectAll: timeout, throw, sync throw, non-list, invalid and undeclared signals each end as unknown with a reason; never rejects', async (t) => {
  const now = () => 42;
  let aborted = false;
  const signals = await collectAll(
    [
      collector('good', ['secureboot'], async () => [okSignal('secureboot', 'enabled', { source: 's', now: 42 })]),
      collector('slow', ['kernel.lockdown'], (ctx) => {
        ctx.signal?.addEventListener('abort', () => {
          aborted = true;
        });
        return new Promise(() => {});
      }),
      collector('throws', ['lsm.active'], async () => {
        throw new Error('boom at /etc/secret');
      }),
      collector('sync', ['os.version'], () => {
        throw new Error('sync boom');
      }),
      collector('notalist', ['kernel.version'], async () => 'x' as never),
      collector('liar', ['tpm.present', 'firewall.present'], async () => [
        { name: 'tpm.present', value: 'tpm3', status: 'ok', source: 'x', collectedAt: 42, maxAgeMs: 1 },
        okSignal('secureboot', 'disabled', { source: 'x', now: 42 }),
      ]),
    ],
    { now, timeoutMs: 200 },
  );
  const by = new Map(signals.map((s) => [s.name, s]));
  t.deepEqual(
    signals.map((s) => s.name),
    ['secureboot', 'kernel.lockdown', 'lsm.active', 'os.version', 'kernel.version', 'firewall.present', 'tpm.present'],
  );
  t.is(by.get('secureboot')?.value, 'enabled', 'the undeclared secureboot of the liar is dropped');
  t.is(by.get('kernel.lockdown')?.reason, 'slow collector timed out after 200 ms');
  t.true(aborted, 'the slow collector was told to stop');
  t.is(by.get('lsm.active')?.reason, 'throws collector failed: boom at <path>');
  t.is(by.get('os.version')?.reason, 'sync collector failed: sync boom');
  t.is(by.get('kernel.version')?.reason, 'notalist collector returned no list');
  t.is(by.get('tpm.present')?.reason, 'liar collector returned an invalid signal');
  t.is(by.get('firewall.present')?.reason, 'liar collector did not report this signal');
  for (const s of signals) t.is(signalProblem(s), null);
});

test('collectAll: an ok signal wins over an unknown one for the same name; a cancelled run ends at once with unknowns', async (t) => {
  const unknownFirst = collector('a', ['secureboot'], async () => [
    unknownSignal('secureboot', 'no EFI', { source: 'a', now: 1 }),
  ]);
  const okSecond = collector('b', ['secureboot'], async () => [okSignal('secureboot', 'disabled', { source: 'b', now: 1 })]);
  const merged = await collectAll([unknownFirst, okSecond], { now: () => 1, timeoutMs: 1000 });
  t.deepEqual(
    merged.map((s) => [s.source, s.value]),
    [['b', 'disabled']],
  );
  const ac = new AbortController();
  const pending = collectAll([collector('hang', ['secureboot'], () => new Promise(() => {}))], {
    now: () => 1,
    timeoutMs: 60_000,
    signal: ac.signal,
  });
  ac.abort();
  const [s] = await pending;
  t.is(s?.reason, 'hang collector cancelled');
  await t.throwsAsync(() => collectAll([], { now: () => 1, timeoutMs: 0 }), { instanceOf: RangeError });
});
