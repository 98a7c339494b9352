/**
 * The documents generated from the code's tables must equal their rendering, so they cannot
 * drift: docs/protocol.md (message catalogue, records, error codes, lifecycle and access tables)
 * and the role tables in docs/security.md and docs/firmware.md. Run `npm run docs:protocol` after
 * changing any of these tables.
 */
import { readFileSync } from 'node:fs';
import { renderProtocolDoc } from '@enigm/protocols/messages';
import test from 'ava';
import { DOC_ROLE_TABLES, renderRoleTable, spliceRoleTable } from '../src/firmware/access.ts';
import { COMMAND_STATES, TRANSITION_DOC_ROWS } from '../src/firmware/lifecycle.ts';

const doc = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

test('docs/protocol.md matches the code (run `npm run docs:protocol` after changing the protocol)', (t) => {
  t.is(
    doc('docs/protocol.md'),
    renderProtocolDoc({ transitions: TRANSITION_DOC_ROWS, commandStates: COMMAND_STATES, roleTable: renderRoleTable() }),
  );
});

test('docs/protocol.md lists every wire error and message type number', (t) => {
  const d = doc('docs/protocol.md');
  t.regex(d, /\| 5 \| `INVALID_STATE` \|/);
  t.regex(d, /\| 0x7f \| `error` \| response \|/);
});

for (const [path, filter] of Object.entries(DOC_ROLE_TABLES)) {
  test(`${path}: its role table is the access table of sim/src/firmware/access.ts`, (t) => {
    const text = doc(path);
    t.is(text, spliceRoleTable(text, renderRoleTable(filter)), 'run `npm run docs:protocol`');
    t.regex(text, /\| `fw\.begin` \| yes \| factory state only \| — \| — \|/, 'owner, provisioning in factory, not service');
  });
}

test('the role-table check itself fails on a drifted document', (t) => {
  const drifted = doc('docs/firmware.md').replace('| `fw.begin` | yes |', '| `fw.begin` | — |');
  t.not(drifted, spliceRoleTable(drifted, renderRoleTable(DOC_ROLE_TABLES['docs/firmware.md'])));
  t.throws(() => spliceRoleTable('no markers here', 'x'), { message: /no role-table markers/ });
});
