/**
 * A scenario as the runner plays it: the checked, normalised form of a scenario file
 * (`load.ts` turns YAML or JSON into this). Times are milliseconds of simulated time.
 * @module
 */
import type { LifecycleState } from '@enigm/protocols/messages';
import type { Gesture, GnssFix, RadioState } from '../firmware/physical/types.ts';

/** How one Key starts (applied through its controls before the first step). */
export interface KeySetup {
  /** `dormant`: the Key starts activated (as after provisioning); default `factory` (fresh). */
  readonly lifecycle?: 'factory' | 'dormant';
  readonly battery?: { readonly level?: number; readonly charging?: boolean };
  readonly radio?: RadioState;
  readonly usb?: boolean;
  readonly power?: boolean;
  readonly track?: readonly GnssFix[];
  /**
   * Emergency contacts: the runner makes this many contacts (keys kept by the runner, aliases
   * `c0`, `c1`, …) and installs their signed contact set on the Key (`contacts.set`).
   */
  readonly contacts?: number;
}

/**
 * Expected value of one field: equality, a numeric comparison, or presence.
 * `absent` matches a field that is not there (e.g. `pairingWindowUntil` once the window closed).
 */
export type ValueMatcher =
  | { readonly op: 'eq'; readonly value: string | number | boolean }
  | { readonly op: 'lt' | 'le' | 'gt' | 'ge' | 'ne'; readonly value: number }
  | { readonly op: 'absent' | 'present' };

/** A field (dotted path, e.g. `battery.level`) and what it must be. */
export interface FieldMatch {
  readonly path: string;
  readonly matcher: ValueMatcher;
}

/** What a step does. */
export type StepAction =
  | { readonly type: 'gesture'; readonly gesture: Gesture; readonly outcome?: readonly FieldMatch[] }
  | { readonly type: 'battery'; readonly level?: number; readonly charging?: boolean }
  | { readonly type: 'track'; readonly fixes: readonly GnssFix[] }
  | { readonly type: 'radio'; readonly state: RadioState }
  | { readonly type: 'usb'; readonly attached: boolean }
  | { readonly type: 'power'; readonly on: boolean }
  | { readonly type: 'reboot' }
  /** Contact `contact` (0-based, of the Key's `contacts`) signs an ack of the running event; it is relayed to the Key. */
  | { readonly type: 'ack'; readonly contact: number }
  | { readonly type: 'wait'; readonly ms: number }
  | { readonly type: 'speed'; readonly speed: number }
  | {
      readonly type: 'expect';
      /** Fields of the Key's state that must all match (at one moment), or… */
      readonly state?: readonly FieldMatch[];
      /** …an event of this type (and fields) from this Key since the last action began. */
      readonly event?: { readonly type: string; readonly fields: readonly FieldMatch[] };
      /** How long (simulated) it may take to come true; 0: now. */
      readonly withinMs: number;
    };

/** Action names, in the order the docs list them. */
export const ACTION_TYPES = [
  'gesture',
  'battery',
  'track',
  'radio',
  'usb',
  'power',
  'reboot',
  'ack',
  'wait',
  'speed',
  'expect',
] as const satisfies readonly StepAction['type'][];

/** One step of a scenario. */
export interface ScenarioStep {
  /** Position in `steps` (0-based). */
  readonly index: number;
  /** Line of the step in the scenario file (1-based; 0 if unknown). */
  readonly line: number;
  /** Optional label from the file. */
  readonly name?: string;
  /** Key the step acts on or checks (default 0). */
  readonly key: number;
  /** Start at this simulated time since the scenario began… */
  readonly atMs?: number;
  /** …or this long after the previous step ended (neither: right after it). */
  readonly afterMs?: number;
  readonly action: StepAction;
}

/** A checked scenario. */
export interface Scenario {
  readonly name: string;
  readonly description?: string;
  /** Where it was loaded from (for reports), if a file. */
  readonly file?: string;
  /** Default speed (simulated time per real time); the runner's `speed` option overrides it. */
  readonly speed?: number;
  /** One entry per Key (its length is the Key count). */
  readonly keys: readonly KeySetup[];
  readonly steps: readonly ScenarioStep[];
}

/** Radio states, for validation and the schema. */
export const RADIO_STATES = ['attached', 'detached', 'no-coverage'] as const satisfies readonly RadioState[];

/** Initial lifecycle states a scenario may ask for. */
export const INITIAL_LIFECYCLES = ['factory', 'dormant'] as const satisfies readonly LifecycleState[];

/** Fastest speed the simulator clock accepts. */
export const MAX_SPEED = 100_000;
