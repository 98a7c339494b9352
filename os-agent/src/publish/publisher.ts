/**
 * Publishing posture evidence over MQTT, at least once, through the durable outbox.
 *
 * - Every report is appended to the outbox (`@enigm/mqtt/outbox`, fsync before the append
 *   resolves) with the report id as its outbox id, then drained in order by an
 *   {@link OutboxPublisher} with QoS 1; an entry leaves the outbox only when the broker
 *   acknowledged it. `kill -9` at any point loses nothing: a report not yet acknowledged is sent
 *   again after the restart, and consumers drop the duplicate by its id (`Deduplicator` of `@enigm/mqtt`).
 * - **Bounded, with a drop policy**: at most `maxRecords` reports and `maxBytes` bytes are held
 *   (default 2,000 and 8 MiB: about a week of 5-minute reports); when full, the *oldest* report is
 *   dropped (a newer report supersedes it) and counted; reports older than `maxAgeMs` (default 7
 *   days) are dropped too. A damaged outbox file is repaired at open: bad regions are moved to
 *   `<outbox>.quarantine`, good entries kept (`report` says how many).
 * - **Reconnects** with capped exponential backoff and full jitter (`fullJitterDelay`), also for
 *   the first connection (the broker may be down when the agent starts).
 * - **Certificates**: the client certificate is checked before each attempt
 *   (`checkClientCertificate`): not yet valid (often a wrong clock), expired, or expiring within
 *   `certWarnDays` is reported in {@link PublisherStatus.certificate} and to `onEvent`.
 * - Subscribes to its own `challenge` and `policy` topics and hands what arrives to the agent.
 * @module
 */
import {
  checkClientCertificate,
  fullJitterDelay,
  MqttError,
  MqttLink,
  type MqttLinkOptions,
  OutboxPublisher,
  type ReconnectBackoff,
} from '@enigm/mqtt';
import { Outbox, type OutboxReport } from '@enigm/mqtt/outbox';
import { keyTopic } from '@enigm/protocols/mqtt';
import { AgentError } from '../errors.ts';

/** The state of the client certificate. */
export interface CertificateState {
  readonly status: 'none' | 'ok' | 'expiring' | 'expired' | 'not-yet-valid' | 'unreadable';
  /** Days of validity left, when known. */
  readonly daysLeft?: number;
}

/** Something worth a log line (never a payload). */
export type PublisherEvent =
  | { readonly kind: 'connected' }
  | { readonly kind: 'disconnected' }
  | { readonly kind: 'retry'; readonly delayMs: number; readonly code: string }
  | { readonly kind: 'certificate'; readonly state: CertificateState }
  | { readonly kind: 'delivered'; readonly pending: number }
  | { readonly kind: 'dropped'; readonly count: number; readonly reason: string };

/** Options of {@link PosturePublisher.open}. */
export interface PosturePublisherOptions {
  /** Broker connection (url, tls, …); `reconnect`, `backoff` and `random` are set here. */
  readonly link: Omit<MqttLinkOptions, 'reconnect'>;
  /** The device handle (`eh1-…`): the topics are its own. */
  readonly handle: string;
  /** The outbox file. */
  readonly outboxPath: string;
  readonly maxRecords?: number;
  readonly maxBytes?: number;
  readonly maxAgeMs?: number;
  readonly backoff?: ReconnectBackoff;
  /** Uniform in [0, 1) for jitter (default Math.random). */
  readonly random?: () => number;
  /** Wall clock for certificate checks (default Date.now). */
  readonly now?: () => number;
  /** Warn when the certificate expires within this many days (default 30). */
  readonly certWarnDays?: number;
  /** A challenge nonce arrived on the device's challenge topic. */
  readonly onChallenge?: (nonce: Uint8Array) => void;
  /** A policy document arrived on the device's policy topic. */
  readonly onPolicy?: (document: Uint8Array) => void;
  readonly onEvent?: (e: PublisherEvent) => void;
}

/** What the publisher reports about itself. */
export interface PublisherStatus {
  readonly connected: boolean;
  readonly pending: number;
  readonly delivered: number;
  readonly dropped: number;
  readonly certificate: CertificateState;
  /** What the outbox open found (recovered, quarantined). */
  readonly outbox: OutboxReport;
}

/** Publishes posture evidence; see the module documentation. */
export class PosturePublisher {
  #o: PosturePublisherOptions;
  #outbox: Outbox;
  #link: MqttLink | undefined;
  #drain: OutboxPublisher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #closed = false;
  #delivered = 0;
  #dropped = 0;
  #cert: CertificateState = { status: 'none' };
  #connecting: Promise<void> | undefined;

  private constructor(o: PosturePublisherOptions, outbox: Outbox) {
    this.#o = o;
    this.#outbox = outbox;
  }

  /**
   * Opens the outbox (repairing it if needed) and starts connecting in the background.
   * @throws {@link AgentError} `PUBLISH_FAILED` when the outbox cannot be opened
   */
  static async open(o: PosturePublisherOptions): Promise<PosturePublisher> {
    keyTopic(o.handle, 'posture'); // validates the handle
    let outbox: Outbox;
    try {
      outbox = await Outbox.open(o.outboxPath, {
        maxRecords: o.maxRecords ?? 2000,
        maxBytes: o.maxBytes ?? 8 * 1024 * 1024,
        maxAgeMs: o.maxAgeMs ?? 7 * 86_400_000,
        lockTimeoutMs: 5000,
      });
    } catch (e) {
      throw new AgentError('PUBLISH_FAILED', `the outbox cannot be opened (${(e as { code?: string }).code ?? 'error'})`, {
        cause: e,
      });
    }
    const p = new PosturePublisher(o, outbox);
    p.#connecting = p.#connect();
    return p;
  }

  /** The posture topic of this device. */
  get topic(): string {
    return keyTopic(this.#o.handle, 'posture');
  }

  #event(e: PublisherEvent): void {
    try {
      this.#o.onEvent?.(e);
    } catch {
      // a logging failure never stops publishing
    }
  }

  #checkCertificate(): void {
    const cert = this.#o.link.tls?.cert;
    let next: CertificateState;
    try {
      const days = checkClientCertificate(cert, (this.#o.now ?? Date.now)());
      next =
        days === undefined
          ? { status: 'none' }
          : days < (this.#o.certWarnDays ?? 30)
            ? { status: 'expiring', daysLeft: days }
            : { status: 'ok', daysLeft: days };
    } catch (e) {
      const code = e instanceof MqttError ? e.code : '';
      next = {
        status: code === 'MQTT_CERT_EXPIRED' ? 'expired' : code === 'MQTT_CERT_NOT_YET_VALID' ? 'not-yet-valid' : 'unreadable',
      };
    }
    if (next.status !== this.#cert.status) this.#event({ kind: 'certificate', state: next });
    this.#cert = next;
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    this.#checkCertificate();
    try {
      const link = await MqttLink.connect({
        ...this.#o.link,
        reconnect: true,
        ...(this.#o.backoff ? { backoff: this.#o.backoff } : {}),
        ...(this.#o.random ? { random: this.#o.random } : {}),
        ...(this.#o.now ? { now: this.#o.now } : {}),
      });
      if (this.#closed) {
        await link.close();
        return;
      }
      this.#link = link;
      this.#attempt = 0;
      link.onState((e) => {
        if (e.state === 'connected') this.#event({ kind: 'connected' });
        else if (e.state === 'disconnected') this.#event({ kind: 'disconnected' });
      });
      link.onMessage((topic, payload) => this.#message(topic, payload));
      await link.subscribe(keyTopic(this.#o.handle, 'challenge'), 1).catch(() => undefined);
      await link.subscribe(keyTopic(this.#o.handle, 'policy'), 1).catch(() => undefined);
      this.#drain = new OutboxPublisher(link, this.#outbox, {
        window: 8,
        onDelivered: () => {
          this.#delivered++;
          this.#event({ kind: 'delivered', pending: this.#outbox.stats().pending });
        },
      });
      this.#event({ kind: 'connected' });
    } catch (e) {
      if (this.#closed) return;
      const delayMs = fullJitterDelay(this.#attempt++, this.#o.backoff, this.#o.random);
      this.#event({ kind: 'retry', delayMs, code: (e as { code?: string }).code ?? 'error' });
      this.#timer = setTimeout(() => {
        this.#connecting = this.#connect();
      }, delayMs);
    }
  }

  #message(topic: string, payload: Uint8Array): void {
    if (topic === keyTopic(this.#o.handle, 'challenge')) {
      if (payload.length >= 8 && payload.length <= 64) this.#o.onChallenge?.(Uint8Array.from(payload));
    } else if (topic === keyTopic(this.#o.handle, 'policy')) {
      if (payload.length > 0 && payload.length <= 64 * 1024) this.#o.onPolicy?.(Uint8Array.from(payload));
    }
  }

  /**
   * Queues evidence for the device's `posture` topic (or `risk`), durably; resolves once it is
   * on disk. The id is the report id: appending the same id twice is a no-op.
   * @throws {@link AgentError} `PUBLISH_FAILED` (outbox full of unsendable entries, or failed)
   */
  async enqueue(payload: Uint8Array, id: Uint8Array, channel: 'posture' | 'risk' = 'posture'): Promise<void> {
    try {
      const r = await this.#outbox.append({ topic: keyTopic(this.#o.handle, channel), payload, id, qos: 1 });
      if (r.dropped.length) {
        this.#dropped += r.dropped.length;
        this.#event({ kind: 'dropped', count: r.dropped.length, reason: r.dropped[0]?.reason ?? 'count' });
      }
    } catch (e) {
      throw new AgentError('PUBLISH_FAILED', `the report could not be queued (${(e as { code?: string }).code ?? 'error'})`, {
        cause: e,
      });
    }
    this.#drain?.kick();
  }

  /** Resolves when nothing is left to send while connected (or the link is down). */
  async idle(): Promise<void> {
    await this.#drain?.idle();
  }

  /** The publisher's state. */
  status(): PublisherStatus {
    return {
      connected: this.#link?.connected === true,
      pending: this.#outbox.stats().pending,
      delivered: this.#delivered,
      dropped: this.#dropped,
      certificate: this.#cert,
      outbox: this.#outbox.report,
    };
  }

  /** Stops publishing and closes the link and the outbox (what is pending stays on disk). Bounded. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#connecting?.catch(() => undefined);
    this.#drain?.stop();
    await this.#drain?.idle();
    await this.#link?.close();
    await this.#outbox.close();
  }
}
