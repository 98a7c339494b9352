/**
 * The MQTT topic contract between Keys, hosts and backends.
 *
 * Every topic sits under the versioned prefix {@link MQTT_PREFIX} and is keyed by the Key's
 * association handle (`eh1-…`, privacy-preserving; never a serial number or a raw public key):
 *
 * | topic | direction | payload | QoS | retained |
 * |---|---|---|---|---|
 * | `enigm/v1/key/{handle}/down/{client}/{link}` | host → Key | Key protocol frames (commands) | 1 | no |
 * | `enigm/v1/key/{handle}/resp/{client}/{link}` | Key → host | Key protocol frames (responses, link events) | 1 | no |
 * | `enigm/v1/key/{handle}/up` | Key → backend | COSE_Sign1 uplink record (events, check-ins) | 1 | no |
 * | `enigm/v1/key/{handle}/risk` | Key or agent → backend | COSE_Sign1 uplink record (minimized risk signals) | 1 | no |
 * | `enigm/v1/key/{handle}/status` | Key (or broker: last will) → anyone allowed | COSE_Sign1 status record | 1 | yes |
 * | `enigm/v1/key/{handle}/posture` | posture agent → backend | posture evidence (signed report + TPM quote, `@enigm/protocols/posture`) | 1 | no |
 * | `enigm/v1/key/{handle}/challenge` | backend → posture agent | a verifier nonce (8..64 bytes): answer with a fresh quote-bound report | 1 | no |
 * | `enigm/v1/key/{handle}/policy` | backend → posture agent | COSE_Sign1 posture policy by an Enigm Command key | 1 | yes |
 *
 * A posture agent is a device like a Key: its broker username is its handle (certificate CN), so
 * it shares the handle-keyed family and the `own` rules (one ACL, one pattern per channel).
 *
 * `{client}` is the host's broker identity (its MQTT username: the certificate's CN under mutual
 * TLS) and `{link}` a random name for one connection of that host, so one host may hold several
 * links and each link is a separate Key connection with its own secure session, as a TCP
 * connection is. Down/resp payloads are the serial frames unchanged: the broker and any other
 * subscriber see only session ciphertext and frame headers.
 *
 * {@link MQTT_ACL} is the one table of who may publish and subscribe where; the mosquitto ACL file
 * ({@link mosquittoAcl}) and the embedded broker's checks ({@link mqttAllowed}) both come from it.
 *
 * @module
 */
import { ProtocolError } from '../errors.ts';

/** The versioned prefix of every Enigm topic. */
export const MQTT_PREFIX = 'enigm/v1';

/** An association handle's text form: `eh1-` and 26 characters of a–z, 2–7. */
export const HANDLE_PATTERN = /^eh1-[a-z2-7]{26}$/;

/** A host or backend name (its broker username): 1–64 of a–z, 0–9, `-`, `_`, `.`; never a handle. */
export const CLIENT_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** A link name: 1–32 of a–z, A–Z, 0–9, `-`, `_`. */
export const LINK_NAME_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** The channels under one Key's handle. */
export type KeyChannel = 'down' | 'resp' | 'up' | 'risk' | 'status' | 'posture' | 'challenge' | 'policy';

/** A parsed Enigm topic. */
export interface ParsedTopic {
  handle: string;
  channel: KeyChannel;
  /** For `down` and `resp`: the host's name. */
  client?: string;
  /** For `down` and `resp`: the link name. */
  link?: string;
}

function check(value: string, pattern: RegExp, what: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new ProtocolError('MQTT_TOPIC_INVALID', `${what} must match ${pattern.source}`);
  }
  return value;
}

/** Whether `name` is a well-formed handle. */
export function isHandle(name: unknown): name is string {
  return typeof name === 'string' && HANDLE_PATTERN.test(name);
}

/** Whether `name` is a well-formed host/backend name (and not a handle). */
export function isClientName(name: unknown): name is string {
  return typeof name === 'string' && CLIENT_NAME_PATTERN.test(name) && !isHandle(name);
}

/**
 * The topic of one channel of one Key.
 * @throws {@link ProtocolError} `MQTT_TOPIC_INVALID` for a malformed handle, client or link, or a
 *   `down`/`resp` channel without client and link
 * @example keyTopic('eh1-…', 'up') // 'enigm/v1/key/eh1-…/up'
 */
export function keyTopic(handle: string, channel: KeyChannel, client?: string, link?: string): string {
  check(handle, HANDLE_PATTERN, 'handle');
  const base = `${MQTT_PREFIX}/key/${handle}/${channel}`;
  if (channel !== 'down' && channel !== 'resp') return base;
  if (client === undefined || !isClientName(client)) {
    throw new ProtocolError('MQTT_TOPIC_INVALID', `client must match ${CLIENT_NAME_PATTERN.source} and not be a handle`);
  }
  check(link ?? '', LINK_NAME_PATTERN, 'link');
  return `${base}/${client}/${link}`;
}

/**
 * The subscription filter a Key uses for its downlink: every client and link.
 * @throws {@link ProtocolError} `MQTT_TOPIC_INVALID` for a malformed handle
 */
export function keyDownFilter(handle: string): string {
  return `${MQTT_PREFIX}/key/${check(handle, HANDLE_PATTERN, 'handle')}/down/+/+`;
}

/**
 * A filter over every Key for one channel (`up`, `risk`, `status`), or one Key's when `handle` is given;
 * `group` makes it an MQTT 5 shared subscription (`$share/group/…`) for load-balanced backend consumers.
 */
export function fleetFilter(
  channel: 'up' | 'risk' | 'status' | 'posture',
  options: { handle?: string; group?: string } = {},
): string {
  const handle = options.handle === undefined ? '+' : check(options.handle, HANDLE_PATTERN, 'handle');
  const filter = `${MQTT_PREFIX}/key/${handle}/${channel}`;
  if (options.group === undefined) return filter;
  return `$share/${check(options.group, LINK_NAME_PATTERN, 'group')}/${filter}`;
}

/** The channels without client and link parts. */
const UNLINKED: ReadonlySet<KeyChannel> = new Set(['up', 'risk', 'status', 'posture', 'challenge', 'policy']);

/**
 * Parses an Enigm topic strictly (no wildcards, every part well formed).
 * @returns the parts, or `undefined` if the topic is not an Enigm Key topic
 */
export function parseKeyTopic(topic: string): ParsedTopic | undefined {
  if (typeof topic !== 'string' || topic.length > 256) return undefined;
  const parts = topic.split('/');
  if (parts[0] !== 'enigm' || parts[1] !== 'v1' || parts[2] !== 'key') return undefined;
  const handle = parts[3] ?? '';
  const channel = parts[4] as KeyChannel;
  if (!isHandle(handle)) return undefined;
  if (channel === 'down' || channel === 'resp') {
    const [client, link] = [parts[5] ?? '', parts[6] ?? ''];
    if (parts.length !== 7 || !isClientName(client) || !LINK_NAME_PATTERN.test(link)) return undefined;
    return { handle, channel, client, link };
  }
  if (UNLINKED.has(channel) && parts.length === 5) return { handle, channel };
  return undefined;
}

/** The roles a broker client may have. */
export type MqttRole = 'key' | 'host' | 'backend';

/** One row of {@link MQTT_ACL}: what a role may do on a channel. */
export interface AclRule {
  role: MqttRole;
  channel: KeyChannel;
  access: 'publish' | 'subscribe';
  /** Whose topics: the client's own handle (`own`, Keys), its own client name in the topic (`self`), or any Key's (`any`). */
  scope: 'own' | 'self' | 'any';
  /** Why the rule exists (rendered into docs/mqtt.md). */
  why: string;
}

/** Who may publish and subscribe where. Anything not listed is refused. */
export const MQTT_ACL: readonly AclRule[] = [
  { role: 'key', channel: 'down', access: 'subscribe', scope: 'own', why: 'a Key reads the commands sent to it' },
  { role: 'key', channel: 'resp', access: 'publish', scope: 'own', why: 'a Key answers on its own response topics' },
  { role: 'key', channel: 'up', access: 'publish', scope: 'own', why: 'a Key sends its events and check-ins' },
  { role: 'key', channel: 'risk', access: 'publish', scope: 'own', why: 'a Key sends its minimized risk signals' },
  { role: 'key', channel: 'status', access: 'publish', scope: 'own', why: 'a Key keeps its retained status (and last will)' },
  { role: 'key', channel: 'posture', access: 'publish', scope: 'own', why: 'a posture agent sends its signed reports' },
  {
    role: 'key',
    channel: 'challenge',
    access: 'subscribe',
    scope: 'own',
    why: 'a posture agent reads the challenges sent to it',
  },
  { role: 'key', channel: 'policy', access: 'subscribe', scope: 'own', why: 'a posture agent reads its retained signed policy' },
  { role: 'host', channel: 'down', access: 'publish', scope: 'self', why: 'a host sends frames under its own name only' },
  { role: 'host', channel: 'resp', access: 'subscribe', scope: 'self', why: 'a host reads the answers addressed to it only' },
  { role: 'host', channel: 'status', access: 'subscribe', scope: 'any', why: 'a host sees whether a Key is online' },
  {
    role: 'backend',
    channel: 'up',
    access: 'subscribe',
    scope: 'any',
    why: 'backend consumers read events (shared subscriptions)',
  },
  { role: 'backend', channel: 'risk', access: 'subscribe', scope: 'any', why: 'backend consumers read risk signals' },
  { role: 'backend', channel: 'status', access: 'subscribe', scope: 'any', why: 'backend consumers read status' },
  { role: 'backend', channel: 'posture', access: 'subscribe', scope: 'any', why: 'the posture verifier reads reports' },
  { role: 'backend', channel: 'challenge', access: 'publish', scope: 'any', why: 'the posture verifier challenges a device' },
  {
    role: 'backend',
    channel: 'policy',
    access: 'publish',
    scope: 'any',
    why: 'Enigm Command installs a signed policy (retained)',
  },
];

/** Whose topic a client is acting on, for {@link mqttAllowed}. */
export interface MqttClientIdentity {
  role: MqttRole;
  /** The broker username: a handle for a Key, a client name for hosts and backends. */
  name: string;
}

/** Strips an MQTT 5 shared-subscription prefix (`$share/group/`) from a filter. */
function unshare(filter: string): string {
  const m = /^\$share\/[^/#+]+\/(.+)$/.exec(filter);
  return m ? (m[1] as string) : filter;
}

/**
 * Whether `who` may publish to `topic` or subscribe to `filter` under {@link MQTT_ACL}. A
 * subscription filter may use `+` exactly where the rule's scope is `any` (the handle) and, for a
 * Key's downlink, for client and link; `#` is never allowed.
 */
export function mqttAllowed(who: MqttClientIdentity, access: 'publish' | 'subscribe', topicOrFilter: string): boolean {
  if (typeof topicOrFilter !== 'string') return false;
  const topic = access === 'subscribe' ? unshare(topicOrFilter) : topicOrFilter;
  if (topic.includes('#')) return false;
  const parts = topic.split('/');
  if (parts[0] !== 'enigm' || parts[1] !== 'v1' || parts[2] !== 'key') return false;
  const handle = parts[3] ?? '';
  const channel = parts[4] as KeyChannel;
  const wildHandle = handle === '+';
  if (wildHandle && access === 'publish') return false;
  if (!wildHandle && !isHandle(handle)) return false;
  const linked = channel === 'down' || channel === 'resp';
  if (parts.length !== (linked ? 7 : 5)) return false;
  for (const rule of MQTT_ACL) {
    if (rule.role !== who.role || rule.channel !== channel || rule.access !== access) continue;
    if (rule.scope === 'own') {
      if (handle !== who.name) continue;
      if (linked) {
        const [client, link] = [parts[5] ?? '', parts[6] ?? ''];
        const clientOk = client === '+' ? access === 'subscribe' : isClientName(client);
        const linkOk = link === '+' ? access === 'subscribe' : LINK_NAME_PATTERN.test(link);
        if (!clientOk || !linkOk) continue;
      }
      return true;
    }
    if (rule.scope === 'self') {
      if (!(wildHandle ? access === 'subscribe' : true)) continue;
      if (parts[5] !== who.name || !isClientName(who.name)) continue;
      const link = parts[6] ?? '';
      if (!(link === '+' ? access === 'subscribe' : LINK_NAME_PATTERN.test(link))) continue;
      return true;
    }
    if (rule.scope === 'any' && (wildHandle || isHandle(handle))) return true;
  }
  return false;
}

/**
 * The mosquitto ACL file for {@link MQTT_ACL}: `pattern` lines for Keys (their username is their
 * handle, from the certificate CN with `use_identity_as_username`) and one `user` block per host
 * and backend. Hosts and backends are named one by one, never by pattern, so no Key can match a
 * host's rules.
 * @throws {@link ProtocolError} `MQTT_TOPIC_INVALID` for a host or backend name that is malformed or is a handle
 */
export function mosquittoAcl(options: { hosts?: readonly string[]; backends?: readonly string[] } = {}): string {
  const lines = [
    '# Enigm MQTT ACL (generated from MQTT_ACL in protocols/src/mqtt/topics.ts; see docs/mqtt.md).',
    '# Keys: username = their handle (certificate CN). Only their own topics.',
  ];
  const verb = (r: AclRule) => (r.access === 'publish' ? 'write' : 'read');
  for (const r of MQTT_ACL.filter((x) => x.role === 'key')) {
    const tail = r.channel === 'down' || r.channel === 'resp' ? '/+/+' : '';
    lines.push(`pattern ${verb(r)} ${MQTT_PREFIX}/key/%u/${r.channel}${tail}`);
  }
  const block = (name: string, role: 'host' | 'backend') => {
    if (!isClientName(name)) {
      throw new ProtocolError(
        'MQTT_TOPIC_INVALID',
        `a ${role} name must match ${CLIENT_NAME_PATTERN.source} and not be a handle`,
      );
    }
    lines.push('', `user ${name}`);
    for (const r of MQTT_ACL.filter((x) => x.role === role)) {
      const tail = r.channel === 'down' || r.channel === 'resp' ? `/${name}/+` : '';
      lines.push(`topic ${verb(r)} ${MQTT_PREFIX}/key/+/${r.channel}${tail}`);
    }
  };
  for (const h of options.hosts ?? []) block(h, 'host');
  for (const b of options.backends ?? []) block(b, 'backend');
  return `${lines.join('\n')}\n`;
}
