/**
 * Robustness of the Key's wire (issue 16: the red team's frame fuzzer, bounded for CI; long runs:
 * `npm run bench -- fuzz`): mutated request envelopes in frames with valid CRCs never make the Key
 * throw, never make it write an invalid frame or message, every answer is a typed response or a
 * typed error with code and name, and the Key keeps answering a valid ping.
 */

import { fuzzKeyFrames, mutate, seedCorpus } from '@enigm/sim/fuzz';
import test from 'ava';

const SEED = Number(process.env.ENIGM_FUZZ_SEED ?? 20261201);

test('the seed corpus holds a valid envelope for most request kinds', (t) => {
  t.true(seedCorpus().length >= 10);
});

test('mutation is deterministic for a seed and bounded in size', (t) => {
  const corpus = seedCorpus();
  const run = (seed: number) => {
    let x = seed;
    const rnd = () => (x = (x * 1103515245 + 12345) >>> 0);
    return Array.from({ length: 50 }, () => Buffer.from(mutate(corpus[0] as Uint8Array, rnd, corpus, 256)).toString('hex'));
  };
  t.deepEqual(run(3), run(3));
  t.notDeepEqual(run(3), run(4));
  t.true(run(5).every((h) => h.length <= 512));
});

test(`20,000 mutated frames with valid CRCs: no crash, only valid typed answers, the Key keeps answering (seed ${SEED})`, (t) => {
  const r = fuzzKeyFrames({ iterations: 20_000, seed: SEED });
  t.deepEqual(r.crashes, [], 'exceptions escaped the device link');
  t.deepEqual(r.badOutputs, [], 'the Key wrote something that is not a valid typed message');
  t.is(r.probesAnswered, r.probes, 'a valid ping went unanswered after fuzzing');
  // garbage with no readable request id gets no answer by design (link-context.ts); the rest must be answered
  t.true(r.responses >= 1000, `the Key answered ${r.responses} frames`);
  t.true(Object.keys(r.errorsByName).length >= 3, `typed errors seen: ${JSON.stringify(r.errorsByName)}`);
  t.log(`seed ${SEED}: ${r.frames} frames, ${r.responses} answers, errors ${JSON.stringify(r.errorsByName)}`);
});
