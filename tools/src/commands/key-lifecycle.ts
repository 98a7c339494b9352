/**
 * `enigm key hosts | unpair | suspend | resume | revoke | retire`: the Key's lifecycle operations,
 * each inside an authenticated session through the Key facade. The facade refuses locally what
 * the lifecycle table forbids in the Key's state (`KEY_INVALID_STATE`, `KEY_REVOKED`); the Key
 * checks role and state again. `revoke` and `retire` cannot be undone: they need `--yes`.
 * Default output names hosts by key id, never by public key (`--show-identity` shows it).
 * @module
 */
import type { Key } from '@enigm/key-firmware-host';
import { AUDIT_HELP, auditOptions, noteKey, withAudit } from '../audit-options.ts';
import { type Command, EXIT, type ParsedArgs, UsageError } from '../cli.ts';
import { revocationUpdate } from '../revocation-update.ts';
import { PORT_HELP, SESSION_HELP, sessionOptions, withKey } from './key-connect.ts';

const hostsCmd: Command = {
  name: 'key hosts',
  summary: 'list the hosts paired with a Key: key id, role, label (session; owner)',
  help: `Usage: enigm key hosts --port ADDR [--show-identity] [--json]

Lists the hosts paired with the Key: each host's key id (the first 8 bytes of SHA-256 of its
static public key, 16 hex digits — what 'enigm key unpair' takes), its role and label, and
which one is this host. Public keys are shown only with --show-identity.

Options:
${PORT_HELP}
  --show-identity also show each host's static public key (hex)
${SESSION_HELP}`,
  options: { ...sessionOptions, 'show-identity': { type: 'boolean' } },
  async run(args, out) {
    const show = args.values['show-identity'] === true;
    return withKey(args, async (key) => {
      const hosts = await key.hosts();
      out.data({
        ok: true,
        hosts: hosts.map(({ publicKey, ...h }) => ({ ...h, ...(show ? { publicKey } : {}) })),
      });
      out.line(`${hosts.length} paired host${hosts.length === 1 ? '' : 's'}`);
      for (const h of hosts)
        out.line(
          `  ${h.keyId}  ${h.role.padEnd(12)} ${h.label ?? ''}${h.self ? ' (this host)' : ''}${show ? `  ${h.publicKey}` : ''}`,
        );
      return EXIT.ok;
    });
  },
};

const unpairCmd: Command = {
  name: 'key unpair',
  summary: 'unpair a host from a Key by its key id (session; owner, or a host itself)',
  help: `Usage: enigm key unpair KEYID --port ADDR [--json]

Removes the paired host with KEYID (16 hex digits, from 'enigm key hosts'). The owner removes
any host; a provisioning or service host only itself. The removed host's open sessions lose
their role at once and it can no longer open a session. Refused with KEY_FORBIDDEN for another
role (before asking), HOST_NOT_FOUND for an unknown key id, KEY_REVOKED on a revoked Key.

Options:
${PORT_HELP}
${SESSION_HELP}
${AUDIT_HELP}`,
  options: { ...sessionOptions, ...auditOptions },
  positionals: true,
  async run(args, out) {
    if (args.positionals.length !== 1) throw new UsageError('give exactly one host KEYID (see enigm key hosts)');
    const keyId = args.positionals[0] as string;
    if (!/^[0-9a-fA-F]{16}$/.test(keyId)) throw new UsageError(`KEYID is 16 hex digits, got ${JSON.stringify(keyId)}`);
    return withAudit(args, { role: 'host', op: 'key.unpair' }, (note) =>
      withKey(
        args,
        async (key) => {
          await noteKey(key, note);
          const r = await key.unpair(keyId);
          out.data({ ok: true, ...r });
          out.line(
            `unpaired ${r.keyId} (${r.role})${r.self ? ' — this host' : ''}; ${r.hosts} host${r.hosts === 1 ? '' : 's'} left`,
          );
          return EXIT.ok;
        },
        { changesState: true },
      ),
    );
  },
};

type Op = 'suspend' | 'resume' | 'revoke' | 'retire';

const RETIRE_LIST_HELP = `  --add-to-list F the signed revocation list to add the old identity to (reason retired; version + 1,
                  re-signed, written atomically; a stale list is renewed), so that evidence the
                  old identity signed is contraindicated wherever the list is used
  --list-key KEY.pem  its signing key (a file, as enigm revocation add --key; never on the command line)
`;

/** A lifecycle command: runs `op` and prints the new state. */
function opCommand(op: Op, summary: string, details: string, confirm: boolean): Command {
  return {
    name: `key ${op}`,
    summary,
    help: `Usage: enigm key ${op} --port ADDR${confirm ? ' --yes' : ''}${op === 'retire' ? ' [--add-to-list F --list-key KEY.pem]' : ''} [--json]

${details}

Options:
${PORT_HELP}
${confirm ? `  --yes           confirm: ${op} cannot be undone (without it nothing is sent; exit 2)\n` : ''}${op === 'retire' ? RETIRE_LIST_HELP : ''}${SESSION_HELP}
${AUDIT_HELP}`,
    options: {
      ...sessionOptions,
      ...auditOptions,
      ...(confirm ? { yes: { type: 'boolean' } } : {}),
      ...(op === 'retire' ? { 'add-to-list': { type: 'string' }, 'list-key': { type: 'string' } } : {}),
    },
    async run(args: ParsedArgs, out) {
      if (confirm && args.values.yes !== true)
        throw new UsageError(`${op} cannot be undone: add --yes to confirm (nothing was sent to the Key)`);
      const rev = op === 'retire' ? revocationUpdate(args, 'add-to-list', 'list-key') : undefined;
      return withAudit(args, { role: 'host', op: `key.${op}` }, (note) =>
        withKey(
          args,
          async (key: Key) => {
            await noteKey(key, note);
            let listed: number | undefined;
            const revocation = rev && {
              ...rev,
              write: (bytes: Uint8Array, list: { version: number }) => {
                rev.write(bytes);
                listed = list.version;
              },
            };
            const state = op === 'retire' ? await key.retire(revocation ? { revocation } : {}) : await key[op]();
            out.data({ ok: true, state, ...(listed !== undefined ? { revocationVersion: listed } : {}) });
            out.line(`Key is now ${state}`);
            if (listed !== undefined) out.line(`revocation list: the old identity added (reason retired, version ${listed})`);
            if (op === 'retire')
              out.line('the Key has a new identity: its old pin and evidence no longer match; pair again to use it');
            return EXIT.ok;
          },
          { changesState: true },
        ),
      );
    },
  };
}

/** Lifecycle commands under `enigm key`. */
export const keyLifecycleCommands: Command[] = [
  hostsCmd,
  unpairCmd,
  opCommand(
    'suspend',
    'suspend a dormant Key (session; owner)',
    'Moves a dormant Key to suspended: no emergency can start until it is resumed.',
    false,
  ),
  opCommand('resume', 'resume a suspended Key (session; owner)', 'Moves a suspended Key back to dormant.', false),
  opCommand(
    'revoke',
    'revoke a Key: it then runs nothing but retire (session; owner or provisioning; --yes)',
    `Moves the Key to revoked. A revoked Key answers hello, info and ping and runs nothing in a
session but retire (KEY_REVOKED). It cannot be undone: the way back is retire (crypto-wipe).`,
    true,
  ),
  opCommand(
    'retire',
    'retire a Key: crypto-wipe back to factory with a new identity (session; owner; --yes)',
    `Retires the Key and crypto-wipes it back to factory: its identity, static key and handle are
replaced, paired hosts, the certificate chain and every session are dropped. Evidence and pins
of the old identity no longer match the Key; with --add-to-list the old identity also goes on
the revocation list, so a verifier using the list refuses its old evidence. The owner may retire;
on a revoked Key, provisioning too.`,
    true,
  ),
];
