/**
 * One simulated Key's LTE-M uplink: a connection to the MQTT broker under the Key's handle.
 *
 * - **Host links through the broker.** The Key subscribes to `enigm/v1/key/{handle}/down/+/+`;
 *   each `{client}/{link}` seen is one {@link DeviceLink}, as a TCP connection is, answering on
 *   `…/resp/{client}/{link}`. At most `LinkLimits.maxTcpLinksPerKey` links at once (a new
 *   one past the bound is ignored, with a rate-limited log line); a link idle for
 *   {@link MQTT_LINK_IDLE_MS} is closed (option `linkIdle`), with a log line. Responses in flight
 *   are bounded (the link stops handling requests above `LinkLimits.outputHigh`
 *   unacknowledged bytes).
 * - **Uplink records.** Lifecycle changes become signed uplink records (COSE_Sign1 by the Key's
 *   identity key, bound to the topic) in a durable outbox (`key-<i>.outbox` in the state folder),
 *   drained in order when connected; the retained `status` topic says online (signed), and the
 *   last will says offline.
 * - **The radio decides.** Connected only while the Key is powered and its radio `attached`; with
 *   the radio detached or without coverage the outbox grows, and it drains in order once the
 *   radio is back.
 * - **A new identity is a new handle.** After a factory reset the endpoint reconnects under the
 *   new handle; the old handle's retained status is cleared.
 *
 * The handle is the Key's association handle in the simulator's development account
 * (`account.secret` in the state folder), as a real Key's MQTT certificate CN is its handle in its
 * owner's account. The endpoint's options are in `mqtt-endpoint-options.ts` (re-exported here).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { type DrainableQueue, fullJitterDelay, MqttLink, OutboxPublisher, type QueuedMessage } from '@enigm/mqtt';
import { Outbox, type OutboxDropReason, type OutboxStats } from '@enigm/mqtt/outbox';
import { toHex } from '@enigm/protocols/bytes';
import { encode } from '@enigm/protocols/cbor';
import { associationHandleText } from '@enigm/protocols/handle';
import { keyDownFilter, keyTopic, parseKeyTopic, sealStatus, sealUplink, type UPLINK_PRIORITY } from '@enigm/protocols/mqtt';
import { DeviceLink, linkHookOptions } from './device-link.ts';
import { describeError, logLimited, RateLimiter } from './log.ts';
import { MQTT_LINK_IDLE_MS, type MqttEndpointOptions } from './mqtt-endpoint-options.ts';

export {
  MQTT_LINK_IDLE_MS,
  type MqttEndpointOptions,
  type MqttLinkIdleOptions,
  type MqttUplinkOptions,
  type MqttUplinkOutboxLimits,
} from './mqtt-endpoint-options.ts';

interface HostLink {
  key: string;
  name: string;
  link: DeviceLink;
  respTopic: string;
  inflight: number;
  lastInput: number;
}

/**
 * The entries of `queue` the publisher may send: the oldest ones, up to the first whose append
 * has not resolved yet (its id in `unsynced`). An outbox lists an entry as soon as its append
 * starts; sending it before its bytes are synced would let a host crash make the Key forget a
 * record the backend already has (and reuse its seq). With records pipelined into the outbox a
 * running drain would otherwise see them early.
 * @param queue - the outbox
 * @param unsynced - hex ids of entries whose append has not resolved
 */
export function durableEntries(queue: DrainableQueue, unsynced: ReadonlySet<string>): DrainableQueue {
  return {
    pending(limit?: number): QueuedMessage[] {
      const all = queue.pending(limit);
      if (unsynced.size === 0) return all;
      const i = all.findIndex((e) => unsynced.has(toHex(e.id)));
      return i < 0 ? all : all.slice(0, i);
    },
    ack: (id) => queue.ack(id),
  };
}

/** A Key's MQTT uplink; see the module documentation. */
export class MqttEndpoint {
  readonly #o: MqttEndpointOptions;
  readonly #links = new Map<string, HostLink>();
  readonly #refuse = new RateLimiter();
  #mqtt: MqttLink | undefined;
  #outbox: Outbox | undefined;
  #publisher: OutboxPublisher | undefined;
  #handle: string;
  #want = false;
  #busy: Promise<void> = Promise.resolve();
  #retry: NodeJS.Timeout | undefined;
  #attempts = 0;
  readonly #connectLimiter = new RateLimiter();
  readonly #dropLimiter = new RateLimiter();
  #closed = false;
  #sweep: NodeJS.Timeout | undefined;
  #linksOpened = 0;
  readonly #idleNow: () => number;
  #offLifecycle: () => void;
  readonly #sent: Record<string, { bytes: number; messages: number }> = {};
  #emitting: Promise<void> = Promise.resolve();
  #pending = 0;
  /** Hex ids of records whose outbox append has not resolved (not sent before: {@link durableEntries}). */
  readonly #unsynced = new Set<string>();

  constructor(options: MqttEndpointOptions) {
    this.#o = options;
    this.#handle = this.#currentHandle();
    this.#idleNow = options.linkIdle?.now ?? Date.now;
    this.#offLifecycle = options.firmware.onLifecycle((from, to) => void this.#lifecycle(from, to));
  }

  /** The Key's handle on the broker (`eh1-…`). */
  get handle(): string {
    return this.#handle;
  }

  /** `mqtt://broker/HANDLE`: the address a host opens the Key by. */
  get address(): string {
    return `${this.#o.uplink.broker.replace(/\/+$/, '')}/${this.#handle}`;
  }

  /** Whether the uplink is connected now. */
  get connected(): boolean {
    return this.#mqtt?.connected === true;
  }

  /** Open host links through the broker. */
  get connections(): number {
    return this.#links.size;
  }

  /**
   * What the Key published, per lifecycle state at the time: messages, and bytes (UTF-8 topic +
   * payload) of uplink records, status records and responses to host links.
   */
  get sent(): Readonly<Record<string, { bytes: number; messages: number }>> {
    return this.#sent;
  }

  #count(topic: string, payload: Uint8Array): void {
    const c = (this.#sent[this.#o.firmware.state] ??= { bytes: 0, messages: 0 });
    c.bytes += Buffer.byteLength(topic, 'utf8') + payload.length;
    c.messages++;
  }

  /** Publishes and counts what was published. */
  async #publish(mqtt: MqttLink, topic: string, payload: Uint8Array, options: { qos: 1; retain?: boolean }): Promise<void> {
    await mqtt.publish(topic, payload, options);
    this.#count(topic, payload);
  }

  /** Uplink records waiting in the outbox. */
  get queued(): number {
    return this.#outbox?.size ?? 0;
  }

  /** The outbox's counters (pending, bytes, emergency, drops since open by reason, file length), once open. */
  get outboxStats(): OutboxStats | undefined {
    return this.#outbox?.stats();
  }

  #noteDrops(dropped: readonly { reason: OutboxDropReason }[]): void {
    if (dropped.length === 0) return;
    const by = new Map<string, number>();
    for (const d of dropped) by.set(d.reason, (by.get(d.reason) ?? 0) + 1);
    const why = [...by].map(([reason, n]) => `${n} (${reason})`).join(', ');
    logLimited(
      this.#o.log,
      'warn',
      this.#dropLimiter,
      `${this.#o.label}: outbox bound reached: oldest normal records dropped: ${why}`,
    );
  }

  /**
   * Uplink records accepted by {@link MqttEndpoint.emit} and not yet durable in the outbox: each
   * waits for the Key's state to be durable (`KeyFirmware.durable`), then for its append to be
   * synced (a record being synced counts in {@link MqttEndpoint.queued} too). A drain check needs
   * `pending + queued === 0`: `queued` alone misses a record still waiting for `durable()`.
   */
  get pending(): number {
    return this.#pending;
  }

  #currentHandle(): string {
    return associationHandleText(this.#o.accountSecret, this.#o.firmware.secureElement.identityPublicKey);
  }

  /** Opens the outbox (reporting what it recovered); the connection follows {@link MqttEndpoint.setRadio}. */
  async open(): Promise<void> {
    // Group commit: records queued together (an event's start, its lifecycle change, its first
    // location) share one fsync; each append still resolves only once its bytes are synced.
    // Ages on the simulation's wall clock: a week of simulated outage expires week-old records.
    this.#outbox = await Outbox.open(this.#o.outboxPath, { ...this.#o.uplink.outbox, fsync: 'batch', clock: this.#o.now });
    const r = this.#outbox.report;
    if (r.quarantined > 0 || r.tornTailBytes > 0) {
      this.#o.log.warn(
        `${this.#o.label}: outbox recovered ${r.recovered} records; ${r.quarantined} corrupted records quarantined, ${r.tornTailBytes} torn bytes dropped`,
      );
    }
    this.#sweep = setInterval(() => this.#expireIdle(), this.#o.linkIdle?.sweepMs ?? 30_000);
    this.#sweep.unref();
  }

  /** Connects while `up` (powered, radio attached), disconnects otherwise. Serialised. */
  setRadio(up: boolean): Promise<void> {
    this.#want = up;
    clearTimeout(this.#retry);
    this.#busy = this.#busy
      .then(() => this.#apply())
      .then(
        () => {
          this.#attempts = 0;
        },
        (e) => {
          // A first connection that fails (broker not up yet, the start still busy) is tried
          // again with the same full-jitter backoff as a dropped one, for as long as the radio is on.
          logLimited(this.#o.log, 'warn', this.#connectLimiter, `${this.#o.label}: mqtt: ${describeError(e)}; retrying`);
          if (!this.#want || this.#closed) return;
          const delay = fullJitterDelay(this.#attempts++, this.#o.uplink.backoff);
          this.#retry = setTimeout(() => void this.setRadio(this.#want), delay);
        },
      );
    return this.#busy;
  }

  async #apply(): Promise<void> {
    if (this.#closed) return;
    if (this.#want && this.#mqtt === undefined) await this.#connect();
    else if (!this.#want && this.#mqtt !== undefined) await this.#disconnect();
  }

  #signer() {
    const se = this.#o.firmware.secureElement;
    return { signer: (m: Uint8Array) => se.sign(m) };
  }

  async #connect(): Promise<void> {
    const { uplink, label, log } = this.#o;
    const handle = this.#handle;
    const will = sealStatus({ online: false, time: this.#o.now(), will: true }, handle, this.#signer());
    const tls = uplink.tlsFor ? await uplink.tlsFor(handle) : uplink.tls;
    const mqtt = await MqttLink.connect({
      url: uplink.broker,
      username: handle,
      clientId: `${handle}-${toHex(randomBytes(3))}`,
      will: { topic: keyTopic(handle, 'status'), payload: will, retain: true, qos: 1 },
      ...(tls ? { tls } : {}),
      ...(uplink.backoff ? { backoff: uplink.backoff } : {}),
      // From the first attempt: a certificate about to expire is reported at this connect too.
      onState: (e) => e.state === 'warning' && log.warn(`${label}: mqtt: ${e.message}`),
    });
    mqtt.onMessage((topic, payload) => this.#down(topic, payload));
    mqtt.onState((e) => {
      if (e.state === 'connected') void this.#online(mqtt);
      if (e.state === 'disconnected') log.info(`${label}: mqtt uplink lost; reconnecting`);
    });
    await mqtt.subscribe(keyDownFilter(handle), 1);
    this.#mqtt = mqtt;
    if (this.#outbox)
      this.#publisher = new OutboxPublisher(mqtt, durableEntries(this.#outbox, this.#unsynced), {
        onDelivered: (m) => this.#count(m.topic, m.payload),
      });
    await this.#online(mqtt);
    log.info(`${label}: mqtt uplink connected as ${handle} (MQTT ${mqtt.protocolVersion === 5 ? '5' : '3.1.1'})`);
  }

  async #online(mqtt: MqttLink): Promise<void> {
    const status = sealStatus({ online: true, time: this.#o.now(), state: this.#o.firmware.state }, this.#handle, this.#signer());
    await this.#publish(mqtt, keyTopic(this.#handle, 'status'), status, { qos: 1, retain: true }).catch(() => undefined);
  }

  async #disconnect(): Promise<void> {
    const mqtt = this.#mqtt;
    this.#mqtt = undefined;
    this.#publisher?.stop();
    this.#publisher = undefined;
    for (const l of [...this.#links.values()]) this.#closeLink(l, 'the uplink went down');
    if (!mqtt) return;
    // A clean close sends no will: say offline first, as the radio goes down.
    const status = sealStatus(
      { online: false, time: this.#o.now(), state: this.#o.firmware.state },
      this.#handle,
      this.#signer(),
    );
    if (mqtt.connected)
      await this.#publish(mqtt, keyTopic(this.#handle, 'status'), status, { qos: 1, retain: true }).catch(() => undefined);
    await mqtt.close();
  }

  #down(topic: string, payload: Uint8Array): void {
    const t = parseKeyTopic(topic);
    if (t?.channel !== 'down' || t.handle !== this.#handle || this.#closed) return;
    const hooks = this.#o.hooks;
    if (hooks?.powered && !hooks.powered()) return;
    const key = `${t.client}/${t.link}`;
    let host = this.#links.get(key);
    if (host === undefined) {
      if (this.#links.size >= this.#o.limits.maxTcpLinksPerKey) {
        logLimited(
          this.#o.log,
          'warn',
          this.#refuse,
          `${this.#o.label}: ignored a new mqtt link: ${this.#links.size} open (bound ${this.#o.limits.maxTcpLinksPerKey} per Key)`,
        );
        return;
      }
      host = this.#newLink(key, keyTopic(this.#handle, 'resp', t.client, t.link));
    }
    host.lastInput = this.#idleNow();
    try {
      host.link.receive(payload);
    } catch (e) {
      this.#o.log.error(`${this.#o.label} mqtt ${key}: dropped: a failure was contained (${describeError(e)})`);
      this.#closeLink(host, 'a failure was contained');
    }
  }

  #newLink(key: string, respTopic: string): HostLink {
    const { firmware, scheduler, timing, limits, log, label, hooks } = this.#o;
    const name = `mqtt#${++this.#linksOpened}`;
    const host = { key, name, respTopic, inflight: 0, lastInput: this.#idleNow() } as HostLink;
    host.link = new DeviceLink(
      firmware,
      (bytes) => {
        const mqtt = this.#mqtt;
        if (!mqtt?.connected || !this.#links.has(key)) return;
        host.inflight += bytes.length;
        this.#publish(mqtt, respTopic, bytes, { qos: 1 })
          .catch(() => undefined)
          .finally(() => {
            host.inflight -= bytes.length;
            if (host.inflight <= limits.outputHigh) host.link.resume();
          });
      },
      'mqtt',
      timing,
      {
        scheduler,
        canSend: () => this.#mqtt?.connected === true && host.inflight <= limits.outputHigh,
        maxQueuedBytes: limits.inputHard,
        log,
        label: `${label} ${name}`,
        ...linkHookOptions(hooks, name),
      },
    );
    this.#links.set(key, host);
    hooks?.onLink?.(name, 'open');
    log.info(`${label}: mqtt link ${name} opened (${this.#links.size} of ${limits.maxTcpLinksPerKey})`);
    return host;
  }

  #closeLink(host: HostLink, why: string): void {
    host.link.close();
    if (!this.#links.delete(host.key)) return;
    this.#o.hooks?.onLink?.(host.name, 'closed');
    this.#o.log.info(`${this.#o.label}: mqtt link ${host.name} closed: ${why}`);
  }

  #expireIdle(): void {
    const now = this.#idleNow();
    const idleMs = this.#o.linkIdle?.idleMs ?? MQTT_LINK_IDLE_MS;
    for (const h of [...this.#links.values()])
      if (now - h.lastInput > idleMs) this.#closeLink(h, `idle for more than ${Math.round(idleMs / 1000)} s`);
  }

  /**
   * Queues a signed uplink record (`up` topic) and drains the outbox if connected; resolves once
   * the record is durable in the outbox. Ordered: records queued at once (a week of check-ins in
   * one clock advance) get distinct, increasing seqs, and reach the outbox in the order queued.
   * Pipelined: the next record waits only until this one is handed to the outbox (its seq taken,
   * its bytes queued), not for the outbox's fsync, so records queued together share one fsync
   * instead of waiting for each other's (issue 13: an event's lifecycle change, start and first
   * location went through three fsyncs in a row).
   */
  emit(kind: string, body: Uint8Array, priority: keyof typeof UPLINK_PRIORITY = 'normal'): Promise<void> {
    const time = this.#o.now();
    this.#pending++;
    let appended: Promise<unknown> | undefined;
    const handed = this.#emitting.then(async () => {
      appended = (await this.#handOver(kind, body, priority, time))?.appending;
    });
    this.#emitting = handed.catch(() => undefined);
    return handed
      .then(() => appended)
      .then(() => this.#publisher?.kick())
      .finally(() => {
        this.#pending--;
      });
  }

  /**
   * Waits until the Key's state is durable, seals the record and starts its append (the seq is
   * taken and the bytes queued at once); returns the append's promise (resolved once synced),
   * wrapped, or `undefined` if the endpoint is closed.
   */
  async #handOver(
    kind: string,
    body: Uint8Array,
    priority: keyof typeof UPLINK_PRIORITY,
    time: number,
  ): Promise<{ appending: Promise<unknown> } | undefined> {
    // What the record describes is on the Key's disk first (a host crash cannot make it forget).
    await this.#o.firmware.durable().catch((e) => this.#o.log.warn(`${this.#o.label}: state not synced: ${describeError(e)}`));
    const outbox = this.#outbox;
    if (!outbox || this.#closed) return undefined;
    const id = new Uint8Array(randomBytes(16));
    // The record's seq is the outbox's (persisted, never reused): it keeps increasing across restarts.
    const record = { id, seq: outbox.upcomingSeq + 1, time, kind, priority, body };
    const payload = sealUplink(record, this.#handle, 'up', this.#signer());
    const key = toHex(id);
    this.#unsynced.add(key);
    const appending = outbox
      .append({ id, topic: keyTopic(this.#handle, 'up'), payload, priority })
      .then((r) => this.#noteDrops(r.dropped))
      .finally(() => this.#unsynced.delete(key));
    appending.catch(() => undefined); // awaited by emit(); no unhandled rejection meanwhile
    return { appending }; // wrapped: returning the promise itself would wait for it
  }

  async #lifecycle(from: string, to: string): Promise<void> {
    const handle = this.#currentHandle();
    if (handle !== this.#handle) {
      // A new identity (factory reset): a new trust event under a new handle; clear the old status.
      const old = this.#mqtt;
      if (old?.connected)
        await old.publish(keyTopic(this.#handle, 'status'), new Uint8Array(0), { qos: 1, retain: true }).catch(() => undefined);
      const want = this.#want;
      await this.setRadio(false);
      this.#handle = handle;
      if (want) await this.setRadio(true);
      return;
    }
    await this.emit(
      'lifecycle.changed',
      encode(
        new Map([
          [1, from],
          [2, to],
        ]),
      ),
    ).catch((e) => this.#o.log.warn(`${this.#o.label}: uplink record not queued: ${describeError(e)}`));
  }

  /** Closes links, the broker connection and the outbox. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#offLifecycle();
    clearInterval(this.#sweep);
    clearTimeout(this.#retry);
    this.#want = false;
    await this.#busy;
    await this.#disconnect();
    this.#closed = true;
    await this.#outbox?.close();
  }
}
