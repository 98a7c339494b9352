/**
 * The Enigm OS posture agent.
 * @module
 */

export * from './collect/index.ts';
export * from './errors.ts';
export * from './signals.ts';
