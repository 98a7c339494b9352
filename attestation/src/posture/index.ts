/**
 * The posture verifier consumer: appraises signed posture reports of the Enigm OS posture agent
 * together with their TPM quotes, and turns the result into a device-trust decision.
 * @module
 */
import type { VerifierStore } from '../store/verifier-store.ts';
import { appraisePostureWithState, type PostureAppraisal, type PostureAppraisalInput } from './appraise.ts';

export * from './appraise.ts';
export * from './trust.ts';

/**
 * Appraises posture evidence against a {@link VerifierStore} (its clock, under its lock) and
 * persists the consumed challenge, the agent's sequence and the AK clock.
 * @example
 * const { nonce } = await store.issueChallenge('device-posture'); // sent to the agent
 * const r = await appraisePostureReport(store, { evidence, agentKey, handle, akNames });
 */
export function appraisePostureReport(
  store: VerifierStore,
  input: Omit<PostureAppraisalInput, 'now'>,
): Promise<PostureAppraisal> {
  return store.update((state, now) => {
    const r = appraisePostureWithState(state, { ...input, now });
    return { state: r.state, value: r.result };
  });
}
