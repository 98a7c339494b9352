/**
 * `enigm key pair | attest | activate`: commands that run inside an authenticated session. Each
 * parses its arguments, calls the Key facade (`@enigm/key-firmware-host`) or the appraisal
 * (`@enigm/attestation`), and renders the result.
 * @module
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type appraiseKeyEvidence, defaultVerifierStatePath, type KeyReferenceValues, VerifierStore } from '@enigm/attestation';
import { fromHex, toHex } from '@enigm/protocols/bytes';
import { HOST_ROLES, type HostRole } from '@enigm/protocols/messages';
import { AUDIT_HELP, auditOptions, noteKey, withAudit } from '../audit-options.ts';
import { type Command, EXIT, int, type ParsedArgs, readTextFile, str, UsageError } from '../cli.ts';
import { readJsonFile } from '../keyfiles.ts';
import { PORT_HELP, revocationOption, SESSION_HELP, sessionOptions, withKey } from './key-connect.ts';

/** `--nonce HEX`: exactly 32 bytes. */
function nonceOption(args: ParsedArgs): Uint8Array | undefined {
  const s = str(args, 'nonce');
  if (s === undefined) return undefined;
  if (!/^[0-9a-fA-F]{64}$/.test(s)) throw new UsageError('--nonce must be 32 hex bytes (64 hex digits)');
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** The verifier store of `--state F`, or of the default file (its folder created if missing). */
function fileStore(given: string | undefined): VerifierStore {
  const path = given ?? defaultVerifierStatePath();
  if (!given) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  return VerifierStore.file(path);
}

/** Claims with text shown as text and bytes as hex (for `--json`). */
function renderClaims(c: NonNullable<ReturnType<typeof appraiseKeyEvidence>['claims']>): Record<string, unknown> {
  return { ...c, hwmodel: new TextDecoder().decode(c.hwmodel) };
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
${SESSION_HELP}
${AUDIT_HELP}`,
  options: { ...sessionOptions, ...auditOptions, role: { type: 'string' }, label: { type: 'string' } },
  async run(args, out) {
    const role = (str(args, 'role') ?? 'owner') as HostRole;
    if (!(role in HOST_ROLES)) throw new UsageError(`--role must be one of ${Object.keys(HOST_ROLES).join(', ')}`);
    const label = str(args, 'label');
    return withAudit(args, { role, op: 'key.pair' }, (note) =>
      withKey(args, async (key) => {
        const r = await key.pair(role, label !== undefined ? { label } : {});
        note.handle = r.handle;
        out.data({ ok: true, handle: r.handle, identity: r.identity, role: r.role, hostKey: toHex(r.hostKey) });
        out.line(`paired with Key ${r.handle} as ${r.role}`);
        out.line(`identity ${r.identity} (pinned in ${r.knownPath})`);
        return EXIT.ok;
      }),
    );
  },
};

/** Reads `--expect FILE`. */
function referenceOption(args: ParsedArgs): KeyReferenceValues | undefined {
  const file = str(args, 'expect');
  return file ? readJsonFile<KeyReferenceValues>(file, '--expect') : undefined;
}

const attestCmd: Command = {
  name: 'key attest',
  summary: 'get attestation evidence from a Key and appraise it',
  help: `Usage: enigm key attest --port ADDR [--nonce HEX] [--expect FILE] [--max-age MS]
                        [--roots ROOT.pem [--intermediates CA.pem]]
                        [--revocation FILE --revocation-key PUB.pem] [--json]

Opens a session with a paired Key, sends the verifier's single-use nonce, receives the
Key's evidence (COSE_Sign1 by its identity key over EAT claims) and appraises it: signature,
pinned identity, nonce, freshness, firmware digest, security counter, lifecycle state, role.
Exit 0 if the result is affirming or warning, 1 if contraindicated.

--expect FILE is JSON reference values:
  { "allowedFirmwareDigests": ["<sha256 hex>"], "minSecurityCounter": 1,
    "expectedStates": ["dormant"] }

With --roots (the provisioning CA's root certificate, e.g. <ca-dir>/root.pem), a \`certificate\`
check is added: the chain the Key carries in its evidence must verify to that root for the key
that signed the evidence (affirming; no chain: warning; another key's or a bad chain:
contraindicated). --intermediates adds CA certificates for path building (e.g. retired ones).

With --revocation, a \`revocation\` check is added: contraindicated when the Key's identity is
on the list (KEY_REVOKED, with the reason) or when the list is stale, untrusted or tampered
(its code); here the list is not a host decision, so the session opens and the appraisal says why.

--json shows text claims as text (e.g. claims.hwmodel "enigm-key-1") and bytes as hex.

Options:
${PORT_HELP}
  --nonce HEX     a nonce issued by \`enigm attest challenge --for key-evidence\`
                  (single use: consumed from the verifier state; default: a fresh
                  challenge issued and consumed by this run)
  --state F       verifier state holding --nonce's challenge
                  (default $ENIGM_HOME/attest-verifier.json)
  --expect FILE   reference values
  --max-age MS    freshness limit of the run's own challenge (default 5000)
  --roots F       provisioning root certificate(s), PEM: check the Key's certificate chain
  --intermediates F  extra CA certificates (PEM) for building the chain
${SESSION_HELP}`,
  options: {
    ...sessionOptions,
    nonce: { type: 'string' },
    state: { type: 'string' },
    expect: { type: 'string' },
    roots: { type: 'string' },
    intermediates: { type: 'string' },
    'max-age': { type: 'string' },
  },
  async run(args, out) {
    const given = nonceOption(args);
    const maxAgeMs = int(args, 'max-age', 5000, 1, 86_400_000);
    const revocation = revocationOption(args);
    const givenReference = referenceOption(args);
    const rootsFile = str(args, 'roots');
    const intermediatesFile = str(args, 'intermediates');
    if (intermediatesFile !== undefined && rootsFile === undefined) throw new UsageError('--intermediates needs --roots');
    const pki =
      rootsFile === undefined
        ? {}
        : {
            roots: readTextFile(rootsFile, '--roots'),
            ...(intermediatesFile !== undefined ? { intermediates: readTextFile(intermediatesFile, '--intermediates') } : {}),
          };
    const withRevocation = revocation !== undefined ? { ...givenReference, revocation } : givenReference;
    const reference = rootsFile === undefined ? withRevocation : { ...withRevocation, ...pki };
    // The nonce is always the verifier's and used once: a challenge issued earlier (--nonce, kept in
    // the verifier state file) or one this run issues from a memory store; appraisal consumes it.
    const store = given ? fileStore(str(args, 'state')) : VerifierStore.memory();
    const nonce = given ?? fromHex((await store.issueChallenge('key-evidence', { ttlMs: maxAgeMs })).nonce);
    return withKey(
      args,
      async (key) => {
        const ev = await key.attest(nonce);
        const result = await store.appraiseKeyEvidence({
          evidence: ev.evidence,
          nonce,
          identity: ev.identity,
          ...(ev.hostRole ? { hostRole: ev.hostRole } : {}),
          ...(reference ? { reference } : {}),
        });
        out.data({
          ok: result.status !== 'contraindicated',
          status: result.status,
          checks: result.checks,
          ...(result.claims ? { claims: renderClaims(result.claims) } : {}),
          evidence: ev.evidence,
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
      },
      { revocation: false },
    );
  },
};

const activateCmd: Command = {
  name: 'key activate',
  summary: 'move a factory Key to dormant (session; owner or provisioning)',
  help: `Usage: enigm key activate --port ADDR [--json]

Opens a session with a paired Key and asks it to leave factory state for dormant.

Options:
${PORT_HELP}
${SESSION_HELP}
${AUDIT_HELP}`,
  options: { ...sessionOptions, ...auditOptions },
  async run(args, out) {
    return withAudit(args, { role: 'host', op: 'key.activate' }, (note) =>
      withKey(
        args,
        async (key) => {
          await noteKey(key, note);
          const state = await key.activate();
          out.data({ ok: true, state });
          out.line(`Key is now ${state}`);
          return EXIT.ok;
        },
        { changesState: true },
      ),
    );
  },
};

const rebootCmd: Command = {
  name: 'key reboot',
  summary: 'reboot a Key (session): a pending revert or test boot happens now',
  help: `Usage: enigm key reboot --port ADDR [--json]

Opens a session with a paired Key, asks it to reboot (its bootloader runs: a requested revert
completes, a pending test image test-boots), reconnects and prints what it runs now.

Options:
${PORT_HELP}
${SESSION_HELP}`,
  options: sessionOptions,
  async run(args, out) {
    return withKey(
      args,
      async (key) => {
        const info = await key.reboot();
        out.data({ ok: true, firmware: info.firmware, state: info.state, bootCount: info.bootCount });
        out.line(`rebooted: the Key runs ${info.firmware} (${info.state}, boot ${info.bootCount})`);
        return EXIT.ok;
      },
      { changesState: true },
    );
  },
};

/** Session commands under `enigm key`. */
export const keySessionCommands: Command[] = [pairCmd, attestCmd, activateCmd, rebootCmd];
