/**
 * Long run on one swtpm (TPM 2.0 Part 3 §30.2 GetCapability TPM_CAP_HANDLES): 50 quotes with
 * fresh nonces, interleaved with credential activations that succeed and that fail, leave no
 * transient object and no session loaded (swtpm has 3 object slots, so one leak would soon
 * break Create/Load), and every quote appraises as affirming.
 */
import { randomBytes } from 'node:crypto';
import { toHex } from '@enigm/protocols/bytes';
import test from 'ava';
import { collectQuote } from '../src/collect/quote.ts';
import { activateEnrollment } from '../src/enroll.ts';
import { AttestationError } from '../src/errors.ts';
import { ALG_SHA256 } from '../src/hash.ts';
import { useSwtpm } from '../src/lab/fixture.ts';
import { TPM_HT, TPM_PT, TPM_RH } from '../src/structures/constants.ts';
import { objectName } from '../src/structures/public.ts';
import { getTpmProperty, listHandles } from '../src/tpm/capability.ts';
import type { KeyBlob } from '../src/tpm/client.ts';
import { ekTemplate } from '../src/tpm/templates.ts';
import { appraise } from '../src/verify/appraise.ts';
import { makeCredential } from '../src/verify/credential.ts';
import type { ClockState } from '../src/verify/result.ts';

const fx = useSwtpm(test);
const { tpmTest } = fx;

tpmTest('50 quotes and 10 activations (5 refused) leak no transient objects or sessions', async (t) => {
  const slots = await getTpmProperty(fx.tpm, TPM_PT.HR_TRANSIENT_AVAIL);
  t.true((slots ?? 0) >= 3, `transient slots available: ${slots}`);
  const ekPublic = await (async () => {
    const o = await fx.tpm.createPrimary(ekTemplate('rsa'), { hierarchy: TPM_RH.ENDORSEMENT });
    await fx.tpm.flushContext(o.handle);
    return o.public;
  })();
  const pcrs = [0, 7];
  let akBlob: KeyBlob | undefined;
  let previous: ClockState | undefined;
  let refused = 0;
  const t0 = Date.now();
  for (let i = 0; i < 50; i++) {
    const nonce = new Uint8Array(randomBytes(32));
    const q = await collectQuote(fx.tpm, { nonce, pcrs, ...(akBlob ? { akBlob } : {}) });
    akBlob = q.akBlob;
    const r = appraise({
      evidence: q.evidence,
      expect: { nonce, bank: ALG_SHA256, pcrs, ...(previous ? { previous } : {}) },
      policy: { akNames: [toHex(objectName(akBlob.publicArea))] },
    });
    t.is(r.status, 'affirming', `quote ${i}: ${JSON.stringify(r.checks.filter((c) => c.status !== 'affirming'))}`);
    previous = r.clockState;
    if (i % 5 === 0) {
      const secret = new Uint8Array(randomBytes(32));
      const c = makeCredential({ ek: ekPublic, akPublic: akBlob.publicArea, secret });
      if (i % 10 === 0) t.deepEqual(await activateEnrollment(fx.tpm, akBlob, c), secret);
      else {
        const bad = { ...c, credentialBlob: new Uint8Array(c.credentialBlob) };
        bad.credentialBlob[3] = (bad.credentialBlob[3] ?? 0) ^ 0xff;
        await t.throwsAsync(activateEnrollment(fx.tpm, akBlob, bad), {
          instanceOf: AttestationError,
          code: 'CREDENTIAL_ACTIVATION_FAILED',
        });
        refused++;
      }
    }
  }
  t.log(`50 quotes + 10 activations in ${Date.now() - t0} ms`);
  t.is(refused, 5);
  t.deepEqual(await listHandles(fx.tpm, TPM_HT.TRANSIENT), []);
  t.deepEqual(await listHandles(fx.tpm, TPM_HT.HMAC_SESSION), []);
  t.deepEqual(await listHandles(fx.tpm, TPM_HT.POLICY_SESSION), []);
  t.is(await getTpmProperty(fx.tpm, TPM_PT.HR_TRANSIENT_AVAIL), slots);
});
