/**
 * The Key's role table as documents show it: the table itself (`COMMAND_ACCESS`, `checkAccess`) is
 * pure data in `@enigm/protocols/messages` (protocols/src/messages/access.ts), read by the Key and
 * by the host library's preflight; this module re-exports it and renders it into docs/security.md
 * and docs/firmware.md.
 * @module
 */
import { type Access, COMMAND_ACCESS, type RequestName, type SessionRole } from '@enigm/protocols/messages';

export {
  type Access,
  COMMAND_ACCESS,
  checkAccess,
  type Grant,
  SESSION_COMMANDS,
  type SessionRole,
} from '@enigm/protocols/messages';

const ROLES: readonly SessionRole[] = ['owner', 'provisioning', 'service', 'unpaired'];

const cell = (rule: Access, role: SessionRole): string =>
  rule === 'public'
    ? 'yes (no session)'
    : rule[role] === 'always'
      ? 'yes'
      : rule[role] === 'factory'
        ? 'factory state only'
        : rule[role] === 'revoked'
          ? 'revoked state only'
          : rule[role] === 'self'
            ? 'its own entry only'
            : '—';

/**
 * The access table as a Markdown table (one row per request, one column per role). docs/security.md
 * and docs/firmware.md hold this rendering between `<!-- role-table:begin -->` and
 * `<!-- role-table:end -->`; a test checks they match.
 * @param filter - which requests to list (default: all)
 */
export function renderRoleTable(filter: (name: RequestName) => boolean = () => true): string {
  const rows = (Object.keys(COMMAND_ACCESS) as RequestName[]).filter(filter);
  return [
    `| request | ${ROLES.join(' | ')} |`,
    `|---|${ROLES.map(() => '---').join('|')}|`,
    ...rows.map((n) => `| \`${n}\` | ${ROLES.map((r) => cell(COMMAND_ACCESS[n], r)).join(' | ')} |`),
  ].join('\n');
}

/** Marker lines around a generated role table in a Markdown document. */
export const ROLE_TABLE_MARKERS = { begin: '<!-- role-table:begin -->', end: '<!-- role-table:end -->' } as const;

/**
 * `doc` with the text between the role-table markers replaced by `table`.
 * @throws {Error} if `doc` lacks the markers
 */
export function spliceRoleTable(doc: string, table: string): string {
  const b = doc.indexOf(ROLE_TABLE_MARKERS.begin);
  const e = doc.indexOf(ROLE_TABLE_MARKERS.end);
  if (b < 0 || e < b) throw new Error('the document has no role-table markers');
  return `${doc.slice(0, b + ROLE_TABLE_MARKERS.begin.length)}\n${table}\n${doc.slice(e)}`;
}

/**
 * Documents that hold a generated role table (path from the repository root → which requests it
 * lists). `npm run docs:protocol` rewrites them; `sim/test/protocol-doc.test.ts` checks them.
 */
export const DOC_ROLE_TABLES: Readonly<Record<string, (name: RequestName) => boolean>> = {
  'docs/security.md': () => true,
  'docs/firmware.md': (name) => name.startsWith('fw.') || name === 'reboot',
};
