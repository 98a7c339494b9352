/**
 * Helpers of the simulator as a `ControlTarget`: the event hub every Key's events go through
 * (listeners contained), and the controls wrapper that re-arms a Key's next deadline after each
 * control.
 * @module
 */
import type { PhysicalKey } from '../firmware/physical/device.ts';
import type { DeviceControls, DeviceEvent, DeviceState } from '../firmware/physical/types.ts';
import type { SimLogger } from './log.ts';

/** Most listeners one simulator keeps (each control API client or scenario holds one). */
export const MAX_EVENT_LISTENERS = 1024;

/** Fans events out to listeners; a listener that throws is logged and kept, never breaks the Key. */
export class EventHub {
  readonly #listeners = new Set<(event: DeviceEvent) => void>();
  readonly #log: SimLogger;

  /** @param log - where a throwing listener is reported */
  constructor(log: SimLogger) {
    this.#log = log;
  }

  /** Listeners now. */
  get size(): number {
    return this.#listeners.size;
  }

  /**
   * Adds a listener; returns its unsubscribe function.
   * @throws RangeError beyond {@link MAX_EVENT_LISTENERS} listeners
   */
  add(listener: (event: DeviceEvent) => void): () => void {
    if (this.#listeners.size >= MAX_EVENT_LISTENERS)
      throw new RangeError(`at most ${MAX_EVENT_LISTENERS} event listeners per simulator`);
    const own = (e: DeviceEvent) => listener(e); // a distinct entry even if the same function subscribes twice
    this.#listeners.add(own);
    return () => {
      this.#listeners.delete(own);
    };
  }

  /** Sends `event` to every listener. */
  emit(event: DeviceEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (e) {
        this.#log.error(`an event listener threw and was contained: ${e instanceof Error ? e.name : typeof e}`);
      }
    }
  }

  /** Forgets every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}

/**
 * The controls of `physical`, calling `rearm` after every one that may change a deadline;
 * `extend` adds what the physical model does not know to its state (e.g. the Key's BLE face).
 */
export function deadlineArming(
  physical: PhysicalKey,
  rearm: () => void,
  extend: (state: DeviceState) => DeviceState = (s) => s,
): DeviceControls {
  const after =
    <A extends unknown[], R>(f: (...a: A) => R) =>
    (...a: A): R => {
      try {
        return f(...a);
      } finally {
        rearm();
      }
    };
  const c: DeviceControls = {
    state: () => extend(physical.state()),
    gesture: after((g: Parameters<DeviceControls['gesture']>[0]) => physical.gesture(g)),
    setBattery: after((b: Parameters<DeviceControls['setBattery']>[0]) => physical.setBattery(b)),
    setTrack: after((t: Parameters<DeviceControls['setTrack']>[0]) => physical.setTrack(t)),
    setRadio: after((r: Parameters<DeviceControls['setRadio']>[0]) => physical.setRadio(r)),
    setUsb: after((u: boolean) => physical.setUsb(u)),
    setPower: after((p: boolean) => physical.setPower(p)),
    reboot: after(() => physical.reboot()),
    setContacts: after((set: Uint8Array) => physical.setContacts(set)),
    ack: after((a: Uint8Array) => physical.ack(a)),
  };
  return Object.freeze(c);
}
