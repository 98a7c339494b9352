/**
 * The contract of the simulated Key's physical model: what a person can do to a Key (gestures,
 * battery, GNSS track, radio, USB, power) and what the Key shows (LED, haptics, state). The pure
 * model lives beside this file (`sim/src/firmware/physical/`); the simulator exposes one
 * {@link DeviceControls} per Key (`Simulator.controls(i)`), the control API serves them over HTTP
 * and WebSocket, and scenarios drive them. Times are milliseconds on the simulator's clock.
 * @module
 */
import type { EmergencyPhase, LifecycleState } from '@enigm/protocols/messages';
import type { KeyCounters } from '../dormancy.ts';

/** A button gesture. Holds are classified when the button is released. */
export type Gesture =
  | { readonly kind: 'press' }
  | { readonly kind: 'double' }
  | { readonly kind: 'triple' }
  | { readonly kind: 'hold'; readonly seconds: number }
  /** The button held while power is restored (the Key boots with it down). */
  | { readonly kind: 'hold-at-power-on'; readonly seconds: number };

/** Gesture kinds, for validation and docs. */
export const GESTURE_KINDS = ['press', 'double', 'triple', 'hold', 'hold-at-power-on'] as const;

/** What the firmware did with a gesture (one row of the gesture table). */
export interface GestureOutcome {
  /** The action the gesture table maps it to, e.g. `pairing-window`, `factory-reset-armed`, `none`. */
  readonly action: string;
  /** Whether it was carried out; `false` with `refused` naming why (e.g. not allowed in this state). */
  readonly done: boolean;
  /** Named reason when not done, e.g. `INVALID_STATE`, `POWER_OFF`. */
  readonly refused?: string;
}

/** The LTE-M radio. */
export type RadioState = 'attached' | 'detached' | 'no-coverage';

/** One scripted GNSS fix. `atMs` is relative to when the track was set. */
export interface GnssFix {
  readonly atMs: number;
  readonly lat: number;
  readonly lon: number;
  /** Horizontal accuracy, metres. */
  readonly accuracyM?: number;
}

/** Kinds of emergency record, from their clear header (`start`: the signed event start). */
export type EmergencyRecordKind = 'start' | 'location' | 'status' | 'battery-critical' | 'end';

/** A Key's emergency event as the control API shows it: metadata only, never a location or a key. */
export interface EmergencyState {
  /** `none`: no event runs (an ended event is `none` at once; its `emergency` event names the outcome). */
  readonly phase: 'none' | EmergencyPhase;
  /** The running event's id, hex. */
  readonly eventId?: string;
  /** Records the event has sent: its start and each sealed record. */
  readonly records: number;
  /** When the event started (simulator clock), if this simulator saw it start. */
  readonly startedAt?: number;
}

/** One open BLE connection of a Key: its link as negotiated (the connection interval and DLE are the adapter's). */
export interface BleLinkState {
  /** The link's name in `link` events, e.g. `ble#1`. */
  readonly link: string;
  /** Negotiated ATT_MTU (23..517). */
  readonly mtu: number;
  /** LE PHY. */
  readonly phy: '1M' | '2M';
}

/** A Key's BLE face (present when the simulator runs with BLE). */
export interface BleKeyState {
  /** Advertised local name, e.g. `Enigm-K0` (hosts use `--port ble:NAME`). */
  readonly name: string;
  /** Whether it advertises now (not without power). */
  readonly advertising: boolean;
  /** Open GATT connections. */
  readonly connections: number;
  /** Each open connection, oldest first. */
  readonly links: readonly BleLinkState[];
}

/** Everything observable about one simulated Key, as the control API and dashboard show it. */
export interface DeviceState {
  readonly index: number;
  readonly lifecycle: LifecycleState;
  readonly model: string;
  readonly firmware: string;
  /** Device handle, hex (public, privacy-preserving). */
  readonly handle: string;
  readonly pairedHosts: number;
  /** Pairing window open until this time (simulator clock), or absent. */
  readonly pairingWindowUntil?: number;
  readonly power: 'on' | 'off';
  readonly usb: boolean;
  readonly battery: {
    /** 0..100 %. */
    readonly level: number;
    readonly charging: boolean;
    readonly low: boolean;
    readonly critical: boolean;
  };
  readonly radio: { readonly state: RadioState; readonly onMs: number };
  /**
   * What the Key did in each lifecycle state since the simulator started: GNSS fixes, radio-on
   * time, uplink bytes and messages (MQTT: topic + payload), check-ins (docs/emergency.md "Dormancy").
   */
  readonly counters?: KeyCounters;
  readonly gnss: {
    readonly powered: boolean;
    /** Fixes taken. */
    readonly fixes: number;
    /** Fix attempts refused because GNSS was off (the privacy promise, counted). */
    readonly refused: number;
    /** Last fix taken while allowed; never exposed when GNSS is off. */
    readonly last?: GnssFix;
  };
  readonly led: string;
  readonly haptics: number;
  /** The emergency event, metadata only. */
  readonly emergency: EmergencyState;
  /** A factory reset armed by hold-at-power-on, waiting for its confirmation until this time. */
  readonly factoryResetArmedUntil?: number;
  /** Its BLE advertising and connections, if the simulator runs with BLE. */
  readonly ble?: BleKeyState;
}

/** One thing that happened, as the control API streams it (never payloads, keys or location of a dormant Key). */
export type DeviceEvent = {
  readonly key: number;
  /** Simulator clock, ms. */
  readonly at: number;
} & (
  | { readonly type: 'gesture'; readonly gesture: Gesture; readonly outcome: GestureOutcome }
  | { readonly type: 'lifecycle'; readonly from: LifecycleState; readonly to: LifecycleState }
  | { readonly type: 'output'; readonly led?: string; readonly haptic?: string }
  | {
      readonly type: 'battery';
      readonly level: number;
      readonly charging: boolean;
      readonly low: boolean;
      readonly critical: boolean;
    }
  | { readonly type: 'radio'; readonly state: RadioState }
  | { readonly type: 'usb'; readonly attached: boolean }
  /** `tornWrite`: power was pulled while a flash operation ran; it is torn as the flash model tears. */
  | { readonly type: 'power'; readonly on: boolean; readonly tornWrite?: boolean }
  | { readonly type: 'gnss'; readonly fix?: GnssFix; readonly refused?: boolean }
  | { readonly type: 'pairing-window'; readonly until: number }
  | { readonly type: 'factory-reset'; readonly phase: 'armed' | 'confirmed' | 'expired' }
  /** A frame on a link: metadata only. */
  | {
      readonly type: 'frame';
      readonly direction: 'in' | 'out';
      readonly link: string;
      readonly messageType?: string;
      readonly bytes: number;
    }
  | { readonly type: 'link'; readonly link: string; readonly phase: 'open' | 'closed' }
  /** An emergency event's phase changed (metadata: never a location or a key). */
  | { readonly type: 'emergency'; readonly phase: EmergencyPhase; readonly eventId: string; readonly records: number }
  /** An emergency record went out: its clear header's kind and sequence number, and its size. */
  | {
      readonly type: 'emergency-record';
      readonly eventId: string;
      readonly kind: EmergencyRecordKind;
      readonly seq: number;
      readonly bytes: number;
      /** Records of the event so far. */
      readonly records: number;
    }
);

/** The controls of one simulated Key. Every method validates its input and changes nothing on a bad one. */
export interface DeviceControls {
  /** The Key's observable state now. */
  state(): DeviceState;
  /**
   * Performs a gesture on the button.
   * @throws SimulatorError `SIM_BAD_INPUT` for an invalid gesture (unknown kind, seconds out of range)
   */
  gesture(g: Gesture): GestureOutcome;
  /** Sets battery level (0..100) and/or charging. */
  setBattery(b: { level?: number; charging?: boolean }): void;
  /** Replaces the scripted GNSS track (fixes sorted by `atMs`; validated). */
  setTrack(fixes: readonly GnssFix[]): void;
  /** Sets the radio's state. */
  setRadio(state: RadioState): void;
  /** Attaches or detaches USB (power for charging; the serial link itself stays as the simulator runs it). */
  setUsb(attached: boolean): void;
  /** Pulls (`false`) or restores (`true`) power; a pull mid-write tears flash as the flash model does. */
  setPower(on: boolean): void;
  /** Reboots the Key (as the `reboot` command does). */
  reboot(): void;
  /**
   * Delivers a signed contact set to the Key (as the owner's app does with `contacts.set`).
   * @throws SimulatorError named as the Key refused it (`CONTACTS_SIGNER`, `CONTACTS_STALE`, `CONTACTS_INVALID`)
   */
  setContacts?(set: Uint8Array): { version: number; count: number };
  /**
   * Relays a contact's signed acknowledgement of the running event to the Key (as a host does with `emergency.ack`).
   * @throws SimulatorError `INVALID_STATE` (no event) or `ACK_INVALID`
   */
  ack?(ack: Uint8Array): { alias: string };
}

/** The simulator's clock: real time scaled by `speed`, plus explicit advances. */
export interface SimClock {
  now(): number;
  readonly speed: number;
  /** Runs simulated time `speed` times faster than real time (0 < speed ≤ 100,000). */
  setSpeed(speed: number): void;
  /** Jumps simulated time forward by `ms` (periodic behaviour catches up in order). */
  advance(ms: number): void;
}

/**
 * What the control API, the dashboard and the scenario runner need from a running simulator
 * (`Simulator` implements it).
 */
export interface ControlTarget {
  /** Number of simulated Keys (indices 0..keyCount−1). */
  readonly keyCount: number;
  /**
   * The controls of Key `index`.
   * @throws SimulatorError `SIM_NO_SUCH_KEY` for an index out of range
   */
  controls(index: number): DeviceControls;
  /** The simulator's clock. */
  readonly clock: SimClock;
  /** Subscribes to every Key's events; returns the unsubscribe function. Listeners must not throw. */
  onEvent(listener: (event: DeviceEvent) => void): () => void;
  /** Resolves once the Keys' asynchronous work started so far (sealing emergency records) is done. */
  settled?(): Promise<void>;
}
