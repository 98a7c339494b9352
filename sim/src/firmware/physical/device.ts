/**
 * The physical model of one simulated Key: its button (through the gesture table), LED and
 * haptic outputs, battery, GNSS receiver, LTE-M radio, USB and power, around the Key's firmware.
 * Pure: time comes from the injected clock and advances only when {@link PhysicalKey.tick} (or a
 * control) runs — the simulator's scheduler calls it on simulated time. No timers, no I/O.
 * @module
 */
import { toHex } from '@enigm/protocols/bytes';
import { EnigmError } from '@enigm/protocols/errors';
import type { LifecycleState } from '@enigm/protocols/messages';
import { SimulatorError } from '../../runtime/errors.ts';
import { CheckInTimer, checkInBody, StateMeter } from '../dormancy.ts';
import type { KeyFirmware } from '../firmware.ts';
import { seededUnit } from '../flash/flash.ts';
import { COMMAND_STATES, nextState } from '../lifecycle.ts';
import { isWireError, type WireError } from '../result.ts';
import { CRITICAL_PCT, LOW_PCT, levelAfter, powerMode } from './battery.ts';
import type { PhysicalKeyDeps } from './deps.ts';
import { EmergencyWatch } from './emergency-watch.ts';
import { classifyGesture, PAIRING_WINDOW_MS, RESET_CONFIRM_MS, validateGesture } from './gestures.ts';
import { validateTrack } from './track.ts';
import type { DeviceControls, DeviceEvent, DeviceState, Gesture, GestureOutcome, GnssFix, RadioState } from './types.ts';

/** A device event without its key index and time (the model adds them). */
export type DeviceEventBody = DeviceEvent extends infer E ? (E extends DeviceEvent ? Omit<E, 'key' | 'at'> : never) : never;
export type { PhysicalKeyDeps } from './deps.ts';
export { MAX_TRACK_FIXES } from './track.ts';
/** The radio states, for validation. */
export const RADIO_STATES: readonly RadioState[] = ['attached', 'detached', 'no-coverage'];

const LIFECYCLE_COLOUR: Readonly<Record<LifecycleState, string>> = {
  factory: 'white',
  dormant: 'green',
  emergency: 'amber',
  suspended: 'amber',
  revoked: 'red',
  retired: 'red',
  updating: 'cyan',
};

/** One simulated Key's body: implements the {@link DeviceControls} the simulator exposes. */
export class PhysicalKey implements DeviceControls {
  readonly #d: PhysicalKeyDeps;
  readonly #fw: KeyFirmware;
  #last: number;
  #level: number;
  #reported: { level: number; charging: boolean; low: boolean; critical: boolean };
  #pulled = false;
  #on = true;
  #usb = false;
  #chargeOverride: boolean | undefined;
  #radio: RadioState = 'detached';
  #radioOnMs = 0;
  #track: readonly GnssFix[] = [];
  #trackStart = 0;
  #nextFix = 0;
  #fixes = 0;
  #refused = 0;
  #lastFix: GnssFix | undefined;
  #led = 'off';
  #haptics = 0;
  #resetArmedUntil: number | undefined;
  #pairingShown: number | undefined;
  readonly #emergency: EmergencyWatch;
  readonly #meter = new StateMeter();
  #meterState: LifecycleState;
  #radioLast: number;
  readonly #checkIn: CheckInTimer;

  constructor(deps: PhysicalKeyDeps) {
    this.#d = deps;
    this.#fw = deps.firmware;
    this.#last = this.#radioLast = deps.clock.now();
    this.#meterState = this.#fw.state;
    this.#checkIn = new CheckInTimer(deps.checkInMs, deps.random ?? seededUnit(deps.index + 1));
    this.#level = deps.batteryLevel ?? 100;
    this.#reported = this.#battery();
    this.#fw.setBattery(this.#fwBattery());
    this.#fw.onLifecycle((from, to) => {
      this.#accrueRadio(); // radio time so far counts for the state left
      this.#meterState = to;
      this.#emit({ type: 'lifecycle', from, to });
      this.#syncOutputs();
    });
    this.#emergency = new EmergencyWatch(this.#fw.emergency, deps.clock, (e) => this.#emit(e));
    this.#fw.emergency.onAck((alias) => {
      this.#haptics++;
      this.#emit({ type: 'output', led: 'ack-green', haptic: `ack ${alias}` });
    });
    this.#syncOutputs();
  }

  /** Brings the model up to the clock's now: battery, radio on-time, due GNSS fixes, expiries. */
  tick(): void {
    const now = this.#d.clock.now();
    const ms = Math.max(0, now - this.#last);
    this.#last = now;
    if (ms > 0) {
      const mode = powerMode(this.#on, this.#fw.state, this.#d.linkActive?.() ?? false);
      this.#level = levelAfter(this.#level, ms, mode, this.#charging());
    }
    this.#accrueRadio();
    this.#gnssDue(now);
    if (this.#on) this.#fw.emergency.tick();
    if (this.#resetArmedUntil !== undefined && now > this.#resetArmedUntil) {
      this.#resetArmedUntil = undefined;
      this.#emit({ type: 'factory-reset', phase: 'expired' });
    }
    this.#syncPower();
    this.#syncBattery();
    this.#syncOutputs();
    this.#checkInDue(this.#d.clock.now());
  }

  /**
   * The next simulated time something happens on its own (an expiry, a due GNSS fix), for the
   * scheduler; `undefined` if nothing is pending. Battery drain is ticked periodically instead.
   */
  nextDeadline(): number | undefined {
    const c: number[] = [];
    if (this.#resetArmedUntil !== undefined) c.push(this.#resetArmedUntil + 1);
    const until = this.#fw.pairingWindowUntil;
    if (until !== undefined) c.push(until + 1);
    const fix = this.#track[this.#nextFix];
    if (fix) c.push(this.#trackStart + fix.atMs);
    const ev = this.#on ? this.#fw.emergency.nextDeadline() : undefined;
    if (ev !== undefined) c.push(ev);
    if (this.#checkIn.next !== undefined) c.push(this.#checkIn.next);
    return c.length ? Math.min(...c) : undefined;
  }

  /** The LTE-M radio's state. */
  get radio(): RadioState {
    return this.#radio;
  }

  /** Whether the Key is powered. */
  get powered(): boolean {
    return this.#on;
  }

  /** The Key's observable state now. */
  state(): DeviceState {
    this.tick();
    const fw = this.#fw;
    const gnssPowered = this.#gnssPowered();
    const pairingUntil = fw.pairingWindowUntil;
    return {
      index: this.#d.index,
      lifecycle: fw.state,
      model: fw.config.model,
      firmware: fw.firmwareVersion,
      handle: toHex(fw.handle),
      pairedHosts: fw.hosts().length,
      ...(pairingUntil !== undefined && this.#on ? { pairingWindowUntil: pairingUntil } : {}),
      power: this.#on ? 'on' : 'off',
      usb: this.#usb,
      battery: { ...this.#reported, level: Math.round(this.#level * 100) / 100 },
      radio: { state: this.#radio, onMs: this.#radioOnMs },
      counters: this.#meter.snapshot(this.#d.uplinkCounters?.()),
      gnss: {
        powered: gnssPowered,
        fixes: this.#fixes,
        refused: this.#refused,
        ...(gnssPowered && this.#lastFix ? { last: this.#lastFix } : {}),
      },
      led: this.#led,
      haptics: this.#haptics,
      emergency: this.#emergency.state(),
      ...(this.#resetArmedUntil !== undefined ? { factoryResetArmedUntil: this.#resetArmedUntil } : {}),
    };
  }

  /**
   * Performs a gesture: the gesture table picks the action, the model carries it out.
   * @throws SimulatorError `SIM_BAD_INPUT` for an invalid gesture (nothing changes)
   */
  gesture(input: Gesture): GestureOutcome {
    const g = validateGesture(input);
    this.tick();
    if (g.kind !== 'hold-at-power-on' && !this.#on)
      return this.#outcome(g, { action: 'none', done: false, refused: 'POWER_OFF' });
    const row = classifyGesture(g, { lifecycle: this.#fw.state, resetArmed: this.#resetArmedUntil !== undefined });
    const action = row.action;
    switch (action) {
      case 'none':
        return this.#outcome(g, { action, done: true });
      case 'show-status':
        this.#emit({ type: 'output', led: `status-${this.#statusColour()}` });
        return this.#outcome(g, { action, done: true });
      case 'emergency-start': {
        if (!nextState(this.#fw.state, 'emergency.start')) {
          this.#haptic('refused');
          return this.#outcome(g, { action, done: false, refused: 'INVALID_STATE' });
        }
        const out = this.#outcome(g, { action, done: true });
        this.#fw.emergency.start();
        this.#haptic('long');
        return out;
      }
      case 'emergency-end': {
        const r = this.#fw.emergency.end('cancel');
        if ('error' in r) {
          this.#haptic('refused');
          return this.#outcome(g, { action, done: false, refused: r.error });
        }
        this.#haptic('long');
        return this.#outcome(g, { action, done: true });
      }
      case 'pairing-window': {
        if (!COMMAND_STATES.pair.includes(this.#fw.state)) {
          this.#haptic('refused');
          return this.#outcome(g, { action, done: false, refused: 'PAIRING_NOT_ALLOWED' });
        }
        const out = this.#outcome(g, { action, done: true });
        this.#fw.openPairingWindow(PAIRING_WINDOW_MS);
        this.#haptic('short');
        this.#syncOutputs();
        return out;
      }
      case 'factory-reset': {
        if (!this.#fw.canFactoryReset || !nextState(this.#fw.state, 'factory-reset')) {
          this.#haptic('refused');
          return this.#outcome(g, { action, done: false, refused: 'RESET_REFUSED' });
        }
        const out = this.#outcome(g, { action, done: true });
        this.#resetArmedUntil = undefined;
        this.#emit({ type: 'factory-reset', phase: 'confirmed' });
        this.#fw.factoryReset();
        this.#haptic('long');
        this.#syncOutputs();
        return out;
      }
      case 'boot':
      case 'factory-reset-armed': {
        if (!this.#canRun()) return this.#outcome(g, { action, done: false, refused: 'BATTERY_EMPTY' });
        const out = this.#outcome(g, { action, done: true });
        if (this.#on) this.#powerDown();
        this.#pulled = false;
        this.#powerUp();
        if (action === 'factory-reset-armed') {
          this.#resetArmedUntil = this.#d.clock.now() + RESET_CONFIRM_MS;
          this.#emit({ type: 'factory-reset', phase: 'armed' });
        }
        this.#syncOutputs();
        return out;
      }
    }
  }

  /**
   * Sets the battery level and/or whether it charges (`charging` overrides "charging when USB is
   * attached" until USB changes).
   * @throws SimulatorError `SIM_BAD_INPUT` for a level outside 0..100 or a non-boolean charging
   */
  setBattery(b: { level?: number; charging?: boolean }): void {
    if (b === null || typeof b !== 'object') throw bad('battery: expected { level?, charging? }');
    const { level, charging } = b;
    if (level !== undefined && (typeof level !== 'number' || !Number.isFinite(level) || level < 0 || level > 100))
      throw bad(`battery level must be a number in 0..100, got ${JSON.stringify(level)}`);
    if (charging !== undefined && typeof charging !== 'boolean')
      throw bad(`battery charging must be true or false, got ${JSON.stringify(charging)}`);
    this.tick();
    if (level !== undefined) this.#level = level;
    if (charging !== undefined) this.#chargeOverride = charging;
    this.#syncPower();
    this.#syncBattery();
    this.#syncOutputs();
  }

  /**
   * Replaces the scripted GNSS track; its fixes fall due from now on, at `atMs` after now.
   * @throws SimulatorError `SIM_BAD_INPUT` for an invalid track (see `validateTrack`)
   */
  setTrack(fixes: readonly GnssFix[]): void {
    const clean = validateTrack(fixes);
    this.tick();
    this.#track = clean;
    this.#trackStart = this.#d.clock.now();
    this.#nextFix = 0;
    this.#gnssDue(this.#trackStart);
  }

  /**
   * Sets the LTE-M radio's state.
   * @throws SimulatorError `SIM_BAD_INPUT` for an unknown state
   */
  setRadio(state: RadioState): void {
    if (!RADIO_STATES.includes(state))
      throw bad(`radio state must be one of ${RADIO_STATES.join(', ')}, got ${JSON.stringify(state)}`);
    this.tick();
    if (state === this.#radio) return;
    this.#radio = state;
    this.#emit({ type: 'radio', state });
  }

  /**
   * Attaches or detaches USB (power: the Key charges while attached).
   * @throws SimulatorError `SIM_BAD_INPUT` for a non-boolean
   */
  setUsb(attached: boolean): void {
    if (typeof attached !== 'boolean') throw bad(`usb must be true or false, got ${JSON.stringify(attached)}`);
    this.tick();
    if (attached === this.#usb) return;
    this.#usb = attached;
    this.#chargeOverride = undefined;
    this.#emit({ type: 'usb', attached });
    this.#syncPower();
    this.#syncBattery();
    this.#syncOutputs();
  }

  /**
   * Pulls (`false`) or restores (`true`) power. A pull drops every link's sessions and, if a flash
   * operation is running, tears it (the flash model's power loss); a restore boots the Key.
   * @throws SimulatorError `SIM_BAD_INPUT` for a non-boolean
   */
  setPower(on: boolean): void {
    if (typeof on !== 'boolean') throw bad(`power must be true or false, got ${JSON.stringify(on)}`);
    this.tick();
    this.#pulled = !on;
    this.#syncPower();
    this.#syncOutputs();
  }

  /** Reboots the Key (as the `reboot` command does); nothing happens while it is off. */
  reboot(): void {
    this.tick();
    if (!this.#on) return;
    this.#fw.reboot();
  }

  /**
   * Delivers a signed contact set (as the owner's app does with `contacts.set`).
   * @throws EnigmError named as the Key refused it (`CONTACTS_SIGNER`, `CONTACTS_STALE`, `CONTACTS_INVALID`), `POWER_OFF`
   */
  setContacts(set: Uint8Array): { version: number; count: number } {
    if (!(set instanceof Uint8Array)) throw bad('contacts: expected a signed contact set (bytes)');
    if (!this.#on) throw new EnigmError('POWER_OFF', 'the Key is off');
    return this.#refusing(this.#fw.emergency.setContacts(set));
  }

  /**
   * Relays a contact's signed acknowledgement of the running event (as a host does with `emergency.ack`).
   * @throws EnigmError `INVALID_STATE` (no event), `ACK_INVALID`, `POWER_OFF`
   */
  ack(ack: Uint8Array): { alias: string } {
    if (!(ack instanceof Uint8Array)) throw bad('ack: expected a signed acknowledgement (bytes)');
    this.tick();
    if (!this.#on) throw new EnigmError('POWER_OFF', 'the Key is off');
    return this.#refusing(this.#fw.emergency.ack(ack));
  }

  #refusing<T extends object>(r: T | WireError): T {
    if (isWireError(r)) throw new EnigmError(r.error, r.reason);
    return r;
  }

  // ---- internals ----

  #emit(e: DeviceEventBody): void {
    this.#d.emit({ key: this.#d.index, at: this.#d.clock.now(), ...e } as DeviceEvent);
  }

  #outcome(g: Gesture, o: GestureOutcome): GestureOutcome {
    this.#emit({ type: 'gesture', gesture: g, outcome: o });
    return o;
  }

  #haptic(pattern: string): void {
    this.#haptics++;
    this.#emit({ type: 'output', haptic: pattern });
  }

  #chargeSource(): boolean {
    return !this.#pulled && (this.#chargeOverride ?? this.#usb);
  }

  #charging(): boolean {
    return this.#chargeSource() && this.#level < 100;
  }

  /** Whether the Key has the power to run: not pulled, and charge left or USB power. */
  #canRun(): boolean {
    return this.#level > 0 || this.#usb;
  }

  #gnssPowered(): boolean {
    return this.#on && this.#fw.state === 'emergency';
  }

  #battery(): { level: number; charging: boolean; low: boolean; critical: boolean } {
    const level = Math.floor(this.#level);
    return { level, charging: this.#charging(), low: this.#level <= LOW_PCT, critical: this.#level <= CRITICAL_PCT };
  }

  #fwBattery() {
    return { level: this.#level, charging: this.#charging(), critical: this.#level <= CRITICAL_PCT };
  }

  /** Emits a battery event when the whole-percent level, charging or a threshold changed. */
  #syncBattery(): void {
    const b = this.#battery();
    this.#fw.setBattery(this.#fwBattery());
    const r = this.#reported;
    if (b.level === r.level && b.charging === r.charging && b.low === r.low && b.critical === r.critical) return;
    this.#reported = b;
    this.#emit({ type: 'battery', ...b });
  }

  /** Powers the Key down or up as pulled power and an empty battery say. */
  #syncPower(): void {
    const want = !this.#pulled && this.#canRun();
    if (want === this.#on) return;
    if (want) this.#powerUp();
    else this.#powerDown();
  }

  #powerDown(): void {
    const torn = this.#d.midWrite?.() ?? false;
    if (torn) this.#d.flash?.armPowerLoss(0, this.#d.tearSeed ?? 0);
    this.#on = false;
    this.#resetArmedUntil = undefined;
    this.#fw.powerOff();
    this.#emit({ type: 'power', on: false, ...(torn ? { tornWrite: true } : {}) });
    this.#d.onPower?.(false);
  }

  #powerUp(): void {
    this.#d.flash?.disarmPowerLoss();
    this.#on = true;
    this.#fw.reboot();
    this.#emit({ type: 'power', on: true });
    this.#d.onPower?.(true);
  }

  /** Radio-on time up to now, to the total and to the state held meanwhile. */
  #accrueRadio(): void {
    const now = this.#d.clock.now();
    const ms = Math.max(0, now - this.#radioLast);
    this.#radioLast = now;
    if (ms === 0 || !this.#on || this.#radio !== 'attached') return;
    this.#radioOnMs += ms;
    this.#meter.add(this.#meterState, 'radioOnMs', ms);
  }

  /** A dormant, powered Key's check-in when due: state, battery band, firmware, boots (never a location). */
  #checkInDue(now: number): void {
    if (!this.#checkIn.poll(now, this.#on && this.#fw.state === 'dormant')) return;
    this.#meter.add('dormant', 'checkIns');
    this.#d.onCheckIn?.(checkInBody(this.#fw, this.#level));
  }

  /** Fix attempts whose time has come: taken when GNSS is powered, refused and counted when not. */
  #gnssDue(now: number): void {
    while (this.#nextFix < this.#track.length) {
      const fix = this.#track[this.#nextFix] as GnssFix;
      if (this.#trackStart + fix.atMs > now) break;
      this.#nextFix++;
      if (!this.#on) continue; // the Key is off: no firmware asks for a fix
      if (this.#gnssPowered()) {
        this.#fixes++;
        this.#meter.add(this.#fw.state, 'fixes');
        this.#lastFix = fix;
        this.#emit({ type: 'gnss', fix });
        this.#fw.emergency.onFix(fix);
      } else {
        this.#refused++;
        this.#emit({ type: 'gnss', refused: true }); // never the location
      }
    }
  }

  #statusColour(): string {
    if (this.#level <= CRITICAL_PCT) return 'red';
    if (this.#level <= LOW_PCT) return 'amber';
    return LIFECYCLE_COLOUR[this.#fw.state];
  }

  /** The steady LED: off, red (reset armed or battery critical), or blue pulse (pairing window). */
  #steadyLed(): string {
    if (!this.#on) return 'off';
    if (this.#resetArmedUntil !== undefined) return 'red';
    if (this.#level <= CRITICAL_PCT && !this.#charging()) return 'red-blink';
    if (this.#fw.pairingWindowUntil !== undefined) return 'blue-pulse';
    return 'off';
  }

  #syncOutputs(): void {
    this.#emergency.sync(); // a phase change shows as an `emergency` event (metadata only)
    const until = this.#on ? this.#fw.pairingWindowUntil : undefined;
    if (until !== undefined && until !== this.#pairingShown) this.#emit({ type: 'pairing-window', until });
    this.#pairingShown = until;
    const led = this.#steadyLed();
    if (led === this.#led) return;
    this.#led = led;
    this.#emit({ type: 'output', led });
  }
}

const bad = (reason: string) => new SimulatorError('SIM_BAD_INPUT', reason);
