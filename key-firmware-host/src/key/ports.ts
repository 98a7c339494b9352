/**
 * The ports the Key facade hands to its flow modules: what attest ({@link AttestPort}), the
 * emergency operations ({@link EmergencyPort}), the lifecycle operations ({@link LifecyclePort})
 * and the update flow ({@link FlashHost}) need from it, wired to the facade's own calls and its
 * {@link KeyConnection}. Each port is built fresh per operation, as the facade asks for it.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { BodyOf } from '@enigm/protocols/messages';
import type { HostKey } from '../session/host-store.ts';
import type { SecureSession } from '../session/secure-session.ts';
import type { AttestPort } from './attest.ts';
import type { KeyConnection, OpenKeyOptions } from './connection.ts';
import type { EmergencyPort } from './emergency.ts';
import type { FlashHost } from './flash.ts';
import type { LifecyclePort } from './lifecycle.ts';

/** The facade's own calls the ports use (the `Key` itself satisfies it). */
export interface FacadeCalls {
  /** The Key's public info. */
  info(): Promise<BodyOf<'info.response'>>;
  /** The known-host session, opened if needed. */
  session(): Promise<SecureSession>;
  /** This host's static key (loaded or created on first use). */
  readonly hostKey: HostKey;
  /** (Re)connects with backoff. */
  reconnect(signal?: AbortSignal): Promise<void>;
}

/** Builds the facade's ports, one per operation, from its calls, connection and options. */
export class KeyPorts {
  readonly #facade: FacadeCalls;
  readonly #conn: KeyConnection;
  readonly #options: OpenKeyOptions;
  readonly #now: () => number;

  /**
   * @param facade - the facade's calls (read when a port is used or built, not here)
   * @param conn - the facade's connection
   * @param options - the facade's options (`randomBytes` is read at each attest)
   * @param now - the facade's wall clock, ms
   */
  constructor(facade: FacadeCalls, conn: KeyConnection, options: OpenKeyOptions, now: () => number) {
    this.#facade = facade;
    this.#conn = conn;
    this.#options = options;
    this.#now = now;
  }

  /** The port of `attest`: the session, the role read after it opened, the clock, nonce bytes. */
  attest(): AttestPort {
    return {
      session: () => this.#facade.session(),
      role: () => this.#conn.role,
      now: this.#now,
      randomBytes: this.#options.randomBytes ?? ((k: number) => new Uint8Array(randomBytes(k))),
    };
  }

  /** The port of the emergency operations: public info and the session. */
  emergency(): EmergencyPort {
    return { info: () => this.#facade.info(), session: () => this.#facade.session() };
  }

  /**
   * The port of the lifecycle operations.
   * @param allowRevoked - open the session even with a Key on the revocation list (retire only)
   */
  lifecycle(allowRevoked = false): LifecyclePort {
    const conn = this.#conn;
    return {
      info: () => this.#facade.info(),
      session: () => conn.session(allowRevoked),
      hostPublicKey: this.#facade.hostKey.publicKey,
      role: () => conn.pinnedRole(),
    };
  }

  /** The host of the update flow: session, window, drop and reconnect. */
  flash(): FlashHost {
    return {
      session: () => this.#facade.session(),
      window: () => this.#conn.client().link.window,
      drop: () => this.#conn.dropLink(false),
      reconnect: (signal) => this.#facade.reconnect(signal),
    };
  }
}
