/**
 * Interoperability with tpm2-tools 5.x on a private swtpm (TPM 2.0 Part 3 §18.4 Quote formats):
 * our quotes verify with `tpm2_checkquote`, and a `tpm2_quote`-made quote appraises here.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { toHex } from '@enigm/protocols/bytes';
import test from 'ava';
import { collectQuote } from '../src/collect/quote.ts';
import { withTpm } from '../src/documents.ts';
import { ALG_SHA256 } from '../src/hash.ts';
import { fromTpm2Tools, qualificationArg } from '../src/interop/tpm2-tools.ts';
import { checkquoteArgs, useSwtpm } from '../src/lab/fixture.ts';
import { objectName } from '../src/structures/public.ts';
import { appraise } from '../src/verify/appraise.ts';

const run = promisify(execFile);
let dir = '';
const fx = useSwtpm(test, {
  connect: false,
  setup() {
    dir = mkdtempSync(join(tmpdir(), 'enigm-interop-'));
  },
  teardown() {
    if (dir) rmSync(dir, { recursive: true, force: true });
  },
});
const { tpmTest } = fx;

const PCRS = [0, 1, 7];

for (const akKind of ['ecc', 'rsa'] as const) {
  tpmTest(`our ${akKind} quote verifies with tpm2_checkquote, and a tampered one does not`, async (t) => {
    const nonce = Buffer.from(`enigm-${akKind}-nonce`);
    const { evidence } = await withTpm(fx.sw.spec, (tpm) => collectQuote(tpm, { nonce, pcrs: PCRS, akKind }));
    const args = checkquoteArgs(evidence, nonce, dir, `${akKind}-`);
    await t.notThrowsAsync(run('tpm2_checkquote', args));
    await t.throwsAsync(run('tpm2_checkquote', [...args.slice(0, -1), qualificationArg(Buffer.from('other'))]));
  });
}

tpmTest(
  'a tpm2_quote-made quote (tpm2_createprimary/create/load/quote) passes every check; qualified-signer can only warn',
  async (t) => {
    const env = { ...process.env, TPM2TOOLS_TCTI: fx.sw.spec };
    const p = (n: string) => join(dir, `tools-${n}`);
    // without a resource manager tpm2-tools leave loaded contexts behind: flush after each tool
    const tool = async (name: string, args: string[]) => {
      await run(name, args, { env });
      await run('tpm2_flushcontext', ['-t'], { env });
    };
    await tool('tpm2_createprimary', ['-C', 'o', '-g', 'sha256', '-G', 'ecc', '-c', p('prim.ctx')]);
    await tool('tpm2_create', [
      '-C',
      p('prim.ctx'),
      '-G',
      'ecc:ecdsa-sha256:null',
      '-u',
      p('ak.pub'),
      '-r',
      p('ak.priv'),
      '-a',
      'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign|noda',
    ]);
    await tool('tpm2_load', ['-C', p('prim.ctx'), '-u', p('ak.pub'), '-r', p('ak.priv'), '-c', p('ak.ctx')]);
    const nonce = Buffer.from('00112233445566778899', 'hex');
    await tool('tpm2_quote', [
      '-c',
      p('ak.ctx'),
      '-l',
      'sha256:0,1,7',
      '-q',
      toHex(nonce),
      '-m',
      p('msg'),
      '-s',
      p('sig'),
      '-g',
      'sha256',
    ]);
    const { values } = await withTpm(fx.sw.spec, (tpm) => tpm.pcrRead({ hash: ALG_SHA256, pcrs: PCRS }));
    const evidence = fromTpm2Tools({
      akPublic2b: readFileSync(p('ak.pub')),
      message: readFileSync(p('msg')),
      signature: readFileSync(p('sig')),
      pcrBank: ALG_SHA256,
      pcrs: values,
    });
    const r = appraise({
      evidence,
      expect: { nonce, bank: ALG_SHA256, pcrs: PCRS },
      policy: { akNames: [toHex(objectName(evidence.akPublic))] },
    });
    // tpm2-tools does not hand over the parent's Qualified Name: that one check can only warn
    t.is(r.checks.find((c) => c.name === 'qualified-signer')?.status, 'warning');
    t.deepEqual(
      r.checks.filter((c) => c.status === 'contraindicated'),
      [],
    );
    t.is(r.checks.find((c) => c.name === 'signature')?.status, 'affirming');
    t.is(r.checks.find((c) => c.name === 'pcr-digest')?.status, 'affirming');
  },
);
