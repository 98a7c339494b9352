/**
 * Credential activation (TPM 2.0 Part 1 §24; Part 3 §12.5 ActivateCredential, §23.4
 * PolicySecret): software MakeCredential against an RSA EK of the TCG template L-1 on a private
 * swtpm; the TPM recovers the secret only for the AK the credential names and an unaltered blob;
 * AKs that are not TPM-resident restricted signing keys are refused before anything is made.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '@enigm/protocols/bytes';
import test from 'ava';
import { AttestationError } from '../src/errors.ts';
import { ALG_SHA256, hashById } from '../src/hash.ts';
import { useSwtpm } from '../src/lab/fixture.ts';
import { TPMA_OBJECT as A, TPM_HT, TPM_RH } from '../src/structures/constants.ts';
import { TpmReader, TpmWriter } from '../src/structures/marshal.ts';
import { marshalPublic, parsePublic } from '../src/structures/public.ts';
import { activateCredential } from '../src/tpm/activate.ts';
import { listHandles } from '../src/tpm/capability.ts';
import type { LoadedObject } from '../src/tpm/client.ts';
import { akTemplate, ekTemplate, srkTemplate } from '../src/tpm/templates.ts';
import { type Credential, kdfa, makeCredential } from '../src/verify/credential.ts';

let ek: LoadedObject;
let ak: LoadedObject;
let ak2: LoadedObject;
const fx = useSwtpm(test, {
  async setup({ tpm }) {
    ek = await tpm.createPrimary(ekTemplate('rsa'), { hierarchy: TPM_RH.ENDORSEMENT });
    const srk = await tpm.createPrimary(srkTemplate('ecc'));
    const blob2 = await tpm.create(srk.handle, akTemplate('rsa')); // 3 transient slots: create before loading
    ak = await tpm.load(srk.handle, await tpm.create(srk.handle, akTemplate('ecc')));
    await tpm.flushContext(srk.handle);
    ak2 = { ...ak, public: parsePublic(blob2.publicArea), publicArea: blob2.publicArea };
  },
  async teardown({ tpm }) {
    if (ek) await tpm.flushContext(ek.handle).catch(() => undefined);
    if (ak) await tpm.flushContext(ak.handle).catch(() => undefined);
  },
});
const { tpmTest } = fx;

const activate = (c: Credential) => activateCredential(fx.tpm, { akHandle: ak.handle, ekHandle: ek.handle, ...c });

test('KDFa is SP 800-108 counter-mode HMAC: deterministic, label- and length-sensitive, prefix-consistent', (t) => {
  const h = hashById(ALG_SHA256)!;
  const k = new Uint8Array(32).fill(7);
  const a = kdfa(h, k, 'STORAGE', new Uint8Array([1]), new Uint8Array(), 512);
  t.is(a.length, 64);
  t.deepEqual(kdfa(h, k, 'STORAGE', new Uint8Array([1]), new Uint8Array(), 512), a);
  t.notDeepEqual(kdfa(h, k, 'INTEGRITY', new Uint8Array([1]), new Uint8Array(), 512), a);
  // the bit length is hashed into every block: a shorter output is not a prefix
  t.notDeepEqual(kdfa(h, k, 'STORAGE', new Uint8Array([1]), new Uint8Array(), 128), a.subarray(0, 16));
  t.throws(() => kdfa(h, k, 'X', new Uint8Array(), new Uint8Array(), 7), { instanceOf: RangeError });
});

tpmTest('the TPM recovers the secret of a software MakeCredential for its AK (RSA EK, policy session)', async (t) => {
  const secret = randomBytes(32);
  const got = await activate(makeCredential({ ek: ek.public, akPublic: ak.publicArea, secret }));
  t.deepEqual(Buffer.from(got), secret);
  const short = randomBytes(16);
  t.deepEqual(Buffer.from(await activate(makeCredential({ ek: ek.public, akPublic: ak.publicArea, secret: short }))), short);
  t.deepEqual(await listHandles(fx.tpm, TPM_HT.POLICY_SESSION), [], 'the policy session was flushed');
});

tpmTest('a credential for another AK Name is refused by the TPM: CREDENTIAL_ACTIVATION_FAILED', async (t) => {
  const c = makeCredential({ ek: ek.public, akPublic: ak2.publicArea, secret: randomBytes(32) });
  const e = await t.throwsAsync(activate(c), { instanceOf: AttestationError });
  t.is(e?.code, 'CREDENTIAL_ACTIVATION_FAILED');
  t.regex(e?.message ?? '', /TPM_RC_/);
  t.deepEqual(await listHandles(fx.tpm, TPM_HT.POLICY_SESSION), []);
});

tpmTest('a tampered credential blob or encrypted secret is CREDENTIAL_ACTIVATION_FAILED', async (t) => {
  const c = makeCredential({ ek: ek.public, akPublic: ak.publicArea, secret: randomBytes(32) });
  for (const [field, at] of [
    ['credentialBlob', 5],
    ['credentialBlob', c.credentialBlob.length - 1],
    ['encryptedSecret', 17],
  ] as const) {
    const bad = { ...c, [field]: new Uint8Array(c[field]) };
    bad[field][at] = (bad[field][at] ?? 0) ^ 0x40;
    const e = await t.throwsAsync(activate(bad), { instanceOf: AttestationError }, `${field}[${at}]`);
    t.is(e?.code, 'CREDENTIAL_ACTIVATION_FAILED');
  }
  t.deepEqual(await listHandles(fx.tpm, TPM_HT.POLICY_SESSION), []);
});

tpmTest('AKs without restricted, fixedTPM or noDA, or with decrypt, are refused before a credential is made', (t) => {
  for (const drop of [A.restricted, A.fixedTPM, A.fixedParent, A.noDA]) {
    const p = { ...ak.public, attributes: ak.public.attributes & ~drop };
    t.throws(() => makeCredential({ ek: ek.public, akPublic: marshalPublic(p), secret: randomBytes(32) }), {
      instanceOf: AttestationError,
      code: 'CREDENTIAL_AK_REFUSED',
    });
  }
  const dec = marshalPublic({ ...ak.public, attributes: ak.public.attributes | A.decrypt });
  t.throws(() => makeCredential({ ek: ek.public, akPublic: dec, secret: randomBytes(32) }), { code: 'CREDENTIAL_AK_REFUSED' });
  // an EK that is not a restricted decryption key is refused too
  const signingEk = { ...ek.public, attributes: (ek.public.attributes & ~A.decrypt) | A.sign };
  t.throws(() => makeCredential({ ek: signingEk, akPublic: ak.publicArea, secret: randomBytes(32) }), {
    code: 'EK_KEY_MISMATCH',
  });
  t.throws(() => makeCredential({ ek: ek.public, akPublic: ak.publicArea, secret: randomBytes(33) }), { instanceOf: RangeError });
});

tpmTest('interop: a tpm2_makecredential (tpm2-tools, offline) credential activates here', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-makecred-'));
  try {
    const secret = randomBytes(32);
    writeFileSync(join(dir, 'ek.pub'), new TpmWriter().tpm2b(ek.publicArea).finish());
    writeFileSync(join(dir, 'secret.bin'), secret);
    execFileSync(
      'tpm2_makecredential',
      ['-T', 'none', '-u', join(dir, 'ek.pub'), '-s', join(dir, 'secret.bin'), '-n', toHex(ak.name), '-o', join(dir, 'cred.out')],
      { stdio: 'pipe' },
    );
    // tpm2-tools credential file: magic 0xBADCC0DE, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET
    const r = new TpmReader(new Uint8Array(readFileSync(join(dir, 'cred.out'))), 'credential file');
    t.is(r.u32('magic'), 0xbadcc0de);
    t.is(r.u32('version'), 1);
    const credentialBlob = new Uint8Array(r.tpm2b('TPM2B_ID_OBJECT'));
    const encryptedSecret = new Uint8Array(r.tpm2b('TPM2B_ENCRYPTED_SECRET'));
    r.end();
    t.deepEqual(Buffer.from(await activate({ credentialBlob, encryptedSecret })), secret);
    // same shape as ours: outer HMAC TPM2B (32) then encIdentity (2 + 32)
    const ours = makeCredential({ ek: ek.public, akPublic: ak.publicArea, secret });
    t.is(ours.credentialBlob.length, credentialBlob.length);
    t.is(ours.encryptedSecret.length, encryptedSecret.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
