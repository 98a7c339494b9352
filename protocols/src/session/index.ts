/**
 * Key sessions: prologue, handshake payloads, the secure channel.
 * @module
 */
export * from './channel.ts';
export * from './payloads.ts';
export * from './prologue.ts';
