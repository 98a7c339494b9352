/**
 * A small in-memory {@link ControlTarget} for the control API's tests: N Keys whose controls
 * record what they are told and emit the matching events, with the contract's refusals
 * (`SIM_NO_SUCH_KEY`, `SIM_BAD_INPUT`, a refused gesture while power is off). The end-to-end
 * tests use the real `Simulator`.
 */
import { EnigmError } from '@enigm/protocols/errors';
import { MAX_HOLD_S } from '../src/firmware/physical/gestures.ts';
import type {
  ControlTarget,
  DeviceControls,
  DeviceEvent,
  DeviceState,
  GestureOutcome,
  SimClock,
} from '../src/firmware/physical/types.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

/** A fake simulator. */
export class FakeTarget implements ControlTarget {
  readonly states: Mutable<DeviceState>[];
  readonly #listeners = new Set<(e: DeviceEvent) => void>();
  #offset = 0;
  #speed = 1;
  readonly clock: SimClock;

  constructor(readonly keyCount: number) {
    this.states = Array.from({ length: keyCount }, (_, index) => ({
      index,
      lifecycle: 'dormant',
      model: 'enigm-key-1',
      firmware: '1.0.0',
      handle: index.toString(16).padStart(16, '0'),
      pairedHosts: 0,
      power: 'on',
      usb: true,
      battery: { level: 80, charging: false, low: false, critical: false },
      radio: { state: 'attached', onMs: 0 },
      gnss: { powered: false, fixes: 0, refused: 0 },
      led: 'off',
      haptics: 0,
      emergency: { phase: 'none', records: 0 },
    }));
    const self = this;
    this.clock = {
      now: () => performance.now() * self.#speed + self.#offset,
      get speed() {
        return self.#speed;
      },
      setSpeed: (s) => {
        if (!(s > 0 && s <= 100_000)) throw new EnigmError('SIM_BAD_INPUT', 'speed out of range');
        self.#speed = s;
      },
      advance: (ms) => {
        self.#offset += ms;
      },
    };
  }

  /** Emits an event to every listener. */
  emit(e: DeviceEvent): void {
    for (const l of this.#listeners) l(e);
  }

  onEvent(listener: (event: DeviceEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  controls(index: number): DeviceControls {
    const s = this.states[index];
    if (!s) throw new EnigmError('SIM_NO_SUCH_KEY', `no Key ${index}`);
    const at = () => this.clock.now();
    const emit = (e: Record<string, unknown>) => this.emit({ key: index, at: at(), ...e } as DeviceEvent);
    return {
      state: () => structuredClone(s) as DeviceState,
      gesture: (g) => {
        if ((g.kind === 'hold' || g.kind === 'hold-at-power-on') && !(g.seconds > 0 && g.seconds <= MAX_HOLD_S))
          throw new EnigmError('SIM_BAD_INPUT', `seconds must be in (0, ${MAX_HOLD_S}]`);
        let outcome: GestureOutcome;
        if (s.power === 'off') outcome = { action: 'none', done: false, refused: 'POWER_OFF' };
        else if (g.kind === 'hold' && g.seconds >= 3) {
          s.pairingWindowUntil = at() + 60_000;
          outcome = { action: 'pairing-window', done: true };
        } else outcome = { action: 'none', done: true };
        emit({ type: 'gesture', gesture: g, outcome });
        if (outcome.action === 'pairing-window') emit({ type: 'pairing-window', until: s.pairingWindowUntil });
        return outcome;
      },
      setBattery: (b) => {
        if (b.level !== undefined && !(b.level >= 0 && b.level <= 100))
          throw new EnigmError('SIM_BAD_INPUT', 'level out of range');
        if (b.level !== undefined) s.battery.level = b.level;
        if (b.charging !== undefined) s.battery.charging = b.charging;
        s.battery.low = s.battery.level < 15;
        s.battery.critical = s.battery.level < 5;
        emit({ type: 'battery', ...s.battery });
      },
      setTrack: () => undefined,
      setRadio: (r) => {
        s.radio.state = r;
        emit({ type: 'radio', state: r });
      },
      setUsb: (u) => {
        s.usb = u;
        emit({ type: 'usb', attached: u });
      },
      setPower: (on) => {
        s.power = on ? 'on' : 'off';
        emit({ type: 'power', on });
      },
      reboot: () => {
        if (s.power === 'off') throw new EnigmError('POWER_OFF', 'the Key has no power');
        emit({ type: 'lifecycle', from: s.lifecycle, to: s.lifecycle });
      },
    };
  }
}
