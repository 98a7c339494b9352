/**
 * The Key firmware model: pure logic, no I/O. It boots from injected storage, keeps the lifecycle
 * state and paired hosts, and runs commands. Links (one per connection) are
 * {@link LinkContext}s from {@link KeyFirmware.connect}. Time and randomness are injected, so
 * tests are deterministic and the simulator can run faster than real time. Commands run through
 * the dispatch table (`commands.ts`) against the Key's {@link KeyOps} view (`key-ops.ts`).
 * @module
 */

import { createHash } from 'node:crypto';
import { bytesEqual } from '@enigm/protocols/bytes';
import {
  encodeMessage,
  HOST_KEY_ID_LENGTH,
  type HostRole,
  type LifecycleState,
  type Message,
  MIN_FRAME_PAYLOAD,
  PROTOCOL_VERSION,
} from '@enigm/protocols/messages';
import { checkChain, replaceChain } from './certificate.ts';
import { asRequest, dispatch, type KeyOps } from './commands.ts';
import { PROTOCOL_EMERGENCY_CRYPTO } from './emergency-crypto.ts';
import { EmergencyEngine } from './emergency-engine.ts';
import {
  type BatteryStatus,
  type Clock,
  type CommandResult,
  DEFAULT_FIRMWARE_CONFIG,
  type EventListener,
  type FirmwareConfig,
  type FirmwareDeps,
  type LifecycleListener,
  type RandomSource,
  type RequestContext,
  type RunningImage,
} from './firmware-types.ts';
import { KeyFlash } from './key-flash.ts';
import { keyOpsOf } from './key-ops.ts';
import { type LifecycleEvent, nextState } from './lifecycle.ts';
import { LinkContext } from './link-context.ts';
import { isWireError, type WireError, wireError } from './result.ts';
import { type SecureElement, wipeSecureElement } from './secure-element.ts';
import type { SessionHost } from './sessions.ts';
import { type KeyStorage, loadPersistent, MAX_PAIRED_HOSTS, type Persistent, savePersistent } from './storage.ts';

/**
 * A host's key id: the first {@link HOST_KEY_ID_LENGTH} bytes of SHA-256 of its static public key
 * (what `hosts.remove` names and `enigm key hosts` shows).
 */
export function hostKeyId(publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(publicKey).digest()).subarray(0, HOST_KEY_ID_LENGTH);
}

export * from './firmware-types.ts';

/** A simulated Key's firmware. */
export class KeyFirmware implements SessionHost {
  readonly config: FirmwareConfig;
  #secureElement: SecureElement;
  readonly #seStorage: KeyStorage | undefined;
  #battery: BatteryStatus;
  readonly #lifecycleListeners = new Set<LifecycleListener>();
  readonly #configDigest: Uint8Array;
  readonly #flash: KeyFlash | undefined;
  readonly #links = new Set<LinkContext>();
  readonly #storage: KeyStorage;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #ops: KeyOps;
  #persistent: Persistent;
  #bootedAt: number;
  #pairingUntil = -1;
  /** Wall clock minus the monotonic clock, once `time.set` ran this boot. */
  #wallOffset: number | undefined;
  readonly #listeners = new Set<EventListener>();
  /** The emergency events and contact set (`emergency-engine.ts`). */
  readonly emergency: EmergencyEngine;

  /**
   * Boots the Key: loads its persistent record (or manufactures a blank Key) and counts the boot.
   * @throws ProtocolError if stored state is corrupt
   */
  constructor(deps: FirmwareDeps) {
    this.config = { ...DEFAULT_FIRMWARE_CONFIG, ...deps.config };
    if (this.config.maxFrame < MIN_FRAME_PAYLOAD) throw new RangeError(`maxFrame must be ≥ ${MIN_FRAME_PAYLOAD}`);
    if (this.config.window < 1) throw new RangeError('window must be ≥ 1');
    this.#configDigest =
      this.config.firmwareDigest ??
      new Uint8Array(createHash('sha256').update(`enigm-key-firmware ${this.config.firmware}`).digest());
    this.#secureElement = deps.secureElement;
    this.#seStorage = deps.secureElementStorage;
    this.#battery = { level: this.config.batteryPct, charging: false, critical: false };
    this.#storage = deps.storage;
    this.#clock = deps.clock;
    this.#random = deps.random;
    const stored = loadPersistent(deps.storage);
    // The security counter lives in the flash status ring only: a legacy copy here is dropped.
    const { securityCounter: _legacy, ...kept } = stored ?? {
      handle: deps.random(16),
      state: 'factory' as const,
      bootCount: 0,
      hosts: [],
    };
    this.#persistent = { ...kept, bootCount: kept.bootCount + 1 };
    this.#save();
    this.#flash = deps.flash ? new KeyFlash(deps.flash, this.config.model) : undefined;
    this.#bootedAt = this.#clock.now();
    this.emergency = new EmergencyEngine(
      {
        now: () => this.#clock.now(),
        wallClockMs: () => this.wallClockMs,
        random: (n) => this.#random(n),
        persistent: () => this.#persistent,
        save: (next) => savePersistent(this.#storage, (this.#persistent = next)),
        sign: (m) => this.#secureElement.sign(m),
        state: () => this.state,
        transition: (e) => this.transition(e),
        battery: () => this.#battery,
        sendEvent: (bytes) => {
          for (const l of this.#listeners) l(bytes);
        },
      },
      deps.emergencyCrypto ?? PROTOCOL_EMERGENCY_CRYPTO,
    );
    this.#ops = keyOpsOf(this, {
      flash: this.#flash,
      secureElement: () => this.#secureElement,
      pair: (hostKey, role, label) => this.#pair(hostKey, role, label),
    });
    this.#syncUpdate();
    this.emergency.boot();
  }

  /**
   * The lifecycle's `updating` state follows the flash: a dormant Key that boots an image on test
   * is `updating` (`update.begin`) until the image is confirmed or the revert has booted
   * (`update.end`). A factory Key keeps `factory` through provisioning updates.
   */
  #syncUpdate(): void {
    const onTest = this.#flash?.onTest ?? false;
    if (onTest && this.state === 'dormant') this.transition('update.begin');
    else if (!onTest && this.state === 'updating') this.transition('update.end');
  }

  /** The secure element (replaced by a factory reset). */
  get secureElement(): SecureElement {
    return this.#secureElement;
  }

  /** Version of the running firmware (from the running image's manifest when the Key has flash). */
  get firmwareVersion(): string {
    return this.running.version;
  }

  /** SHA-256 of the running firmware image. */
  get firmwareDigest(): Uint8Array {
    return this.running.digest;
  }

  /** The image running now: version, digest and its own security counter (what evidence reports). */
  get running(): RunningImage {
    const r = this.#flash?.running;
    return r
      ? { version: r.version, digest: r.payloadDigest, securityCounter: r.securityCounter }
      : { version: this.config.firmware, digest: this.#configDigest, securityCounter: this.config.securityCounter };
  }

  /**
   * Reboots: the bootloader runs (finishing or reverting updates), uptime restarts, the boot is
   * counted, and every link forgets its sessions and negotiation (hosts must `hello` again).
   */
  reboot(): void {
    this.#persistent = { ...this.#persistent, bootCount: this.#persistent.bootCount + 1 };
    this.#save();
    this.#flash?.boot();
    this.#bootedAt = this.#clock.now();
    this.#wallOffset = undefined;
    for (const l of this.#links) l.reset();
    this.#syncUpdate();
    this.emergency.boot();
  }

  /**
   * Power lost: every link forgets its sessions and negotiation, the pairing window closes. The
   * physical model calls it; {@link KeyFirmware.reboot} is the boot when power returns.
   */
  powerOff(): void {
    this.#pairingUntil = -1;
    this.#wallOffset = undefined;
    for (const l of this.#links) l.reset();
  }

  /** Whether the Key can be factory reset (it was given its secure element's storage). */
  get canFactoryReset(): boolean {
    return this.#seStorage !== undefined;
  }

  /**
   * Factory reset (the confirmed reset gesture): paired hosts are forgotten, the secure element
   * generates a new identity and static key, a new device handle is drawn, the pairing window
   * closes, links forget their sessions, and the lifecycle goes back to `factory` through the
   * table's `factory-reset` row. A new device is a new trust event: no host's pin matches it.
   * The boot count and the installed firmware stay.
   * @returns the state left, or `undefined` if the lifecycle table refuses a reset in this state
   *   or the Key has no secure element storage to wipe (nothing changed then)
   */
  factoryReset(): LifecycleState | undefined {
    const from = this.#persistent.state;
    if (!this.#seStorage || !nextState(from, 'factory-reset')) return undefined;
    this.#wipe(from, 'factory-reset');
    return from;
  }

  /**
   * `retire`: the table's `retire` row (unless a wipe a power cut interrupted left the Key
   * `retired`), then its `wipe` row — the same crypto-wipe as a factory reset: new identity,
   * static key and handle; hosts, certificate chain and sessions gone. Old evidence and pins no
   * longer verify against the new identity.
   * @returns `factory`, or the refusal (`INTERNAL` on a Key without secure element storage)
   */
  retire(): LifecycleState | WireError {
    if (!this.#seStorage) return wireError('INTERNAL', 'this Key cannot wipe its secure element');
    const from = this.#persistent.state;
    if (from !== 'retired' && !this.transition('retire'))
      return wireError(from === 'revoked' ? 'KEY_REVOKED' : 'INVALID_STATE', `retire is not allowed in state ${from}`);
    if (!nextState('retired', 'wipe')) return wireError('INTERNAL', 'the lifecycle table has no wipe');
    this.#wipe('retired', 'wipe');
    return 'factory';
  }

  /** The crypto-wipe of a factory reset or `retire`, announced as `from` → factory by `event`. */
  #wipe(from: LifecycleState, event: 'factory-reset' | 'wipe'): void {
    const seStorage = this.#seStorage;
    if (!seStorage) throw new Error('internal: wipe without secure element storage');
    this.#secureElement = wipeSecureElement(seStorage, this.#random);
    this.#persistent = { handle: this.#random(16), state: 'factory', bootCount: this.#persistent.bootCount, hosts: [] };
    this.#save();
    this.#pairingUntil = -1;
    for (const l of this.#links) l.reset();
    this.#announce(from, 'factory', event);
  }

  /** The paired host whose key id (first 8 bytes of SHA-256 of its public key) is `keyId`. */
  hostByKeyId(keyId: Uint8Array): Persistent['hosts'][number] | undefined {
    return this.#persistent.hosts.find((h) => bytesEqual(hostKeyId(h.publicKey), keyId));
  }

  /**
   * Unpairs `hostKey` (durably). Its open sessions lose their role at their next request (the
   * link re-reads the paired hosts); a Key left without hosts is pairable again (first contact).
   */
  removeHost(hostKey: Uint8Array): { role: HostRole; hosts: number } | WireError {
    const host = this.#persistent.hosts.find((h) => bytesEqual(h.publicKey, hostKey));
    if (!host) return wireError('HOST_NOT_FOUND');
    const hosts = this.#persistent.hosts.filter((h) => h !== host);
    this.#persistent = { ...this.#persistent, hosts };
    this.#save();
    return { role: host.role, hosts: hosts.length };
  }

  /** Sets what the battery reports (info's `batteryPct`; a critical battery refuses `fw.begin`). */
  setBattery(status: BatteryStatus): void {
    this.#battery = { ...status };
    this.emergency.setBattery(this.#battery);
  }

  /** What the battery reports now. */
  get battery(): BatteryStatus {
    return this.#battery;
  }

  /** Subscribes to lifecycle changes (typed). Returns the unsubscribe function. */
  onLifecycle(listener: LifecycleListener): () => void {
    this.#lifecycleListeners.add(listener);
    return () => this.#lifecycleListeners.delete(listener);
  }

  /** Current lifecycle state. */
  get state(): LifecycleState {
    return this.#persistent.state;
  }

  /** The device handle (public, privacy-preserving). */
  get handle(): Uint8Array {
    return this.#persistent.handle.slice();
  }

  /** Boots since manufacture. */
  get bootCount(): number {
    return this.#persistent.bootCount;
  }

  /**
   * Installed firmware security counter: the flash status ring's (advanced only by confirming an
   * update); on a Key without updatable flash, the configured one.
   */
  get securityCounter(): number {
    return this.#flash?.securityCounter ?? this.config.securityCounter;
  }

  /** The Key's certificate chain (DER, leaf first), once provisioned; a factory reset drops it. */
  get certificateChain(): readonly Uint8Array[] | undefined {
    return this.#persistent.certChain;
  }

  /** The wall clock (ms since the Unix epoch) as the last `time.set` of this boot set it, or `undefined`. */
  get wallClockMs(): number | undefined {
    return this.#wallOffset === undefined ? undefined : this.#clock.now() + this.#wallOffset;
  }

  /** Sets the wall clock until the next boot (`time.set`): the Key keeps no trusted time across boots. */
  setTime(unixMs: number): void {
    this.#wallOffset = unixMs - this.#clock.now();
  }

  /**
   * Checks a certificate chain (`certificate.ts`) and stores it in the persistent record, which
   * the storage replaces atomically: after a power cut the Key has the old record or the new one.
   * A Key that holds a chain takes only a newer one (`CERT_STALE`); the same chain is a no-op.
   */
  installChain(chain: readonly Uint8Array[]): { notAfter: number } | WireError {
    const r = checkChain(chain, this.#secureElement.identityPublicKey, this.wallClockMs);
    if (isWireError(r)) return r;
    const replace = replaceChain(this.#persistent.certChain, r);
    if (typeof replace !== 'string') return replace;
    if (replace === 'same') return { notAfter: r.notAfter.getTime() }; // a retried install: nothing to write
    const next = { ...this.#persistent, certChain: r.chain };
    savePersistent(this.#storage, next); // stored first: a failed write changes nothing, not even memory
    this.#persistent = next;
    return { notAfter: r.notAfter.getTime() };
  }

  /** Resolves once every stored change so far is durable (`runtime/file-storage.ts`); the uplink awaits it. */
  async durable(): Promise<void> {
    await Promise.all([this.#storage.synced?.(), this.#seStorage?.synced?.()]);
  }

  /** Milliseconds since boot. */
  uptimeMs(): number {
    return Math.max(0, Math.floor(this.#clock.now() - this.#bootedAt));
  }

  /** Random bytes (the Key's randomness source). */
  random(n: number): Uint8Array {
    return this.#random(n);
  }

  /** Paired hosts. */
  hosts(): Persistent['hosts'] {
    return this.#persistent.hosts;
  }

  /** Records the last IK timestamp accepted from a host. */
  setLastIk(hostKey: Uint8Array, timestamp: number): void {
    this.#persistent = {
      ...this.#persistent,
      hosts: this.#persistent.hosts.map((h) => (bytesEqual(h.publicKey, hostKey) ? { ...h, lastIk: timestamp } : h)),
    };
    this.#save();
  }

  /**
   * Opens the pairing window for `ms` (the user's pairing gesture on a real Key; the simulator's
   * control API here). While it is open, a new host may pair even if the Key has hosts.
   */
  openPairingWindow(ms: number): void {
    this.#pairingUntil = this.#clock.now() + ms;
  }

  /**
   * Whether a new host may pair now (no host yet, or the pairing window is open). Only then does
   * the Key show its identity and handle to a peer it has not authenticated (XX, cleartext info).
   */
  get pairable(): boolean {
    return this.#persistent.hosts.length === 0 || this.#clock.now() <= this.#pairingUntil;
  }

  /** When the open pairing window closes (this Key's clock), or `undefined` if it is closed. */
  get pairingWindowUntil(): number | undefined {
    return this.#clock.now() <= this.#pairingUntil ? this.#pairingUntil : undefined;
  }

  /** Subscribes to the records of emergency events (for the uplink). Returns the unsubscribe function. */
  onEmergencyRecord(listener: (record: Uint8Array) => void): () => void {
    return this.emergency.onRecord(listener);
  }

  /** Subscribes to encoded event messages. Returns the unsubscribe function. */
  onEvent(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Opens a link context (one per connection).
   * @param transport - transport name bound into session prologues (`serial`, `tcp`, …)
   */
  connect(transport = 'serial'): LinkContext {
    const ctx = new LinkContext(this, transport);
    this.#links.add(ctx);
    return ctx;
  }

  /** Forgets a link (its connection closed). */
  disconnect(ctx: LinkContext): void {
    this.#links.delete(ctx);
  }

  /**
   * Applies a lifecycle event, persists it and announces it.
   * @returns the new state, or `undefined` if the transition table does not allow it
   */
  transition(event: LifecycleEvent): LifecycleState | undefined {
    const from = this.#persistent.state;
    const to = nextState(from, event);
    if (!to) return undefined;
    this.#persistent = { ...this.#persistent, state: to };
    this.#save();
    this.#announce(from, to, event);
    return to;
  }

  /** Sends `lifecycle.changed` on every link and tells the typed listeners. */
  #announce(from: LifecycleState, to: LifecycleState, event: LifecycleEvent): void {
    const ev = encodeMessage({ version: PROTOCOL_VERSION, name: 'lifecycle.changed', body: { from, to } });
    for (const l of this.#listeners) l(ev);
    this.emergency.onLifecycle(from, to);
    for (const l of this.#lifecycleListeners) l(from, to, event);
  }

  /**
   * Runs one validated request through the dispatch table (`commands.ts`): access table, then
   * lifecycle table, then its handler. Never throws for a refusal: refusals are wire errors.
   * @param ctx - the session of an inner request, or the link of a plain one
   */
  execute(request: Message, ctx: RequestContext = {}): CommandResult {
    const req = asRequest(request);
    if (!req) return wireError('NOT_A_REQUEST');
    const result = dispatch(req, {
      key: this.#ops,
      ...(ctx.session ? { session: ctx.session } : {}),
      ...(ctx.link ? { link: ctx.link } : {}),
    });
    if (req.name === 'fw.confirm' || req.name === 'fw.revert') this.#syncUpdate();
    return result;
  }

  #pair(hostKey: Uint8Array, role: HostRole, label: string | undefined): HostRole | WireError {
    const existing = this.#persistent.hosts.find((h) => bytesEqual(h.publicKey, hostKey));
    if (existing) return existing.role;
    const firstContact = this.#persistent.hosts.length === 0;
    if (!firstContact && this.#clock.now() > this.#pairingUntil) return wireError('NOT_PAIRED');
    if (this.#persistent.hosts.length >= MAX_PAIRED_HOSTS) return wireError('TOO_MANY_HOSTS');
    const host = { publicKey: hostKey.slice(), role, ...(label ? { label } : {}) };
    this.#persistent = { ...this.#persistent, hosts: [...this.#persistent.hosts, host] };
    this.#save();
    this.#pairingUntil = -1;
    return role;
  }

  #save(): void {
    savePersistent(this.#storage, this.#persistent);
  }
}
