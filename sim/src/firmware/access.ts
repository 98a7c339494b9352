/**
 * Who may run which command: the access table of the Key. `public` commands run without a
 * session; everything else runs only inside an authenticated session, and then only for the host
 * roles listed. A session whose host is not paired yet (`unpaired`) may only `pair`.
 * @module
 */
import type { HostRole, RequestName } from '@enigm/protocols/messages';

/** The role of a session's host: a paired role, or not paired yet. */
export type SessionRole = HostRole | 'unpaired';

/** Access rule of one command. */
export type Access = 'public' | { readonly roles: readonly SessionRole[] };

const ALL_PAIRED: readonly SessionRole[] = ['owner', 'provisioning', 'service'];

/** The access table. */
export const COMMAND_ACCESS: Readonly<Record<RequestName, Access>> = {
  hello: 'public',
  info: 'public',
  ping: 'public',
  'session.start': 'public',
  'session.finish': 'public',
  'session.close': 'public',
  secure: 'public',
  pair: { roles: ['unpaired', ...ALL_PAIRED] },
  activate: { roles: ['owner', 'provisioning'] },
  attest: { roles: ALL_PAIRED },
  'hosts.list': { roles: ['owner'] },
  'fw.begin': { roles: ALL_PAIRED },
  'fw.chunk': { roles: ALL_PAIRED },
  'fw.finish': { roles: ALL_PAIRED },
  'fw.test': { roles: ALL_PAIRED },
  'fw.confirm': { roles: ALL_PAIRED },
  'fw.revert': { roles: ALL_PAIRED },
  'fw.status': { roles: ALL_PAIRED },
};

/** Commands that manage sessions and are never carried inside one. */
export const SESSION_COMMANDS: ReadonlySet<RequestName> = new Set(['session.start', 'session.finish', 'session.close', 'secure']);

/**
 * Whether `command` may run, outside a session (`role` undefined) or in a session with `role`.
 * @returns `ok`, or the wire error to answer with
 */
export function checkAccess(command: RequestName, role: SessionRole | undefined): 'ok' | 'SESSION_REQUIRED' | 'FORBIDDEN' {
  const rule = COMMAND_ACCESS[command];
  if (rule === 'public') return 'ok';
  if (role === undefined) return 'SESSION_REQUIRED';
  return rule.roles.includes(role) ? 'ok' : 'FORBIDDEN';
}
