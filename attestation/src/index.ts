/**
 * `attestation/`: TCG event logs, the TPM 2.0 client (collector) and the pure verifier.
 * @module
 */
export * from './errors.ts';
export * from './eventlog/digests.ts';
export * from './eventlog/encode.ts';
export * from './eventlog/event-types.ts';
export * from './eventlog/parse.ts';
export * from './eventlog/replay.ts';
export * from './hash.ts';
