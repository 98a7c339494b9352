/**
 * A Key reached through an MQTT broker: `mqtt://broker[:port]/HANDLE` or `mqtts://…/HANDLE`.
 *
 * The transport publishes the Key protocol's frames unchanged to
 * `enigm/v1/key/{handle}/down/{client}/{link}` and reads the Key's frames from
 * `…/resp/{client}/{link}` (see `@enigm/protocols/mqtt`), so the Key facade, its secure sessions,
 * windows and timeouts run as over serial or TCP: the broker and any other subscriber see only
 * frame headers and session ciphertext. `{client}` is this host's broker name (its username, the
 * certificate CN under mutual TLS) and `{link}` a fresh random name per open, so each open is its
 * own Key connection. Sends are QoS 1 and resolve on the broker's acknowledgement; the stream
 * lifecycle (ordering, bounded queue, loss) is the shared one of `stream.ts`. A broker drop ends
 * the open period (`TRANSPORT_CLOSED`); the Key facade reconnects as it does after a lost cable.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { certificateCommonName, MqttError, MqttLink, type MqttTls, parseBrokerUrl } from '@enigm/mqtt';
import { toHex } from '@enigm/protocols/bytes';
import { isClientName, isHandle, keyTopic, peekStatus } from '@enigm/protocols/mqtt';
import { type StreamConnection, type StreamEvents, StreamTransport, type StreamTransportOptions } from './stream.ts';
import { TransportError } from './transport.ts';

/** Largest frame batch one MQTT message carries (the Key reads at most this per message). */
export const MQTT_TRANSPORT_MAX_PAYLOAD = 16 * 1024;

/** How long an open waits for the Key's retained status after subscribing, ms. */
const STATUS_WAIT_MS = 1500;

/** Options of {@link MqttTransport}. */
export interface MqttTransportOptions extends StreamTransportOptions {
  /** The broker, `mqtt://host[:port]` or `mqtts://host[:port]` (a path is not allowed here). */
  broker: string;
  /** The Key's handle (`eh1-…`). */
  handle: string;
  /**
   * This host's broker name (MQTT username; must equal the certificate CN under mutual TLS).
   * Default: the CN of `tls.cert`, else `ENIGM_MQTT_CLIENT`, else `host-` and 8 random characters.
   */
  client?: string;
  tls?: MqttTls;
  /** Bound of connecting to the broker and subscribing, ms (default 10,000). */
  connectTimeoutMs?: number;
}

/**
 * Splits `mqtt://host[:port]/HANDLE` into the broker URL and the handle.
 * @throws {@link TransportError} `TRANSPORT_BAD_ADDRESS` naming what is wrong
 */
export function parseMqttKeyAddress(address: string): { broker: string; handle: string } {
  let parsed: ReturnType<typeof parseBrokerUrl>;
  try {
    parsed = parseBrokerUrl(address);
  } catch (e) {
    throw new TransportError(
      'TRANSPORT_BAD_ADDRESS',
      `bad Key address: ${(e as Error).message}; use mqtt://broker[:port]/HANDLE`,
      { cause: e },
    );
  }
  if (!isHandle(parsed.path)) {
    throw new TransportError(
      'TRANSPORT_BAD_ADDRESS',
      parsed.path === ''
        ? 'an MQTT Key address needs the Key handle: mqtt://broker[:port]/eh1-…'
        : 'the part after the broker must be a Key handle (eh1- and 26 characters of a-z, 2-7)',
    );
  }
  const host = parsed.host.includes(':') ? `[${parsed.host}]` : parsed.host;
  return { broker: `${parsed.protocol}://${host}:${parsed.port}`, handle: parsed.path };
}

/** A Key link over an MQTT broker; see the module documentation. */
export class MqttTransport extends StreamTransport {
  readonly description: string;
  readonly #options: MqttTransportOptions;
  readonly #client: string;

  /**
   * @throws {@link TransportError} `TRANSPORT_BAD_ADDRESS` for a malformed broker, handle or client name
   */
  constructor(options: MqttTransportOptions) {
    super({ maxPayload: MQTT_TRANSPORT_MAX_PAYLOAD, ...options });
    const { broker, handle } = parseMqttKeyAddress(`${options.broker.replace(/\/+$/, '')}/${options.handle}`);
    const client =
      options.client ??
      certificateCommonName(options.tls?.cert) ??
      process.env.ENIGM_MQTT_CLIENT ??
      `host-${toHex(randomBytes(5))}`;
    if (!isClientName(client)) {
      throw new TransportError(
        'TRANSPORT_BAD_ADDRESS',
        'the MQTT client name must be 1-64 of a-z, 0-9, ".", "_", "-" and not a Key handle',
      );
    }
    this.#options = { ...options, broker, handle };
    this.#client = client;
    this.description = `${broker}/${handle}`;
  }

  /** This host's broker name, as used in the topics. */
  get client(): string {
    return this.#client;
  }

  protected async connect(events: StreamEvents): Promise<StreamConnection> {
    const o = this.#options;
    const link = `l${toHex(randomBytes(8))}`;
    let mqtt: MqttLink;
    try {
      mqtt = await MqttLink.connect({
        url: o.broker,
        username: this.#client,
        reconnect: false,
        connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
        ...(o.tls ? { tls: o.tls } : {}),
      });
    } catch (e) {
      const why = e instanceof MqttError ? `${e.code}: ${e.message}` : String(e);
      throw new TransportError('TRANSPORT_OPEN_FAILED', `cannot reach ${this.description}: ${why}`, { cause: e });
    }
    const down = keyTopic(o.handle, 'down', this.#client, link);
    const resp = keyTopic(o.handle, 'resp', this.#client, link);
    const statusTopic = keyTopic(o.handle, 'status');
    let status: Uint8Array | undefined;
    let statusSeen: (() => void) | undefined;
    let opened = false;
    mqtt.onMessage((topic, payload) => {
      if (topic === resp) events.data(payload);
      else if (topic === statusTopic) {
        status = Uint8Array.from(payload);
        statusSeen?.();
        // Once open, the Key going offline (its clean goodbye, or the last will the broker
        // publishes when its connection drops) ends the link, as a pulled cable does.
        if (opened && (payload.length === 0 || peekStatus(payload)?.online !== true)) {
          events.lost('TRANSPORT_CLOSED', new Error('the Key went offline (its status on the broker)'));
        }
      }
    });
    mqtt.onState((e) => {
      if (e.state === 'disconnected') events.lost('TRANSPORT_CLOSED', new Error('the broker connection dropped'));
    });
    try {
      await mqtt.subscribe(resp, 1);
      // The Key's retained status says at once whether it is there: no status, or its last will,
      // is a clear error now instead of a hello that times out. (A hint: unsigned-checked here.)
      const seen = new Promise<void>((r) => {
        statusSeen = r;
      });
      await mqtt.subscribe(statusTopic, 1);
      await Promise.race([seen, new Promise((r) => setTimeout(r, STATUS_WAIT_MS))]);
    } catch (e) {
      await mqtt.close();
      throw new TransportError('TRANSPORT_OPEN_FAILED', `${this.description}: ${(e as Error).message}`, { cause: e });
    }
    const st = status && status.length > 0 ? peekStatus(status) : undefined;
    if (st === undefined || !st.online) {
      await mqtt.close();
      throw new TransportError(
        'TRANSPORT_OPEN_FAILED',
        st === undefined
          ? `${this.description}: no Key with this handle has been online on this broker (no status); check the handle and that the Key's radio is attached`
          : `${this.description}: the Key is offline (last status ${new Date(st.time).toISOString()}${st.will ? ', its connection dropped' : ''}); try again when its radio is back`,
      );
    }
    opened = true;
    return {
      write: (bytes, done) => {
        mqtt.publish(down, bytes, { qos: 1 }).then(
          () => done(),
          (e: Error) => done(e),
        );
      },
      close: () => mqtt.close(),
      destroy: () => void mqtt.close(),
    };
  }
}
