/**
 * The MQTT contract: topics under `enigm/v1`, the ACL table, and the signed uplink and status
 * records. Pure: no network code (the client and brokers live in `@enigm/mqtt`). See docs/mqtt.md.
 * @module
 */

export * from './doc.ts';
export * from './records.ts';
export * from './topics.ts';
