/**
 * Spec: issue 14 done-means "docs/posture.md lists every signal, its sources and its privacy
 * rationale" — the Signals section's tables are the ones rendered from the code (SIGNALS and the
 * daemon's state records), so the document cannot drift from what the agent collects.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { SIGNAL_NAMES, SIGNALS } from '../src/signals.ts';
import { DAEMON_TABLE_MARKERS, renderPostureDoc, SIGNALS_TABLE_MARKERS } from '../src/signals-doc.ts';

const DOC = new URL('../../docs/posture.md', import.meta.url);

test('docs/posture.md holds the signal and daemon tables exactly as rendered from the code', (t) => {
  const doc = readFileSync(DOC, 'utf8');
  for (const m of [...SIGNALS_TABLE_MARKERS, ...DAEMON_TABLE_MARKERS]) t.true(doc.includes(m), m);
  t.is(doc, renderPostureDoc(doc), 'run: npx tsx -e "…renderPostureDoc…" (see os-agent/README.md) to regenerate');
});

test('the Signals section names every signal with its sources and privacy rationale', (t) => {
  const doc = readFileSync(DOC, 'utf8');
  const section = doc.slice(doc.indexOf('## Signals'), doc.indexOf('\n## ', doc.indexOf('## Signals') + 1));
  for (const n of SIGNAL_NAMES) {
    t.true(section.includes(`\`${n}\``), n);
    t.true(section.includes(SIGNALS[n].privacy.replace(/\|/g, '\\|')), `${n} privacy`);
    for (const src of SIGNALS[n].sources) t.true(section.includes(`\`${src}\``), `${n} source ${src}`);
  }
});
