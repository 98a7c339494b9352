/**
 * The Key facade: one object per Key that runs the domain flows a host needs — read info, ping,
 * pair (pinning the Key), open a known-host session, attest, activate, flash (the whole update
 * flow), firmware status / confirm / revert, and events — over any transport address.
 *
 * @example
 * const key = await openKey('/dev/ttyACM0');
 * try {
 *   console.log((await key.info()).firmware);
 *   await key.pair('owner');                      // first contact: pins the Key
 *   const { claims } = await key.attest();        // verified under the pinned identity
 *   await key.flash(imageBytes, { onStep: console.log });
 * } finally {
 *   await key.close();
 * }
 * @module
 */
import type { BodyOf, HostRole, LifecycleState } from '@enigm/protocols/messages';
import type { KeyClient } from '../client/key-client.ts';
import { type HostKey, KnownKeys, loadOrCreateHostKey } from '../session/host-store.ts';
import type { SecureSession } from '../session/secure-session.ts';
import { requestEvidence } from './attest.ts';
import type { BackoffOptions } from './backoff.ts';
import { KeyConnection, type LinkTotals, type OpenKeyOptions } from './connection.ts';
import {
  type ContactsInfo,
  type EmergencyEndResult,
  type EmergencyLog,
  endEmergency,
  getContacts,
  readEmergencyLog,
  relayAck,
  setContacts,
} from './emergency.ts';
import { KeyFacadeError } from './errors.ts';
import { EventHub, type EventStreamOptions, type KeyEvent } from './events.ts';
import type { KeyEvidence } from './evidence.ts';
import { type ConfirmResult, confirmFirmware, type RevertResult, revertFirmware } from './firmware.ts';
import { type FirmwareStatus, type FlashOptions, type FlashResult, type ParsedImage, runFlash } from './flash.ts';
import {
  listHosts,
  listRetiredIdentity,
  type PairedHostEntry,
  type RetireRevocation,
  refuseListedKey,
  retireKey,
  runLifecycleOp,
  type UnpairResult,
  unpairHost,
} from './lifecycle.ts';
import { type PairResult, pairAndPin } from './pinning.ts';
import { KeyPorts } from './ports.ts';
import { installCertificate, requestCsr, setKeyTime } from './provision.ts';

export type { LinkTotals, OpenKeyOptions } from './connection.ts';
export type { ConfirmResult, RevertAction, RevertResult } from './firmware.ts';
export type { PairedHostEntry, RetireRevocation, UnpairResult } from './lifecycle.ts';
export { hostKeyIdHex } from './lifecycle.ts';

/**
 * Connects to the Key at `address` and negotiates capabilities. Nothing is written to disk
 * until a call needs the host key (pair, session and what uses it).
 * @param address - `tcp://host:port`, `serial://<path>` or a device path
 * @throws TransportError `TRANSPORT_BAD_ADDRESS`, `TRANSPORT_OPEN_FAILED`; KeyError
 *   `KEY_TIMEOUT`, `KEY_INCOMPATIBLE`
 * @example
 * const key = await openKey('tcp://127.0.0.1:7001', { timeoutMs: 5000 });
 */
export async function openKey(address: string, options: OpenKeyOptions = {}): Promise<Key> {
  const key = new Key(address, options);
  await key.reconnect(undefined, { attempts: 1 });
  return key;
}

/** A connected Key. Create with {@link openKey}; {@link Key.close} it when done. */
export class Key {
  /** The address it was opened with. */
  readonly address: string;
  readonly #options: OpenKeyOptions;
  readonly #events: EventHub;
  readonly #now: () => number;
  readonly #conn: KeyConnection;
  readonly #ports: KeyPorts;
  #hostKey: HostKey | undefined;
  #known: KnownKeys | undefined;

  /** @internal use {@link openKey} */
  constructor(address: string, options: OpenKeyOptions) {
    this.address = address;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#events = new EventHub(this.#now);
    this.#conn = new KeyConnection(
      address,
      options,
      (m) => this.#events.publish(m),
      () => ({ hostKey: this.hostKey, known: this.known }),
    );
    this.#ports = new KeyPorts(this, this.#conn, options, this.#now);
  }

  /** The Key's capabilities from `hello` (model, firmware, state, limits). */
  get hello(): BodyOf<'hello.response'> {
    return this.#conn.client().hello;
  }

  /** The underlying client (for diagnostics and requests the facade does not cover). */
  get client(): KeyClient {
    return this.#conn.client();
  }

  /** Link counters summed over every connection this facade made (a flash reconnects after the test boot). */
  get linkTotals(): LinkTotals {
    return this.#conn.linkTotals();
  }

  /** The role this host holds on the Key, as pinned (known after {@link Key.session}). */
  get role(): HostRole | undefined {
    return this.#conn.role;
  }

  /** This host's static key (loaded or created on first use). */
  get hostKey(): HostKey {
    const h = this.#options.hostKey;
    this.#hostKey ??= typeof h === 'object' ? h : loadOrCreateHostKey(h);
    return this.#hostKey;
  }

  /** The known-Keys store. */
  get known(): KnownKeys {
    const k = this.#options.known;
    this.#known ??= typeof k === 'object' ? k : new KnownKeys(k);
    return this.#known;
  }

  /**
   * The Key's public info.
   * @throws KeyError from the client; {@link KeyFacadeError} `KEY_CLOSED_FACADE` after close
   * @example const { model, firmware, state } = await key.info();
   */
  async info(): Promise<BodyOf<'info.response'>> {
    return this.#conn.client().info();
  }

  /**
   * Pings the Key, optionally with bytes it echoes.
   * @returns round-trip time and the Key's uptime
   * @throws KeyError `KEY_BAD_RESPONSE` if the echo differs, `KEY_TOO_LARGE`, timeouts
   * @example const { rttMs } = await key.ping(new Uint8Array(64));
   */
  async ping(data?: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<{ rttMs: number; uptimeMs: number }> {
    return this.#conn.client().ping(data, options);
  }

  /**
   * Pairs this host with the Key (Noise XX, identity binding verified) and pins the Key's identity
   * and static key in the known-Keys store.
   * @param role - `owner` (default), `provisioning` or `service`
   * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT`, `KEY_IDENTITY_MISMATCH`,
   *   `KEY_REVOKED_BY_LIST` (with `revocation`: the Key is listed; it is paired and pinned, but no
   *   session but retire opens); KeyError `KEY_REJECTED` (e.g. FORBIDDEN when the Key's pairing
   *   window is closed)
   * @example const { identity } = await key.pair('owner', { label: 'build-station' });
   */
  async pair(role: HostRole = 'owner', options: { label?: string } = {}): Promise<PairResult> {
    await this.#conn.dropSession();
    const r = await pairAndPin(
      this.#conn.client(),
      { hostKey: this.hostKey, known: this.known },
      role,
      options.label,
      this.#options.expect,
    );
    refuseListedKey(this.#options.revocation, r.identity); // pinned, but only retire opens
    return r;
  }

  /**
   * The open known-host session (Noise IK to the pinned static key), opened if needed.
   * @throws {@link KeyFacadeError} `KEY_NOT_PAIRED`, `KEY_HOST_UNKNOWN`
   * @example const s = await key.session(); s.peer.identity
   */
  async session(): Promise<SecureSession> {
    return this.#conn.session(false);
  }

  /**
   * Asks the Key for attestation evidence over `nonce` and checks it: signature under the pinned
   * identity, claims form, nonce. Appraise the result against reference values with
   * `appraiseKeyEvidence` from `@enigm/attestation`.
   * @param nonce - 32 bytes (default: fresh random)
   * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT` (nonce length), `KEY_EVIDENCE_INVALID`,
   *   and the errors of {@link Key.session}
   * @example const { claims, evidence } = await key.attest();
   */
  async attest(nonce?: Uint8Array): Promise<KeyEvidence> {
    return requestEvidence(this.#ports.attest(), nonce);
  }

  /**
   * Asks a factory Key for a PKCS#10 request signed by its identity key (owner or provisioning).
   * The request is checked here: it parses, its signature verifies under its key (proof of
   * possession) and the key is the identity pinned for this Key.
   * @returns the request's DER (give it to the CA: `issueFromCsr(ca, csr, { expectedIdentityKey })`)
   * @throws {@link KeyFacadeError} `KEY_CSR_INVALID`, `KEY_IDENTITY_MISMATCH`; KeyError
   *   `KEY_REJECTED` (FORBIDDEN, INVALID_STATE), and the errors of {@link Key.session}
   * @example const der = await key.csr();
   */
  async csr(): Promise<Uint8Array> {
    return requestCsr(await this.session());
  }

  /**
   * Installs the Key's certificate chain (provisioning, factory state). The Key keeps it only if
   * the leaf certifies its own identity key, each certificate is signed by the next, and every
   * one is valid at the Key's time — set it first with {@link Key.setTime}. Stored durably;
   * evidence carries it from then on.
   * @param chainDer - DER certificates, leaf first, then the issuing intermediate
   * @returns the leaf's notAfter
   * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT`; KeyError `KEY_REJECTED` (`CERT_KEY_MISMATCH`,
   *   `CERT_INVALID`, `CERT_NOT_VALID`, `TIME_NOT_SET`, FORBIDDEN, INVALID_STATE)
   * @example await key.setTime(); await key.installCertificate([leaf.der, intermediate.der]);
   */
  async installCertificate(chainDer: readonly Uint8Array[]): Promise<{ notAfter: Date }> {
    return installCertificate(await this.session(), chainDer);
  }

  /**
   * Sets the Key's wall clock until its next boot (provisioning in factory state, or the owner).
   * @param unixMs - ms since the Unix epoch (default: this host's clock)
   * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT`; KeyError `KEY_REJECTED`
   * @example await key.setTime(Date.now());
   */
  async setTime(unixMs?: number): Promise<void> {
    return setKeyTime(await this.session(), unixMs ?? this.#now());
  }

  /**
   * Moves a factory Key to dormant (owner or provisioning).
   * @returns the lifecycle state afterwards
   * @throws KeyError `KEY_REJECTED` (e.g. FORBIDDEN, INVALID_STATE), and the errors of {@link Key.session}
   * @example if ((await key.info()).state === 'factory') await key.activate();
   */
  async activate(): Promise<LifecycleState> {
    return (await (await this.session()).request('activate', {})).state;
  }

  /**
   * The hosts paired with the Key (owner): key id, role, label, whether it is this host, and the
   * static public key (hex; show it only on request).
   * @throws {@link KeyFacadeError} `KEY_FORBIDDEN` (another role), `KEY_REVOKED`, `KEY_INVALID_STATE`
   *   (refused before asking); the errors of {@link Key.session}
   * @example for (const h of await key.hosts()) console.log(h.keyId, h.role, h.self ? '(this host)' : '');
   */
  async hosts(): Promise<PairedHostEntry[]> {
    return listHosts(this.#ports.lifecycle());
  }

  /**
   * Unpairs the host with `hostKeyId` (16 hex digits, from {@link Key.hosts}): the owner any host,
   * another role only itself. Removing itself ends this host's session.
   * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT`, `KEY_REVOKED`, `KEY_INVALID_STATE` (refused
   *   before asking); KeyError `KEY_REJECTED` (`FORBIDDEN`, `HOST_NOT_FOUND`)
   * @example await key.unpair('3f9a0c11d2e4b5a6');
   */
  async unpair(hostKeyId: string | Uint8Array): Promise<UnpairResult> {
    const r = await unpairHost(this.#ports.lifecycle(), hostKeyId);
    if (r.self) {
      await this.#conn.dropSession(); // this host is no longer paired: its session has no role
      this.#conn.forgetRole();
    }
    return r;
  }

  /**
   * dormant → suspended (owner).
   * @returns the lifecycle state afterwards
   * @throws {@link KeyFacadeError} `KEY_FORBIDDEN`, `KEY_INVALID_STATE`, `KEY_REVOKED` (refused
   *   before asking, from the role and lifecycle tables); KeyError `KEY_REJECTED`
   * @example await key.suspend(); // 'suspended'
   */
  async suspend(): Promise<LifecycleState> {
    return runLifecycleOp(this.#ports.lifecycle(), 'suspend');
  }

  /**
   * suspended → dormant (owner).
   * @throws as {@link Key.suspend}
   * @example await key.resume(); // 'dormant'
   */
  async resume(): Promise<LifecycleState> {
    return runLifecycleOp(this.#ports.lifecycle(), 'resume');
  }

  /**
   * → revoked (owner or provisioning): the Key then refuses every session request but retire.
   * @throws as {@link Key.suspend}
   * @example await key.revoke(); // 'revoked'
   */
  async revoke(): Promise<LifecycleState> {
    return runLifecycleOp(this.#ports.lifecycle(), 'revoke');
  }

  /**
   * → retired → factory (owner; provisioning on a revoked Key): the Key crypto-wipes — new
   * identity, static key and handle; hosts, certificate chain and sessions gone. This host's pin
   * no longer matches: the Key is a new trust event (pair again). The wipe ends the link's
   * negotiation too: the facade reconnects (with backoff) before it returns. With `revocation`, the
   * old identity then goes on that list (reason `retired`): old evidence appraised with it is contraindicated.
   * @returns `factory`
   * @throws as {@link Key.suspend}; `KEY_RECONNECT_FAILED`; the list's errors (the Key is wiped by then)
   * @example await key.retire({ revocation: { list, signer, write: (b) => writeFileSync(f, b) } }); // 'factory'
   */
  async retire(options: { revocation?: RetireRevocation } = {}): Promise<LifecycleState> {
    const { state, identity } = await retireKey(this.#ports.lifecycle(true));
    // The wipe ended every session and link negotiation (as a reboot does): hello again.
    this.#conn.forgetRole();
    await this.#conn.dropLink(false);
    await this.reconnect();
    if (options.revocation) await listRetiredIdentity(options.revocation, identity, this.#now());
    return state;
  }

  /**
   * Pushes the owner's signed contact set (`signContactSet`, or `enigm contact set-make`): the Key
   * keeps it if it is newer than the one it holds and signed by the owner key it pinned (the first
   * set accepted pins its signer). Owner only.
   * @returns the version and number of contacts the Key now holds
   * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT`, `KEY_INVALID_STATE`, `KEY_REVOKED` (refused
   *   before asking); `KEY_CONTACTS_STALE`, `KEY_CONTACTS_SIGNER`, `KEY_CONTACTS_INVALID`,
   *   `KEY_FORBIDDEN` (the Key refused); the errors of {@link Key.session}
   * @example await key.setContacts(readFileSync('contacts.cose')); // { version: 2, count: 1 }
   */
  async setContacts(signedSet: Uint8Array): Promise<{ version: number; count: number }> {
    return setContacts(this.#ports.emergency(), signedSet);
  }

  /**
   * The contact set the Key holds: version (`undefined`: none), count and aliases — never keys.
   * Owner only.
   * @throws {@link KeyFacadeError} `KEY_INVALID_STATE`, `KEY_REVOKED`, `KEY_FORBIDDEN`; the errors of {@link Key.session}
   * @example const { version, aliases } = await key.getContacts();
   */
  async getContacts(): Promise<ContactsInfo> {
    return getContacts(this.#ports.emergency());
  }

  /**
   * The Key's bounded emergency log: the last 8 events (id, start, end, outcome — no location
   * after an event ends) and the running one. Owner only.
   * @throws {@link KeyFacadeError} `KEY_INVALID_STATE`, `KEY_REVOKED`, `KEY_FORBIDDEN`; the errors of {@link Key.session}
   * @example const { events, running } = await key.emergencyLog();
   */
  async emergencyLog(): Promise<EmergencyLog> {
    return readEmergencyLog(this.#ports.emergency());
  }

  /**
   * Cancels the running emergency event (a false alarm; triggered or active → cancelled →
   * dormant): the Key sends the signed end record, stops sampling and erases the event key. Owner only.
   * @throws {@link KeyFacadeError} `KEY_INVALID_STATE` (no event running), `KEY_REVOKED` (refused
   *   before asking); `KEY_INVALID_PHASE`, `KEY_FORBIDDEN` (the Key refused); the errors of {@link Key.session}
   * @example const { phase, event } = await key.cancelEmergency(); // phase 'cancelled'
   */
  async cancelEmergency(): Promise<EmergencyEndResult> {
    return endEmergency(this.#ports.emergency(), 'cancel');
  }

  /**
   * Resolves the running emergency event (it is over; active → resolved → dormant). Owner only.
   * @throws as {@link Key.cancelEmergency}; `KEY_INVALID_PHASE` while the event is only triggered
   * @example await key.resolveEmergency(); // { phase: 'resolved', event: '…' }
   */
  async resolveEmergency(): Promise<EmergencyEndResult> {
    return endEmergency(this.#ports.emergency(), 'resolve');
  }

  /**
   * Relays a contact's signed acknowledgement of the running event (`signAck`, or
   * `enigm contact ack`); the Key checks it against the event's contact set and shows it (LED,
   * haptic). Owner or service.
   * @returns the alias of the contact who acknowledged
   * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT`, `KEY_INVALID_STATE`, `KEY_REVOKED` (refused
   *   before asking); `KEY_ACK_INVALID` (another event, a stranger, replayed), `KEY_FORBIDDEN`;
   *   the errors of {@link Key.session}
   * @example const { alias } = await key.relayAck(ackBytes);
   */
  async relayAck(ack: Uint8Array): Promise<{ alias: string }> {
    return relayAck(this.#ports.emergency(), ack);
  }

  /**
   * Runs the whole update flow: upload (resumable) → finish → test boot → reconnect with backoff
   * → health check → confirm. See `runFlash`.
   * @param image - the signed image file's bytes, or a parsed image
   * @throws {@link KeyFacadeError} `KEY_IMAGE_INVALID`, `KEY_HEALTH_FAILED`, `KEY_ABORTED`,
   *   `KEY_RECONNECT_FAILED`; KeyError `KEY_REJECTED` when the Key refuses the image
   * @example
   * const r = await key.flash(readFileSync('app.ekfw'), { onProgress: (p) => bar(p.acked / p.total) });
   */
  flash(image: Uint8Array | ParsedImage, options: FlashOptions = {}): Promise<FlashResult> {
    return runFlash(this.#ports.flash(), image, options);
  }

  /**
   * The Key's firmware slots and update state.
   * @throws the errors of {@link Key.session}
   * @example const { running, testing, nextBoot } = await key.fwStatus();
   */
  async fwStatus(): Promise<FirmwareStatus> {
    return (await this.session()).request('fw.status', {});
  }

  /**
   * Confirms the image on test (or withdraws a pending revert of it). With a confirmed image
   * running the Key is not asked: `confirmed` is false.
   * @throws KeyError `KEY_REJECTED`, the errors of {@link Key.session}
   * @example if (!(await key.confirm()).confirmed) console.log('nothing to confirm');
   */
  async confirm(): Promise<ConfirmResult> {
    return confirmFirmware(await this.session());
  }

  /**
   * Reverts: a test image gives way to the previous one at the next boot; otherwise an upload, or
   * an uploaded image not yet test-booted, is cancelled. With nothing pending, or a revert
   * already requested, the Key is not asked.
   * @throws KeyError `KEY_REJECTED`, the errors of {@link Key.session}
   * @example const { action, status } = await key.revert(); console.log(action, status.nextBoot);
   */
  async revert(): Promise<RevertResult> {
    return revertFirmware(await this.session());
  }

  /**
   * Reboots the Key (its bootloader runs: a pending revert or test boot happens now) and
   * reconnects with backoff.
   * @returns the Key's info after the reboot
   * @throws KeyError `KEY_REJECTED` (e.g. FORBIDDEN for the role), {@link KeyFacadeError}
   *   `KEY_RECONNECT_FAILED`, the errors of {@link Key.session}
   * @example const { firmware } = await key.reboot();
   */
  async reboot(options: { signal?: AbortSignal } = {}): Promise<BodyOf<'info.response'>> {
    await (await this.session()).request('reboot', {}, options.signal ? { signal: options.signal } : {});
    await this.#conn.dropLink(false);
    await this.reconnect(options.signal);
    return this.info();
  }

  /**
   * Events the Key sends (e.g. `lifecycle.changed`, `keepalive`, and during an emergency
   * `emergency.changed` and `emergency.record`: read them with `emergencyEventOf`), across
   * reconnects, until {@link Key.close} or `signal`.
   * @example for await (const ev of key.events({ signal })) console.log(ev.name, ev.body);
   */
  events(options: EventStreamOptions = {}): AsyncIterableIterator<KeyEvent> {
    return this.#events.subscribe(options);
  }

  /**
   * (Re)connects: closes the current link and opens a new one with capped exponential backoff and
   * jitter (the options' `reconnect`, `random`, `sleep`).
   * @throws {@link KeyFacadeError} `KEY_RECONNECT_FAILED` (last error as `cause`), `KEY_ABORTED`,
   *   `KEY_CLOSED_FACADE`; a bad address at once
   */
  async reconnect(signal?: AbortSignal, backoff?: BackoffOptions): Promise<void> {
    return this.#conn.reconnect(signal, backoff);
  }

  /**
   * Ends the session (best effort), closes the link and ends every event stream. Idempotent.
   * @example try { await key.flash(image); } finally { await key.close(); }
   */
  async close(): Promise<void> {
    if (await this.#conn.close()) this.#events.end();
  }
}
