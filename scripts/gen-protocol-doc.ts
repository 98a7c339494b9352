// Writes docs/protocol.md from the code's tables (see protocols/src/messages/doc.ts), and the
// generated role tables of docs/security.md and docs/firmware.md (see sim/src/firmware/access.ts), and the
// gesture table of HARDWARE.md (see sim/src/firmware/physical/gestures.ts), and the MQTT contract tables of docs/mqtt.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { renderProtocolDoc } from '@enigm/protocols/messages';
import { spliceMqttContract } from '@enigm/protocols/mqtt';
import {
  COMMAND_STATES,
  DOC_ROLE_TABLES,
  EMERGENCY_DOC_PATH,
  LIFECYCLE_DOC_PATH,
  renderLifecycleDoc,
  renderRoleTable,
  spliceEmergencyStates,
  spliceGestureTable,
  spliceRoleTable,
  TRANSITION_DOC_ROWS,
} from '@enigm/sim/firmware';

writeFileSync(
  'docs/protocol.md',
  renderProtocolDoc({ transitions: TRANSITION_DOC_ROWS, commandStates: COMMAND_STATES, roleTable: renderRoleTable() }),
);
console.log('wrote docs/protocol.md');
for (const [path, filter] of Object.entries(DOC_ROLE_TABLES)) {
  writeFileSync(path, spliceRoleTable(readFileSync(path, 'utf8'), renderRoleTable(filter)));
  console.log(`updated the role table of ${path}`);
}
writeFileSync(LIFECYCLE_DOC_PATH, renderLifecycleDoc());
console.log(`wrote ${LIFECYCLE_DOC_PATH}`);
writeFileSync('HARDWARE.md', spliceGestureTable(readFileSync('HARDWARE.md', 'utf8')));
console.log('updated the gesture table of HARDWARE.md');
writeFileSync('docs/mqtt.md', spliceMqttContract(readFileSync('docs/mqtt.md', 'utf8')));
console.log('updated the contract tables of docs/mqtt.md');
const emergencyDoc = existsSync(EMERGENCY_DOC_PATH) ? readFileSync(EMERGENCY_DOC_PATH, 'utf8') : '# Emergency events\n';
writeFileSync(EMERGENCY_DOC_PATH, spliceEmergencyStates(emergencyDoc));
console.log(`updated the States section of ${EMERGENCY_DOC_PATH}`);
