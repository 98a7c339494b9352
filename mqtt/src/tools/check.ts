/**
 * Checking a broker against the topic contract: connect as one identity, then probe every rule of
 * `MQTT_ACL` that applies to its role and compare what the broker does with what the table says
 * ({@link mqttAllowed}).
 *
 * - **Identity.** The name is the client certificate's CN (mutual TLS, `use_identity_as_username`),
 *   else the given username. A handle is a Key (`key`); any other client name is probed as a host
 *   and a backend at once (as the embedded broker grants both), or as the roles given.
 * - **Probes.** Each rule is tried on a sample topic: the identity's own handle or name, and, to
 *   prove cross-device and cross-host access is refused, another Key's handle (for Keys) or another
 *   host's name (for hosts). Subscriptions are judged by the SUBACK code; publishes on MQTT 5 by
 *   the PUBACK reason code, and on 3.1.1 they are `unknown` (3.1.1 has no negative PUBACK).
 * - **Brokers that grant every SUBSCRIBE** (mosquitto's `acl_file` checks read access per message
 *   instead): a granted subscription the table refuses is tested by delivery — the probe publishes
 *   on a matching topic; delivered is `allowed`, published but not delivered is `refused`, and when
 *   this identity may not publish there either the result is `unknown`.
 * - **Harmless.** Publishes carry an empty payload, QoS 1, never retained, on a random handle and
 *   link no Key uses — except a Key's own `up`/`risk`/`status` topics, which are fixed: consumers
 *   see one empty (invalid) message there. Subscriptions made are removed again.
 * @module
 */

import { randomBytes, X509Certificate } from 'node:crypto';
import { toHex } from '@enigm/protocols/bytes';
import {
  fleetFilter,
  isClientName,
  isHandle,
  type KeyChannel,
  keyDownFilter,
  keyTopic,
  MQTT_ACL,
  MQTT_PREFIX,
  type MqttRole,
  mqttAllowed,
} from '@enigm/protocols/mqtt';
import { certificateCommonName, checkClientCertificate } from '../client/certificate.ts';
import { MqttError } from '../client/errors.ts';
import { MqttLink, type MqttLinkOptions, type MqttTls } from '../client/link.ts';

/** What a probe saw: `unknown` when the broker cannot say (3.1.1 publishes) or did not answer. */
export type ProbeOutcome = 'allowed' | 'refused' | 'unknown';

/** One probe of {@link checkBroker}. */
export interface AclProbe {
  /** The rule(s) of `MQTT_ACL` probed, e.g. `key publish up (own)`, `key publish up (another Key)`. */
  rule: string;
  access: 'publish' | 'subscribe';
  /** The topic published to or the filter subscribed to. */
  topic: string;
  /** What `MQTT_ACL` says for this identity ({@link mqttAllowed}). */
  expected: 'allowed' | 'refused';
  observed: ProbeOutcome;
  /** How it was observed, e.g. `SUBACK 0x01`, `PUBACK 0x87 (not authorized)`. */
  detail: string;
  /** Whether observed matches expected; `undefined` when observed is `unknown`. */
  ok: boolean | undefined;
}

/** The client certificate's facts, when one was used. */
export interface CheckedCertificate {
  subject: string;
  commonName?: string;
  /** ISO time it expires. */
  validTo: string;
  daysLeft: number;
}

/** What {@link checkBroker} found. */
export interface BrokerCheckReport {
  url: string;
  /** 5, or 4 (3.1.1). */
  protocolVersion: 4 | 5;
  /** The broker identity (username or certificate CN). */
  name: string;
  /** The roles probed. */
  roles: MqttRole[];
  certificate?: CheckedCertificate;
  probes: AclProbe[];
  /** Probes whose observation contradicts `MQTT_ACL`. */
  mismatches: AclProbe[];
  /** Probes the broker could not answer. */
  unknown: number;
  /** No mismatch. */
  ok: boolean;
}

/** Options of {@link checkBroker}. */
export interface BrokerCheckOptions {
  /** `mqtt://…` or `mqtts://…`. */
  url: string;
  tls?: MqttTls;
  /** The username when there is no client certificate (default `host-` and 10 random hex characters). */
  username?: string;
  /** Roles to probe a non-Key identity as (default host and backend). */
  roles?: readonly ('host' | 'backend')[];
  /** A Key handle to use in subscription probes instead of a random one or `+` (publishes always use a random handle). */
  handle?: string;
  /** Bound of each probe, ms (default 5000). */
  probeTimeoutMs?: number;
  /** How long to wait for a probe message to be delivered, ms (default 500). */
  deliveryWaitMs?: number;
  /** Bound of a connection attempt, ms (default 10,000). */
  connectTimeoutMs?: number;
  /** Clock for certificate checks (default Date.now). */
  now?: () => number;
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** A well-formed random handle (no Key has it). */
export function randomHandle(): string {
  return `eh1-${[...randomBytes(26)].map((b) => B32[b & 31]).join('')}`;
}

/** What the check reports of the client certificate (it parses it, so it is one). */
function certificateFacts(pem: string | Uint8Array, now: number): CheckedCertificate {
  const text = typeof pem === 'string' ? pem : Buffer.from(pem).toString('utf8');
  const daysLeft = checkClientCertificate(text, now) as number;
  const x = new X509Certificate(text);
  const cn = certificateCommonName(text);
  return {
    subject: x.subject.replace(/\n/g, ', '),
    ...(cn === undefined ? {} : { commonName: cn }),
    validTo: new Date(Date.parse(x.validTo)).toISOString(),
    daysLeft,
  };
}

interface PlannedProbe {
  rules: string[];
  access: 'publish' | 'subscribe';
  topic: string;
  /** For a subscription: a concrete topic it matches, used to test delivery. */
  sample?: string;
}

function plan(name: string, roles: readonly MqttRole[], handle: string | undefined): PlannedProbe[] {
  const probes = new Map<string, PlannedProbe>();
  const add = (rule: string, access: 'publish' | 'subscribe', topic: string, sample?: string) => {
    const k = `${access} ${topic}`;
    const p = probes.get(k);
    if (p) p.rules.push(rule);
    else probes.set(k, { rules: [rule], access, topic, ...(sample === undefined ? {} : { sample }) });
  };
  const tag = toHex(randomBytes(4));
  const link = `probe${tag}`;
  const otherClient = `probe-${tag}`;
  const randomKey = randomHandle();
  for (const role of roles) {
    for (const r of MQTT_ACL) {
      if (r.role !== role) continue;
      const label = (whose: string) => `${r.role} ${r.access} ${r.channel} (${whose})`;
      if (r.scope === 'own') {
        const other = handle !== undefined && handle !== name && r.access === 'subscribe' ? handle : randomKey;
        for (const [h, whose] of [
          [name, 'own'],
          [other, 'another Key'],
        ] as const) {
          if (r.channel === 'down') add(label(whose), r.access, keyDownFilter(h), keyTopic(h, 'down', otherClient, link));
          else if (r.channel === 'resp') add(label(whose), r.access, keyTopic(h, 'resp', otherClient, link));
          else if (r.access === 'subscribe') {
            // a Key's own subscriptions (posture challenge, policy): judged by delivery where the SUBACK cannot tell
            const topic = keyTopic(h, r.channel);
            add(label(whose), r.access, topic, topic);
          } else add(label(whose), r.access, keyTopic(h, r.channel));
        }
      } else if (r.scope === 'self') {
        for (const [client, whose] of [
          [name, 'own name'],
          [otherClient, 'another host'],
        ] as const) {
          if (r.access === 'publish') add(label(whose), r.access, keyTopic(randomKey, r.channel, client, link));
          else {
            const h = handle ?? '+';
            add(
              label(whose),
              r.access,
              `${MQTT_PREFIX}/key/${h}/${r.channel}/${client}/+`,
              keyTopic(randomKey, r.channel, client, link),
            );
          }
        }
      } else {
        const channel = r.channel as Extract<KeyChannel, 'up' | 'risk' | 'status'>;
        if (r.access === 'subscribe')
          add(label(handle ?? 'any Key'), r.access, fleetFilter(channel, handle === undefined ? {} : { handle }));
        else add(label('any Key'), r.access, keyTopic(randomKey, r.channel));
      }
    }
  }
  return [...probes.values()];
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new MqttError('MQTT_CONNECT_FAILED', `no answer to the ${what} within ${ms} ms`)), ms);
    }),
  ]);
}

/** The numeric MQTT reason code behind a refused subscribe or publish, if mqtt.js gave one. */
function reasonCode(e: unknown): number | undefined {
  const cause = (e as { cause?: { code?: unknown; packet?: { granted?: unknown[] } } } | undefined)?.cause;
  if (typeof cause?.code === 'number') return cause.code;
  // A refused SUBACK: mqtt.js keeps the packet, whose `granted` holds the return code.
  const granted = cause?.packet?.granted?.[0];
  const g = typeof granted === 'number' ? granted : (granted as { qos?: unknown } | undefined)?.qos;
  if (typeof g === 'number' && g >= 0x80) return g;
  // MqttLink names a refused SUBACK's code in its message ("code 0x80: …").
  const m = e instanceof MqttError ? /\b(?:code|reason) 0x([0-9a-f]{1,2})\b/.exec(e.message) : null;
  return m ? Number.parseInt(m[1] as string, 16) : undefined;
}

const REASONS: Record<number, string> = {
  128: 'unspecified error',
  131: 'implementation specific error',
  135: 'not authorized',
  143: 'topic filter invalid',
  144: 'topic name invalid',
  151: 'quota exceeded',
  158: 'shared subscriptions not supported',
};

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
const describeCode = (n: number) => `${hex(n)}${REASONS[n] ? ` (${REASONS[n]})` : ''}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Connects as one identity and probes the broker's ACL against `MQTT_ACL` (see the module
 * documentation).
 * @throws {@link MqttError} `MQTT_BAD_INPUT` (a name that is neither a handle nor a client name, a
 *   malformed `handle`), and what {@link MqttLink.connect} throws (`MQTT_CONNECT_FAILED`,
 *   `MQTT_NOT_AUTHORIZED`, `MQTT_CERT_EXPIRED`, `MQTT_CERT_NOT_YET_VALID`, `MQTT_TLS_FILES`, …)
 * @example
 * const report = await checkBroker({ url: 'mqtt://127.0.0.1:1883', username: 'host-1' });
 * if (!report.ok) console.log(report.mismatches);
 */
export async function checkBroker(options: BrokerCheckOptions): Promise<BrokerCheckReport> {
  const now = options.now ?? Date.now;
  const certificate = options.tls?.cert === undefined ? undefined : certificateFacts(options.tls.cert, now());
  const name = certificate?.commonName ?? options.username ?? `host-${toHex(randomBytes(5))}`;
  let roles: MqttRole[];
  if (isHandle(name)) roles = ['key'];
  else if (isClientName(name)) roles = [...new Set(options.roles ?? (['host', 'backend'] as const))];
  else
    throw new MqttError(
      'MQTT_BAD_INPUT',
      `the broker identity ${JSON.stringify(String(name).slice(0, 80))} is neither a Key handle nor a client name (1-64 of a-z, 0-9, ".", "_", "-")`,
    );
  if (roles.length === 0) throw new MqttError('MQTT_BAD_INPUT', 'no role to probe');
  if (options.handle !== undefined && !isHandle(options.handle))
    throw new MqttError('MQTT_BAD_INPUT', `not a Key handle: ${JSON.stringify(String(options.handle).slice(0, 80))}`);
  const probeMs = options.probeTimeoutMs ?? 5000;
  const deliveryMs = options.deliveryWaitMs ?? 500;
  const linkOptions: MqttLinkOptions = {
    url: options.url,
    username: name,
    reconnect: false,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
    now,
  };
  const received: string[] = [];
  const open = async () => {
    const l = await MqttLink.connect(linkOptions);
    l.onMessage((topic) => received.push(topic));
    return l;
  };
  let link = await open();
  const version = link.protocolVersion;
  const expect = (access: 'publish' | 'subscribe', topic: string) =>
    roles.some((role) => mqttAllowed({ role, name }, access, topic)) ? 'allowed' : 'refused';

  const live = async () => {
    if (!link.connected) {
      await link.close();
      link = await open();
    }
    return link;
  };

  const publish = async (topic: string): Promise<{ observed: ProbeOutcome; detail: string }> => {
    const l = await live();
    try {
      await bounded(l.publish(topic, new Uint8Array(0), { qos: 1, retain: false }), probeMs, 'publish');
      return version === 5
        ? { observed: 'allowed', detail: 'PUBACK 0x00' }
        : { observed: 'unknown', detail: '3.1.1 cannot report refused publishes' };
    } catch (e) {
      const code = reasonCode(e);
      if (code !== undefined) return { observed: 'refused', detail: `PUBACK ${describeCode(code)}` };
      if (!l.connected) return { observed: 'refused', detail: 'the broker closed the connection' };
      return { observed: 'unknown', detail: (e as Error).message };
    }
  };

  const subscribe = async (p: PlannedProbe, expected: string): Promise<{ observed: ProbeOutcome; detail: string }> => {
    const l = await live();
    try {
      await bounded(l.subscribe(p.topic, 1), probeMs, 'subscribe');
    } catch (e) {
      const code = reasonCode(e);
      if (code !== undefined) return { observed: 'refused', detail: `SUBACK ${describeCode(code)}` };
      if (e instanceof MqttError && e.code === 'MQTT_SUBSCRIBE_REFUSED') return { observed: 'refused', detail: e.message };
      if (!l.connected) return { observed: 'refused', detail: 'the broker closed the connection' };
      return { observed: 'unknown', detail: (e as Error).message };
    }
    try {
      if (expected === 'allowed' || p.sample === undefined) return { observed: 'allowed', detail: 'SUBACK granted' };
      // Granted but refused by the table: some brokers grant every SUBSCRIBE and check read access
      // per message. Publish on a matching topic and see whether it is delivered.
      const before = received.filter((t) => t === p.sample).length;
      const pub = await publish(p.sample);
      await sleep(deliveryMs);
      const delivered = received.filter((t) => t === p.sample).length > before;
      if (delivered) return { observed: 'allowed', detail: 'SUBACK granted; a probe message was delivered' };
      if (pub.observed === 'allowed')
        return { observed: 'refused', detail: 'SUBACK granted, but a probe message published there was not delivered' };
      return {
        observed: 'unknown',
        detail: `SUBACK granted; delivery not provable (the probe publish: ${pub.detail}); the broker may check read access per message, as mosquitto's acl_file does`,
      };
    } finally {
      if (link === l && l.connected) await bounded(l.unsubscribe(p.topic), probeMs, 'unsubscribe').catch(() => undefined);
    }
  };

  const probes: AclProbe[] = [];
  try {
    for (const p of plan(name, roles, options.handle)) {
      const expected = expect(p.access, p.topic);
      let r: { observed: ProbeOutcome; detail: string };
      try {
        r = p.access === 'publish' ? await publish(p.topic) : await subscribe(p, expected);
      } catch (e) {
        r = { observed: 'unknown', detail: `cannot probe: ${(e as Error).message}` };
      }
      probes.push({
        rule: p.rules.join('; '),
        access: p.access,
        topic: p.topic,
        expected,
        observed: r.observed,
        detail: r.detail,
        ok: r.observed === 'unknown' ? undefined : r.observed === expected,
      });
    }
  } finally {
    await link.close();
  }
  const mismatches = probes.filter((p) => p.ok === false);
  return {
    url: link.url,
    protocolVersion: version,
    name,
    roles,
    ...(certificate ? { certificate } : {}),
    probes,
    mismatches,
    unknown: probes.filter((p) => p.ok === undefined).length,
    ok: mismatches.length === 0,
  };
}
