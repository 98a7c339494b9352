/**
 * Robustness of the TCG event-log parser (PC Client Firmware Profile §10) against mutations of
 * real logs: every input either parses (and then replays and digest-checks without throwing) or
 * fails with an AttestationError — never another exception, never a hang.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import fc from 'fast-check';
import { AttestationError } from '../src/errors.ts';
import { checkEventDigests } from '../src/eventlog/digests.ts';
import { parseEventLog } from '../src/eventlog/parse.ts';
import { replayEventLog } from '../src/eventlog/replay.ts';

/** The repository's copied test vectors, found relative to this file. */
const TESTDATA = fileURLToPath(new URL('../../testdata/', import.meta.url));

const DIR = join(TESTDATA, 'eventlogs');
const LOGS = [
  join(DIR, 'tpm2-tools', 'event-sd-boot-fedora37.bin'),
  join(DIR, 'tpm2-tools', 'event-uefi-sha1-log.bin'),
  join(DIR, 'tpm2-tools', 'event-uefivar.bin'),
  join(DIR, 'go-attestation', 'short_no_action_eventlog'),
].map((p) => new Uint8Array(readFileSync(p)));

type Mutation =
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'set32'; at: number; value: number }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({
    kind: fc.constant('set32' as const),
    at: fc.nat(),
    value: fc.oneof(fc.constantFrom(0, 1, 0xff, 0xffff, 0x7fffffff, 0xffffffff), fc.nat()),
  }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
);

function apply(src: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = src.slice();
  for (const m of ms) {
    const at = b.length ? m.at % b.length : 0;
    if (m.kind === 'flip' && b.length) b[at]! ^= m.xor;
    else if (m.kind === 'set32' && b.length >= at + 4) new DataView(b.buffer).setUint32(at, m.value >>> 0, true);
    else if (m.kind === 'cut') b = b.slice(0, at);
    else if (m.kind === 'insert') b = new Uint8Array(Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]));
  }
  return b;
}

test('mutated real logs parse or fail with an AttestationError (a hang fails by the runner timeout)', (t) => {
  let parsed = 0;
  let rejected = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: LOGS.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, ms) => {
      const bytes = apply(LOGS[i]!, ms);
      try {
        const log = parseEventLog(bytes);
        replayEventLog(log);
        checkEventDigests(log);
        parsed++;
      } catch (e) {
        if (!(e instanceof AttestationError)) throw e;
        t.true(e.code.startsWith('EVENTLOG_'));
        rejected++;
      }
    }),
    { numRuns: 1500, seed: 20240601 },
  );
  t.true(parsed > 0 && rejected > 0, `parsed ${parsed}, rejected ${rejected}`);
});
