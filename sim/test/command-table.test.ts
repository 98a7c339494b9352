/**
 * "Adding a Key command end to end" (sim/src/firmware/commands.ts): a request must be in the
 * catalogue (`@enigm/protocols/messages`), have a handler in the dispatch table, a row in the
 * access (role) table and in the lifecycle table, and a section in docs/protocol.md and a row in
 * the role table of docs/security.md. The compiler checks the tables are complete over the
 * catalogue; this test also catches a cast-around and the documents, and checks the reverse: no
 * table row without a catalogue entry.
 */
import { readFileSync } from 'node:fs';
import { MESSAGES, type MessageName, RESPONSE_OF } from '@enigm/protocols/messages';
import test from 'ava';
import { COMMAND_ACCESS } from '../src/firmware/access.ts';
import { HANDLERS } from '../src/firmware/commands.ts';
import { COMMAND_STATES } from '../src/firmware/lifecycle.ts';

const requests = (Object.keys(MESSAGES) as MessageName[]).filter((n) => MESSAGES[n].kind === 'request').sort();
const doc = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** Where a request must appear, each as a predicate. */
function missing(name: string, protocolDoc: string, securityDoc: string): string[] {
  const places: [string, boolean][] = [
    ['RESPONSE_OF', Object.hasOwn(RESPONSE_OF, name)],
    ['HANDLERS (sim/src/firmware/commands.ts)', typeof (HANDLERS as Record<string, unknown>)[name] === 'function'],
    ['COMMAND_ACCESS (sim/src/firmware/access.ts)', Object.hasOwn(COMMAND_ACCESS, name)],
    ['COMMAND_STATES (sim/src/firmware/lifecycle.ts)', Object.hasOwn(COMMAND_STATES, name)],
    ['docs/protocol.md', protocolDoc.includes(`### \`${name}\``)],
    ['docs/security.md role table', securityDoc.includes(`| \`${name}\` |`)],
  ];
  return places.filter(([, ok]) => !ok).map(([where]) => where);
}

test('every request of the catalogue has a handler, an access row, a lifecycle row and its documentation', (t) => {
  const protocolDoc = doc('docs/protocol.md');
  const securityDoc = doc('docs/security.md');
  t.true(requests.length >= 19);
  for (const name of requests) t.deepEqual(missing(name, protocolDoc, securityDoc), [], name);
});

test('no table has a row for a request the catalogue does not define', (t) => {
  for (const [table, keys] of [
    ['HANDLERS', Object.keys(HANDLERS)],
    ['COMMAND_ACCESS', Object.keys(COMMAND_ACCESS)],
    ['COMMAND_STATES', Object.keys(COMMAND_STATES)],
  ] as const)
    t.deepEqual([...keys].sort(), requests, table);
});

test('the check fails for a request that is only half added', (t) => {
  // as if `fw.erase` had a catalogue entry but nothing else
  t.deepEqual(missing('fw.erase', doc('docs/protocol.md'), doc('docs/security.md')), [
    'RESPONSE_OF',
    'HANDLERS (sim/src/firmware/commands.ts)',
    'COMMAND_ACCESS (sim/src/firmware/access.ts)',
    'COMMAND_STATES (sim/src/firmware/lifecycle.ts)',
    'docs/protocol.md',
    'docs/security.md role table',
  ]);
});
