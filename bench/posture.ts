/**
 * The Enigm OS posture agent (issue 14): report build + sign time (16 signals, no TPM) and the
 * verifier's appraisal rate; outbox throughput of reports (fsync per report); and, on the
 * single-file bundle (`scripts/build.mjs --agent`) as its own process on this machine's real
 * Linux sources (no daemon, no TPM, no broker): cold start to the first report, steady RSS after
 * reports every second for a while, and idle CPU with the default intervals.
 * Targets (issue 14): RSS ≤ 60 MB, cold start < 300 ms excluding TPM time.
 * @module
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appraisePostureWithState, emptyVerifierState } from '@enigm/attestation';
import { buildReport, PosturePublisher, type ReportInput } from '@enigm/os-agent/service';
import { okSignal, type Signal } from '@enigm/os-agent/signals';
import { ed25519Generate } from '@enigm/protocols/crypto';
import { formatAssociationHandle } from '@enigm/protocols/handle';
import { type BenchResult, result } from './harness.ts';

const handle = new Uint8Array(16).fill(0x42);

function signals(now: number): Signal[] {
  const src = { source: 'bench', now };
  return [
    okSignal('tsc.posture', 'secure', src),
    okSignal('mdm.state', 'enrolled', src),
    okSignal('privacy.mode', 'private', src),
    okSignal('network.policy', { vpn: 'always-on', proxy: false, torGateway: false, esimProfile: 'personal' }, src),
    okSignal('ota.verified', 'verified', src),
    okSignal('attestation.outcome', 'pass', src),
    okSignal('secureboot', 'enabled', src),
    okSignal('kernel.lockdown', 'integrity', src),
    okSignal('lsm.active', ['capability', 'landlock', 'lockdown', 'yama', 'apparmor'], src),
    okSignal('disk.encryption.root', 'encrypted', src),
    okSignal('os.version', { id: 'debian', versionId: '12' }, src),
    okSignal('kernel.version', '6.8.0-45-generic', src),
    okSignal('firewall.present', { present: true, frameworks: ['nftables'] }, src),
    okSignal('tpm.present', 'tpm2', src),
    okSignal('tpm.pcrBanks', ['sha1', 'sha256'], src),
    okSignal('activedefense.findings', [{ severity: 'low', category: 'network', count: 1 }], src),
  ];
}

function input(seq: number): ReportInput {
  return {
    signals: signals(0),
    monoMs: 10,
    wallMs: Date.now(),
    runId: new Uint8Array(16),
    seq,
    id: new Uint8Array(16).fill(seq & 0xff),
    trigger: 'periodic',
    version: '0.1.0',
    compliance: { decision: 'compliant', reasons: [] },
  };
}

async function timed(n: number, fn: (i: number) => Promise<unknown> | unknown): Promise<number> {
  for (let i = 0; i < Math.min(50, n); i++) await fn(i);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return (performance.now() - t0) / n;
}

/** The agent bundle as a process: resolves with ms to the first `report` log line, and the child. */
function startBundle(bundle: string, config: string): Promise<{ ms: number; child: ReturnType<typeof spawn> }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [bundle, '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('no first report within 20 s')), 20_000);
    child.stderr?.on('data', (d: Buffer) => {
      buf += d.toString();
      if (/"event":"report"/.test(buf)) {
        clearTimeout(timer);
        child.stderr?.removeAllListeners('data');
        child.stderr?.resume();
        resolve({ ms: performance.now() - t0, child });
      }
    });
    child.once('exit', (c) => reject(new Error(`agent exited ${c}: ${buf.slice(0, 400)}`)));
  });
}

function procStat(pid: number): { rssMb: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssMb: rssKb / 1024, cpuTicks: Number(f[11]) + Number(f[12]) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stop(child: ReturnType<typeof spawn>): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([done, sleep(10_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** Runs the posture benchmark. */
export async function benchPosture(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'enigm-bench-posture-'));
  try {
    const agent = ed25519Generate();
    const identity = { seed: agent.seed, publicKey: agent.publicKey, handle };
    const buildMs = await timed(500, (i) => buildReport(input(i + 1), identity));
    out.push(result('posture.report-build-sign', buildMs * 1000, 'µs/report'));
    const sample = await buildReport(input(1), identity);
    out.push(result('posture.report-bytes', sample.evidence.length, 'bytes'));
    let state = emptyVerifierState();
    const verifyMs = await timed(300, (i) => {
      const r = appraisePostureWithState(state, { evidence: sample.evidence, agentKey: agent.publicKey, now: Date.now() });
      if (i === 0) state = emptyVerifierState();
      return r;
    });
    out.push(result('posture.appraise', verifyMs * 1000, 'µs/report'));

    const pub = await PosturePublisher.open({
      link: { url: 'mqtt://127.0.0.1:9' },
      handle: formatAssociationHandle(handle),
      outboxPath: join(dir, 'outbox.log'),
      maxRecords: 1_000_000,
      maxBytes: 1 << 30,
      backoff: { baseMs: 60_000, capMs: 60_000 },
    });
    const enqueueMs = await timed(300, (i) =>
      pub.enqueue(
        sample.evidence,
        new Uint8Array(16).fill(i & 0xff).map((b, j) => (j < 4 ? (i >> (8 * j)) & 0xff : b)),
      ),
    );
    await pub.close();
    out.push(result('posture.outbox-append', 1000 / enqueueMs, 'reports/s'));

    const bundle = join(dir, 'enigm-posture-agent.mjs');
    execFileSync(process.execPath, ['scripts/build.mjs', '--agent', '--outfile', bundle], { stdio: 'ignore' });
    const config = (name: string, extra: object) => {
      const p = join(dir, `${name}.json`);
      writeFileSync(
        p,
        JSON.stringify({
          handle: formatAssociationHandle(handle),
          stateDir: join(dir, name),
          tpm: 'off',
          daemonSocket: null,
          apiSocket: join(dir, `${name}.sock`),
          ...extra,
        }),
      );
      return p;
    };
    const starts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { ms, child } = await startBundle(bundle, config(`cold${i}`, {}));
      starts.push(ms);
      await stop(child);
    }
    starts.sort((a, b) => a - b);
    out.push(result('posture.cold-start-to-first-report', starts[2] as number, 'ms (median of 5)', undefined, 300));

    const busy = await startBundle(bundle, config('busy', { reportIntervalS: 1, jitterS: 0, changeCheckS: 1 }));
    await sleep(15_000);
    const b = procStat(busy.child.pid as number);
    await stop(busy.child);
    out.push(result('posture.steady-rss', b.rssMb, 'MB (15 s, 1 report/s)', undefined, 60));

    const idle = await startBundle(bundle, config('idle', {}));
    await sleep(2000);
    const i0 = procStat(idle.child.pid as number);
    await sleep(10_000);
    const i1 = procStat(idle.child.pid as number);
    await stop(idle.child);
    const hz = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    out.push(result('posture.idle-cpu', ((i1.cpuTicks - i0.cpuTicks) / hz / 10) * 100, '% of a core (10 s)'));
    out.push(result('posture.idle-rss', i1.rssMb, 'MB'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
