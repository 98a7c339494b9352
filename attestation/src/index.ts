/**
 * `attestation/`: TCG event logs, the TPM 2.0 client and quote collector, and the pure verifier.
 * Collectors (`collect/`, `tpm/`) touch devices; everything under `eventlog/`, `structures/`
 * and `verify/` is pure.
 * @module
 */
export * from './association/index.ts';
export * from './audit/index.ts';
export * from './collect/evidence.ts';
export * from './collect/quote.ts';
export * from './collect/software-quote.ts';
export * from './documents.ts';
export * from './enroll.ts';
export * from './errors.ts';
export * from './eventlog/digests.ts';
export * from './eventlog/encode.ts';
export * from './eventlog/event-types.ts';
export * from './eventlog/parse.ts';
export * from './eventlog/replay.ts';
export * from './eventlog/summary.ts';
export * from './files.ts';
export * from './hash.ts';
export * from './interop/tpm2-tools.ts';
export * from './key/appraise.ts';
export * from './lock.ts';
export * from './pki/index.ts';
export * from './posture/index.ts';
export * from './revocation/index.ts';
export * from './store/verifier-store.ts';
export * from './structures/constants.ts';
export * from './structures/marshal.ts';
export * from './structures/pcr-selection.ts';
export * from './structures/public.ts';
export * from './tpm/activate.ts';
export * from './tpm/capability.ts';
export * from './tpm/client.ts';
export * from './tpm/command.ts';
export * from './tpm/device.ts';
export * from './tpm/nv.ts';
export * from './tpm/open.ts';
export * from './tpm/rc.ts';
export * from './tpm/swtpm.ts';
export * from './tpm/templates.ts';
export * from './tpm/transport.ts';
export * from './verify/appraise.ts';
export * from './verify/attest.ts';
export * from './verify/credential.ts';
export * from './verify/ek-cert.ts';
export * from './verify/enrollment.ts';
export * from './verify/keys.ts';
export * from './verify/quote.ts';
export * from './verify/result.ts';
export * from './verify/stateful.ts';
export * from './verify/verifier-state.ts';
