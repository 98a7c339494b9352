/**
 * A second verifier process for the lock test: appraises every evidence in a JSON file (a list of
 * evidence JSON) against the verifier state file, nonce from the pending challenges, and prints
 * one status per line. Run as `node --import tsx appraise-child.ts STATE EVIDENCE_LIST AK_NAME[,AK_NAME..]`.
 */
import { readFileSync } from 'node:fs';
import { ALG_SHA256, evidenceFromJson, VerifierStore } from '@enigm/attestation';

const [state, list, akNames] = process.argv.slice(2) as [string, string, string];
const store = VerifierStore.file(state, { lockTimeoutMs: 30_000 });
for (const j of JSON.parse(readFileSync(list, 'utf8')) as unknown[]) {
  const r = await store.appraiseQuote({
    evidence: evidenceFromJson(j),
    expect: { bank: ALG_SHA256, pcrs: [0, 7] },
    policy: { akNames: akNames.split(',') },
    nonce: { from: 'challenge' },
  });
  process.stdout.write(`${r.status}\n`);
}
