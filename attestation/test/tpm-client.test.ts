/**
 * The TPM 2.0 client (TPM 2.0 Part 3 commands; TCG EK Credential Profile 2.0 templates) against a
 * private swtpm over TCP: startup, random, PCR banks, PCR read/extend (looping over 8-digest
 * calls), primaries, AK create/load, ReadPublic, Quote, flush, and a power cycle via the control
 * channel; TPM_CAP_HANDLES shows that nothing stays loaded.
 */
import test from 'ava';
import { AttestationError } from '../src/errors.ts';
import { ALG_SHA1, ALG_SHA256, digest, hashByName } from '../src/hash.ts';
import { useSwtpm } from '../src/lab/fixture.ts';
import { TPM_ALG, TPM_HT, TPM_PT, TPM_RH } from '../src/structures/constants.ts';
import { objectName } from '../src/structures/public.ts';
import { getTpmProperty, listHandles } from '../src/tpm/capability.ts';
import { swtpmControl } from '../src/tpm/swtpm.ts';
import { akTemplate, EK_ATTRIBUTES, ekTemplate, srkTemplate } from '../src/tpm/templates.ts';

const fx = useSwtpm(test);
const { tpmTest } = fx;

tpmTest('GetRandom returns the bytes asked for, across several calls', async (t) => {
  const r = await fx.tpm.getRandom(100);
  t.is(r.length, 100);
  t.notDeepEqual(r, new Uint8Array(100));
});

tpmTest('GetCapability lists the sha1 and sha256 banks with 24 PCRs', async (t) => {
  const banks = await fx.tpm.getPcrBanks();
  const sha256 = banks.find((b) => b.hash === ALG_SHA256);
  t.deepEqual(sha256?.pcrs, [...Array(24).keys()]);
  t.truthy(banks.find((b) => b.hash === ALG_SHA1));
});

tpmTest('PCR_Read loops over 8-digest calls; PCR_Extend changes exactly one PCR', async (t) => {
  const sha256 = hashByName('sha256')!;
  const before = await fx.tpm.pcrRead({ hash: ALG_SHA256, pcrs: [...Array(24).keys()] });
  t.is(before.values.size, 24);
  t.deepEqual(before.values.get(17), new Uint8Array(32).fill(0xff), 'DRTM PCRs start at all-ones');
  const d = digest(sha256, Buffer.from('enigm'));
  await fx.tpm.pcrExtend(16, [{ alg: ALG_SHA256, digest: d }]);
  const after = await fx.tpm.pcrRead({ hash: ALG_SHA256, pcrs: [15, 16] });
  t.deepEqual(after.values.get(16), digest(sha256, before.values.get(16)!, d));
  t.deepEqual(after.values.get(15), before.values.get(15));
});

for (const kind of ['ecc', 'rsa'] as const) {
  tpmTest(`CreatePrimary makes the ${kind} EK from the TCG template; it is deterministic`, async (t) => {
    const a = await fx.tpm.createPrimary(ekTemplate(kind), { hierarchy: TPM_RH.ENDORSEMENT });
    await fx.tpm.flushContext(a.handle);
    const b = await fx.tpm.createPrimary(ekTemplate(kind), { hierarchy: TPM_RH.ENDORSEMENT });
    await fx.tpm.flushContext(b.handle);
    t.deepEqual(a.name, b.name);
    t.is(a.public.attributes, EK_ATTRIBUTES);
    t.is(a.public.type, kind === 'ecc' ? TPM_ALG.ECC : TPM_ALG.RSA);
    if (a.public.type === TPM_ALG.RSA) t.is(a.public.modulus.length, 256);
    else t.is(a.public.x.length, 32);
  });

  tpmTest(`an ${kind} AK is created under the SRK, loaded, read back and quotes`, async (t) => {
    const srk = await fx.tpm.createPrimary(srkTemplate('ecc'));
    try {
      const blob = await fx.tpm.create(srk.handle, akTemplate(kind));
      const ak = await fx.tpm.load(srk.handle, blob);
      try {
        const pub = await fx.tpm.readPublic(ak.handle);
        t.deepEqual(pub.name, objectName(blob.publicArea));
        const q = await fx.tpm.quote(ak.handle, Buffer.from('nonce'), [{ hash: ALG_SHA256, pcrs: [0, 7] }]);
        t.true(q.attest.length > 50);
        t.is((q.signature[0]! << 8) | q.signature[1]!, kind === 'ecc' ? TPM_ALG.ECDSA : TPM_ALG.RSASSA);
      } finally {
        await fx.tpm.flushContext(ak.handle);
      }
    } finally {
      await fx.tpm.flushContext(srk.handle);
    }
  });
}

tpmTest('TPM errors come back decoded, with the raw response code', async (t) => {
  const e = await t.throwsAsync(fx.tpm.flushContext(0x80ffffff), { instanceOf: AttestationError });
  t.is(e?.code, 'TPM_RESPONSE');
  t.true(typeof e?.rc === 'number' && e.rc !== 0);
  t.regex(e!.message, /TPM_RC_/);
});

tpmTest('no transient object is left loaded: TPM_CAP_HANDLES lists none and every swtpm slot is free again', async (t) => {
  const slots = await getTpmProperty(fx.tpm, TPM_PT.HR_TRANSIENT_AVAIL);
  t.true((slots ?? 0) >= 3, `transient slots available: ${slots}`);
  t.deepEqual(await listHandles(fx.tpm, TPM_HT.TRANSIENT), [], 'earlier tests left a transient object loaded');
  const handles: number[] = [];
  for (let i = 0; i < 3; i++) handles.push((await fx.tpm.createPrimary(srkTemplate('ecc'))).handle);
  t.deepEqual(
    [...(await listHandles(fx.tpm, TPM_HT.TRANSIENT))].sort(),
    [...handles].sort(),
    'the three loaded objects are listed',
  );
  t.is(await getTpmProperty(fx.tpm, TPM_PT.HR_TRANSIENT_AVAIL), (slots ?? 0) - 3);
  for (const h of handles) await fx.tpm.flushContext(h);
  t.deepEqual(await listHandles(fx.tpm, TPM_HT.TRANSIENT), []);
  t.is(await getTpmProperty(fx.tpm, TPM_PT.HR_TRANSIENT_AVAIL), slots);
});

tpmTest('a power cycle through the control channel: Shutdown(STATE) + Startup(STATE) survives', async (t) => {
  await fx.tpm.shutdown('state');
  await fx.tpm.transport.close();
  await swtpmControl({ host: fx.sw.host, port: fx.sw.ctrlPort }, 'init');
  await fx.connect();
  await fx.tpm.startup('state');
  t.is((await fx.tpm.getRandom(8)).length, 8);
});
