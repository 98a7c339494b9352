/**
 * The signed posture policy (os-agent/src/policy; COSE_Sign1 RFC 9052 by an Enigm Command key):
 * accepted only when signed by a trusted key and newer; unsigned, tampered, foreign-signed,
 * older and malformed documents are refused and the previous policy stays; evaluation into a
 * compliance decision with reasons and grace periods on the monotonic clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '@enigm/protocols/cbor';
import { signSign1 } from '@enigm/protocols/cose';
import { ed25519Generate } from '@enigm/protocols/crypto';
import test from 'ava';
import fc from 'fast-check';
import { AgentError } from '../src/errors.ts';
import { type Policy, signPolicy, verifyPolicy } from '../src/policy/document.ts';
import { evaluatePolicy, GraceTracker } from '../src/policy/evaluate.ts';
import { PolicyStore } from '../src/policy/store.ts';
import { okSignal, unknownSignal } from '../src/signals.ts';

const command = ed25519Generate();
const stranger = ed25519Generate();
const dir = mkdtempSync(join(tmpdir(), 'enigm-policy-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const policy = (version: number, over: Partial<Policy> = {}): Policy => ({
  id: 'fleet',
  version,
  issuedAt: 1000 + version,
  rules: [
    { signal: 'secureboot', allowed: ['enabled'], graceMs: 0 },
    {
      signal: 'network.policy',
      allowed: [{ vpn: 'always-on', proxy: false, torGateway: false, esimProfile: 'personal' }],
      graceMs: 60_000,
    },
    { signal: 'kernel.lockdown', allowed: ['integrity', 'confidentiality'], graceMs: 0, unknownAllowed: true },
  ],
  ...over,
});
const sign = (p: Policy, by = command) => signPolicy(p, by.seed, by.publicKey);

test('a policy signed by a trusted Enigm Command key is accepted; newer versions replace it, older and equal ones are refused and it stays', (t) => {
  const store = new PolicyStore(join(dir, 'p1.cose'), [command.publicKey]);
  t.true(store.offer(sign(policy(2))).accepted);
  t.is(store.policy?.version, 2);
  const older = store.offer(sign(policy(1)));
  t.false(older.accepted);
  t.regex((older as { reason: string }).reason, /not newer/);
  t.false(store.offer(sign(policy(2))).accepted);
  t.is(store.policy?.version, 2);
  t.true(store.offer(sign(policy(3))).accepted);
  // persisted: a new store on the same file loads version 3
  const again = new PolicyStore(join(dir, 'p1.cose'), [command.publicKey]);
  t.is(again.load(), undefined);
  t.is(again.policy?.version, 3);
});

test('unsigned, tampered, foreign-signed and malformed documents are refused; the previous policy is kept', (t) => {
  const store = new PolicyStore(join(dir, 'p2.cose'), [command.publicKey]);
  t.true(store.offer(sign(policy(1))).accepted);
  const good = sign(policy(5));
  const tampered = Uint8Array.from(good);
  tampered[tampered.length - 70] = (tampered[tampered.length - 70] as number) ^ 1;
  const foreign = sign(policy(6), stranger);
  const unsigned = encode(new Map([[1, 'fleet']]));
  const wrongAad = signSign1({ payload: encode(new Map([[1, 'x']])), seed: command.seed });
  for (const doc of [tampered, foreign, unsigned, wrongAad, new Uint8Array(0), new Uint8Array(70_000)]) {
    const r = store.offer(doc);
    t.false(r.accepted);
    t.is(store.policy?.version, 1);
  }
  t.throws(() => verifyPolicy(foreign, [command.publicKey]), { instanceOf: AgentError, code: 'POLICY_REFUSED' });
  // a validly signed payload that is not a policy
  const notPolicy = signSign1({
    payload: encode(new Map([[9, 1]])),
    seed: command.seed,
    externalAad: new TextEncoder().encode('enigm-posture-policy-v1'),
  });
  t.throws(() => verifyPolicy(notPolicy, [command.publicKey]), { code: 'POLICY_REFUSED' });
});

test('fuzz: random and mutated policy documents are refused with POLICY_REFUSED, never another error', (t) => {
  const good = sign(policy(1));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 400 }),
        fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
          const c = Uint8Array.from(good);
          c[i] = (c[i] as number) ^ x;
          return c;
        }),
      ),
      (b) => {
        try {
          verifyPolicy(b, [command.publicKey]);
          return true; // a flip in the unprotected header may still verify
        } catch (e) {
          return e instanceof AgentError && e.code === 'POLICY_REFUSED';
        }
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});

test('evaluation: compliant, mismatch past grace is noncompliant, inside grace is grace, unknown is unknown unless allowed', (t) => {
  const p = policy(1);
  const src = { source: 'test', now: 0 };
  const net = { vpn: 'always-on' as const, proxy: false, torGateway: false, esimProfile: 'personal' as const };
  const good = [
    okSignal('secureboot', 'enabled', src),
    okSignal('network.policy', net, src),
    unknownSignal('kernel.lockdown', 'no securityfs', src),
  ];
  const g = new GraceTracker();
  t.deepEqual(evaluatePolicy(p, good, 10, g), { decision: 'compliant', reasons: [] });
  const vpnOff = [good[0]!, okSignal('network.policy', { ...net, vpn: 'off' }, { source: 'test', now: 1000 }), good[2]!];
  const inGrace = evaluatePolicy(p, vpnOff, 1000, g);
  t.is(inGrace.decision, 'grace');
  t.is(inGrace.reasons[0]?.code, 'grace');
  t.is(inGrace.reasons[0]?.graceLeftMs, 60_000);
  const later = evaluatePolicy(
    p,
    vpnOff.map((s) => ({ ...s, collectedAt: 61_000 })),
    61_001,
    g,
  );
  t.is(later.decision, 'noncompliant');
  t.is(later.reasons[0]?.signal, 'network.policy');
  t.is(later.reasons[0]?.code, 'mismatch');
  // back to compliant resets the grace timer
  t.is(
    evaluatePolicy(
      p,
      good.map((s) => ({ ...s, collectedAt: 62_000 })),
      62_000,
      g,
    ).decision,
    'compliant',
  );
  const sbUnknown = [unknownSignal('secureboot', 'no EFI', src), good[1]!, good[2]!];
  const u = evaluatePolicy(p, sbUnknown, 10, new GraceTracker());
  t.is(u.decision, 'unknown');
  t.is(u.reasons[0]?.code, 'unknown');
  const stale = evaluatePolicy(p, good, 25 * 3_600_000, new GraceTracker());
  t.is(stale.reasons[0]?.code, 'stale');
  t.is(evaluatePolicy(undefined, good, 0, g).decision, 'no-policy');
});
