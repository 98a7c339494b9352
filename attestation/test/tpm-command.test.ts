/**
 * The TPM 2.0 send path without a TPM (TPM 2.0 Part 1 §18 command/response framing, Part 2 §6.6
 * response codes): password-session framing, response-code decoding, retry with injected backoff,
 * and strict response parsing through a fake transport.
 */
import test from 'ava';
import { AttestationError } from '../src/errors.ts';
import { TPM_CC } from '../src/structures/constants.ts';
import { TpmReader, TpmWriter } from '../src/structures/marshal.ts';
import { readPcrSelections, writePcrSelections } from '../src/structures/pcr-selection.ts';
import { marshalCommand, parseResponse, runCommand } from '../src/tpm/command.ts';
import { decodeResponseCode, describeResponseCode } from '../src/tpm/rc.ts';
import type { TpmTransport } from '../src/tpm/transport.ts';

function response(rc: number, body: Uint8Array = new Uint8Array(), tag = 0x8001): Uint8Array {
  const w = new TpmWriter()
    .u16(tag)
    .u32(10 + body.length)
    .u32(rc)
    .bytes(body);
  return w.finish();
}

function fake(replies: Uint8Array[]): TpmTransport & { sent: Uint8Array[] } {
  const sent: Uint8Array[] = [];
  return {
    sent,
    async send(c) {
      sent.push(c);
      const r = replies.shift();
      if (!r) throw new Error('no more replies');
      return r;
    },
    async close() {},
  };
}

test('a command with a password session is framed per Part 1 §18', (t) => {
  const c = marshalCommand({
    code: TPM_CC.PCR_Extend,
    handles: [16],
    auth: [new Uint8Array()],
    params: Uint8Array.of(0, 0, 0, 0),
  });
  t.is(
    Buffer.from(c).toString('hex'),
    '80020000001f00000182' + '00000010' + '00000009' + '40000009' + '0000' + '00' + '0000' + '00000000',
  );
});

test('response codes decode to names, subjects and retryability', (t) => {
  t.like(decodeResponseCode(0x922), { name: 'RETRY', warning: true, retryable: true });
  t.like(decodeResponseCode(0x908), { name: 'YIELDED', retryable: true });
  t.like(decodeResponseCode(0x90a), { name: 'TESTING', retryable: true });
  t.like(decodeResponseCode(0x98e), { name: 'AUTH_FAIL', subject: { kind: 'session', index: 1 }, retryable: false });
  t.like(decodeResponseCode(0x1c4), { name: 'VALUE', subject: { kind: 'parameter', index: 1 } });
  t.like(decodeResponseCode(0x18b), { name: 'HANDLE', subject: { kind: 'handle', index: 1 } });
  t.like(decodeResponseCode(0x100), { name: 'INITIALIZE', warning: false });
  t.like(decodeResponseCode(0x500), { name: 'VENDOR_0x500' });
  t.is(describeResponseCode(0x98e), 'TPM_RC_AUTH_FAIL (0x98e) on session 1');
});

test('RETRY is retried with capped exponential backoff, then succeeds', async (t) => {
  const tr = fake([response(0x922), response(0x908), response(0)]);
  const sleeps: number[] = [];
  await runCommand(tr, { code: TPM_CC.GetRandom }, { sleep: async (ms) => void sleeps.push(ms), random: () => 0.5, baseMs: 10 });
  t.deepEqual(sleeps, [7.5, 15]);
  t.is(tr.sent.length, 3);
});

test('retries stop after the last attempt with TPM_RETRY_EXHAUSTED', async (t) => {
  const tr = fake([response(0x90a), response(0x90a), response(0x90a)]);
  const e = await t.throwsAsync(runCommand(tr, { code: TPM_CC.GetRandom }, { attempts: 3, sleep: async () => {} }), {
    instanceOf: AttestationError,
  });
  t.is(e?.code, 'TPM_RETRY_EXHAUSTED');
  t.is(e?.rc, 0x90a);
});

test('a failing response code is not retried and keeps rc', async (t) => {
  const tr = fake([response(0x98e)]);
  const e = await t.throwsAsync(runCommand(tr, { code: TPM_CC.Quote }), { instanceOf: AttestationError });
  t.like(e, { code: 'TPM_RESPONSE', rc: 0x98e });
});

test('malformed responses are TPM_MARSHAL errors', (t) => {
  t.throws(() => parseResponse(Uint8Array.of(0x80, 1, 0, 0), { code: 1 }), {
    instanceOf: AttestationError,
    message: /ends inside/,
  });
  const wrongSize = response(0);
  wrongSize[5] = 99;
  t.throws(() => parseResponse(wrongSize, { code: 1 }), { message: /size field/ });
  t.throws(() => parseResponse(response(0, new Uint8Array(), 0x1234), { code: 1 }), { message: /tag/ });
});

test('PCR selections round-trip; sizeofSelect is at least 3', (t) => {
  const w = new TpmWriter();
  writePcrSelections(w, [
    { hash: 0xb, pcrs: [0, 1, 7] },
    { hash: 4, pcrs: [23] },
  ]);
  const b = w.finish();
  t.is(Buffer.from(b).toString('hex'), '00000002' + '000b' + '03' + '830000' + '0004' + '03' + '000080');
  t.deepEqual(readPcrSelections(new TpmReader(b)), [
    { hash: 0xb, pcrs: [0, 1, 7] },
    { hash: 4, pcrs: [23] },
  ]);
  t.throws(() => writePcrSelections(new TpmWriter(), [{ hash: 0xb, pcrs: [256] }]), { instanceOf: RangeError });
});
