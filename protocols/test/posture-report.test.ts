/**
 * The posture report claims set (protocols/src/posture/report.ts, RFC 9711 EAT claims in strict
 * deterministic CBOR, RFC 9052 COSE_Sign1): round trip of any valid claims set (property), strict
 * refusals (unknown keys, duplicates, trailing bytes, bounds), signature and quote-nonce binding,
 * and fuzzing: garbage and mutations never throw anything but a ProtocolError.
 */
import test from 'ava';
import fc from 'fast-check';
import { decode, encode } from '../src/cbor/index.ts';
import { ed25519Generate } from '../src/crypto/index.ts';
import { ProtocolError } from '../src/errors.ts';
import {
  COMPLIANCE_DECISIONS,
  decodePostureClaims,
  decodePostureEvidence,
  encodePostureClaims,
  encodePostureEvidence,
  handleOfUeid,
  openPostureReport,
  POSTURE_CLAIM_KEYS,
  type PostureClaimsValue,
  peekPostureClaims,
  postureQuoteNonce,
  REPORT_TRIGGERS,
  type SignalValue,
  signPostureClaims,
  TPM_BINDING,
  ueidOfHandle,
} from '../src/posture/index.ts';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const leaf = fc.oneof(fc.constant(null), fc.boolean(), fc.maxSafeInteger(), fc.string({ maxLength: 40 }));
const value: fc.Arbitrary<SignalValue> = fc.oneof(
  leaf,
  fc.array(leaf, { maxLength: 5 }),
  fc.dictionary(fc.stringMatching(/^[a-z][a-zA-Z]{0,8}$/), leaf, { maxKeys: 4 }),
);
const signal = fc.record({
  name: fc.stringMatching(/^[a-z][a-z0-9.]{0,20}$/),
  ok: fc.boolean(),
  value,
  source: fc.string({ maxLength: 64 }),
  ageMs: fc.nat(),
  ttlMs: fc.nat(),
});
const claimsArb: fc.Arbitrary<PostureClaimsValue> = fc
  .record({
    nonce: fc.option(fc.uint8Array({ minLength: 8, maxLength: 64 }), { nil: undefined }),
    handle: bytes(16),
    version: fc.string({ minLength: 1, maxLength: 32 }),
    id: bytes(16),
    seq: fc.maxSafeNat(),
    monoMs: fc.maxSafeNat(),
    runId: bytes(16),
    wallMs: fc.maxSafeNat(),
    signals: fc.uniqueArray(signal, { selector: (s) => s.name, maxLength: 8 }),
    policy: fc.option(fc.record({ id: fc.string({ maxLength: 64 }), version: fc.maxSafeNat() }), { nil: undefined }),
    decision: fc.constantFrom(...(Object.keys(COMPLIANCE_DECISIONS) as (keyof typeof COMPLIANCE_DECISIONS)[])),
    binding: fc.constantFrom(...(Object.keys(TPM_BINDING) as (keyof typeof TPM_BINDING)[])),
    trigger: fc.constantFrom(...(Object.keys(REPORT_TRIGGERS) as (keyof typeof REPORT_TRIGGERS)[])),
  })
  .map((r) => ({
    ...(r.nonce ? { nonce: r.nonce } : {}),
    ueid: ueidOfHandle(r.handle),
    swname: 'enigm-posture-agent',
    swversion: [r.version],
    id: r.id,
    seq: r.seq,
    monoMs: r.monoMs,
    runId: r.runId,
    wallMs: r.wallMs,
    signals: r.signals.map((s) =>
      s.ok
        ? { name: s.name, status: 'ok' as const, value: s.value, source: s.source, ageMs: s.ageMs, ttlMs: s.ttlMs }
        : { name: s.name, status: 'unknown' as const, reason: 'no source', source: s.source, ageMs: s.ageMs, ttlMs: s.ttlMs },
    ),
    ...(r.policy ? { policy: r.policy } : {}),
    compliance: { decision: r.decision, reasons: [{ signal: 'secureboot', code: 'mismatch', message: 'expected enabled' }] },
    tpm: { binding: r.binding },
    trigger: r.trigger,
  }));

const sample: PostureClaimsValue = {
  ueid: ueidOfHandle(new Uint8Array(16).fill(7)),
  swname: 'enigm-posture-agent',
  swversion: ['0.1.0'],
  id: new Uint8Array(16).fill(1),
  seq: 3,
  monoMs: 1200,
  runId: new Uint8Array(16).fill(2),
  wallMs: 1_760_000_000_000,
  signals: [
    { name: 'secureboot', status: 'ok', value: 'enabled', source: 'linux:/sys/firmware/efi', ageMs: 5, ttlMs: 60_000 },
    {
      name: 'network.policy',
      status: 'ok',
      value: { vpn: 'on', proxy: false, torGateway: false, esimProfile: 'none' },
      source: 'enigm-osd',
      ageMs: 5,
      ttlMs: 60_000,
    },
    { name: 'tpm.pcrBanks', status: 'unknown', reason: 'no TPM', source: 'tpm', ageMs: 0, ttlMs: 60_000 },
  ],
  compliance: { decision: 'compliant', reasons: [] },
  tpm: { binding: 'absent', reason: 'no TPM' },
  trigger: 'periodic',
};

test('any valid claims set round-trips through the deterministic encoding (property)', (t) => {
  fc.assert(
    fc.property(claimsArb, (c) => {
      const b = encodePostureClaims(c);
      const back = decodePostureClaims(b);
      t.deepEqual(encodePostureClaims(back), b);
      t.deepEqual(handleOfUeid(back.ueid), c.ueid.slice(1));
    }),
    { numRuns: 300 },
  );
});

test('structured signal values (records, lists) survive as CBOR maps with text keys', (t) => {
  const back = decodePostureClaims(encodePostureClaims(sample));
  t.deepEqual(back.signals[1]?.value, { vpn: 'on', proxy: false, torGateway: false, esimProfile: 'none' });
  t.is(back.signals[2]?.reason, 'no TPM');
});

test('strict: unknown claim keys, trailing bytes, duplicate signals and wrong types are refused', (t) => {
  const map = decode(encodePostureClaims(sample)) as Map<number, unknown>;
  const withUnknown = new Map(map);
  withUnknown.set(-70999, 1);
  t.throws(() => decodePostureClaims(encode(withUnknown as never)), { instanceOf: ProtocolError, code: 'MESSAGE_INVALID' });
  const good = encodePostureClaims(sample);
  t.throws(() => decodePostureClaims(Uint8Array.of(...good, 0)), { instanceOf: ProtocolError, code: 'CBOR_TRAILING_BYTES' });
  const dup = { ...sample, signals: [sample.signals[0]!, sample.signals[0]!] };
  t.throws(() => encodePostureClaims(dup), { instanceOf: ProtocolError, code: 'MESSAGE_INVALID' });
  const wrongSeq = new Map(map);
  wrongSeq.set(POSTURE_CLAIM_KEYS.seq, -1);
  t.throws(() => decodePostureClaims(encode(wrongSeq as never)), { instanceOf: ProtocolError, code: 'MESSAGE_INVALID' });
  const deep = { ...sample, signals: [{ ...sample.signals[0]!, value: [[[['x']]]] as SignalValue }] };
  t.throws(() => encodePostureClaims(deep), { instanceOf: ProtocolError, code: 'MESSAGE_INVALID' });
  const okNoValue = { ...sample, signals: [{ name: 'x', status: 'ok' as const, source: 's', ageMs: 0, ttlMs: 0 }] };
  t.throws(() => encodePostureClaims(okNoValue), { instanceOf: ProtocolError, code: 'MESSAGE_INVALID' });
});

test('the COSE_Sign1 verifies only under the agent key; the quote nonce is bound to the exact claims bytes', (t) => {
  const agent = ed25519Generate();
  const other = ed25519Generate();
  const claimsBytes = encodePostureClaims(sample);
  const cose = signPostureClaims(claimsBytes, { seed: agent.seed });
  const opened = openPostureReport(cose, agent.publicKey);
  t.deepEqual(opened.claimsBytes, claimsBytes);
  t.is(opened.claims.seq, 3);
  t.throws(() => openPostureReport(cose, other.publicKey), { instanceOf: ProtocolError, code: 'CRYPTO_BAD_SIGNATURE' });
  t.is(peekPostureClaims(cose).seq, 3);
  const n1 = postureQuoteNonce(claimsBytes);
  const n2 = postureQuoteNonce(encodePostureClaims({ ...sample, nonce: new Uint8Array(16).fill(9) }));
  t.is(n1.length, 32);
  t.notDeepEqual(n1, n2, 'a challenge nonce in the claims changes the quote nonce');
  const ev = encodePostureEvidence({ report: cose });
  t.deepEqual(decodePostureEvidence(ev).report, cose);
});

/** A mutation of `b`: flipped bytes, a cut, or an insertion. */
function mutated(b: Uint8Array): fc.Arbitrary<Uint8Array> {
  const at = fc.nat({ max: b.length - 1 });
  return fc.oneof(
    fc.array(fc.tuple(at, fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }).map((flips) => {
      const c = Uint8Array.from(b);
      for (const [i, x] of flips) c[i] = (c[i] as number) ^ x;
      return c;
    }),
    at.map((n) => b.slice(0, n)),
    fc
      .tuple(at, fc.uint8Array({ minLength: 1, maxLength: 8 }))
      .map(([i, ins]) => Uint8Array.of(...b.slice(0, i), ...ins, ...b.slice(i))),
  );
}

test('peekPostureClaims: CBOR that is no COSE_Sign1 (null, a number, a map, another tag) is COSE_MALFORMED, never a TypeError', (t) => {
  for (const hex of ['f6', 'f5', '00', 'a0', '80', 'c11a00000000', 'd28400a0f6f6'])
    t.throws(() => peekPostureClaims(Uint8Array.from(Buffer.from(hex, 'hex'))), { instanceOf: ProtocolError }, hex);
});

test('fuzz: garbage and mutated claims, reports and envelopes throw only ProtocolError, and a mutated report never verifies', (t) => {
  const agent = ed25519Generate();
  const claimsBytes = encodePostureClaims(sample);
  const cose = signPostureClaims(claimsBytes, { seed: agent.seed });
  const ev = encodePostureEvidence({ report: cose });
  // Throws inside the property (not t.true), so fast-check shrinks and prints the input.
  const only = (f: () => unknown) => {
    try {
      f();
      return true;
    } catch (e) {
      if (e instanceof ProtocolError) return true;
      throw new Error(`not a ProtocolError: ${String(e)}`);
    }
  };
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated(claimsBytes), mutated(ev), mutated(cose)), (b) => {
      t.true(only(() => decodePostureClaims(b)));
      t.true(only(() => decodePostureEvidence(b)));
      t.true(only(() => peekPostureClaims(b)));
      let verified = false;
      const okOpen = only(() => {
        openPostureReport(b, agent.publicKey);
        verified = true;
      });
      t.true(okOpen);
      if (verified) t.deepEqual(b, cose);
    }),
    { numRuns: 1500 },
  );
});
