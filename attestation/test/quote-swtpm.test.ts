/**
 * Collector and verifier end to end on a private swtpm (TPM 2.0 Part 3 §18.4 Quote): ECC and
 * RSA AKs, a software-measured event log replayed against quoted PCRs, and the per-AK clock rules
 * across a TPM Reset and a TPM Restart driven through swtpm's control channel.
 */

import { toHex } from '@enigm/protocols/bytes';
import test from 'ava';
import { collectQuote } from '../src/collect/quote.ts';
import { encodeEventLog } from '../src/eventlog/encode.ts';
import { EV_IPL } from '../src/eventlog/event-types.ts';
import { ALG_SHA256, digest, hashByName } from '../src/hash.ts';
import { useSwtpm } from '../src/lab/fixture.ts';
import { objectName } from '../src/structures/public.ts';
import type { KeyBlob } from '../src/tpm/client.ts';
import { swtpmControl } from '../src/tpm/swtpm.ts';
import { appraise } from '../src/verify/appraise.ts';

const fx = useSwtpm(test);
const { tpmTest } = fx;

const PCRS = [0, 1, 2, 3, 4, 5, 6, 7];

for (const akKind of ['ecc', 'rsa'] as const) {
  tpmTest(`a swtpm quote with an ${akKind} AK appraises as affirming`, async (t) => {
    const nonce = await fx.tpm.getRandom(32);
    const { evidence } = await collectQuote(fx.tpm, { nonce, akKind, pcrs: PCRS });
    const r = appraise({
      evidence,
      expect: { nonce, bank: ALG_SHA256, pcrs: PCRS },
      policy: { akNames: [toHex(objectName(evidence.akPublic))] },
    });
    t.is(r.status, 'affirming', JSON.stringify(r.checks));
    t.is(r.checks.find((c) => c.name === 'qualified-signer')?.status, 'affirming');
  });
}

tpmTest('software measurements extended into PCRs 8..15 replay from their log after the quote', async (t) => {
  const sha1 = hashByName('sha1')!;
  const sha256 = hashByName('sha256')!;
  const events = Array.from({ length: 24 }, (_, i) => ({ pcr: 8 + (i % 8), type: EV_IPL, data: Buffer.from(`measured ${i}`) }));
  for (const e of events)
    await fx.tpm.pcrExtend(e.pcr, [
      { alg: sha1.id, digest: digest(sha1, e.data) },
      { alg: sha256.id, digest: digest(sha256, e.data) },
    ]);
  const pcrs = [8, 9, 10, 11, 12, 13, 14, 15];
  const nonce = await fx.tpm.getRandom(16);
  const eventLog = encodeEventLog(['sha1', 'sha256'], events);
  const { evidence } = await collectQuote(fx.tpm, { nonce, pcrs, eventLog });
  const expect = { nonce, bank: ALG_SHA256, pcrs };
  const r = appraise({ evidence, expect, policy: { akNames: [toHex(objectName(evidence.akPublic))] } });
  t.is(r.checks.find((c) => c.name === 'event-log')?.status, 'affirming', JSON.stringify(r.checks));
  // one measurement the log does not show
  await fx.tpm.pcrExtend(12, [{ alg: sha256.id, digest: digest(sha256, Buffer.from('hidden')) }]);
  const n2 = await fx.tpm.getRandom(16);
  const again = await collectQuote(fx.tpm, { nonce: n2, pcrs, eventLog });
  const bad = appraise({ evidence: again.evidence, expect: { ...expect, nonce: n2 } });
  t.is(bad.status, 'contraindicated');
  t.regex(bad.checks.find((c) => c.name === 'event-log')!.reason, /\[12\]/);
});

tpmTest('clock state per AK: a TPM Reset and a TPM Restart are accepted, an old quote afterwards is not', async (t) => {
  const pcrs = [0];
  const quote = async (akBlob?: KeyBlob) => {
    const nonce = await fx.tpm.getRandom(16);
    const c = await collectQuote(fx.tpm, { nonce, pcrs, ...(akBlob ? { akBlob } : {}) });
    return { ...c, nonce };
  };
  const reconnect = async (state: 'reset' | 'restart') => {
    if (state === 'restart') await fx.tpm.shutdown('state');
    await fx.tpm.transport.close();
    await swtpmControl({ host: fx.sw.host, port: fx.sw.ctrlPort }, 'init');
    await fx.connect();
    await fx.tpm.startup('clear');
  };
  const first = await quote();
  const appr = (q: Awaited<ReturnType<typeof quote>>, previous?: { clock: number; resetCount: number; restartCount: number }) =>
    appraise({ evidence: q.evidence, expect: { nonce: q.nonce, bank: ALG_SHA256, pcrs, ...(previous ? { previous } : {}) } });
  const s1 = appr(first).clockState!;
  await reconnect('reset');
  const second = await quote(first.akBlob);
  const r2 = appr(second, s1);
  t.regex(r2.checks.find((c) => c.name === 'replay')!.reason, /reset 1 time/);
  await reconnect('restart');
  const third = await quote(first.akBlob);
  const r3 = appr(third, r2.clockState);
  t.regex(r3.checks.find((c) => c.name === 'replay')!.reason, /restarted 1 time/);
  const replayed = appr(second, r3.clockState);
  t.is(replayed.checks.find((c) => c.name === 'replay')?.status, 'contraindicated');
});
