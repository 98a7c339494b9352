/**
 * A pure physical model around an in-memory Key on a fake clock, recording its events.
 */
import type { PhysicalKeyDeps } from '../../src/firmware/physical/device.ts';
import { PhysicalKey } from '../../src/firmware/physical/device.ts';
import type { DeviceEvent } from '../../src/firmware/physical/types.ts';
import { makeTestKey } from '../../src/testing.ts';

/** A Key, its physical model, the fake clock (`now.t`, ms) and every event emitted. */
export function physicalRig(deps: Partial<Omit<PhysicalKeyDeps, 'firmware' | 'clock' | 'emit'>> = {}) {
  const k = makeTestKey({ now: { t: 0 } });
  const events: DeviceEvent[] = [];
  const p = new PhysicalKey({ index: 0, firmware: k.fw, clock: { now: () => k.now.t }, emit: (e) => events.push(e), ...deps });
  /** Moves the fake clock on and ticks the model. */
  const advance = (ms: number) => {
    k.now.t += ms;
    p.tick();
  };
  return { ...k, p, events, advance, of: <T extends DeviceEvent['type']>(type: T) => events.filter((e) => e.type === type) };
}
