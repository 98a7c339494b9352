/**
 * What the physical model of a Key (`PhysicalKey` in `device.ts`) needs around the firmware.
 * @module
 */
import type { Clock, KeyFirmware } from '../firmware.ts';
import type { DeviceEvent } from './types.ts';

/** What the physical model needs around the firmware. */
export interface PhysicalKeyDeps {
  /** The Key's index in the simulator (events carry it). */
  index: number;
  firmware: KeyFirmware;
  /** The same clock as the firmware's. */
  clock: Clock;
  /** Receives every event (must not throw). */
  emit: (event: DeviceEvent) => void;
  /** Whether a host link is open now (battery: the `link` power mode). Default: never. */
  linkActive?: () => boolean;
  /**
   * The Key's flash, to tear an interrupted write when power is pulled mid-write (the flash
   * model's power-loss injection).
   */
  flash?: { armPowerLoss(afterOps: number, seed?: number): void; disarmPowerLoss(): void };
  /** Whether a flash operation is running now (a long operation: erase or copy). Default: never. */
  midWrite?: () => boolean;
  /** Power went (`false`: the runtime drops links) or came back (`true`: after the boot). */
  onPower?: (on: boolean) => void;
  /** Initial battery level, % (default 100). */
  batteryLevel?: number;
  /** Seed of the tear pattern of a power pull. */
  tearSeed?: number;
  /** Dormant check-in interval, ms (default 6 h), ± 10 % from `random` (default: seeded by index). */
  checkInMs?: number;
  random?: () => number;
  /** A check-in is due: its CBOR body (the runtime signs and sends it; default: nothing is sent). */
  onCheckIn?: (body: Uint8Array) => void;
  /** Uplink bytes and messages per lifecycle state (the runtime counts them). */
  uplinkCounters?: () => Readonly<Partial<Record<string, { bytes: number; messages: number }>>>;
}
