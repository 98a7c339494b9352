/**
 * `@enigm/mqtt/outbox`: the durable, bounded queue of MQTT messages a client must deliver at
 * least once, surviving `kill -9`, power loss, broker outages and damaged files. See `outbox.ts`
 * for storage, durability, recovery and the drop policy, and docs/mqtt-outbox.md.
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
export {
  type AppendResult,
  Outbox,
  type OutboxMessage,
  type OutboxOptions,
  type OutboxReport,
  type OutboxStats,
} from './outbox.ts';
