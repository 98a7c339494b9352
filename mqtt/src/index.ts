/**
 * `@enigm/mqtt`: the Key ↔ backend link over MQTT. One client on mqtt.js ({@link MqttLink}:
 * reconnects with capped exponential backoff and full jitter, protocol 5 → 3.1.1 fallback,
 * certificates checked ahead of time, no unbounded offline queue) and an in-order, at-least-once
 * drain of a durable outbox ({@link OutboxPublisher}). The outbox is `@enigm/mqtt/outbox`; the
 * embedded broker and the mosquitto launcher are `@enigm/mqtt/broker`. The topic contract is
 * `@enigm/protocols/mqtt`. See docs/mqtt.md.
 * @module
 */
export * from './client/backoff.ts';
export * from './client/certificate.ts';
export * from './client/errors.ts';
export * from './client/link.ts';
export * from './client/publisher.ts';
export * from './tools/index.ts';
