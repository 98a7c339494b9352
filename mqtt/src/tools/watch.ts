/**
 * Watching the fleet's uplink: every Key's (or some Keys') `up`, `risk` and `status` records,
 * decoded, verified when the Key's identity is known, de-duplicated by record id.
 *
 * {@link decodeFleetMessage} turns one received message into a {@link FleetMessage} and never
 * throws: garbage, oversized or unexpected payloads become `invalid` messages with a code (never
 * the bytes). {@link watchFleet} connects an {@link MqttLink}, subscribes (optionally as an MQTT 5
 * shared subscription `$share/GROUP/…`, for load-balanced consumers) and calls back with each
 * message, dropping duplicates of at-least-once delivery ({@link Deduplicator}) and counting them.
 * With `session` it is a persistent session (a fixed client id, clean false, MQTT 5 session
 * expiry): records published while the watcher is away are queued by the broker and delivered when
 * it returns with the same session name.
 * Used by `enigm events watch`; apps can call it too.
 * @module
 */
import {
  fleetFilter,
  isHandle,
  MQTT_MAX_RECORD_BYTES,
  openStatus,
  openUplink,
  parseKeyTopic,
  peekStatus,
  peekUplink,
  type Status,
  type Uplink,
} from '@enigm/protocols/mqtt';
import { MqttError } from '../client/errors.ts';
import { MqttLink, type MqttLinkEvent, type MqttLinkOptions } from '../client/link.ts';
import { Deduplicator } from '../client/publisher.ts';

/** The fleet channels a watcher can follow. */
export type FleetChannel = 'up' | 'risk' | 'status';

/** All of them, in the order they are subscribed. */
export const FLEET_CHANNELS: readonly FleetChannel[] = ['up', 'status', 'risk'];

/**
 * Whether a record's signature was checked: `true` verified with the Key's identity, `false` not
 * checked (identity unknown), `'bad-signature'` the identity is known and the signature does not
 * verify for this topic (forged, or copied from another handle or channel).
 */
export type FleetVerification = true | false | 'bad-signature';

/** Codes of an {@link FleetMessage} of type `invalid`. */
export type FleetInvalidCode =
  /** the topic is not `enigm/v1/key/{handle}/{up|risk|status}` */
  | 'MQTT_TOPIC_INVALID'
  /** larger than `MQTT_MAX_RECORD_BYTES` */
  | 'MQTT_PAYLOAD_TOO_LARGE'
  /** an empty `up` or `risk` payload */
  | 'MQTT_PAYLOAD_EMPTY'
  /** not a COSE_Sign1 record of the channel's type */
  | 'MQTT_PAYLOAD_INVALID';

/** One decoded message of the fleet's uplink. */
export type FleetMessage =
  | {
      type: 'uplink';
      topic: string;
      handle: string;
      channel: 'up' | 'risk';
      record: Uplink;
      verified: FleetVerification;
    }
  | {
      type: 'status';
      topic: string;
      handle: string;
      /** The record; absent when `cleared`. */
      status?: Status;
      /** An empty retained payload: the status was removed (e.g. a Key's old handle after a reset). */
      cleared?: true;
      verified: FleetVerification;
    }
  | { type: 'invalid'; topic: string; code: FleetInvalidCode; size: number };

/** Identity public keys (Ed25519, 32 bytes) of known Keys, by handle. */
export type FleetIdentities = ReadonlyMap<string, Uint8Array>;

/**
 * Decodes one message received on a fleet topic. Never throws.
 * @param identities - known Keys: their records are verified, others are shown unverified
 */
export function decodeFleetMessage(topic: string, payload: Uint8Array, identities: FleetIdentities = new Map()): FleetMessage {
  const size = payload.length;
  const parsed = parseKeyTopic(topic);
  if (parsed === undefined || (parsed.channel !== 'up' && parsed.channel !== 'risk' && parsed.channel !== 'status')) {
    return { type: 'invalid', topic, code: 'MQTT_TOPIC_INVALID', size };
  }
  const { handle, channel } = parsed;
  if (size > MQTT_MAX_RECORD_BYTES) return { type: 'invalid', topic, code: 'MQTT_PAYLOAD_TOO_LARGE', size };
  const identity = identities.get(handle);
  if (channel === 'status') {
    if (size === 0) return { type: 'status', topic, handle, cleared: true, verified: false };
    const status = peekStatus(payload);
    if (status === undefined) return { type: 'invalid', topic, code: 'MQTT_PAYLOAD_INVALID', size };
    if (identity === undefined) return { type: 'status', topic, handle, status, verified: false };
    try {
      return { type: 'status', topic, handle, status: openStatus(payload, handle, identity), verified: true };
    } catch {
      return { type: 'status', topic, handle, status, verified: 'bad-signature' };
    }
  }
  if (size === 0) return { type: 'invalid', topic, code: 'MQTT_PAYLOAD_EMPTY', size };
  const record = peekUplink(payload);
  if (record === undefined) return { type: 'invalid', topic, code: 'MQTT_PAYLOAD_INVALID', size };
  if (identity === undefined) return { type: 'uplink', topic, handle, channel, record, verified: false };
  try {
    return { type: 'uplink', topic, handle, channel, record: openUplink(payload, handle, channel, identity), verified: true };
  } catch {
    return { type: 'uplink', topic, handle, channel, record, verified: 'bad-signature' };
  }
}

/** Session expiry of a {@link FleetWatchOptions.session} without `expiryS`, seconds (one hour). */
export const DEFAULT_SESSION_EXPIRY_S = 3600;

/** Options of {@link watchFleet}. */
export interface FleetWatchOptions {
  /** How to connect (url, tls, username, …). */
  connect: MqttLinkOptions;
  /** Only these Keys (default: every Key, `+`). */
  handles?: readonly string[];
  /** The channels to follow (default {@link FLEET_CHANNELS}). */
  channels?: readonly FleetChannel[];
  /** An MQTT 5 shared subscription group (`$share/GROUP/…`); needs a broker speaking MQTT 5. */
  group?: string;
  /**
   * A persistent session: `name` is the client id (1-64 of A-Z, a-z, 0-9, `-`, `_`), the session is
   * not clean, and on MQTT 5 it expires `expiryS` seconds after a disconnect (default 3600; on
   * 3.1.1 the broker keeps it by its own rules). The broker keeps the subscriptions and queues QoS 1
   * records while no watcher of that name is connected. Overrides `connect.clientId`, `clean` and
   * `sessionExpiryS`.
   */
  session?: { name: string; expiryS?: number };
  /** Known Keys' identity public keys, by handle. */
  identities?: FleetIdentities;
  /**
   * Pass at most this many messages to `onMessage`; later ones are dropped and not acknowledged
   * (`MqttLinkOptions.acknowledge`), so a persistent `session` gets them again next time. Close
   * the watch once the limit is reached.
   */
  limit?: number;
  /** Record ids remembered for de-duplication (default 10,000). */
  dedupCapacity?: number;
  /** Called with every message, duplicates excluded. */
  onMessage(m: FleetMessage): void;
  /** Called on connection state changes (drops, reconnects, certificate warnings). */
  onState?(e: MqttLinkEvent): void;
}

/** Counters of a {@link FleetWatch}. */
export interface FleetWatchStats {
  /** Messages passed to `onMessage` (uplink records, status, invalid). */
  messages: number;
  /** Uplink records dropped because their id was seen before. */
  duplicates: number;
  /** Messages that were `invalid`. */
  invalid: number;
  /** Records whose signature did not verify with the known identity. */
  badSignatures: number;
}

/** A running watch; see {@link watchFleet}. */
export interface FleetWatch {
  /** The broker, `mqtt[s]://host:port`. */
  readonly url: string;
  /** The MQTT version in use (4 = 3.1.1). */
  readonly protocolVersion: 4 | 5;
  /** The subscription filters in use. */
  readonly filters: readonly string[];
  /** The persistent session's name (its client id), when `session` was given. */
  readonly session?: string;
  stats(): FleetWatchStats;
  /**
   * Closes the connection (without unsubscribing: a persistent session keeps its subscriptions
   * and queues records for the next watch of the same name). Idempotent, bounded.
   */
  close(): Promise<void>;
}

/**
 * Connects, subscribes and calls `onMessage` for every message of the fleet's uplink (see the
 * module documentation). Records are de-duplicated by id, except those whose signature fails (a
 * forged copy must not hide the real record).
 * @throws {@link MqttError} `MQTT_BAD_INPUT` (a malformed handle, group or session name or expiry,
 *   no channel, or a group on a broker that speaks only MQTT 3.1.1), and what {@link MqttLink.connect} and
 *   {@link MqttLink.subscribe} throw (`MQTT_CONNECT_FAILED`, `MQTT_NOT_AUTHORIZED`,
 *   `MQTT_SUBSCRIBE_REFUSED`, `MQTT_CERT_*`, …)
 * @example
 * const w = await watchFleet({ connect: { url, username: 'backend-1' }, onMessage: (m) => console.log(m) });
 */
export async function watchFleet(options: FleetWatchOptions): Promise<FleetWatch> {
  const channels = [...new Set(options.channels ?? FLEET_CHANNELS)];
  if (channels.length === 0) throw new MqttError('MQTT_BAD_INPUT', 'no channel to watch');
  for (const c of channels) {
    if (!FLEET_CHANNELS.includes(c)) throw new MqttError('MQTT_BAD_INPUT', `unknown channel ${JSON.stringify(c)}`);
  }
  const handles = options.handles === undefined || options.handles.length === 0 ? [undefined] : [...new Set(options.handles)];
  for (const h of handles) {
    if (h !== undefined && !isHandle(h)) throw new MqttError('MQTT_BAD_INPUT', `not a Key handle: ${JSON.stringify(h)}`);
  }
  let filters: string[];
  try {
    filters = handles.flatMap((handle) =>
      channels.map((channel) =>
        fleetFilter(channel, {
          ...(handle === undefined ? {} : { handle }),
          ...(options.group === undefined ? {} : { group: options.group }),
        }),
      ),
    );
  } catch (e) {
    throw new MqttError('MQTT_BAD_INPUT', `bad shared subscription group: ${(e as Error).message}`, { cause: e });
  }
  const session = options.session;
  if (session !== undefined) {
    if (typeof session.name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(session.name))
      throw new MqttError('MQTT_BAD_INPUT', 'a session name must be 1-64 of A-Z, a-z, 0-9, "-", "_"');
    const e = session.expiryS;
    if (e !== undefined && (!Number.isInteger(e) || e < 1 || e > 0xffff_fffe))
      throw new MqttError('MQTT_BAD_INPUT', 'a session expiry must be an integer from 1 to 4294967294 seconds');
  }
  const stats: FleetWatchStats = { messages: 0, duplicates: 0, invalid: 0, badSignatures: 0 };
  const dedup = new Deduplicator(options.dedupCapacity ?? 10_000);
  const identities = options.identities ?? new Map<string, Uint8Array>();
  const limit = options.limit;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
    throw new MqttError('MQTT_BAD_INPUT', 'a message limit must be a positive integer');
  let closed = false;
  /** Whether the message just handled was taken (shown, or a duplicate of one shown). */
  let taken = true;
  // Installed before the connection: a persistent session's queued records come right after the CONNACK.
  const onMessage = (topic: string, payload: Uint8Array) => {
    taken = !(closed || (limit !== undefined && stats.messages >= limit));
    if (!taken) return;
    const m = decodeFleetMessage(topic, payload, identities);
    if (m.type === 'uplink' && m.verified !== 'bad-signature' && !dedup.fresh(m.record.id)) {
      stats.duplicates++;
      return;
    }
    if (m.type === 'invalid') stats.invalid++;
    if (m.type !== 'invalid' && m.verified === 'bad-signature') stats.badSignatures++;
    stats.messages++;
    options.onMessage(m);
  };
  let stateOn = true;
  const link = await MqttLink.connect({
    ...options.connect,
    ...(session === undefined
      ? {}
      : { clientId: session.name, clean: false, sessionExpiryS: session.expiryS ?? DEFAULT_SESSION_EXPIRY_S }),
    onMessage,
    acknowledge: () => taken,
    // From the first attempt: its MQTT_CERT_EXPIRING warning comes before connect returns.
    ...(options.onState ? { onState: (e: MqttLinkEvent) => stateOn && options.onState?.(e) } : {}),
  });
  if (options.group !== undefined && link.protocolVersion !== 5) {
    await link.close();
    throw new MqttError(
      'MQTT_BAD_INPUT',
      `a shared subscription group ($share/${options.group}/…) needs MQTT 5, and the broker at ${link.url} speaks only MQTT 3.1.1`,
    );
  }
  const offState = () => {
    stateOn = false;
  };
  const close = async () => {
    if (closed) return;
    closed = true;
    offState();
    await link.close();
  };
  try {
    for (const f of filters) await link.subscribe(f, 1);
  } catch (e) {
    await close();
    throw e;
  }
  return {
    url: link.url,
    protocolVersion: link.protocolVersion,
    filters,
    ...(session === undefined ? {} : { session: session.name }),
    stats: () => ({ ...stats }),
    close,
  };
}
