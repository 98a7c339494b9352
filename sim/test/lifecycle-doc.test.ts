/**
 * docs/lifecycle.md is generated from the tables (`renderLifecycleDoc`): it must equal its
 * rendering, and the rendering must carry the table's decisions (so a change to a table changes
 * the document, and a hand edit fails here). Run `npm run docs:protocol` after changing a table.
 */
import { readFileSync } from 'node:fs';
import { HOST_ROLES, type HostRole, LIFECYCLE_STATE_DOCS } from '@enigm/protocols/messages';
import test from 'ava';
import { COMMAND_ACCESS } from '../src/firmware/access.ts';
import { LIFECYCLE_DOC_PATH, renderLifecycleDoc } from '../src/firmware/lifecycle-doc.ts';

const doc = () => readFileSync(new URL(`../../${LIFECYCLE_DOC_PATH}`, import.meta.url), 'utf8');

test('docs/lifecycle.md matches the tables (run `npm run docs:protocol`)', (t) => {
  t.is(doc(), renderLifecycleDoc());
});

test('the rendering carries the table: states × operations, roles, the state diagram', (t) => {
  const d = renderLifecycleDoc();
  // states × operations: enroll, replace, hosts.list, hosts.remove, suspend, resume, revoke, retire
  t.regex(
    d,
    /\| revoked \| KEY_REVOKED \| KEY_REVOKED \| KEY_REVOKED \| KEY_REVOKED \| KEY_REVOKED \| KEY_REVOKED \| KEY_REVOKED \| ok \|/,
  );
  t.regex(d, /\| dormant \| ok \| ok \| ok \| ok \| ok \| INVALID_STATE \| ok \| ok \|/);
  t.regex(d, /\| updating \| INVALID_STATE \| INVALID_STATE \| ok \| ok \| INVALID_STATE \|/);
  t.regex(d, /\| `enroll` \| `enigm account enroll [^`]*` \| owner .*\| factory, dormant, suspended \|/);
  t.regex(d, /\| `hosts\.list` \| `enigm key hosts` \| owner \| factory, dormant, emergency, suspended, updating \|/);
  t.regex(d, /\| `retire` \| `enigm key retire --yes` \| owner, provisioning \(in `revoked` only\) \|/);
  t.regex(d, /\| `hosts\.remove` \| .* \| owner, provisioning \(its own entry\), service \(its own entry\) \|/);
  t.regex(d, /```mermaid\nstateDiagram-v2\n {2}\[\*\] --> factory\n/);
  t.regex(d, / {2}dormant --> suspended: suspend\n/);
  t.regex(d, / {2}retired --> factory: wipe\n/);
});

test('a hand-edited document is caught', (t) => {
  const edited = doc().replace('| revoked | KEY_REVOKED |', '| revoked | ok |');
  t.not(edited, renderLifecycleDoc());
});

test('the state table names who enters suspended and revoked exactly as the role table grants', (t) => {
  for (const [state, op] of [
    ['suspended', 'suspend'],
    ['revoked', 'revoke'],
  ] as const) {
    const rule = COMMAND_ACCESS[op];
    for (const role of Object.keys(HOST_ROLES) as HostRole[]) {
      const granted = rule !== 'public' && rule[role] !== undefined;
      t.is(LIFECYCLE_STATE_DOCS[state].includes(role), granted, `${state}: ${role} ${granted ? 'may' : 'may not'} ${op}`);
    }
  }
});
