/**
 * `@enigm/sim/scenario`: scenario files (YAML or JSON) that script simulated Keys — gestures,
 * battery, GNSS track, radio, USB, power, emergency contacts and their acks, waits — and
 * expectations on their state and events; the loader (line and field named on every problem), the
 * runner (against any `ControlTarget`, or a fresh simulator), and the text and JUnit XML reports. Format: `docs/scenarios.md`,
 * `schema.json`.
 * @module
 */

export type {
  ControlTarget,
  DeviceControls,
  DeviceEvent,
  DeviceState,
  Gesture,
  GestureOutcome,
  GnssFix,
  RadioState,
  SimClock,
} from '../firmware/physical/types.ts';
export * from './checker.ts';
export * from './describe.ts';
export * from './duration.ts';
export * from './fields.ts';
export * from './fresh.ts';
export * from './load.ts';
export * from './report.ts';
export * from './runner.ts';
export * from './schema.ts';
export * from './types.ts';
