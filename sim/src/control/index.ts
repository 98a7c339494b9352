/**
 * `@enigm/sim/control`: the simulator's control API — an HTTP + WebSocket server over a
 * {@link ControlTarget} (physical controls, clock, live events, OpenAPI document, dashboard), its
 * state file (`control.json`) and a small client the CLI uses.
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
export { GESTURE_KINDS } from '../firmware/physical/types.ts';
export * from './client.ts';
export * from './control-file.ts';
export * from './dashboard-assets.ts';
export * from './errors.ts';
export * from './event-hub.ts';
export * from './openapi.ts';
export * from './routes.ts';
export * from './schema.ts';
export * from './server.ts';
export * from './track.ts';
export * from './validate.ts';
