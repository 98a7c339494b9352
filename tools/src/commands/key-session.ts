/**
 * `enigm key pair | attest | activate`: commands that run inside an authenticated session.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appraiseKeyEvidence, type KeyReferenceValues } from '@enigm/attestation';
import type { KeyClient } from '@enigm/key-firmware-host';
import { KeyError, KnownKeys, loadOrCreateHostKey, SecureSession } from '@enigm/key-firmware-host';
import { toHex } from '@enigm/protocols/bytes';
import { HOST_ROLES, type HostRole } from '@enigm/protocols/messages';
import { type Command, EXIT, type ParsedArgs, str, UsageError } from '../cli.ts';
import { connect, PORT_HELP, portOptions } from './key-connect.ts';

const fromHex = (s: string, what: string, len?: number) => {
  if (!/^([0-9a-fA-F]{2})*$/.test(s) || (len !== undefined && s.length !== len * 2))
    throw new UsageError(`${what} must be ${len ?? 'an even number of'} hex byte${len === 1 ? '' : 's'}`);
  return new Uint8Array(Buffer.from(s, 'hex'));
};

/** Help text of the session options. */
export const SESSION_HELP = `  --host-key F    this host's static key (PEM; default $ENIGM_HOME/host-key.pem, created if missing)
  --known F       known-Keys file (default $ENIGM_HOME/known-keys.json)`;
/** Session options. */
export const sessionOptions = { ...portOptions, 'host-key': { type: 'string' }, known: { type: 'string' } } as const;

/** Opens an IK session with a Key this host has paired with. */
export async function openKnownSession(
  args: ParsedArgs,
): Promise<{ client: KeyClient; session: SecureSession; role?: HostRole }> {
  const client = await connect(args);
  try {
    const info = await client.info();
    const known = new KnownKeys(str(args, 'known')).get(toHex(info.handle));
    if (!known)
      throw new KeyError(
        'KEY_REJECTED',
        `this host has not paired with Key ${toHex(info.handle)}: run 'enigm key pair --port …' first`,
      );
    const hostKey = loadOrCreateHostKey(str(args, 'host-key'));
    const session = await SecureSession.reconnect(client, fromHex(known.staticKey, 'static key', 32), {
      hostKey: hostKey.staticKey,
      identity: fromHex(known.identity, 'identity', 32),
    });
    return { client, session, ...(known.role ? { role: known.role } : {}) };
  } catch (e) {
    await client.close();
    throw e;
  }
}

const pairCmd: Command = {
  name: 'key pair',
  summary: 'pair this host with a Key (Noise XX), pin its identity',
  help: `Usage: enigm key pair --port ADDR [--role owner|provisioning|service] [--label TEXT] [--json]

First contact with a Key: runs a Noise XX handshake, verifies that the Key's static key is
signed by its identity key, asks the Key to keep this host with ROLE (default owner), and
pins the Key's identity and static key in the known-Keys file. Later commands reconnect with
Noise IK. A fresh Key accepts its first host; after that, pairing needs the Key's pairing
window. If a pinned Key now shows a different identity, pairing stops (possible impersonation).

Options:
${PORT_HELP}
  --role R        owner (default), provisioning or service
  --label TEXT    label the Key stores for this host
${SESSION_HELP}`,
  options: { ...sessionOptions, role: { type: 'string' }, label: { type: 'string' } },
  async run(args, out) {
    const role = (str(args, 'role') ?? 'owner') as HostRole;
    if (!(role in HOST_ROLES)) throw new UsageError(`--role must be one of ${Object.keys(HOST_ROLES).join(', ')}`);
    const hostKey = loadOrCreateHostKey(str(args, 'host-key'));
    const known = new KnownKeys(str(args, 'known'));
    const client = await connect(args);
    try {
      const info = await client.info();
      const session = await SecureSession.firstContact(client, { hostKey: hostKey.staticKey });
      const identity = toHex(session.peer.identity as Uint8Array);
      const pinned = known.get(toHex(info.handle));
      if (pinned && (pinned.identity !== identity || pinned.staticKey !== toHex(session.peer.staticKey)))
        throw new KeyError(
          'KEY_BAD_RESPONSE',
          `Key ${toHex(info.handle)} shows identity ${identity}, but ${pinned.identity} is pinned`,
        );
      const granted = await session.pair(role, str(args, 'label'));
      known.put({
        handle: toHex(info.handle),
        identity,
        staticKey: toHex(session.peer.staticKey),
        role: granted.role,
        model: info.model,
        firstSeen: pinned?.firstSeen ?? new Date().toISOString(),
      });
      await session.close();
      out.data({ ok: true, handle: toHex(info.handle), identity, role: granted.role, hostKey: toHex(hostKey.publicKey) });
      out.line(`paired with Key ${toHex(info.handle)} as ${granted.role}`);
      out.line(`identity ${identity} (pinned in ${known.path})`);
      return EXIT.ok;
    } finally {
      await client.close();
    }
  },
};

const attestCmd: Command = {
  name: 'key attest',
  summary: 'get attestation evidence from a Key and appraise it',
  help: `Usage: enigm key attest --port ADDR [--nonce HEX] [--expect FILE] [--max-age MS] [--json]

Opens a session with a paired Key, sends a fresh 32-byte nonce (or --nonce), receives the
Key's evidence (COSE_Sign1 by its identity key over EAT claims) and appraises it: signature,
pinned identity, nonce, freshness, firmware digest, security counter, lifecycle state, role.
Exit 0 if the result is affirming or warning, 1 if contraindicated.

--expect FILE is JSON reference values:
  { "allowedFirmwareDigests": ["<sha256 hex>"], "minSecurityCounter": 1,
    "expectedStates": ["dormant"] }

Options:
${PORT_HELP}
  --nonce HEX     32-byte nonce (default: random)
  --expect FILE   reference values
  --max-age MS    freshness limit (default 5000)
${SESSION_HELP}`,
  options: { ...sessionOptions, nonce: { type: 'string' }, expect: { type: 'string' }, 'max-age': { type: 'string' } },
  async run(args, out) {
    const nonceHex = str(args, 'nonce');
    const nonce = nonceHex ? fromHex(nonceHex, '--nonce', 32) : new Uint8Array(randomBytes(32));
    const expect = str(args, 'expect');
    let reference: KeyReferenceValues | undefined;
    if (expect) {
      try {
        reference = JSON.parse(readFileSync(expect, 'utf8')) as KeyReferenceValues;
      } catch (e) {
        throw new UsageError(`--expect ${expect}: ${(e as Error).message}`);
      }
    }
    const maxAgeMs = Number(str(args, 'max-age') ?? 5000);
    const { client, session, role } = await openKnownSession(args);
    try {
      const issuedAt = Date.now();
      const { evidence } = await session.request('attest', { nonce });
      const receivedAt = Date.now();
      const result = appraiseKeyEvidence({
        evidence,
        nonce,
        ...(session.peer.identity ? { identity: session.peer.identity } : {}),
        issuedAt,
        receivedAt,
        maxAgeMs,
        ...(role ? { hostRole: role } : {}),
        ...(reference ? { reference } : {}),
      });
      await session.close();
      out.data({
        ok: result.status !== 'contraindicated',
        status: result.status,
        checks: result.checks,
        claims: result.claims,
        evidence,
      });
      out.line(`appraisal: ${result.status.toUpperCase()}`);
      for (const c of result.checks) out.line(`  ${c.status.padEnd(15)} ${c.name.padEnd(17)} ${c.reason}`);
      if (result.claims) {
        const c = result.claims;
        out.line(
          `claims: model ${new TextDecoder().decode(c.hwmodel)}, firmware ${c.swversion[0]} (${toHex(c.firmwareDigest)}),`,
        );
        out.line(
          `        state ${c.lifecycle}, security counter ${c.securityCounter}, boot ${c.bootcount}, asked as ${c.hostRole}`,
        );
      }
      return result.status === 'contraindicated' ? EXIT.failure : EXIT.ok;
    } finally {
      await client.close();
    }
  },
};

const activateCmd: Command = {
  name: 'key activate',
  summary: 'move a factory Key to dormant (session; owner or provisioning)',
  help: `Usage: enigm key activate --port ADDR [--json]

Opens a session with a paired Key and asks it to leave factory state for dormant.

Options:
${PORT_HELP}
${SESSION_HELP}`,
  options: sessionOptions,
  async run(args, out) {
    const { client, session } = await openKnownSession(args);
    try {
      const r = await session.request('activate', {});
      await session.close();
      out.data({ ok: true, state: r.state });
      out.line(`Key is now ${r.state}`);
      return EXIT.ok;
    } finally {
      await client.close();
    }
  },
};

/** Session commands under `enigm key`. */
export const keySessionCommands: Command[] = [pairCmd, attestCmd, activateCmd];
