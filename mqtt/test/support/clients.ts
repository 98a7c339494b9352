/**
 * Test helper: mqtt.js clients that never hang a test — bounded connect, bounded waits, and a
 * registry that ends every client in `after.always`.
 * @module
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/** Example handles (well-formed `eh1-` + 26 base32 characters). */
export const HANDLE_A = `eh1-${'a'.repeat(26)}`;
export const HANDLE_B = `eh1-${'b'.repeat(26)}`;

/** Rejects after `ms` with `what` unless `p` settles first. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Waits until `cond()` holds, polling every 20 ms, for at most `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sleeps `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Connected clients of a test file, ended together. */
export class ClientPool {
  readonly #clients = new Set<MqttClient>();

  /**
   * Connects (no reconnects, 5 s connect timeout, bounded at 8 s) and remembers the client.
   * @throws the connect error (e.g. a CONNACK refusal: `code` is the return/reason code)
   */
  async connect(url: string, options: IClientOptions = {}): Promise<MqttClient> {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...options });
    this.#clients.add(client);
    client.on('error', () => {});
    try {
      await within(
        new Promise<void>((resolve, reject) => {
          client.once('connect', () => resolve());
          client.once('error', reject);
          client.once('close', () => reject(new Error('connection closed before CONNACK')));
        }),
        8000,
        `connect to ${url}`,
      );
    } catch (e) {
      client.end(true);
      throw e;
    }
    return client;
  }

  /** Ends every client (forced), bounded. */
  async endAll(): Promise<void> {
    const all = [...this.#clients];
    this.#clients.clear();
    await within(Promise.all(all.map((c) => new Promise<void>((r) => c.end(true, {}, () => r())))), 5000, 'end clients').catch(
      () => {},
    );
  }
}

/** Collects the messages a client receives, by topic. */
export function inbox(client: MqttClient): { topic: string; payload: Buffer }[] {
  const got: { topic: string; payload: Buffer }[] = [];
  client.on('message', (topic, payload) => got.push({ topic, payload }));
  return got;
}

/**
 * Subscribes and returns the SUBACK codes in the order of `filters`: the granted QoS, or a failure
 * code (0x80 in MQTT 3.1.1; a reason code ≥ 0x80 such as 0x87 "not authorized" in MQTT 5).
 * mqtt.js rejects a SUBACK holding any failure; the codes are read from that rejection.
 */
export async function subCodes(client: MqttClient, filters: string | string[], qos: 0 | 1 | 2 = 1): Promise<number[]> {
  const list = Array.isArray(filters) ? filters : [filters];
  try {
    const granted = await within(client.subscribeAsync(list, { qos }), 5000, `SUBACK for ${list.join(', ')}`);
    return list.map((f) => granted.find((g) => g.topic === f)?.qos ?? -1);
  } catch (e) {
    const codes = (e as { packet?: { granted?: number[] } }).packet?.granted;
    if (!Array.isArray(codes)) throw e;
    return codes;
  }
}
