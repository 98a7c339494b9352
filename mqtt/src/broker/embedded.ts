/**
 * The embedded broker: aedes on a loopback TCP port, with the Enigm ACL ({@link mqttAllowed} over
 * `MQTT_ACL`) enforced in aedes' authenticate / authorizePublish / authorizeSubscribe hooks. For
 * development, the simulator and tests; production runs mosquitto (or a clustered broker) with
 * mutual TLS and the generated ACL file (see `mosquitto.ts` and `examples/mosquitto/`).
 *
 * - **MQTT 3.1.1 (and 3.1) only.** aedes does not speak MQTT 5: a v5 CONNECT is answered with a 3.1.1-format
 *   CONNACK, return code 1 ("unacceptable protocol version"), and the connection is closed. mqtt.js
 *   with `protocolVersion: 5` reports that as an error `Unacceptable protocol version` (code 1) and
 *   a client can fall back to `protocolVersion: 4`.
 * - **Identity is the username, not a secret.** There is no TLS and no password check: the
 *   username names the client. A username that is a handle is a Key (`key` role); any other valid
 *   client name gets the `host` **and** `backend` rights at once — a development convenience, so
 *   one process can drive Keys and read their uplink; pass `roleOf` to give exactly one role. No
 *   username (or one `roleOf` maps to `undefined`) is refused at connect (return code 4 / 5).
 *   That is why it listens on 127.0.0.1 unless `host` is given.
 * - **Client ids belong to their first username** for the broker's lifetime: another username
 *   reusing one is refused (return code 2), so nobody takes over another identity's session and
 *   its queued messages.
 * - **Refusals.** A refused SUBSCRIBE gets the failure return code 0x80 in its SUBACK. A refused
 *   PUBLISH is acknowledged as its QoS requires (MQTT 3.1.1 has no negative acknowledgement;
 *   mosquitto does the same) and dropped: it reaches no subscriber and is never retained. Both are
 *   counted in `stats().refused`; the connection stays up.
 * - **Bounded.** At most `maxQueued` unacknowledged QoS 1/2 messages are kept per persistent
 *   session (offline queue and in flight); beyond that new messages for it are dropped and counted
 *   in `stats().dropped`. aedes also bounds the packets a client may send before its CONNACK (42);
 *   clean sessions have no queue (QoS 1/2 messages go straight to the socket).
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net';
import { isClientName, isHandle, type MqttRole, mqttAllowed } from '@enigm/protocols/mqtt';
import { Aedes, type AedesPublishPacket, type AuthErrorCode, type AuthenticateError, type Client } from 'aedes';

/** Log levels of the embedded broker. */
export type BrokerLogLevel = 'debug' | 'info' | 'warn';

/** Options of {@link startEmbeddedBroker}. */
export interface EmbeddedBrokerOptions {
  /** Address to listen on (default `127.0.0.1`: loopback only). */
  host?: string;
  /** TCP port (default 0: a free port). */
  port?: number;
  /**
   * The role of a username; `undefined` refuses the connection. Default: a handle is a `key`, any
   * other valid client name is a host and a backend at once (see the module notes).
   */
  roleOf?: (username: string | undefined) => MqttRole | undefined;
  /** Unacknowledged QoS 1/2 messages kept per persistent session (default 10,000). */
  maxQueued?: number;
  /** Where the broker's log lines go (default: nowhere). */
  log?: (level: BrokerLogLevel, msg: string) => void;
}

/** Counters of an {@link EmbeddedBroker}. */
export interface EmbeddedBrokerStats {
  /** Clients connected now. */
  clients: number;
  /** PUBLISH packets from clients that the ACL allowed. */
  published: number;
  /** PUBLISH and SUBSCRIBE requests the ACL refused (a refused SUBSCRIBE counts once per filter). */
  refused: number;
  /** Messages not queued for a persistent session because it held `maxQueued` already. */
  dropped: number;
}

/** A running embedded broker. */
export interface EmbeddedBroker {
  /** `mqtt://HOST:PORT`. */
  readonly url: string;
  readonly port: number;
  stats(): EmbeddedBrokerStats;
  /** Closes every client connection and the listener. Idempotent; bounded (a few seconds at most). */
  close(): Promise<void>;
}

/** Default of {@link EmbeddedBrokerOptions.maxQueued}. */
export const EMBEDDED_MAX_QUEUED = 10_000;

/** Where refused publishes are sent instead of their topic: no client can subscribe to it. */
const SINK_TOPIC = '$enigm/refused';

function defaultRoles(username: string | undefined): MqttRole[] {
  if (isHandle(username)) return ['key'];
  if (isClientName(username)) return ['host', 'backend'];
  return [];
}

/** A CONNACK refusal: 2 identifier rejected, 4 bad user name or password, 5 not authorized. */
function refusal(returnCode: 2 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: returnCode as number as AuthErrorCode });
}

interface Identity {
  name: string;
  roles: MqttRole[];
}

type Persistence = {
  outgoingEnqueue(sub: { clientId: string }, packet: unknown): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: unknown): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: unknown): Promise<unknown>;
};

/**
 * Starts the embedded broker and resolves once it listens.
 * @example
 * const broker = await startEmbeddedBroker();
 * const c = mqtt.connect(broker.url, { username: handle, protocolVersion: 4 });
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const maxQueued = options.maxQueued ?? EMBEDDED_MAX_QUEUED;
  if (!Number.isInteger(maxQueued) || maxQueued < 1) throw new RangeError('maxQueued must be a positive integer');
  const log = options.log ?? (() => {});
  const rolesOf = options.roleOf
    ? (u: string | undefined) => {
        const r = options.roleOf?.(u);
        return r ? [r] : [];
      }
    : defaultRoles;
  const identities = new WeakMap<Client, Identity>();
  const owners = new Map<string, string>();
  const counters = { published: 0, refused: 0, dropped: 0 };
  const allowed = (who: Identity, access: 'publish' | 'subscribe', topic: string) =>
    who.roles.some((role) => mqttAllowed({ role, name: who.name }, access, topic));

  const broker = await Aedes.createBroker({
    connectTimeout: 10_000,
    authenticate(client, username, _password, done) {
      if (username === undefined || username === '') {
        log('info', `refused a connection without a username (client id ${JSON.stringify(client.id)})`);
        return done(refusal(4, 'a username is required'), false);
      }
      const roles = rolesOf(username);
      if (roles.length === 0) {
        log('info', `refused username ${JSON.stringify(username.slice(0, 80))}: no role`);
        return done(refusal(5, 'not authorized'), false);
      }
      const owner = owners.get(client.id);
      if (owner !== undefined && owner !== username) {
        log('warn', `refused ${username}: client id ${JSON.stringify(client.id)} belongs to ${owner}`);
        return done(refusal(2, 'client id in use by another identity'), false);
      }
      owners.set(client.id, username);
      identities.set(client, { name: username, roles });
      done(null, true);
    },
    authorizePublish(client, packet, done) {
      const who = client ? identities.get(client) : undefined;
      if (who && allowed(who, 'publish', packet.topic)) {
        counters.published++;
        return done(null);
      }
      counters.refused++;
      log('info', `refused publish by ${who?.name ?? '(no client)'} to ${JSON.stringify(packet.topic.slice(0, 200))}`);
      // Acknowledge and drop: no negative PUBACK in 3.1.1, and an error would close the connection.
      packet.topic = SINK_TOPIC;
      packet.retain = false;
      packet.payload = Buffer.alloc(0);
      done(null);
    },
    authorizeSubscribe(client, sub, done) {
      const who = identities.get(client);
      if (who && allowed(who, 'subscribe', sub.topic)) return done(null, sub);
      counters.refused++;
      log('info', `refused subscribe by ${who?.name ?? '(unknown)'} to ${JSON.stringify(sub.topic.slice(0, 200))}`);
      done(null, null);
    },
    authorizeForward(_client, packet: AedesPublishPacket) {
      return packet.topic === SINK_TOPIC ? null : packet;
    },
  });

  // Bound the per-session queue of unacknowledged QoS 1/2 messages (aedes keeps it unbounded).
  const persistence = (broker as unknown as { persistence: Persistence }).persistence;
  const queued = new Map<string, number>();
  const enqueue = persistence.outgoingEnqueue.bind(persistence);
  const enqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence);
  const clear = persistence.outgoingClearMessageId.bind(persistence);
  persistence.outgoingEnqueue = (sub, packet) => {
    queued.set(sub.clientId, (queued.get(sub.clientId) ?? 0) + 1);
    return enqueue(sub, packet);
  };
  persistence.outgoingEnqueueCombi = (subs, packet) => {
    const kept = subs.filter((s) => {
      const n = queued.get(s.clientId) ?? 0;
      if (n >= maxQueued) {
        counters.dropped++;
        return false;
      }
      queued.set(s.clientId, n + 1);
      return true;
    });
    return kept.length > 0 ? enqueueCombi(kept, packet) : Promise.resolve();
  };
  persistence.outgoingClearMessageId = async (client, packet) => {
    const found = await clear(client, packet);
    if (found) queued.set(client.id, Math.max(0, (queued.get(client.id) ?? 1) - 1));
    return found;
  };
  broker.on('client', (client: Client) => {
    if (client.clean) queued.delete(client.id);
  });
  broker.on('clientError', (client: Client, err: Error) => log('debug', `client ${client.id}: ${err.message}`));
  broker.on('connectionError', (_client: Client, err: Error) => log('debug', `connection: ${err.message}`));
  // aedes emits 'error' for persistence failures; without a listener that would throw.
  (broker as unknown as NodeJS.EventEmitter).on('error', (err: Error) => log('warn', `broker: ${err.message}`));

  const sockets = new Set<Socket>();
  const server: Server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    broker.handle(socket);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    // a taken port: the aedes instance (its heartbeat timer) must not outlive the failed start
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw e;
  }
  server.on('error', (err) => log('warn', `listener: ${err.message}`));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  log('info', `embedded broker on ${urlHost}:${port}`);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      const brokerClosed = new Promise<void>((resolve) => broker.close(() => resolve()));
      const bounded = (p: Promise<void>) => Promise.race([p, new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
      await bounded(brokerClosed);
      for (const s of sockets) s.destroy();
      await bounded(listenerClosed);
    })();
    return closing;
  };

  return {
    url: `mqtt://${urlHost}:${port}`,
    port,
    stats: () => ({ clients: broker.connectedClients, ...counters }),
    close,
  };
}
