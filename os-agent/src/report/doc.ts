/**
 * Renders the report and policy record tables of docs/posture.md from the code (a test checks the
 * document holds exactly these).
 * @module
 */
import { PostureClaims, ReportSignal } from '@enigm/protocols/posture';
import { PolicyRecord, PolicyRule } from '../policy/document.ts';

/** Marks the generated block in docs/posture.md. */
export const POSTURE_DOC_BEGIN =
  '<!-- posture-records: rendered by renderPostureRecords() in os-agent/src/report/doc.ts; a test checks it -->';
/** Ends the generated block. */
export const POSTURE_DOC_END = '<!-- /posture-records -->';

type Rec = { name: string; schema: Record<string, { key: number; type: { describe: string }; optional: boolean; doc: string }> };

function table(rec: Rec): string[] {
  const rows = ['| key | field | type | required | meaning |', '|---|---|---|---|---|'];
  const entries = Object.entries(rec.schema).sort((a, b) => Math.abs(a[1].key) - Math.abs(b[1].key));
  for (const [name, f] of entries)
    rows.push(`| ${f.key} | \`${name}\` | ${f.type.describe.replace(/\|/g, '\\|')} | ${f.optional ? 'no' : 'yes'} | ${f.doc} |`);
  return rows;
}

/** The generated block: the claims set, a report signal, the policy and a policy rule. */
export function renderPostureRecords(): string {
  return [
    POSTURE_DOC_BEGIN,
    '',
    '#### Claims set (`posture.claims`)',
    '',
    ...table(PostureClaims as unknown as Rec),
    '',
    '#### A signal in a report (`posture.signal`)',
    '',
    ...table(ReportSignal as unknown as Rec),
    '',
    '#### Policy (`posture.policy`) and its rules (`posture.policy.rule`)',
    '',
    ...table(PolicyRecord as unknown as Rec),
    '',
    ...table(PolicyRule as unknown as Rec),
    '',
    POSTURE_DOC_END,
  ].join('\n');
}
