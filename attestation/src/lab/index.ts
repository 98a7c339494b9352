/**
 * `@enigm/attestation/lab`: the parts that start processes — swtpm manufacturing and spawning,
 * a local EK CA, the lab rig, and the swtpm test fixture. Kept apart from the pure verifier and
 * the TPM client in `@enigm/attestation`.
 * @module
 */
export * from '../rig.ts';
export * from './fixture.ts';
export * from './swtpm-lab.ts';
