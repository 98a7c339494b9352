/**
 * What `Outbox.append` takes and returns, and the strict check of a message before anything is
 * queued (every error names the field and never holds the topic or payload bytes).
 * @module
 */
import { outboxBadInput as badInput, OutboxError } from './errors.ts';
import {
  OUTBOX_MAX_PAYLOAD,
  OUTBOX_MAX_TOPIC_BYTES,
  type OutboxDropReason,
  type OutboxEntry,
  type OutboxPriority,
} from './format.ts';

/** A message to append. */
export interface OutboxMessage {
  /** MQTT topic: 1–65,535 UTF-8 bytes, no wildcard (`+`, `#`) and no U+0000. */
  topic: string;
  /** At most 256 KiB. */
  payload: Uint8Array;
  /** Default `normal`. */
  priority?: OutboxPriority;
  /** MQTT retain flag. */
  retain?: boolean;
  /** MQTT QoS to publish with. */
  qos?: 0 | 1 | 2;
  /** 16 bytes; default random. An id already pending makes the append a no-op returning that entry. */
  id?: Uint8Array;
}

/** One normal entry given up before delivery: its id and why. */
export interface OutboxDrop {
  /** The dropped entry's id. */
  id: Uint8Array;
  /** `count` or `bytes` (made room for an append) or `age` (older than `maxAgeMs`). */
  reason: OutboxDropReason;
}

/** What `Outbox.append` did. */
export interface AppendResult {
  /** The entry queued (or, for an `id` already pending, the entry that holds it). */
  entry: OutboxEntry;
  /** Normal entries dropped to make room or because they were too old, oldest first. */
  dropped: OutboxDrop[];
}

/**
 * Checks a message to append, field by field in a fixed order.
 * @returns the topic's length in UTF-8 bytes
 * @throws {@link OutboxError} `OUTBOX_BAD_INPUT` (a field breaks its rule, naming it);
 *   `OUTBOX_TOO_LARGE` (payload over {@link OUTBOX_MAX_PAYLOAD})
 * @example const topicBytes = checkOutboxMessage({ topic: 'enigm/v1/k1/up', payload });
 */
export function checkOutboxMessage(msg: OutboxMessage): number {
  if (msg === null || typeof msg !== 'object') throw badInput('message must be an object');
  const { topic, payload, retain, qos } = msg;
  const priority = msg.priority ?? 'normal';
  if (typeof topic !== 'string' || topic === '') throw badInput('topic must be a non-empty string');
  const topicBytes = Buffer.byteLength(topic, 'utf8');
  if (topicBytes > OUTBOX_MAX_TOPIC_BYTES) throw badInput(`topic must be at most ${OUTBOX_MAX_TOPIC_BYTES} UTF-8 bytes`);
  if (/[\uD800-\uDFFF]/u.test(topic)) throw badInput('topic must be well-formed Unicode (no lone surrogate)');
  if (topic.includes('+') || topic.includes('#') || topic.includes('\0'))
    throw badInput('topic must not hold a wildcard (+, #) or U+0000');
  if (!(payload instanceof Uint8Array)) throw badInput('payload must be a Uint8Array');
  if (payload.length > OUTBOX_MAX_PAYLOAD) {
    throw new OutboxError('OUTBOX_TOO_LARGE', `payload of ${payload.length} bytes is over the maximum of ${OUTBOX_MAX_PAYLOAD}`);
  }
  if (priority !== 'normal' && priority !== 'emergency') throw badInput("priority must be 'normal' or 'emergency'");
  if (retain !== undefined && typeof retain !== 'boolean') throw badInput('retain must be a boolean');
  if (qos !== undefined && qos !== 0 && qos !== 1 && qos !== 2) throw badInput('qos must be 0, 1 or 2');
  if (msg.id !== undefined && !(msg.id instanceof Uint8Array && msg.id.length === 16)) throw badInput('id must be 16 bytes');
  return topicBytes;
}
