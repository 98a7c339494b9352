/**
 * docs/posture.md holds exactly the record tables rendered from the code (the claims set, a report
 * signal, the policy and its rules), so the document cannot drift from the wire format.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { renderPostureRecords } from '../src/report/doc.ts';

test('docs/posture.md holds the record tables rendered from the code', (t) => {
  const doc = readFileSync(new URL('../../docs/posture.md', import.meta.url), 'utf8');
  t.true(doc.includes(renderPostureRecords()), 'regenerate the block with renderPostureRecords() in os-agent/src/report/doc.ts');
});
