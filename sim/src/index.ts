/**
 * `@enigm/sim`: the Key simulator runtime — simulated Keys on pseudo-terminals (socat) and TCP,
 * their state folder (locked: one simulator per folder), bounded links with backpressure, one long
 * operation at a time per Key, the operational log, link shaping and the factory image. The pure
 * firmware model is `@enigm/sim/firmware`; test helpers (in-memory Keys with seeded randomness)
 * are `@enigm/sim/testing`.
 * @module
 */
export * from './firmware/physical/battery.ts';
export * from './firmware/physical/gestures.ts';
export * from './firmware/physical/types.ts';
export * from './io/ble/index.ts';
export * from './io/pty.ts';
export * from './runtime/control-target.ts';
export * from './runtime/device-link.ts';
export * from './runtime/errors.ts';
export * from './runtime/factory.ts';
export * from './runtime/file-storage.ts';
export * from './runtime/key-scheduler.ts';
export * from './runtime/link-flow.ts';
export * from './runtime/link-shaper.ts';
export * from './runtime/log.ts';
export * from './runtime/serial-endpoint.ts';
export * from './runtime/sim-clock.ts';
export * from './runtime/simulator.ts';
export * from './runtime/state-lock.ts';
export * from './runtime/tcp-endpoint.ts';
