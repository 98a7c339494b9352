/**
 * `@enigm/mqtt/outbox`: the durable, bounded queue of MQTT messages a client must deliver at
 * least once, surviving `kill -9`, power loss, broker outages and damaged files. See `outbox.ts`
 * for storage and durability (and the map of the other modules), `format.ts` for the log format,
 * `bounds.ts` for the drop policy, `recovery.ts` for recovery, `compaction.ts` for compaction,
 * and docs/mqtt-outbox.md.
 * @module
 */
export { OUTBOX_ERROR_CODES, OutboxError, type OutboxErrorCode } from './errors.ts';
export {
  OUTBOX_MAX_PAYLOAD,
  OUTBOX_MAX_TOPIC_BYTES,
  type OutboxDropReason,
  type OutboxEntry,
  type OutboxPriority,
} from './format.ts';
export type { AppendResult, OutboxMessage } from './message.ts';
export type { OutboxOptions } from './options.ts';
export { Outbox, type OutboxStats } from './outbox.ts';
export type { OutboxReport } from './recovery.ts';
