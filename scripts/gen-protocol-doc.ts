// Writes docs/protocol.md from the code's tables (see protocols/src/messages/doc.ts).
import { writeFileSync } from 'node:fs';
import { renderProtocolDoc } from '@enigm/protocols/messages';
import { COMMAND_STATES, TRANSITIONS } from '@enigm/sim/firmware';

writeFileSync('docs/protocol.md', renderProtocolDoc({ transitions: TRANSITIONS, commandStates: COMMAND_STATES }));
console.log('wrote docs/protocol.md');
