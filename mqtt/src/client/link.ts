/**
 * One connection to an MQTT broker, on mqtt.js, shared by simulated Keys, the Key transport and
 * host agents.
 *
 * What it adds to mqtt.js:
 * - **Reconnects with capped exponential backoff and full jitter** ({@link fullJitterDelay});
 *   mqtt.js' own fixed-period reconnect is off. Each attempt is a fresh mqtt.js client, and the
 *   link's subscriptions are made again on it.
 * - **No hidden offline queue.** mqtt.js keeps publishes made while offline in memory without a
 *   bound; here a publish while disconnected fails at once with `MQTT_NOT_CONNECTED`, and callers
 *   that must not lose a message put it in a durable outbox ({@link OutboxPublisher}).
 * - **Protocol negotiation.** `protocol: 'auto'` (the default) connects with MQTT 5 and falls back
 *   to 3.1.1 when the broker refuses the version (the embedded aedes broker speaks 3.1.1 only), and
 *   remembers the version for reconnects. MQTT 5 features (message expiry, session expiry) are used
 *   only when the broker has them.
 * - **Certificates checked ahead of time.** A client certificate that has expired or is not yet
 *   valid is a clear error before any connection; one that expires within `certWarnDays` is
 *   reported as a `warning` event at every connect (the first one too: pass `onState` to `connect`).
 * - **Typed errors** ({@link MqttError}) with a code and a human reason; broker refusals are named.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { toHex } from '@enigm/protocols/bytes';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { fullJitterDelay, type ReconnectBackoff } from './backoff.ts';
import { type BrokerAddress, parseBrokerUrl, refusal } from './broker-url.ts';
import { checkClientCertificate } from './certificate.ts';
import { MqttError } from './errors.ts';

export { type BrokerAddress, parseBrokerUrl } from './broker-url.ts';

/** TLS material (PEM text or bytes) for `mqtts://`. */
export interface MqttTls {
  /** CA certificate(s) to verify the broker with (default: the system store). */
  ca?: string | Uint8Array;
  /** Client certificate chain (mutual TLS). */
  cert?: string | Uint8Array;
  /** Client private key (mutual TLS). */
  key?: string | Uint8Array;
}

/** Options of {@link MqttLink.connect}. */
export interface MqttLinkOptions {
  /** `mqtt://host[:port]` (default port 1883) or `mqtts://host[:port]` (default 8883). */
  url: string;
  /** MQTT client id (default `enigm-` and 12 random hex characters). */
  clientId?: string;
  /** MQTT username; under mutual TLS with `use_identity_as_username` the broker uses the certificate CN instead. */
  username?: string;
  tls?: MqttTls;
  /** `auto` (default: 5, then 3.1.1 if refused), or a fixed version. */
  protocol?: 'auto' | 5 | 4;
  /** Keepalive, seconds (default 30). */
  keepaliveS?: number;
  /** Bound of one connection attempt, ms (default 10,000). */
  connectTimeoutMs?: number;
  /** The last will the broker publishes if the link drops without a clean close. */
  will?: { topic: string; payload: Uint8Array; retain?: boolean; qos?: 0 | 1 };
  /** Clean session (default true). With false, MQTT 5 session expiry is `sessionExpiryS`. */
  clean?: boolean;
  /** MQTT 5 session expiry, seconds, when `clean` is false (default 3600). */
  sessionExpiryS?: number;
  /** Reconnect after a drop (default true). */
  reconnect?: boolean;
  backoff?: ReconnectBackoff;
  /** Uniform random in [0, 1), for backoff jitter (default Math.random). */
  random?: () => number;
  /** Clock for certificate checks, ms (default Date.now). */
  now?: () => number;
  /** Warn when the client certificate expires within this many days (default 30). */
  certWarnDays?: number;
  /**
   * A message handler in place from the first packet (as {@link MqttLink.onMessage}): a persistent
   * session's queued messages come right after the CONNACK, before `connect` returns.
   */
  onMessage?: (topic: string, payload: Uint8Array) => void;
  /**
   * Asked after the handlers of each received message: `false` leaves it unacknowledged, so the
   * broker delivers it again to the same persistent session next time (default: acknowledge
   * all). For a consumer that stops taking messages and closes (the broker stops sending once its
   * window of unacknowledged messages is full).
   */
  acknowledge?: () => boolean;
  /**
   * A state handler in place from the first attempt (as {@link MqttLink.onState}): the first
   * connect's `MQTT_CERT_EXPIRING` warning is emitted before `connect` returns.
   */
  onState?: (e: MqttLinkEvent) => void;
}

/** A change of the link's connection state. */
export type MqttLinkEvent =
  | { state: 'connected'; protocolVersion: 4 | 5; attempt: number }
  | { state: 'disconnected'; reason: string }
  | { state: 'reconnecting'; attempt: number; delayMs: number }
  | { state: 'closed' }
  | { state: 'warning'; code: 'MQTT_CERT_EXPIRING'; message: string; daysLeft: number };

/** Options of {@link MqttLink.publish}. */
export interface PublishOptions {
  qos?: 0 | 1;
  retain?: boolean;
  /** MQTT 5 message expiry, seconds (ignored on 3.1.1). */
  expiryS?: number;
}

const text = (v: string | Uint8Array) => (typeof v === 'string' ? v : Buffer.from(v).toString('utf8'));

/** A connection to one broker; see the module documentation. */
export class MqttLink {
  readonly url: string;
  readonly clientId: string;
  #options: MqttLinkOptions;
  #address: BrokerAddress;
  #client: MqttClient | undefined;
  #version: 4 | 5;
  #versionFixed: boolean;
  #subscriptions = new Map<string, 0 | 1>();
  #messageHandlers = new Set<(topic: string, payload: Uint8Array) => void>();
  #stateHandlers = new Set<(e: MqttLinkEvent) => void>();
  #closed = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #connectedOnce = false;
  /** Rejecters of publishes awaiting their acknowledgement on the current client. */
  #inflight = new Set<(e: MqttError) => void>();

  private constructor(options: MqttLinkOptions) {
    this.#options = options;
    this.#address = parseBrokerUrl(options.url);
    this.url = `${this.#address.protocol}://${this.#address.host.includes(':') ? `[${this.#address.host}]` : this.#address.host}:${this.#address.port}`;
    this.clientId = options.clientId ?? `enigm-${toHex(randomBytes(6))}`;
    this.#version = options.protocol === 4 ? 4 : 5;
    this.#versionFixed = options.protocol === 4 || options.protocol === 5;
    if (options.onMessage) this.#messageHandlers.add(options.onMessage);
    if (options.onState) this.#stateHandlers.add(options.onState);
  }

  /**
   * Connects (first attempt, with the protocol fallback) and returns the link; later drops
   * reconnect on their own.
   * @throws {@link MqttError} `MQTT_BAD_URL`, `MQTT_TLS_FILES`, `MQTT_CERT_EXPIRED`,
   *   `MQTT_CERT_NOT_YET_VALID`, `MQTT_NOT_AUTHORIZED`, `MQTT_CONNECT_FAILED`
   * @example const link = await MqttLink.connect({ url: 'mqtt://127.0.0.1:1883', username: 'host-1' });
   */
  static async connect(options: MqttLinkOptions): Promise<MqttLink> {
    const link = new MqttLink(options);
    if (link.#address.protocol === 'mqtt' && (options.tls?.cert !== undefined || options.tls?.key !== undefined)) {
      throw new MqttError('MQTT_BAD_URL', 'a client certificate was given for a plain mqtt:// URL; use mqtts://');
    }
    const client = await link.#attemptWithFallback();
    link.#adopt(client);
    return link;
  }

  /** The MQTT version in use: 5, or 4 (3.1.1). */
  get protocolVersion(): 4 | 5 {
    return this.#version;
  }

  /** Whether the link is connected now. */
  get connected(): boolean {
    return this.#client?.connected === true;
  }

  /** Calls `handler` for every message received on the link's subscriptions; returns an unsubscribe function. */
  onMessage(handler: (topic: string, payload: Uint8Array) => void): () => void {
    this.#messageHandlers.add(handler);
    return () => this.#messageHandlers.delete(handler);
  }

  /** Calls `handler` on every state change; returns an unsubscribe function. */
  onState(handler: (e: MqttLinkEvent) => void): () => void {
    this.#stateHandlers.add(handler);
    return () => this.#stateHandlers.delete(handler);
  }

  #emit(e: MqttLinkEvent): void {
    for (const h of this.#stateHandlers) h(e);
  }

  #clientOptions(version: 4 | 5): IClientOptions {
    const o = this.#options;
    const tls = o.tls ?? {};
    const clean = o.clean ?? true;
    const opts: IClientOptions = {
      protocol: this.#address.protocol,
      host: this.#address.host,
      port: this.#address.port,
      clientId: this.clientId,
      protocolVersion: version,
      keepalive: o.keepaliveS ?? 30,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 0,
      clean,
      resubscribe: false,
      queueQoSZero: false,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(tls.ca === undefined ? {} : { ca: text(tls.ca) }),
      ...(tls.cert === undefined ? {} : { cert: text(tls.cert) }),
      ...(tls.key === undefined ? {} : { key: text(tls.key) }),
      rejectUnauthorized: true,
      ...(this.#address.protocol === 'mqtts' && !/^[\d.]+$|:/.test(this.#address.host) ? { servername: this.#address.host } : {}),
    };
    if (version === 5 && !clean) opts.properties = { sessionExpiryInterval: o.sessionExpiryS ?? 3600 };
    if (o.will) {
      opts.will = {
        topic: o.will.topic,
        payload: Buffer.from(o.will.payload),
        qos: o.will.qos ?? 1,
        retain: o.will.retain ?? false,
      };
    }
    return opts;
  }

  /** One connection attempt at one version. */
  #attempt1(version: 4 | 5): Promise<MqttClient> {
    return new Promise((resolve, reject) => {
      const client = mqtt.connect(this.#clientOptions(version));
      // From the first packet: mqtt.js acknowledges a QoS 1 message whether or not anyone listens.
      const onMessage = (topic: string, payload: Buffer) => this.#dispatch(topic, payload);
      client.on('message', onMessage);
      // Called by mqtt.js after the handlers; it acknowledges (PUBACK) when this calls back
      // without an error, and reads the next packet either way.
      client.handleMessage = (_packet, done) => {
        if (this.#options.acknowledge?.() === false) done(new Error('not taken: left to the session'));
        else done();
      };
      // Small request/response frames: no Nagle delay (mqtt.js leaves it on; with delayed ACKs a
      // round trip would wait tens of ms).
      (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
      let settled = false;
      const fail = (code: number | undefined, e?: Error) => {
        if (settled) return;
        settled = true;
        // Only this attempt's listeners: mqtt.js' own stay (its 'close' one clears the CONNACK
        // timer, which would otherwise hold the process for connectTimeoutMs after a refusal).
        client.off('message', onMessage);
        client.off('connect', onConnect);
        client.off('error', onError);
        client.off('close', onClose);
        client.on('error', () => {});
        client.end(true);
        const r = refusal(code);
        const errno = (e as { code?: unknown } | undefined)?.code;
        const detail =
          e && code === undefined
            ? errno === 'ECONNREFUSED'
              ? ': nothing listens there (ECONNREFUSED)'
              : `: ${typeof errno === 'string' ? errno : e.message}`
            : '';
        reject(
          Object.assign(new MqttError(r.code, `${this.url}: ${r.why}${detail}`, e ? { cause: e } : undefined).withReason(code), {
            versionRefused: r.version,
          }),
        );
      };
      const onConnect = () => {
        if (settled) return;
        settled = true;
        client.off('error', onError);
        client.off('close', onClose);
        resolve(client);
      };
      const onError = (e: Error) => {
        const code = (e as { code?: unknown }).code;
        fail(typeof code === 'number' ? code : undefined, e);
      };
      const onClose = () => fail(undefined, new Error('the connection closed before the broker accepted it'));
      client.once('connect', onConnect);
      client.on('error', onError);
      client.once('close', onClose);
    });
  }

  async #attemptWithFallback(): Promise<MqttClient> {
    if (this.#closed) throw new MqttError('MQTT_CLOSED', `${this.url}: closed`);
    const now = (this.#options.now ?? Date.now)();
    const days = checkClientCertificate(this.#options.tls?.cert, now);
    if (days !== undefined && days < (this.#options.certWarnDays ?? 30)) {
      this.#emit({
        state: 'warning',
        code: 'MQTT_CERT_EXPIRING',
        daysLeft: days,
        message: `the client certificate expires in ${days} days; renew it`,
      });
    }
    try {
      return await this.#attempt1(this.#version);
    } catch (e) {
      const versionRefused = (e as { versionRefused?: boolean }).versionRefused === true;
      const closedEarly = e instanceof MqttError && e.code === 'MQTT_CONNECT_FAILED' && /closed before/.test(e.message);
      if (this.#versionFixed || this.#version === 4 || !(versionRefused || closedEarly)) throw e;
      this.#version = 4;
      return await this.#attempt1(4);
    }
  }

  #dispatch(topic: string, payload: Buffer): void {
    const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    for (const h of this.#messageHandlers) h(topic, bytes);
  }

  #adopt(client: MqttClient): void {
    this.#client = client;
    this.#attempt = 0;
    this.#versionFixed = true; // reconnects keep the version that worked
    client.on('error', () => {}); // the 'close' that follows drives reconnection
    client.once('close', () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      client.removeAllListeners('message');
      client.end(true);
      this.#failInflight('the connection dropped before the broker acknowledged the publish (it may have arrived)');
      if (this.#closed) return;
      this.#emit({ state: 'disconnected', reason: 'the connection to the broker dropped' });
      if (this.#options.reconnect !== false) this.#scheduleReconnect();
    });
    const attempt = this.#connectedOnce ? 1 : 0;
    this.#connectedOnce = true;
    this.#emit({ state: 'connected', protocolVersion: this.#version, attempt });
  }

  #scheduleReconnect(): void {
    const delayMs = fullJitterDelay(this.#attempt, this.#options.backoff, this.#options.random);
    this.#attempt++;
    this.#emit({ state: 'reconnecting', attempt: this.#attempt, delayMs });
    this.#timer = setTimeout(() => void this.#reconnect(), delayMs);
  }

  async #reconnect(): Promise<void> {
    this.#timer = undefined;
    if (this.#closed) return;
    let client: MqttClient;
    try {
      client = await this.#attemptWithFallback();
    } catch {
      if (!this.#closed) this.#scheduleReconnect();
      return;
    }
    if (this.#closed) {
      client.end(true);
      return;
    }
    try {
      for (const [filter, qos] of this.#subscriptions) await this.#subscribeOn(client, filter, qos);
    } catch {
      client.end(true); // the 'close' handler is not installed yet: retry from here
      if (!this.#closed) this.#scheduleReconnect();
      return;
    }
    this.#adopt(client);
  }

  #subscribeOn(client: MqttClient, filter: string, qos: 0 | 1): Promise<void> {
    return new Promise((resolve, reject) => {
      client.subscribe(filter, { qos }, (err, granted) => {
        if (err) {
          const why = /Subscribe error/.test(err.message) ? 'the broker refused it (not authorized or invalid)' : err.message;
          return reject(new MqttError('MQTT_SUBSCRIBE_REFUSED', `${this.url}: subscribe to ${filter}: ${why}`, { cause: err }));
        }
        const g = granted?.[0]?.qos ?? 0x80;
        if (g >= 0x80)
          return reject(
            new MqttError(
              'MQTT_SUBSCRIBE_REFUSED',
              `${this.url}: the broker refused the subscription to ${filter} (code 0x${g.toString(16)}: not authorized or invalid)`,
            ).withReason(g),
          );
        resolve();
      });
    });
  }

  /**
   * Subscribes (and keeps the subscription across reconnects).
   * @throws {@link MqttError} `MQTT_SUBSCRIBE_REFUSED`, `MQTT_NOT_CONNECTED`, `MQTT_CLOSED`
   */
  async subscribe(filter: string, qos: 0 | 1 = 1): Promise<void> {
    const client = this.#live();
    await this.#subscribeOn(client, filter, qos);
    this.#subscriptions.set(filter, qos);
  }

  /** Ends a subscription made with {@link MqttLink.subscribe}. */
  async unsubscribe(filter: string): Promise<void> {
    this.#subscriptions.delete(filter);
    const client = this.#client;
    if (client?.connected) await client.unsubscribeAsync(filter).catch(() => undefined);
  }

  #live(): MqttClient {
    if (this.#closed) throw new MqttError('MQTT_CLOSED', `${this.url}: closed`);
    const c = this.#client;
    if (c === undefined || !c.connected) throw new MqttError('MQTT_NOT_CONNECTED', `${this.url}: not connected to the broker`);
    return c;
  }

  /**
   * Publishes; resolves when the broker acknowledged it (QoS 1) or it was written (QoS 0).
   * @throws {@link MqttError} `MQTT_NOT_CONNECTED` (nothing sent), `MQTT_PUBLISH_FAILED`
   *   (refused, or the link dropped before the acknowledgement: it may or may not have arrived),
   *   `MQTT_CLOSED`
   */
  publish(topic: string, payload: Uint8Array, options: PublishOptions = {}): Promise<void> {
    let client: MqttClient;
    try {
      client = this.#live();
    } catch (e) {
      return Promise.reject(e); // always a rejected promise, never a synchronous throw
    }
    const qos = options.qos ?? 1;
    return new Promise((resolveOuter, rejectOuter) => {
      const fail = (e: MqttError) => {
        this.#inflight.delete(fail);
        rejectOuter(e);
      };
      this.#inflight.add(fail);
      const resolve = () => {
        this.#inflight.delete(fail);
        resolveOuter();
      };
      const reject = fail;
      const props =
        this.#version === 5 && options.expiryS !== undefined ? { properties: { messageExpiryInterval: options.expiryS } } : {};
      client.publish(
        topic,
        Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
        { qos, retain: options.retain ?? false, ...props },
        (err, packet) => {
          if (err) {
            const rc = (err as { code?: unknown }).code;
            const refused = typeof rc === 'number' && rc >= 0x80;
            return reject(
              new MqttError(
                'MQTT_PUBLISH_FAILED',
                refused
                  ? `${this.url}: the broker refused the publish (reason 0x${rc.toString(16)}: not authorized or invalid)`
                  : `${this.url}: publish failed: ${err.message}`,
                { cause: err },
              ).withReason(typeof rc === 'number' ? rc : undefined),
            );
          }
          const reason = (packet as { reasonCode?: number } | undefined)?.reasonCode;
          if (reason !== undefined && reason >= 0x80) {
            return reject(
              new MqttError(
                'MQTT_PUBLISH_FAILED',
                `${this.url}: the broker refused the publish (reason 0x${reason.toString(16)})`,
              ).withReason(reason),
            );
          }
          resolve();
        },
      );
    });
  }

  #failInflight(why: string): void {
    const all = [...this.#inflight];
    this.#inflight.clear();
    for (const f of all) f(new MqttError('MQTT_PUBLISH_FAILED', `${this.url}: ${why}`));
  }

  /** Closes the link (no last will is sent on a clean close). Idempotent and bounded. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    const c = this.#client;
    this.#client = undefined;
    if (c) {
      await Promise.race([
        new Promise<void>((r) => c.end(false, {}, () => r())),
        new Promise<void>((r) => setTimeout(r, 2000).unref()),
      ]);
      c.end(true);
    }
    this.#failInflight('the link was closed before the broker acknowledged the publish');
    this.#emit({ state: 'closed' });
  }
}
