/**
 * EAR-style appraisal results (after the IETF EAT Attestation Results draft): one overall
 * status and the list of checks that produced it. Plain JSON-ready objects.
 *
 * @module
 */

/** Trust tier of a check or of the whole appraisal. */
export type Status = 'affirming' | 'warning' | 'contraindicated' | 'none';

/** One check and its outcome. `none` means the check did not apply or could not run. */
export interface Check {
  readonly name: string;
  readonly status: Status;
  readonly reason: string;
}

/** Per-AK state kept by the verifier between appraisals (for the monotonic clock check). */
export interface ClockState {
  /** Milliseconds the TPM has been powered (`TPMS_CLOCK_INFO.clock`). */
  readonly clock: number;
  /** `resetCount` as quoted (obfuscated per AK). */
  readonly resetCount: number;
  /** `restartCount` as quoted (obfuscated per AK). */
  readonly restartCount: number;
}

/** The result of an appraisal. */
export interface AppraisalResult {
  /** Worst status over the checks: contraindicated > warning > affirming > none. */
  readonly status: Status;
  /** Every check, in the order run. */
  readonly checks: readonly Check[];
  /** Hex Name of the AK that signed (if its public area parsed). */
  readonly akName: string | undefined;
  /** New clock state to store for this AK, when the quote verified. */
  readonly clockState: ClockState | undefined;
}

const RANK: Readonly<Record<Status, number>> = { none: 0, affirming: 1, warning: 2, contraindicated: 3 };

/** The overall status of a set of checks. */
export function overallStatus(checks: readonly Check[]): Status {
  let s: Status = 'none';
  for (const c of checks) if (RANK[c.status] > RANK[s]) s = c.status;
  return s;
}

/** Makes a check. */
export function check(name: string, status: Status, reason: string): Check {
  return { name, status, reason };
}
