/**
 * The host's lifecycle preflight is the ONE table (docs/lifecycle.md): for every lifecycle request
 * × state × role (× own / other entry for `hosts.remove`), `preflight` refuses exactly what the
 * role table (`checkAccess`, `COMMAND_ACCESS`) and the lifecycle table (`lifecycleRefusal`) refuse,
 * with the Key's named error mapped to the facade's code, in the Key's order (role, then state),
 * and sends nothing of the operation. `enroll` / `replace` refuse by their rows of the same table
 * before anything else is asked of the Key. The Key's own answers, cell by cell over a pty:
 * `lifecycle-pty-matrix.test.ts`.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@enigm/protocols/crypto';
import {
  checkAccess,
  HOST_LIFECYCLE_OPERATIONS,
  HOST_ROLES,
  type HostRole,
  LIFECYCLE_REQUEST_STATES,
  LIFECYCLE_STATES,
  type LifecycleRequest,
  type LifecycleState,
  lifecycleRefusal,
} from '@enigm/protocols/messages';
import test from 'ava';
import { AccountRegistry, AssociationError, enroll } from '../src/association/index.ts';
import { KeyFacadeError } from '../src/key/errors.ts';
import type { Key } from '../src/key/key.ts';
import { hostKeyIdHex, type LifecyclePort, lifecycleDecision, preflight } from '../src/key/lifecycle.ts';

const STATES = Object.keys(LIFECYCLE_STATES) as LifecycleState[];
const OPS = Object.keys(LIFECYCLE_REQUEST_STATES) as LifecycleRequest[];
const ROLES = Object.keys(HOST_ROLES) as HostRole[];
const FACADE = { FORBIDDEN: 'KEY_FORBIDDEN', KEY_REVOKED: 'KEY_REVOKED', INVALID_STATE: 'KEY_INVALID_STATE' } as const;

const hostPublicKey = new Uint8Array(32).fill(7);
const ownId = sha256(hostPublicKey).subarray(0, 8);
const otherId = new Uint8Array(8).fill(1);

/** A port that reports `state` and `role`, and counts sessions asked for (none may be). */
function port(state: LifecycleState, role: HostRole | undefined) {
  const sent = { sessions: 0 };
  const p: LifecyclePort = {
    info: async () => ({ state }) as Awaited<ReturnType<LifecyclePort['info']>>,
    session: async () => {
      sent.sessions++;
      throw new Error('the preflight must not send the operation');
    },
    hostPublicKey,
    role: async () => role,
  };
  return { p, sent };
}

/** What the tables say, written from the Key's side: role, then state, then the handler's `self` check. */
function expected(op: LifecycleRequest, role: HostRole, state: LifecycleState, self: boolean): string {
  if (checkAccess(op, role, state) === 'FORBIDDEN') return 'KEY_FORBIDDEN';
  const r = lifecycleRefusal(op, state);
  if (r) return FACADE[r];
  return op === 'hosts.remove' && role !== 'owner' && !self ? 'KEY_FORBIDDEN' : 'ok'; // grant `self`, by the handler
}

test('hostKeyIdHex names this host as the preflight compares it', (t) => {
  t.is(hostKeyIdHex(hostPublicKey), Buffer.from(ownId).toString('hex'));
});

test('preflight === the role and lifecycle tables for every request × state × role (nothing sent)', async (t) => {
  let cells = 0;
  for (const op of OPS)
    for (const state of STATES)
      for (const role of ROLES)
        for (const self of op === 'hosts.remove' ? [true, false] : [true]) {
          const { p, sent } = port(state, role);
          const want = expected(op, role, state, self);
          const what = `${op} by ${role} in ${state}${self ? '' : ' (another host)'}`;
          const got = await preflight(p, op, op === 'hosts.remove' ? (self ? ownId : otherId) : undefined).then(
            () => 'ok',
            (e: unknown) => (e instanceof KeyFacadeError ? e.code : `unexpected ${String(e)}`),
          );
          t.is(got, want, what);
          const decision = lifecycleDecision(op, role, state, self ? 'self' : 'other');
          t.is(decision ? FACADE[decision] : 'ok', want, `${what}: lifecycleDecision`);
          t.is(sent.sessions, 0, `${what}: nothing sent`);
          cells++;
        }
  t.is(cells, OPS.length * STATES.length * ROLES.length + STATES.length * ROLES.length);
});

test('preflight without a known role checks the lifecycle table only (lifecycleRefusal)', async (t) => {
  for (const op of OPS)
    for (const state of STATES) {
      const got = await preflight(port(state, undefined).p, op).then(
        () => 'ok',
        (e: KeyFacadeError) => e.code,
      );
      const r = lifecycleRefusal(op, state);
      t.is(got, r ? FACADE[r] : 'ok', `${op} in ${state}`);
    }
});

test('enroll refuses by its row of the lifecycle table before asking the Key anything else', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-preflight-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const account = AccountRegistry.init(join(dir, 'acct'));
  t.deepEqual([...HOST_LIFECYCLE_OPERATIONS], ['enroll', 'replace']);
  for (const state of STATES) {
    const asked: string[] = [];
    // A Key stand-in: `info` answers; anything else records that the host went past the preflight.
    const key = new Proxy(
      {},
      {
        get: (_t, prop) =>
          prop === 'info'
            ? async () => ({ state, model: 'm', firmware: '1' })
            : prop === 'then'
              ? undefined
              : () => {
                  asked.push(String(prop));
                  throw new Error('past the preflight');
                },
      },
    ) as unknown as Key;
    const e = await t.throwsAsync(enroll(account, key, { pair: false }));
    const r = lifecycleRefusal('enroll', state);
    if (r) {
      t.true(e instanceof AssociationError, `${state}: ${String(e)}`);
      t.is((e as AssociationError).code, r === 'KEY_REVOKED' ? 'ACCOUNT_KEY_REVOKED' : 'ACCOUNT_BAD_STATE', state);
      t.deepEqual(asked, [], `${state}: nothing asked of the Key but info`);
    } else {
      t.is(e?.message, 'past the preflight', `${state}: allowed by the table`);
      t.true(asked.length > 0);
    }
  }
});
