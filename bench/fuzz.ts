/**
 * `npm run bench -- fuzz`: the Key frame fuzzer (`@enigm/sim/fuzz`) as a long run. Mutated request
 * envelopes in valid frames go to a simulated Key; any crash, invalid output or lost liveness
 * probe fails the run. `ENIGM_FUZZ_FRAMES` (default 60,000, as in the red team's run) and
 * `ENIGM_FUZZ_SEED` (default: the time) set the size and the seed; the seed is printed so a
 * failure can be replayed. The bounded CI run is `sim/test/fuzz-frames.test.ts`.
 * @module
 */
import { fuzzKeyFrames } from '@enigm/sim/fuzz';
import { type BenchResult, result } from './harness.ts';

/** Runs the long fuzz and reports frames per second; throws on any finding. */
export async function benchFuzz(): Promise<BenchResult[]> {
  const iterations = Number(process.env.ENIGM_FUZZ_FRAMES ?? 60_000);
  const seed = Number(process.env.ENIGM_FUZZ_SEED ?? Date.now() % 0xffffffff);
  const t0 = performance.now();
  const r = fuzzKeyFrames({ iterations, seed });
  const s = (performance.now() - t0) / 1000;
  process.stderr.write(
    `fuzz: seed ${seed}, ${r.frames} frames, ${r.responses} answers, errors ${JSON.stringify(r.errorsByName)}\n`,
  );
  if (r.crashes.length || r.badOutputs.length || r.probesAnswered !== r.probes)
    throw new Error(
      `fuzz findings (seed ${seed}): ${JSON.stringify({ crashes: r.crashes, badOutputs: r.badOutputs, probes: r.probes, answered: r.probesAnswered })}`,
    );
  return [result('fuzz.key-frames', Math.round(r.frames / s), 'frames/s')];
}
