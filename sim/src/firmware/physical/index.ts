/**
 * The simulated Key's physical model: the contract (`types.ts`), the gesture table, the battery
 * figures and the pure model {@link PhysicalKey}.
 * @module
 */
export * from './battery.ts';
export * from './device.ts';
export * from './gestures.ts';
export * from './types.ts';
