/**
 * The TPM 2.0 client (TPM 2.0 Part 3 commands; TCG EK Credential Profile 2.0 templates) against a
 * private swtpm over TCP: startup, random, PCR banks, PCR read/extend (looping over 8-digest
 * calls), primaries, AK create/load, ReadPublic, Quote, flush, and a power cycle via the control
 * channel; TPM_CAP_HANDLES shows that nothing stays loaded.
 */
import test from 'ava';
import { AttestationError } from '../src/errors.ts';
import { ALG_SHA1, ALG_SHA256, digest, hashByName } from '../src/hash.ts';
import { type Swtpm, startSwtpm, swtpmMode } from '../src/lab/fixture.ts';
import { TPM_ALG, TPM_HT, TPM_PT, TPM_RH } from '../src/structures/constants.ts';
import { objectName } from '../src/structures/public.ts';
import { getTpmProperty, listHandles } from '../src/tpm/capability.ts';
import { TpmClient } from '../src/tpm/client.ts';
import { connectSwtpm, swtpmControl } from '../src/tpm/swtpm.ts';
import { akTemplate, EK_ATTRIBUTES, ekTemplate, srkTemplate } from '../src/tpm/templates.ts';

const mode = swtpmMode();
const tpmTest = mode === 'skip' ? test.serial.skip : test.serial;
let sw: Swtpm | undefined;
let tpm: TpmClient;

test.before(async () => {
  if (mode === 'fail') throw new Error('CI=true but swtpm is not installed');
  if (mode === 'skip') return;
  sw = await startSwtpm();
  tpm = new TpmClient(await connectSwtpm({ host: sw.host, port: sw.port }));
});

test.after.always(async () => {
  await tpm?.transport.close();
  await sw?.stop();
});

tpmTest('GetRandom returns the bytes asked for, across several calls', async (t) => {
  const r = await tpm.getRandom(100);
  t.is(r.length, 100);
  t.notDeepEqual(r, new Uint8Array(100));
});

tpmTest('GetCapability lists the sha1 and sha256 banks with 24 PCRs', async (t) => {
  const banks = await tpm.getPcrBanks();
  const sha256 = banks.find((b) => b.hash === ALG_SHA256);
  t.deepEqual(sha256?.pcrs, [...Array(24).keys()]);
  t.truthy(banks.find((b) => b.hash === ALG_SHA1));
});

tpmTest('PCR_Read loops over 8-digest calls; PCR_Extend changes exactly one PCR', async (t) => {
  const sha256 = hashByName('sha256')!;
  const before = await tpm.pcrRead({ hash: ALG_SHA256, pcrs: [...Array(24).keys()] });
  t.is(before.values.size, 24);
  t.deepEqual(before.values.get(17), new Uint8Array(32).fill(0xff), 'DRTM PCRs start at all-ones');
  const d = digest(sha256, Buffer.from('enigm'));
  await tpm.pcrExtend(16, [{ alg: ALG_SHA256, digest: d }]);
  const after = await tpm.pcrRead({ hash: ALG_SHA256, pcrs: [15, 16] });
  t.deepEqual(after.values.get(16), digest(sha256, before.values.get(16)!, d));
  t.deepEqual(after.values.get(15), before.values.get(15));
});

for (const kind of ['ecc', 'rsa'] as const) {
  tpmTest(`CreatePrimary makes the ${kind} EK from the TCG template; it is deterministic`, async (t) => {
    const a = await tpm.createPrimary(ekTemplate(kind), { hierarchy: TPM_RH.ENDORSEMENT });
    await tpm.flushContext(a.handle);
    const b = await tpm.createPrimary(ekTemplate(kind), { hierarchy: TPM_RH.ENDORSEMENT });
    await tpm.flushContext(b.handle);
    t.deepEqual(a.name, b.name);
    t.is(a.public.attributes, EK_ATTRIBUTES);
    t.is(a.public.type, kind === 'ecc' ? TPM_ALG.ECC : TPM_ALG.RSA);
    if (a.public.type === TPM_ALG.RSA) t.is(a.public.modulus.length, 256);
    else t.is(a.public.x.length, 32);
  });

  tpmTest(`an ${kind} AK is created under the SRK, loaded, read back and quotes`, async (t) => {
    const srk = await tpm.createPrimary(srkTemplate('ecc'));
    try {
      const blob = await tpm.create(srk.handle, akTemplate(kind));
      const ak = await tpm.load(srk.handle, blob);
      try {
        const pub = await tpm.readPublic(ak.handle);
        t.deepEqual(pub.name, objectName(blob.publicArea));
        const q = await tpm.quote(ak.handle, Buffer.from('nonce'), [{ hash: ALG_SHA256, pcrs: [0, 7] }]);
        t.true(q.attest.length > 50);
        t.is((q.signature[0]! << 8) | q.signature[1]!, kind === 'ecc' ? TPM_ALG.ECDSA : TPM_ALG.RSASSA);
      } finally {
        await tpm.flushContext(ak.handle);
      }
    } finally {
      await tpm.flushContext(srk.handle);
    }
  });
}

tpmTest('TPM errors come back decoded, with the raw response code', async (t) => {
  const e = await t.throwsAsync(tpm.flushContext(0x80ffffff), { instanceOf: AttestationError });
  t.is(e?.code, 'TPM_RESPONSE');
  t.true(typeof e?.rc === 'number' && e.rc !== 0);
  t.regex(e!.message, /TPM_RC_/);
});

tpmTest('no transient object is left loaded: TPM_CAP_HANDLES lists none and every swtpm slot is free again', async (t) => {
  const slots = await getTpmProperty(tpm, TPM_PT.HR_TRANSIENT_AVAIL);
  t.true((slots ?? 0) >= 3, `transient slots available: ${slots}`);
  t.deepEqual(await listHandles(tpm, TPM_HT.TRANSIENT), [], 'earlier tests left a transient object loaded');
  const handles: number[] = [];
  for (let i = 0; i < 3; i++) handles.push((await tpm.createPrimary(srkTemplate('ecc'))).handle);
  t.deepEqual([...(await listHandles(tpm, TPM_HT.TRANSIENT))].sort(), [...handles].sort(), 'the three loaded objects are listed');
  t.is(await getTpmProperty(tpm, TPM_PT.HR_TRANSIENT_AVAIL), (slots ?? 0) - 3);
  for (const h of handles) await tpm.flushContext(h);
  t.deepEqual(await listHandles(tpm, TPM_HT.TRANSIENT), []);
  t.is(await getTpmProperty(tpm, TPM_PT.HR_TRANSIENT_AVAIL), slots);
});

tpmTest('a power cycle through the control channel: Shutdown(STATE) + Startup(STATE) survives', async (t) => {
  await tpm.shutdown('state');
  await tpm.transport.close();
  await swtpmControl({ host: sw!.host, port: sw!.ctrlPort }, 'init');
  tpm = new TpmClient(await connectSwtpm({ host: sw!.host, port: sw!.port }));
  await tpm.startup('state');
  t.is((await tpm.getRandom(8)).length, 8);
});
