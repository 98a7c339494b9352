/**
 * TPM faults never stop the agent (issue 14 "a missing or locked TPM"): a TPM in dictionary-attack
 * lockout (TPM 2.0 Part 2 §6.6 TPM_RC_LOCKOUT answered to every command), a device held by another
 * process (EBUSY), a missing device (ENOENT) and a TPM that never answers each give a signed report
 * without a quote whose `tpm` claim says why; the transport is always closed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TpmTransport } from '@enigm/attestation';
import type { TpmBinding } from '@enigm/protocols/posture';
import test from 'ava';
import { buildReport } from '../src/report/report.ts';
import { TpmQuoteSource } from '../src/tpm/quote-source.ts';

const dir = mkdtempSync(join(tmpdir(), 'enigm-agent-tpmfault-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function transport(answer: () => Promise<Uint8Array>, closed: { n: number }): TpmTransport {
  return {
    send: () => answer(),
    close: async () => {
      closed.n++;
    },
  };
}

/** A TPM response header with response code `rc` and no parameters. */
const response = (rc: number) =>
  Uint8Array.of(0x80, 0x01, 0, 0, 0, 10, (rc >>> 24) & 0xff, (rc >>> 16) & 0xff, (rc >>> 8) & 0xff, rc & 0xff);
const errno = (code: string) => Object.assign(new Error(code), { code });

const input = {
  signals: [],
  monoMs: 0,
  wallMs: 0,
  runId: new Uint8Array(16),
  seq: 1,
  id: new Uint8Array(16),
  trigger: 'periodic' as const,
  version: '0.1.0',
  compliance: { decision: 'no-policy' as const, reasons: [] },
};
const identity = { seed: new Uint8Array(32).fill(1), publicKey: new Uint8Array(0), handle: new Uint8Array(16) };

test('lockout, busy device, missing device and a silent TPM each give a report without a quote that says why', async (t) => {
  const { ed25519PublicKey } = await import('@enigm/protocols/crypto');
  const id = { ...identity, publicKey: ed25519PublicKey(identity.seed) };
  const closed = { n: 0 };
  const cases: [string, () => Promise<TpmTransport>, TpmBinding, RegExp][] = [
    ['lockout', async () => transport(async () => response(0x921), closed), 'locked', /lockout/],
    ['busy', async () => Promise.reject(errno('EBUSY')), 'locked', /EBUSY/],
    ['missing', async () => Promise.reject(errno('ENOENT')), 'absent', /no TPM/],
    ['silent', async () => transport(() => new Promise(() => {}), closed), 'failed', /did not answer/],
  ];
  for (const [name, open, binding, reason] of cases) {
    const tpm = new TpmQuoteSource({ spec: 'device', akBlobPath: join(dir, `${name}.json`), open, timeoutMs: 300 });
    const r = await buildReport(input, id, tpm);
    t.is(r.binding, binding, name);
    t.regex(r.claims.tpm.reason ?? '', reason, name);
    t.is(r.claims.tpm.binding, binding);
  }
  t.true(closed.n >= 1, 'the lockout transport was closed');
});
