/**
 * The firmware model's injected dependencies, configuration and small types (split from
 * `firmware.ts`, which re-exports them).
 * @module
 */
import type { LifecycleState } from '@enigm/protocols/messages';
import type { DispatchResult, LinkPort, SessionContext } from './commands.ts';
import type { EmergencyCrypto } from './emergency-crypto.ts';
import type { FlashDeps } from './key-flash.ts';
import type { LifecycleEvent } from './lifecycle.ts';
import type { SecureElement } from './secure-element.ts';
import type { KeyStorage } from './storage.ts';

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
  /** Security counter of the running image on a Key without updatable flash (with flash: its manifest's). */
  securityCounter: number;
}

/** Defaults of the reference Key. */
export const DEFAULT_FIRMWARE_CONFIG: FirmwareConfig = {
  model: 'enigm-key-1',
  hardware: 'rev-b',
  firmware: '1.0.0',
  maxFrame: 4096,
  window: 8,
  batteryPct: 100,
  securityCounter: 1,
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
  /**
   * The secure element's own storage: given, a factory reset ({@link KeyFirmware.factoryReset})
   * replaces its secrets with new ones; without it the Key cannot be factory reset.
   */
  secureElementStorage?: KeyStorage;
  /** Cryptography of emergency records and contact sets (default: the simulator's stand-in). */
  emergencyCrypto?: EmergencyCrypto;
}

/** What the battery tells the firmware (the physical model sets it; default: full, not charging). */
export interface BatteryStatus {
  /** Charge, 0..100 %. */
  readonly level: number;
  readonly charging: boolean;
  /** At or below the critical threshold: the Key refuses firmware updates unless charging. */
  readonly critical: boolean;
}

/**
 * Listener for lifecycle changes, typed (the wire event goes to links through {@link EventListener}):
 * the states and the transition table's event that moved the Key (`wipe` and `factory-reset` both
 * end in `factory`).
 */
export type LifecycleListener = (from: LifecycleState, to: LifecycleState, event: LifecycleEvent) => void;

/** Listener for encoded event messages (sent on every link). */
export type EventListener = (eventBytes: Uint8Array) => void;

/** The context a request runs in: a session (inner requests) or a link (plain requests). */
export interface RequestContext {
  session?: SessionContext;
  link?: LinkPort;
}

/** Result of running a command. */
export type CommandResult = DispatchResult;

/** The image the Key runs now: what evidence reports. */
export interface RunningImage {
  readonly version: string;
  /** SHA-256 of the running image's payload. */
  readonly digest: Uint8Array;
  /** The running image's own security counter (from its manifest). */
  readonly securityCounter: number;
}
