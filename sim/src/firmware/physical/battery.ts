/**
 * The battery model: drain per power mode, charging on USB power, and the low and critical
 * thresholds. Figures are for the reference Key's 300 mAh Li-ion cell (HARDWARE.md "Battery");
 * they are documented estimates, not measurements. Pure functions and constants.
 * @module
 */
import type { LifecycleState } from '@enigm/protocols/messages';

/** What draws current, from least to most. */
export type PowerMode = 'off' | 'shipping' | 'dormant' | 'link' | 'emergency';

/** Drain in each power mode, % of capacity per hour. */
export const DRAIN_PCT_PER_HOUR: Readonly<Record<PowerMode, number>> = {
  /** power pulled or browned out: self-discharge only */
  off: 0.01,
  /** factory state: everything off but the button wake */
  shipping: 0.005,
  /** MCU asleep, BLE advertising slowly, modem in PSM, GNSS off (~150 µA) */
  dormant: 0.05,
  /** a host is connected: MCU running (~12 mA) */
  link: 4,
  /** modem attached, GNSS on, BLE (~24 mA) */
  emergency: 8,
};

/** Charge gained per hour on USB power, % (about 100 mA into 300 mAh, tapering ignored). */
export const CHARGE_PCT_PER_HOUR = 33;
/** At or below: low (the status LED shows amber; an event tells the host). */
export const LOW_PCT = 15;
/** At or below: critical (LED red; `fw.begin` refused with `BATTERY_CRITICAL` unless charging). */
export const CRITICAL_PCT = 5;

/** The power mode of a Key: powered or not, its lifecycle state, and whether a host is connected. */
export function powerMode(on: boolean, lifecycle: LifecycleState, linkActive: boolean): PowerMode {
  if (!on) return 'off';
  if (lifecycle === 'emergency') return 'emergency';
  if (linkActive) return 'link';
  return lifecycle === 'factory' ? 'shipping' : 'dormant';
}

/**
 * The level after `ms` in `mode`, charging or not, clamped to 0..100.
 * @example levelAfter(100, 3_600_000, 'dormant', false) === 99.95
 */
export function levelAfter(level: number, ms: number, mode: PowerMode, charging: boolean): number {
  const hours = ms / 3_600_000;
  const next = charging ? level + CHARGE_PCT_PER_HOUR * hours : level - DRAIN_PCT_PER_HOUR[mode] * hours;
  return Math.min(100, Math.max(0, next));
}
