/**
 * `enigm account init | enroll | replace | list`: one account's registry on this host
 * (`@enigm/key-firmware-host`, `association/`): its secret (mode 0600, never printed) and its
 * enrolled Keys, named by association handle (`eh1-…`). Thin: parses arguments, opens the Keys,
 * calls the library, renders. Default output names Keys by handle only; `--show-identity` adds the
 * identity key id, the identity hash and the certificate serial, locally.
 * @module
 */
import { join } from 'node:path';
import type { CertificateInput } from '@enigm/attestation';
import {
  AccountRegistry,
  type DeviceRecord,
  enroll,
  type Key,
  type OpenKeyOptions,
  openKey,
  replace,
} from '@enigm/key-firmware-host';
import { AUDIT_HELP, auditOptions, withAudit } from '../audit-options.ts';
import { type Command, EXIT, int, type Output, type ParsedArgs, readTextFile, showPath, str, UsageError } from '../cli.ts';
import { revocationUpdate } from '../revocation-update.ts';

const DIR_HELP = '  --dir D         the account folder (account.secret, mode 0600; devices.json)';
const KEY_HELP = `  --port ADDR     the Key: serial device path (e.g. .sim-state/ttyKEY0) or tcp://host:port
  --host-key F    this host's static key (PEM; default $ENIGM_HOME/host-key.pem, created if missing)
  --known F       known-Keys file (default $ENIGM_HOME/known-keys.json)
  --timeout MS    per-request timeout
  --roots PEM     provisioning root(s): the Key's evidence must carry a chain to one of them
  --label TEXT    the label this host gives itself when it pairs with a new Key (default enigm-account)`;

const keyOptions = {
  port: { type: 'string', short: 'p' },
  'host-key': { type: 'string' },
  known: { type: 'string' },
  timeout: { type: 'string' },
  roots: { type: 'string' },
  label: { type: 'string' },
} as const;

function required(args: ParsedArgs, name: string): string {
  const v = str(args, name);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

function openOptions(args: ParsedArgs): OpenKeyOptions {
  const hostKey = str(args, 'host-key');
  const known = str(args, 'known');
  return {
    ...(str(args, 'timeout') !== undefined ? { timeoutMs: int(args, 'timeout', 2000, 1, 600_000) } : {}),
    ...(hostKey !== undefined ? { hostKey } : {}),
    ...(known !== undefined ? { known } : {}),
  };
}

function roots(args: ParsedArgs): { roots?: CertificateInput } {
  const f = str(args, 'roots');
  return f === undefined ? {} : { roots: readTextFile(f, '--roots') };
}

/** A record for output: the handle, state and times; identity fields only with `show`. */
function view(d: DeviceRecord, show: boolean): Record<string, unknown> {
  const { identityKeyId, identityHash, serial, ...rest } = d;
  return show ? { ...rest, identityKeyId, identityHash, ...(serial ? { serial } : {}) } : rest;
}

function line(d: DeviceRecord, show: boolean): string {
  const extra = [
    d.replacedBy ? `replaced by ${d.replacedBy}` : '',
    d.replaces ? `replaces ${d.replaces}` : '',
    show ? `identity ${d.identityKeyId}${d.serial ? ` serial ${d.serial}` : ''}` : '',
  ].filter(Boolean);
  return `  ${d.handle}  ${d.state.padEnd(8)}  enrolled ${d.enrolled}${extra.length ? `  ${extra.join('  ')}` : ''}`;
}

async function withKeyAt<T>(port: string, args: ParsedArgs, fn: (key: Key) => Promise<T>): Promise<T> {
  const key = await openKey(port, openOptions(args));
  try {
    return await fn(key);
  } finally {
    await key.close();
  }
}

const initCmd: Command = {
  name: 'account init',
  summary: 'create an account registry: a fresh account secret (0600) and no Keys',
  help: `Usage: enigm account init --dir D [--json]

Creates the account folder D: a fresh 32-byte account secret (account.secret, mode 0600; it
derives the account's association handles and is never printed) and an empty device list
(devices.json). An existing account is refused (ACCOUNT_EXISTS): its secret is never replaced.

Options:
${DIR_HELP}`,
  options: { dir: { type: 'string', short: 'd' } },
  async run(args, out) {
    const dir = required(args, 'dir');
    AccountRegistry.init(dir);
    out.data({ ok: true, dir });
    out.line(`created account ${showPath(dir)} (secret in ${showPath(join(dir, 'account.secret'))}, mode 0600)`);
    return EXIT.ok;
  },
};

const enrollCmd: Command = {
  name: 'account enroll',
  summary: 'enroll a Key in the account: attest, activate a factory Key, record its handle',
  help: `Usage: enigm account enroll --dir D --port ADDR [--roots PEM] [--json]

Enrolls the Key at ADDR: this host pairs with it as owner if it has not (first contact), the Key
attests (to --roots when given), a factory Key is activated (factory → dormant), and the
association is recorded under the Key's handle in this account (eh1-…, different in every
account). Refused: ACCOUNT_ALREADY_ENROLLED, ACCOUNT_KEY_REVOKED, ACCOUNT_NOT_OWNER,
ACCOUNT_NOT_ATTESTED, ACCOUNT_BAD_STATE, and the Key's own errors (e.g. KEY_NOT_PAIRABLE).

Options:
${DIR_HELP}
${KEY_HELP}
${AUDIT_HELP}`,
  options: { dir: { type: 'string', short: 'd' }, ...keyOptions, ...auditOptions },
  async run(args, out) {
    const dir = required(args, 'dir');
    const port = required(args, 'port');
    const account = AccountRegistry.open(dir);
    return withAudit(args, { role: 'owner', op: 'account.enroll' }, async (note) => {
      const r = await withKeyAt(port, args, (key) =>
        enroll(account, key, { ...roots(args), label: str(args, 'label') ?? 'enigm-account' }),
      );
      note.handle = r.device.handle;
      out.data({ ok: true, handle: r.device.handle, state: r.device.state, activated: r.activated, paired: r.paired });
      out.line(`enrolled ${r.device.handle}${r.activated ? ' (activated: factory → dormant)' : ''}`);
      return EXIT.ok;
    });
  },
};

const replaceCmd: Command = {
  name: 'account replace',
  summary: 'a new Key takes over an association: the old one is marked replaced and revoked',
  help: `Usage: enigm account replace --dir D --old HANDLE --port ADDR [--old-port ADDR]
                              [--revocation F --revocation-key KEY.pem] [--roots PEM] [--json]

Enrolls the Key at ADDR in place of the association HANDLE: the new Key is enrolled as by
'enigm account enroll', the old association is marked replaced, the old Key's identity is added
to the revocation list F (reason replaced; re-signed with KEY.pem, version + 1, written
atomically), and, when the old Key is reachable at --old-port, it is revoked on the Key (it then
refuses every session request with KEY_REVOKED). Nothing carries over: the new Key has its own
pins and sessions. Refused: ASSOCIATION_NOT_FOUND, ASSOCIATION_NOT_ACTIVE, ASSOCIATION_SAME_KEY,
ASSOCIATION_OLD_KEY_MISMATCH, and the refusals of enroll.

Options:
${DIR_HELP}
  --old HANDLE    the association to replace (eh1-…, from enigm account list)
  --old-port ADDR the old Key, if reachable: revoke it on the Key too
  --revocation F  the signed revocation list to add the old Key to
  --revocation-key KEY.pem  its signing key (a file, never a key on the command line)
${KEY_HELP}
${AUDIT_HELP}`,
  options: {
    dir: { type: 'string', short: 'd' },
    old: { type: 'string' },
    'old-port': { type: 'string' },
    revocation: { type: 'string' },
    'revocation-key': { type: 'string' },
    ...keyOptions,
    ...auditOptions,
  },
  async run(args, out) {
    const dir = required(args, 'dir');
    const oldHandle = required(args, 'old');
    const port = required(args, 'port');
    const oldPort = str(args, 'old-port');
    const account = AccountRegistry.open(dir);
    const rev = revocationUpdate(args, 'revocation', 'revocation-key');
    return withAudit(args, { role: 'owner', op: 'account.replace' }, async (note) => {
      note.handle = oldHandle;
      const oldKey = oldPort ? await openKey(oldPort, openOptions(args)) : undefined;
      try {
        const r = await withKeyAt(port, args, (key) =>
          replace(account, oldHandle, key, {
            ...roots(args),
            label: str(args, 'label') ?? 'enigm-account',
            ...(oldKey ? { oldKey } : {}),
            ...(rev ? { revocation: rev } : {}),
          }),
        );
        out.data({
          ok: true,
          handle: r.device.handle,
          old: r.old.handle,
          oldState: r.old.state,
          oldKeyRevoked: r.oldKeyRevoked,
          ...(r.oldKeyError ? { oldKeyError: r.oldKeyError } : {}),
          ...(r.revocationVersion !== undefined ? { revocationVersion: r.revocationVersion } : {}),
        });
        out.line(`enrolled ${r.device.handle} in place of ${r.old.handle} (now replaced)`);
        if (r.revocationVersion !== undefined) out.line(`revocation list: old Key added (version ${r.revocationVersion})`);
        out.line(
          r.oldKeyRevoked
            ? 'old Key revoked on the Key'
            : `old Key not revoked on the Key${r.oldKeyError ? ` (${r.oldKeyError})` : ' (not reachable: give --old-port)'}`,
        );
        return EXIT.ok;
      } finally {
        await oldKey?.close();
      }
    });
  },
};

const listCmd: Command = {
  name: 'account list',
  summary: "list the account's Keys by handle (never the secret)",
  help: `Usage: enigm account list --dir D [--show-identity] [--json]

Lists the account's associations: handle (eh1-…), state (active, replaced, revoked), enrollment
time, and what replaced what. The identity key id, identity hash and certificate serial are shown
only with --show-identity (locally: they link the handle to the Key). The secret is never shown.

Options:
${DIR_HELP}
  --show-identity also show identity key id, identity hash and certificate serial`,
  options: { dir: { type: 'string', short: 'd' }, 'show-identity': { type: 'boolean' } },
  async run(args, out: Output) {
    const dir = required(args, 'dir');
    const show = args.values['show-identity'] === true;
    const devices = AccountRegistry.open(dir).list();
    out.data({ ok: true, devices: devices.map((d) => view(d, show)) });
    out.line(`${devices.length} Key${devices.length === 1 ? '' : 's'}`);
    for (const d of devices) out.line(line(d, show));
    return EXIT.ok;
  },
};

/** `enigm account …` commands. */
export const accountCommands: Command[] = [initCmd, enrollCmd, replaceCmd, listCmd];
