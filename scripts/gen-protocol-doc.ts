// Writes docs/protocol.md from the code's tables (see protocols/src/messages/doc.ts).
import { writeFileSync } from 'node:fs';
import { renderProtocolDoc } from '../protocols/src/messages/doc.ts';
import { COMMAND_STATES, TRANSITIONS } from '../sim/src/firmware/lifecycle.ts';

writeFileSync('docs/protocol.md', renderProtocolDoc({ transitions: TRANSITIONS, commandStates: COMMAND_STATES }));
console.log('wrote docs/protocol.md');
