/**
 * `@enigm/sim/osd`: the Enigm OS posture daemon emulator (scriptable states and faults on a Unix
 * socket, speaking `@enigm/protocols/posture`).
 * @module
 */

export * from './emulator.ts';
export * from './script.ts';
