/**
 * Pure verification of a TPM 2.0 quote (TPM 2.0 Part 3 §18.4 `TPM2_Quote`; Part 2 §10.12):
 * each check returns a {@link Check}; nothing here touches a device. The checks, in order:
 *
 * - `ak-public`: the AK is a restricted signing key (fixedTPM, fixedParent, sensitiveDataOrigin,
 *   restricted, sign) with ECDSA-P256 or RSASSA-2048+ — otherwise a quote could be forged;
 * - `ak-identity`: the AK Name is one the policy trusts;
 * - `signature`: the `TPMT_SIGNATURE` verifies over the `TPMS_ATTEST` bytes with the AK;
 * - `magic`: `TPMS_ATTEST.magic` is `TPM_GENERATED_VALUE` (the TPM made it);
 * - `attest-type`: the type is `TPM_ST_ATTEST_QUOTE`;
 * - `qualified-signer`: `qualifiedSigner` is the AK's Qualified Name `H(parentQN ‖ AK Name)`;
 * - `nonce`: `extraData` equals the verifier's nonce exactly (freshness);
 * - `pcr-selection`: the quoted selection is exactly the one asked for, and the supplied PCR
 *   values cover exactly it;
 * - `pcr-digest`: `pcrDigest` equals H_sign(values in selection order) (the values are authentic);
 * - `replay`: clock/resetCount/restartCount strictly advanced past the last quote accepted from
 *   this AK (see {@link checkReplay});
 * - `safe`: `clockInfo.safe` is YES (the clock was not possibly rolled back).
 *
 * @module
 */

import { toHex } from '@enigm/protocols/bytes';
import type { QuoteEvidence } from '../collect/evidence.ts';
import { AttestationError } from '../errors.ts';
import { bytesEqual, digest, hashById } from '../hash.ts';
import { TPM_GENERATED_VALUE, TPM_ST } from '../structures/constants.ts';
import { qualifiedName } from '../structures/public.ts';
import { type Attest, parseAttest, parseSignature } from './attest.ts';
import { type PreparedAk, prepareAk, verifyAkSignature } from './keys.ts';
import { type Check, type ClockState, check } from './result.ts';

/** What the verifier asked for. */
export interface QuoteExpectation {
  /** The nonce sent to the attester. */
  readonly nonce: Uint8Array;
  /** `TPM_ALG_ID` of the bank asked for. */
  readonly bank: number;
  /** PCR indices asked for. */
  readonly pcrs: readonly number[];
  /** Hex AK Names trusted (from credential activation or enrolment); undefined = not pinned. */
  readonly akNames?: readonly string[];
  /** Last clock state stored for this AK. */
  readonly previous?: ClockState;
}

/** The outcome of quote verification. */
export interface QuoteVerification {
  readonly checks: Check[];
  /** True when every check that establishes authenticity passed (so PCR values can be trusted). */
  readonly verified: boolean;
  readonly ak: PreparedAk | undefined;
  readonly attest: Attest | undefined;
}

const fail = (name: string, reason: string) => check(name, 'contraindicated', reason);
const ok = (name: string, reason: string) => check(name, 'affirming', reason);

/** Signed 32-bit serial-number difference (RFC 1982): copes with the per-AK offset wrapping. */
function serialDelta(now: number, before: number): number {
  return ((now - before) | 0) as number;
}

/**
 * The `replay` check: the quote's clock state must strictly advance past the last state this
 * verifier accepted from the same AK (rules of go-attestation and Keylime):
 *
 * - resetCount increased: the TPM was reset (a reboot); the clock may start again from 0;
 * - resetCount equal, restartCount increased: TPM Restart/Resume; the clock is not compared;
 * - both equal: the clock must be strictly greater — an equal clock is the same quote again
 *   (replayed), a smaller one is a rollback;
 * - a counter that went backwards is a rollback or a replay.
 *
 * resetCount/restartCount are obfuscated per AK by an additive offset, so they are compared with
 * RFC 1982 serial arithmetic and only with earlier values from the same AK.
 */
export function checkReplay(now: ClockState, previous: ClockState | undefined): Check {
  if (!previous) return check('replay', 'none', 'no previous quote from this AK to compare with');
  const reset = serialDelta(now.resetCount, previous.resetCount);
  const restart = serialDelta(now.restartCount, previous.restartCount);
  if (reset < 0) return fail('replay', 'resetCount went backwards: TPM state was rolled back or an older quote was replayed');
  if (reset > 0) return ok('replay', `TPM was reset ${reset} time(s) since the previous quote (reboot)`);
  if (restart < 0)
    return fail('replay', 'restartCount went backwards with the same resetCount: state rollback or an older quote replayed');
  if (restart > 0) return ok('replay', `TPM was restarted ${restart} time(s) since the previous quote (resume)`);
  if (now.clock === previous.clock)
    return fail('replay', `clock, resetCount and restartCount equal a quote already accepted (${now.clock} ms): replayed quote`);
  if (now.clock < previous.clock)
    return fail('replay', `clock went backwards (${previous.clock} → ${now.clock} ms) without a reset: rollback or replay`);
  return ok('replay', `clock advanced strictly (${previous.clock} → ${now.clock} ms) since the previous quote`);
}

function attempt<T>(fn: () => T): T | AttestationError {
  try {
    return fn();
  } catch (e) {
    if (e instanceof AttestationError) return e;
    throw e;
  }
}

/**
 * Verifies a quote. Pure; returns every check rather than throwing.
 * @example
 * const v = verifyQuote(evidence, { nonce, bank: ALG_SHA256, pcrs: [0, 7] });
 * v.verified; // signature, magic, type, signer, nonce, selection and digest all passed
 */
export function verifyQuote(evidence: QuoteEvidence, want: QuoteExpectation, preparedAk?: PreparedAk): QuoteVerification {
  const checks: Check[] = [];
  const ak = preparedAk ?? attempt(() => prepareAk(evidence.akPublic));
  if (ak instanceof AttestationError) {
    checks.push(fail('ak-public', ak.message));
    return { checks, verified: false, ak: undefined, attest: undefined };
  }
  checks.push(ok('ak-public', `restricted signing key, ${ak.signHash.name} signatures`));
  const nameHex = toHex(ak.name);
  if (!want.akNames)
    checks.push(check('ak-identity', 'warning', 'no trusted AK Names in the policy: the AK is not bound to a known TPM'));
  else if (want.akNames.includes(nameHex)) checks.push(ok('ak-identity', 'AK Name is trusted by the policy'));
  else checks.push(fail('ak-identity', `AK Name ${nameHex} is not trusted by the policy`));

  const sig = attempt(() => parseSignature(evidence.signature));
  if (sig instanceof AttestationError || !verifyAkSignature(ak, evidence.attest, sig)) {
    checks.push(fail('signature', sig instanceof AttestationError ? sig.message : 'signature does not verify with the AK'));
    return { checks, verified: false, ak, attest: undefined };
  }
  checks.push(ok('signature', 'signature verifies with the AK'));

  const attest = attempt(() => parseAttest(evidence.attest));
  if (attest instanceof AttestationError) {
    checks.push(fail('magic', `TPMS_ATTEST does not parse: ${attest.message}`));
    return { checks, verified: false, ak, attest: undefined };
  }
  checks.push(
    attest.magic === TPM_GENERATED_VALUE
      ? ok('magic', 'TPM_GENERATED_VALUE')
      : fail('magic', `magic 0x${attest.magic.toString(16)} is not TPM_GENERATED_VALUE`),
  );
  checks.push(
    attest.type === TPM_ST.ATTEST_QUOTE
      ? ok('attest-type', 'TPM_ST_ATTEST_QUOTE')
      : fail('attest-type', `type 0x${attest.type.toString(16)} is not a quote`),
  );

  if (!evidence.akParentQualifiedName) {
    const sameAlg = bytesEqual(attest.qualifiedSigner.subarray(0, 2), ak.name.subarray(0, 2));
    checks.push(
      sameAlg
        ? check('qualified-signer', 'warning', 'parent Qualified Name not supplied; only the nameAlg was compared')
        : fail('qualified-signer', 'qualifiedSigner nameAlg differs from the AK'),
    );
  } else {
    const qn = qualifiedName(evidence.akParentQualifiedName, ak.name);
    checks.push(
      bytesEqual(qn, attest.qualifiedSigner)
        ? ok('qualified-signer', 'qualifiedSigner is the AK Qualified Name')
        : fail('qualified-signer', 'qualifiedSigner is not the AK Qualified Name'),
    );
  }

  checks.push(
    bytesEqual(attest.extraData, want.nonce)
      ? ok('nonce', 'extraData equals the nonce')
      : fail('nonce', 'extraData differs from the nonce: stale or replayed quote'),
  );

  const sel = attest.quote?.pcrSelect ?? [];
  const asked = [...new Set(want.pcrs)].sort((a, b) => a - b);
  const quoted = sel.length === 1 ? sel[0]! : undefined;
  const sameSel =
    !!quoted && quoted.hash === want.bank && quoted.pcrs.length === asked.length && quoted.pcrs.every((p, i) => p === asked[i]);
  const supplied = [...evidence.pcrs.keys()].sort((a, b) => a - b);
  const sameValues =
    evidence.pcrBank === want.bank && supplied.length === asked.length && supplied.every((p, i) => p === asked[i]);
  if (!sameSel)
    checks.push(
      fail(
        'pcr-selection',
        `quoted selection ${JSON.stringify(sel)} is not bank 0x${want.bank.toString(16)} PCRs [${asked.join(',')}]`,
      ),
    );
  else if (!sameValues)
    checks.push(fail('pcr-selection', `supplied PCR values [${supplied.join(',')}] do not cover the quoted selection exactly`));
  else checks.push(ok('pcr-selection', `bank ${hashById(want.bank)?.name ?? want.bank} PCRs [${asked.join(',')}] as asked`));

  let digestOk = false;
  if (sameSel && sameValues && attest.quote) {
    const values = asked.map((p) => evidence.pcrs.get(p) as Uint8Array);
    const computed = digest(ak.signHash, ...values);
    digestOk = bytesEqual(computed, attest.quote.pcrDigest);
    checks.push(
      digestOk
        ? ok('pcr-digest', 'pcrDigest matches the supplied PCR values')
        : fail('pcr-digest', 'pcrDigest does not match the supplied PCR values'),
    );
  } else checks.push(check('pcr-digest', 'none', 'not computed: the selection does not match'));

  const c = attest.clockInfo;
  checks.push(checkReplay({ clock: Number(c.clock), resetCount: c.resetCount, restartCount: c.restartCount }, want.previous));
  checks.push(
    c.safe
      ? ok('safe', 'clock is safe (no possible rollback)')
      : check('safe', 'warning', 'clockInfo.safe is NO: the clock may have been rolled back'),
  );

  const authentic = ['signature', 'magic', 'attest-type', 'qualified-signer', 'nonce', 'pcr-selection', 'pcr-digest', 'replay'];
  const verified = checks.filter((x) => authentic.includes(x.name)).every((x) => x.status !== 'contraindicated') && digestOk;
  return { checks, verified, ak, attest };
}
