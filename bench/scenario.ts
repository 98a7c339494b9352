/**
 * Scenario time scaling (issue 10): the example 24 h dormancy scenario
 * (`examples/scenarios/dormancy-24h.yaml`: a dormant Key with a GNSS track, 24 h wait, no fix,
 * battery within bounds) on a fresh simulator, at ×100,000 (real time scaled: 0.864 s is the floor)
 * and at speed `max` (waits advance the clock), and at `max` with 100 Keys (each ticks its battery
 * every simulated minute). Reports real seconds per run, the fresh simulator's start and stop
 * included (target < 10 s), and simulated time per real
 * time. A run whose scenario fails is an error, not a figure. (100 Keys at ×100,000 is not a
 * figure: that many Keys' ticks cannot keep up with real time scaled so far, the 24 h wait ends
 * hours late and the drain check rightly fails; `max` is the way to run many Keys fast.)
 * @module
 */
import { fileURLToPath } from 'node:url';
import { formatReportText, loadScenarioFile, runScenarioFresh, type Scenario } from '@enigm/sim/scenario';
import { type BenchResult, result } from './harness.ts';

const FILE = fileURLToPath(new URL('../examples/scenarios/dormancy-24h.yaml', import.meta.url));

async function timed(name: string, scenario: Scenario, speed: number | 'max'): Promise<BenchResult[]> {
  const start = performance.now();
  const report = await runScenarioFresh(scenario, { speed });
  const seconds = (performance.now() - start) / 1000; // simulator start and stop included
  if (!report.passed) throw new Error(`${name}: the scenario failed\n${formatReportText(report)}`);
  return [
    result(`${name}.real-seconds`, seconds, 's', undefined, 10),
    result(`${name}.scale`, report.simMs / 1000 / seconds, '× real time'),
  ];
}

/** Runs the scenario benchmarks. */
export async function benchScenario(): Promise<BenchResult[]> {
  const one = loadScenarioFile(FILE);
  const key = one.keys[0] ?? {};
  const hundred: Scenario = { ...one, keys: Array.from({ length: 100 }, () => key) };
  return [
    ...(await timed('scenario.dormancy-24h.1-key.speed-100000', one, 100_000)),
    ...(await timed('scenario.dormancy-24h.1-key.speed-max', one, 'max')),
    ...(await timed('scenario.dormancy-24h.100-keys.speed-max', hundred, 'max')),
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const r of await benchScenario()) process.stdout.write(`${JSON.stringify(r)}\n`);
}
