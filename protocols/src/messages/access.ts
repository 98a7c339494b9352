/**
 * Who may run which command: the one role table of the Key. `public` commands run without a
 * session; everything else runs only inside an authenticated session, and then only for the host
 * roles the row grants. A session whose host is not paired yet (`unpaired`) may only `pair`.
 *
 * Firmware roles (the decisions, rendered into docs/security.md and docs/firmware.md):
 * - **owner** may update: begin, upload, test, confirm and revert, and reboot the Key.
 * - **provisioning** may update only while the Key is in the `factory` lifecycle state: a
 *   provisioning station installs the production firmware before the Key is activated for its
 *   owner. After activation firmware is the owner's decision, so a compromised or stale station
 *   cannot push firmware to Keys in the field. It may read the update status at any time.
 * - **service** (a diagnostics bench) reads the update status only.
 *
 * Certificates (provisioning, decided): `csr` (owner or provisioning) and `cert.install`
 * (provisioning only) run only in `factory` state: a Key is certified before it is activated, and
 * a station cannot re-certify a Key in the field. `time.set` bounds the Key's clock for that
 * check: provisioning in `factory`, the owner always.
 *
 * Lifecycle (decided; docs/lifecycle.md): `suspend` and `resume` are the owner's. `revoke` is the
 * owner's or a provisioning operator's decision. `retire` (the crypto-wipe) is the owner's; on a
 * revoked Key a provisioning station may retire it too (a revoked Key returned to the factory
 * is wiped there: the owner may have lost it). `hosts.remove` is the owner's for any host; a
 * provisioning or service host may remove only its own entry (grant `self`, checked by the
 * handler against the session's host key).
 *
 * Emergency (decided; docs/emergency.md): `emergency.cancel` and `emergency.resolve` are the
 * owner's (the button's cancel gesture is the owner's too). `contacts.set` and `contacts.get` are
 * the owner's: the set is the owner's choice, signed by the owner's key, and its aliases are
 * nobody else's business; so is `emergency.log` (when the wearer had emergencies). `emergency.ack` may be relayed by the owner's app or a service host
 * (the operator's backend passing on a contact's ack): the ack itself is signed by the contact
 * and checked against the event's contact set, so the relaying host adds no trust; a
 * provisioning station has no part in an event.
 *
 * Pure data: the Key (`@enigm/sim/firmware`) enforces it and the host library's lifecycle preflight
 * reads it to refuse locally what the Key would answer `FORBIDDEN`.
 * @module
 */
import type { RequestName } from './catalogue.ts';
import type { HostRole, LifecycleState } from './constants.ts';

/** The role of a session's host: a paired role, or not paired yet. */
export type SessionRole = HostRole | 'unpaired';

/**
 * What a role may do with a command: run it in any lifecycle state, only in `factory`, only in
 * `revoked`, or only on its own entry (`self`: the handler checks the target).
 */
export type Grant = 'always' | 'factory' | 'revoked' | 'self';

/** Access rule of one command: public, or the grant of each session role (absent: refused). */
export type Access = 'public' | { readonly [R in SessionRole]?: Grant };

const PAIRED_READ = { owner: 'always', provisioning: 'always', service: 'always' } as const;
/** Changing the firmware: the owner, or a provisioning station before activation. */
const UPDATE = { owner: 'always', provisioning: 'factory' } as const;

/** The access table: one row per request (the compiler checks that none is missing). */
export const COMMAND_ACCESS: { readonly [K in RequestName]: Access } = {
  hello: 'public',
  info: 'public',
  ping: 'public',
  'session.start': 'public',
  'session.finish': 'public',
  'session.close': 'public',
  secure: 'public',
  pair: { unpaired: 'always', ...PAIRED_READ },
  activate: { owner: 'always', provisioning: 'always' },
  reboot: { owner: 'always', provisioning: 'factory' },
  attest: PAIRED_READ,
  'hosts.list': { owner: 'always' },
  'hosts.remove': { owner: 'always', provisioning: 'self', service: 'self' },
  suspend: { owner: 'always' },
  resume: { owner: 'always' },
  revoke: { owner: 'always', provisioning: 'always' },
  retire: { owner: 'always', provisioning: 'revoked' },
  'fw.begin': UPDATE,
  'fw.chunk': UPDATE,
  'fw.finish': UPDATE,
  'fw.test': UPDATE,
  'fw.confirm': UPDATE,
  'fw.revert': UPDATE,
  'fw.status': PAIRED_READ,
  csr: { owner: 'factory', provisioning: 'factory' },
  'cert.install': { provisioning: 'factory' },
  'time.set': { owner: 'always', provisioning: 'factory' },
  'emergency.cancel': { owner: 'always' },
  'emergency.resolve': { owner: 'always' },
  'emergency.ack': { owner: 'always', service: 'always' },
  'contacts.set': { owner: 'always' },
  'contacts.get': { owner: 'always' },
  'emergency.log': { owner: 'always' },
};

/** Commands that manage sessions and are never carried inside one. */
export const SESSION_COMMANDS: ReadonlySet<RequestName> = new Set(['session.start', 'session.finish', 'session.close', 'secure']);

/**
 * Whether `command` may run, outside a session (`role` undefined) or in a session with `role`,
 * while the Key is in lifecycle `state`.
 * @returns `ok`, or the wire error to answer with
 */
export function checkAccess(
  command: RequestName,
  role: SessionRole | undefined,
  state: LifecycleState,
): 'ok' | 'SESSION_REQUIRED' | 'FORBIDDEN' {
  const rule = COMMAND_ACCESS[command];
  if (rule === 'public') return 'ok';
  if (role === undefined) return 'SESSION_REQUIRED';
  const grant = rule[role];
  return grant === 'always' || grant === 'self' || (grant !== undefined && grant === state) ? 'ok' : 'FORBIDDEN';
}
