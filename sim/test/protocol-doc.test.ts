/**
 * docs/protocol.md must equal the rendering of the code's tables (message catalogue, records,
 * error codes, lifecycle table), so the document cannot drift from the code.
 */
import { readFileSync } from 'node:fs';
import { renderProtocolDoc } from '@enigm/protocols/messages';
import test from 'ava';
import { COMMAND_STATES, TRANSITIONS } from '../src/firmware/lifecycle.ts';

test('docs/protocol.md matches the code (run `npm run docs:protocol` after changing the protocol)', (t) => {
  const committed = readFileSync('docs/protocol.md', 'utf8');
  t.is(committed, renderProtocolDoc({ transitions: TRANSITIONS, commandStates: COMMAND_STATES }));
});

test('docs/protocol.md lists every wire error and message type number', (t) => {
  const doc = readFileSync('docs/protocol.md', 'utf8');
  t.regex(doc, /\| 5 \| `INVALID_STATE` \|/);
  t.regex(doc, /\| 0x7f \| `error` \| response \|/);
});
