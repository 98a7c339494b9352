/**
 * The Key firmware model: pure logic, no I/O. It boots from injected storage, keeps the lifecycle
 * state and paired hosts, and runs commands. Links (one per connection) are
 * {@link LinkContext}s from {@link KeyFirmware.connect}. Time and randomness are injected, so
 * tests are deterministic and the simulator can run faster than real time.
 * @module
 */

import { createHash } from 'node:crypto';
import { bytesEqual } from '@enigm/protocols/bytes';
import {
  type BodyOf,
  chooseVersion,
  encodeMessage,
  type HostRole,
  KEY_ERRORS,
  type KeyErrorName,
  type LifecycleState,
  type Message,
  MIN_FRAME_PAYLOAD,
  PROTOCOL_VERSION,
  PROTOCOL_VERSIONS,
  RESPONSE_OF,
  type RequestName,
} from '@enigm/protocols/messages';
import { checkAccess, type SessionRole } from './access.ts';
import { buildEvidence } from './evidence.ts';
import { CHUNK_OVERHEAD, type FlashDeps, KeyFlash } from './key-flash.ts';
import { commandAllowed, commandAllowedNames, type LifecycleEvent, nextState } from './lifecycle.ts';
import { LinkContext } from './link-context.ts';
import type { SecureElement } from './secure-element.ts';
import type { SessionHost } from './sessions.ts';
import { type KeyStorage, loadPersistent, MAX_PAIRED_HOSTS, type Persistent, savePersistent } from './storage.ts';

/** Injected monotonic clock, milliseconds. */
export interface Clock {
  now(): number;
}

/** Injected randomness: `n` random bytes. */
export type RandomSource = (n: number) => Uint8Array;

/** Static facts and limits of a simulated Key. */
export interface FirmwareConfig {
  model: string;
  hardware: string;
  firmware: string;
  /** SHA-256 of the running firmware image (default: derived from the version string). */
  firmwareDigest?: Uint8Array;
  /** Largest frame payload this Key accepts (advertised in hello). */
  maxFrame: number;
  /** Requests this Key buffers (advertised in hello). */
  window: number;
  /** Battery charge reported in info, percent. */
  batteryPct: number;
}

/** Defaults of the reference Key. */
export const DEFAULT_FIRMWARE_CONFIG: FirmwareConfig = {
  model: 'enigm-key-1',
  hardware: 'rev-b',
  firmware: '1.0.0',
  maxFrame: 4096,
  window: 8,
  batteryPct: 100,
};

/** Dependencies of the firmware model. */
export interface FirmwareDeps {
  storage: KeyStorage;
  secureElement: SecureElement;
  clock: Clock;
  random: RandomSource;
  config?: Partial<FirmwareConfig>;
  /** Updatable flash with its bootloader; without it the Key runs `config.firmware` and refuses updates. */
  flash?: FlashDeps;
}

/** Listener for encoded event messages (sent on every link). */
export type EventListener = (eventBytes: Uint8Array) => void;

/** The session a request runs in, if any. */
export interface RequestContext {
  session?: { hostKey: Uint8Array; role: SessionRole };
}

/** A wire error produced by the firmware. */
export interface WireError {
  error: KeyErrorName;
  reason: string;
}

/** Makes a {@link WireError} with the default reason unless one is given. */
export function wireError(error: KeyErrorName, reason?: string): WireError {
  return { error, reason: reason ?? KEY_ERRORS[error].reason };
}

/** Result of running a command. */
export type CommandResult = { name: string; body: unknown; role?: HostRole; work?: () => boolean } | WireError;

/** A simulated Key's firmware. */
export class KeyFirmware implements SessionHost {
  readonly config: FirmwareConfig;
  readonly secureElement: SecureElement;
  readonly #configDigest: Uint8Array;
  readonly #flash: KeyFlash | undefined;
  readonly #links = new Set<LinkContext>();
  readonly #storage: KeyStorage;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  #persistent: Persistent;
  #bootedAt: number;
  #pairingUntil = -1;
  readonly #listeners = new Set<EventListener>();

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
    this.secureElement = deps.secureElement;
    this.#storage = deps.storage;
    this.#clock = deps.clock;
    this.#random = deps.random;
    const stored = loadPersistent(deps.storage);
    this.#persistent = stored
      ? { ...stored, bootCount: stored.bootCount + 1 }
      : { handle: deps.random(16), state: 'factory', bootCount: 1, hosts: [], securityCounter: 1 };
    this.#save();
    this.#flash = deps.flash ? new KeyFlash(deps.flash, this.config.model, () => this.#persistent.securityCounter) : undefined;
    this.#bootedAt = this.#clock.now();
  }

  /** Version of the running firmware (from the running image's manifest when the Key has flash). */
  get firmwareVersion(): string {
    return this.#flash?.running.version ?? this.config.firmware;
  }

  /** SHA-256 of the running firmware image. */
  get firmwareDigest(): Uint8Array {
    return this.#flash?.running.payloadDigest ?? this.#configDigest;
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
    for (const l of this.#links) l.reset();
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

  /** Firmware security counter (installed; advanced only by confirming an update). */
  get securityCounter(): number {
    return Math.max(this.#persistent.securityCounter, this.#flash?.securityCounter ?? 0);
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
    const ev = encodeMessage({ version: PROTOCOL_VERSION, name: 'lifecycle.changed', body: { from, to } });
    for (const l of this.#listeners) l(ev);
    return to;
  }

  /** Runs one validated request in a context (plain or a session); checks access and state first. */
  execute(request: Message, ctx: RequestContext = {}): CommandResult {
    const name = request.name as RequestName;
    const access = checkAccess(name, ctx.session?.role);
    if (access !== 'ok') return wireError(access);
    if (!commandAllowed(name, this.state)) {
      return wireError(
        'INVALID_STATE',
        `${name} is not allowed in state ${this.state} (allowed in: ${commandAllowedNames(name)})`,
      );
    }
    switch (name) {
      case 'hello': {
        const body = request.body as BodyOf<'hello'>;
        const version = chooseVersion(PROTOCOL_VERSIONS, body.versions);
        if (version === undefined)
          return wireError('UNSUPPORTED_VERSION', `no common protocol version (Key speaks ${PROTOCOL_VERSIONS.join(', ')})`);
        const res: BodyOf<'hello.response'> = {
          version,
          versions: [...PROTOCOL_VERSIONS],
          maxFrame: this.config.maxFrame,
          window: this.config.window,
          features: ['dedup-retry', 'state-events', 'noise-xx', 'noise-ik', 'attest'],
          model: this.config.model,
          firmware: this.firmwareVersion,
          state: this.state,
        };
        return { name: RESPONSE_OF.hello, body: res };
      }
      case 'ping': {
        const body = request.body as BodyOf<'ping'>;
        const res: BodyOf<'ping.response'> = { uptimeMs: this.uptimeMs(), ...(body.data ? { data: body.data } : {}) };
        return { name: RESPONSE_OF.ping, body: res };
      }
      case 'info': {
        const res: BodyOf<'info.response'> = {
          model: this.config.model,
          hardware: this.config.hardware,
          firmware: this.firmwareVersion,
          state: this.state,
          handle: this.handle,
          bootCount: this.bootCount,
          uptimeMs: this.uptimeMs(),
          batteryPct: this.config.batteryPct,
        };
        return { name: RESPONSE_OF.info, body: res };
      }
      case 'activate': {
        const to = this.transition('activate');
        if (!to) return wireError('INVALID_STATE', `activate is not allowed in state ${this.state}`);
        return { name: RESPONSE_OF.activate, body: { state: to } };
      }
      case 'pair':
        return this.#pair(request.body as BodyOf<'pair'>, ctx);
      case 'attest': {
        const session = ctx.session as NonNullable<RequestContext['session']>;
        const evidence = buildEvidence(this, (request.body as BodyOf<'attest'>).nonce, session.role as HostRole);
        return { name: RESPONSE_OF.attest, body: { evidence } };
      }
      case 'hosts.list': {
        const hosts = this.#persistent.hosts.map(({ publicKey, role, label }) => ({
          publicKey,
          role,
          ...(label ? { label } : {}),
        }));
        return { name: RESPONSE_OF['hosts.list'], body: { hosts } };
      }
      case 'fw.begin':
      case 'fw.chunk':
      case 'fw.finish':
      case 'fw.test':
      case 'fw.confirm':
      case 'fw.revert':
      case 'fw.status': {
        if (!this.#flash) return wireError('INVALID_STATE', 'this Key has no updatable flash');
        const r = this.#flash.command(name, request.body, this.config.maxFrame - CHUNK_OVERHEAD);
        if ('error' in r) return r;
        if (name === 'fw.confirm') {
          this.#persistent = { ...this.#persistent, securityCounter: this.#flash.securityCounter };
          this.#save();
        }
        if (name === 'fw.test') queueMicrotask(() => this.reboot()); // after the response has gone out
        return { name: RESPONSE_OF[name], body: r.body, ...(r.work ? { work: r.work } : {}) };
      }
      default:
        return wireError('UNKNOWN_TYPE', `${name} is not run by the command dispatcher`);
    }
  }

  #pair(body: BodyOf<'pair'>, ctx: RequestContext): CommandResult {
    const session = ctx.session as NonNullable<RequestContext['session']>;
    const existing = this.#persistent.hosts.find((h) => bytesEqual(h.publicKey, session.hostKey));
    if (existing) return { name: RESPONSE_OF.pair, body: { role: existing.role }, role: existing.role };
    const firstContact = this.#persistent.hosts.length === 0;
    if (!firstContact && this.#clock.now() > this.#pairingUntil) return wireError('NOT_PAIRED');
    if (this.#persistent.hosts.length >= MAX_PAIRED_HOSTS) return wireError('TOO_MANY_HOSTS');
    const host = { publicKey: session.hostKey.slice(), role: body.role, ...(body.label ? { label: body.label } : {}) };
    this.#persistent = { ...this.#persistent, hosts: [...this.#persistent.hosts, host] };
    this.#save();
    this.#pairingUntil = -1;
    return { name: RESPONSE_OF.pair, body: { role: body.role }, role: body.role };
  }

  #save(): void {
    savePersistent(this.#storage, this.#persistent);
  }
}
