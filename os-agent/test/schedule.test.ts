/**
 * The report schedule (issue 14 "periodic and on-change reports with jitter"): a report at start,
 * then every reportIntervalS plus a jitter drawn from the injected randomness, and a report as soon
 * as a change check sees a signal's value differ from the last report — with real timers, a
 * scripted collector and no broker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { type LogLine, PostureAgent } from '../src/agent.ts';
import { parseAgentConfig } from '../src/config.ts';
import { type Collector, okSignal } from '../src/signals.ts';

const dir = mkdtempSync(join(tmpdir(), 'enigm-agent-sched-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test('start, periodic with jitter, and on-change reports', async (t) => {
  let level: 'secure' | 'at-risk' = 'secure';
  const collector: Collector = {
    name: 'scripted',
    signals: ['tsc.posture'],
    collect: async (ctx) => [okSignal('tsc.posture', level, { source: 'test', now: ctx.now() })],
  };
  const lines: LogLine[] = [];
  const jitters: number[] = [];
  const config = parseAgentConfig({
    handle: 'eh1-aaaaaaaaaaaaaaaaaaaaaaaaaa',
    stateDir: join(dir, 's'),
    tpm: 'off',
    daemonSocket: null,
    reportIntervalS: 2,
    jitterS: 1,
    changeCheckS: 1,
    log: 'quiet',
  });
  const agent = await PostureAgent.start(config, {
    collectors: [collector],
    rand: () => {
      jitters.push(0.25);
      return 0.25;
    },
    log: (l) => lines.push(l),
  });
  t.teardown(() => agent.stop());
  const reports = () => lines.filter((l) => l.event === 'report');
  const until = async (f: () => boolean, ms: number) => {
    const end = Date.now() + ms;
    while (!f() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  };
  await until(() => reports().some((r) => r.trigger === 'periodic'), 30_000);
  t.is(reports()[0]?.trigger, 'start');
  t.true(
    reports().some((r) => r.trigger === 'periodic'),
    'a periodic report after 2 s + 0.25 s of jitter',
  );
  t.true(jitters.length >= 1, 'the jitter came from the injected randomness');
  t.false(
    reports().some((r) => r.trigger === 'change'),
    'no change yet',
  );
  level = 'at-risk';
  await until(() => reports().some((r) => r.trigger === 'change'), 30_000);
  t.true(reports().some((r) => r.trigger === 'change'));
  const seqs = reports().map((r) => r.seq as number);
  t.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
  );
});
