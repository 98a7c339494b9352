/**
 * The options of an {@link MqttEndpoint} (one simulated Key's MQTT uplink): where the uplinks
 * connect, the bounds of each Key's outbox, when idle host links close. Apart from the endpoint's
 * code; re-exported by `mqtt-endpoint.ts`.
 * @module
 */
import type { MqttTls } from '@enigm/mqtt';
import type { OutboxOptions } from '@enigm/mqtt/outbox';
import type { KeyEndpointOptions } from './device-link.ts';
import type { MqttEndpoint } from './mqtt-endpoint.ts';

/** A host link through the broker that has sent nothing for this long is closed, ms. */
export const MQTT_LINK_IDLE_MS = 5 * 60_000;

/**
 * When an idle host link is closed: after `idleMs` (default {@link MQTT_LINK_IDLE_MS}) on the
 * clock `now` (default `Date.now`; tests inject one), checked every `sweepMs` of real time (30 s).
 */
export type MqttLinkIdleOptions = { idleMs?: number; sweepMs?: number; now?: () => number };

/** Where the simulated Keys' uplinks connect. */
export interface MqttUplinkOptions {
  /** Broker URL, `mqtt://host:port` or `mqtts://…`. */
  broker: string;
  /** TLS material shared by every Key (server verification only, or one Key's certificate). */
  tls?: MqttTls;
  /**
   * Per-Key TLS material for mutual TLS (the certificate CN must be the Key's handle): called
   * with the handle at each connect. Wins over `tls`.
   */
  tlsFor?: (handle: string) => MqttTls | Promise<MqttTls>;
  /** Reconnect backoff (defaults of `MqttLink`). */
  backoff?: { baseMs?: number; capMs?: number };
  /**
   * Bounds of each Key's outbox (defaults of `Outbox.open`: 10,000 records, 16 MiB, 7 days of
   * simulated time; see docs/mqtt-outbox.md "Drop policy"). Past them the oldest normal records are dropped — counted
   * in {@link MqttEndpoint.outboxStats} and logged — and emergency records never are.
   */
  outbox?: MqttUplinkOutboxLimits;
}

/** The outbox options a simulated Key's uplink takes (bounds and compaction; the fsync policy is the endpoint's). */
export type MqttUplinkOutboxLimits = Pick<
  OutboxOptions,
  'maxRecords' | 'maxBytes' | 'maxAgeMs' | 'emergencyMaxBytes' | 'emergencyMaxRecords' | 'compactMinBytes'
>;

/** What an {@link MqttEndpoint} needs. */
export interface MqttEndpointOptions extends KeyEndpointOptions {
  uplink: MqttUplinkOptions;
  /** The simulator's development account secret (32 bytes): handles derive from it. */
  accountSecret: Uint8Array;
  /** Path of the Key's outbox file. */
  outboxPath: string;
  /** Wall clock of the simulation, ms since the epoch. */
  now: () => number;
  /** When idle host links are closed (default: after {@link MQTT_LINK_IDLE_MS} of real time). */
  linkIdle?: MqttLinkIdleOptions;
}
