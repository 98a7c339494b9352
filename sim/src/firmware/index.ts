/**
 * `@enigm/sim/firmware`: the Key firmware model — pure logic with injected storage, clock and
 * randomness: lifecycle table, dispatcher, sessions, secure element, evidence and the two-slot
 * flash with its update engine.
 * @module
 */
export * from './access.ts';
export * from './commands.ts';
export * from './emergency.ts';
export * from './emergency-crypto.ts';
export * from './emergency-engine.ts';
export * from './evidence.ts';
export * from './firmware.ts';
export * from './flash/index.ts';
export * from './key-flash.ts';
export * from './lifecycle.ts';
export * from './lifecycle-doc.ts';
export * from './link-context.ts';
export * from './physical/index.ts';
export * from './result.ts';
export * from './secure-element.ts';
export * from './sessions.ts';
export * from './storage.ts';
