/**
 * The Key facade's connection: its options ({@link OpenKeyOptions}), opening a client to an
 * address (transport from the address, `hello`, capabilities) once or with capped exponential
 * backoff and jitter, and {@link KeyConnection}, which holds the link and the known-host session
 * of one facade (the client while connected, its event subscription, the session and the role
 * pinned for it, whether the facade is closed).
 * @module
 */
import { isRevoked, type RevocationList } from '@enigm/attestation';
import { toHex } from '@enigm/protocols/bytes';
import type { HostRole, Message } from '@enigm/protocols/messages';
import { type ClientStats, KeyClient, type KeyClientOptions } from '../client/key-client.ts';
import type { HostKey, KnownKeys } from '../session/host-store.ts';
import type { SecureSession } from '../session/secure-session.ts';
import { type TransportAddressOptions, transportFromAddress } from '../transport/open.ts';
import type { Transport } from '../transport/transport.ts';
import { type BackoffOptions, realSleep, retryWithBackoff } from './backoff.ts';
import { KeyFacadeError } from './errors.ts';
import { type NamedKey, openKnownSession } from './pinning.ts';

/** Options of {@link openKey}. */
export interface OpenKeyOptions {
  /** Serial baud rate (serial addresses only; default 115200). */
  baudRate?: number;
  /** Per-request timeout, ms (default: the client's). */
  timeoutMs?: number;
  /** Retries after a timeout (default: the client's). */
  retries?: number;
  /** Further client options (timers, max frame, first id). */
  client?: Omit<KeyClientOptions, 'timeoutMs' | 'retries'>;
  /** This host's static key, or the path of its PEM (default `$ENIGM_HOME/host-key.pem`, created if missing). */
  hostKey?: HostKey | string;
  /** The known-Keys store, or its path (default `$ENIGM_HOME/known-keys.json`). */
  known?: KnownKeys | string;
  /** Makes the transport for the address (default {@link transportFromAddress}). */
  transport?: (address: string) => Transport;
  /** For `mqtt://` and `mqtts://` addresses: this host's broker name and TLS material. */
  mqtt?: TransportAddressOptions['mqtt'];
  /** Reconnect backoff (after a reboot or a lost link). */
  reconnect?: BackoffOptions;
  /** Uniform random number in [0, 1) for jitter (default Math.random). */
  random?: () => number;
  /** Waits between reconnect attempts (default: real timers). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Wall clock for evidence timing and event stamps, ms (default Date.now). */
  now?: () => number;
  /** Random bytes for nonces (default node:crypto). */
  randomBytes?: (n: number) => Uint8Array;
  /**
   * The Key the user expects at this address (identity and/or handle, hex). Pairing and sessions
   * check it against the Key's signed binding and stop with `KEY_IDENTITY_MISMATCH` otherwise;
   * sessions only try pins that match it. Name the Key whenever this host has paired with more
   * than one.
   */
  expect?: NamedKey;
  /**
   * A revocation list the caller has verified (`verifyRevocationList`: trusted key, fresh, not
   * rolled back). A session with a Key whose authenticated identity is on it fails with
   * `KEY_REVOKED_BY_LIST`, except the one {@link Key.retire} opens (the owner may still wipe it).
   */
  revocation?: RevocationList;
}

/**
 * Opens a client to `address`: once when the attempts (`backoff`, else the options' `reconnect`)
 * are 1, otherwise with backoff (the options' `reconnect`, `random`, `sleep`); a bad address is
 * not retried.
 * @throws KeyFacadeError `KEY_RECONNECT_FAILED` (last error as `cause`), `KEY_ABORTED`;
 *   the transport's and client's errors when tried once
 */
export async function connectKeyClient(
  address: string,
  o: OpenKeyOptions,
  signal?: AbortSignal,
  backoff?: BackoffOptions,
): Promise<KeyClient> {
  const attempts = backoff?.attempts ?? o.reconnect?.attempts;
  const connect = async () => {
    const transport = (
      o.transport ??
      ((a: string) =>
        transportFromAddress(a, { ...(o.baudRate ? { baudRate: o.baudRate } : {}), ...(o.mqtt ? { mqtt: o.mqtt } : {}) }))
    )(address);
    return KeyClient.connect(transport, {
      ...o.client,
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      ...(o.retries !== undefined ? { retries: o.retries } : {}),
    });
  };
  return attempts === 1
    ? connect()
    : retryWithBackoff(
        connect,
        { ...o.reconnect, ...backoff },
        {
          random: o.random ?? Math.random,
          sleep: o.sleep ?? realSleep,
          ...(signal ? { signal } : {}),
          retryable: (e) => !(e instanceof Error && (e as { code?: string }).code === 'TRANSPORT_BAD_ADDRESS'),
        },
      );
}

/** This host's static key and known-Keys store, as the facade loads them (on first use). */
export interface HostPins {
  hostKey: HostKey;
  known: KnownKeys;
}

/** Link counters summed over every connection a facade made, and how many connections that was. */
export interface LinkTotals extends ClientStats {
  /** Connections opened (a flash makes a second one after the Key's test boot). */
  readonly connections: number;
}

const STAT_NAMES = ['framesSent', 'framesReceived', 'badFrames', 'strayResponses', 'retries', 'keepalives'] as const;

/**
 * The link and known-host session of one Key facade. The facade's methods run through it; it
 * ends the session before the link, and refuses everything once closed (`KEY_CLOSED_FACADE`).
 */
export class KeyConnection {
  readonly #address: string;
  readonly #options: OpenKeyOptions;
  readonly #onEvent: (m: Message) => void;
  readonly #pins: () => HostPins;
  #client: KeyClient | undefined;
  #unsubscribe: (() => void) | undefined;
  #session: SecureSession | undefined;
  #role: HostRole | undefined;
  #closed = false;
  /** Counters of the links already closed, and how many links were opened. */
  readonly #earlier: ClientStats = {
    framesSent: 0,
    framesReceived: 0,
    badFrames: 0,
    strayResponses: 0,
    retries: 0,
    keepalives: 0,
  };
  #connections = 0;

  /**
   * @param onEvent - receives every event the Key sends, across reconnects
   * @param pins - this host's key and known-Keys store (called when a session is opened)
   */
  constructor(address: string, options: OpenKeyOptions, onEvent: (m: Message) => void, pins: () => HostPins) {
    this.#address = address;
    this.#options = options;
    this.#onEvent = onEvent;
    this.#pins = pins;
  }

  /** The role this host holds on the Key, as pinned (known once a session opened). */
  get role(): HostRole | undefined {
    return this.#role;
  }

  /**
   * The pinned role, opening the known-host session first if none is open (the handshake sends no
   * request; a Key on the revocation list is let through here, its request is refused later).
   * Undefined when no session opens for this host (`KEY_NOT_PAIRED`, `KEY_HOST_UNKNOWN`: unpaired
   * or wiped), for the caller's request to fail with that error itself.
   * @throws other errors of {@link KeyConnection.session} (transport, closed)
   */
  async pinnedRole(): Promise<HostRole | undefined> {
    if (this.#role !== undefined) return this.#role;
    try {
      await this.session(true);
    } catch (e) {
      if (e instanceof KeyFacadeError && (e.code === 'KEY_NOT_PAIRED' || e.code === 'KEY_HOST_UNKNOWN')) return undefined;
      throw e;
    }
    return this.#role;
  }

  /** Forgets the pinned role (this host was unpaired, or the Key was wiped). */
  forgetRole(): void {
    this.#role = undefined;
  }

  /**
   * The connected client.
   * @throws {@link KeyFacadeError} `KEY_CLOSED_FACADE` after close (or before a connection)
   */
  client(): KeyClient {
    if (this.#closed || !this.#client) throw new KeyFacadeError('KEY_CLOSED_FACADE', 'the Key object is closed');
    return this.#client;
  }

  /** Counters of every link this connection opened (the closed ones and the current one), summed. */
  linkTotals(): LinkTotals {
    const now = this.#client?.stats;
    const sum = { ...this.#earlier };
    if (now) for (const k of STAT_NAMES) sum[k] += now[k];
    return { ...sum, connections: this.#connections };
  }

  /**
   * The open known-host session, opened if needed (Noise IK to the pinned static key). With the
   * options' `revocation`, a listed Key's session is closed and refused unless `allowRevoked`.
   * @throws {@link KeyFacadeError} `KEY_NOT_PAIRED`, `KEY_HOST_UNKNOWN`, `KEY_REVOKED_BY_LIST`
   */
  async session(allowRevoked: boolean): Promise<SecureSession> {
    let session = this.#session;
    if (!session?.isOpen) {
      const r = await openKnownSession(this.client(), this.#pins(), this.#options.expect);
      session = r.session;
      this.#session = session;
      this.#role = r.pin.role;
    }
    const list = this.#options.revocation;
    const entry = list && !allowRevoked ? isRevoked(list, { identityKey: session.peer.identity }) : undefined;
    if (entry) {
      await this.dropSession();
      throw new KeyFacadeError(
        'KEY_REVOKED_BY_LIST',
        `the Key ${toHex(session.peer.identity)} is on the revocation list (version ${list?.version}, reason ${entry.reason}): only retire is allowed`,
      );
    }
    return session;
  }

  /** Ends the session (best effort; the link stays). */
  async dropSession(): Promise<void> {
    const s = this.#session;
    this.#session = undefined;
    if (s?.isOpen) await s.close().catch(() => {});
  }

  /** Closes the link; `endSession` false skips telling the Key (it rebooted: its sessions ended). */
  async dropLink(endSession = true): Promise<void> {
    if (endSession) await this.dropSession();
    this.#session = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    const c = this.#client;
    this.#client = undefined;
    if (c) for (const k of STAT_NAMES) this.#earlier[k] += c.stats[k];
    await c?.close().catch(() => {});
  }

  /**
   * Closes the current link and opens a new one ({@link connectKeyClient}).
   * @throws {@link KeyFacadeError} `KEY_RECONNECT_FAILED`, `KEY_ABORTED`, `KEY_CLOSED_FACADE`
   */
  async reconnect(signal?: AbortSignal, backoff?: BackoffOptions): Promise<void> {
    if (this.#closed) throw new KeyFacadeError('KEY_CLOSED_FACADE', 'the Key object is closed');
    await this.dropLink();
    const client = await connectKeyClient(this.#address, this.#options, signal, backoff);
    if (this.#closed) {
      await client.close();
      throw new KeyFacadeError('KEY_CLOSED_FACADE', 'the Key object was closed while reconnecting');
    }
    this.#client = client;
    this.#connections++;
    this.#unsubscribe = client.onEvent(this.#onEvent);
  }

  /**
   * Ends the session (best effort) and closes the link, once.
   * @returns false when it was already closed
   */
  async close(): Promise<boolean> {
    if (this.#closed) return false;
    this.#closed = true;
    await this.dropLink();
    return true;
  }
}
