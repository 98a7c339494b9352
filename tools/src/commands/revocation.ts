/**
 * `enigm revocation create | add | renew | show | verify`: the signed, versioned revocation list
 * (`@enigm/attestation`, `revocation/`). Thin: parses arguments, calls the library, writes files
 * atomically (temp file, fsync, rename: a failure leaves the old list in place), renders, sets the
 * exit code. Keys are read only from files; the list holds identity-key hashes, never keys.
 * `create`, `add` and `renew` take `--audit FILE --audit-key KEY.pem` (role `ca-operator`; for
 * `add` the handle is `--handle H` or the revoked Key's certificate id `K-…`, never a key).
 * @module
 */
import { existsSync } from 'node:fs';
import {
  AttestationError,
  addRevocationEntry,
  checkAuditHandle,
  createRevocationList,
  decodeRevocationList,
  keyCertificateId,
  REVOCATION_REASONS,
  type RevocationList,
  type RevocationReason,
  type RevocationSigner,
  type RevocationSubject,
  revocationListToJson,
  revocationSignerFromSeed,
  signRevocationList,
  tryPidLockSync,
  verifyRevocationList,
} from '@enigm/attestation';
import { fromHex, toHex } from '@enigm/protocols/bytes';
import { ed25519PrivateKeyFromPem, ed25519PublicKeyFromPem } from '@enigm/protocols/crypto';
import { AUDIT_HELP, auditOptions, withAudit } from '../audit-options.ts';
import {
  type Command,
  EXIT,
  type Output,
  type ParsedArgs,
  readInputFile,
  readTextFile,
  showPath,
  str,
  UsageError,
  writeOutputFile,
} from '../cli.ts';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MIN_NEXT_UPDATE = 60_000;
const MAX_NEXT_UPDATE = 366 * 86_400_000;
const DEFAULT_NEXT_UPDATE = '7d';

/** `--next-update 7d` (s, m, h, d) → ms, within [1 minute, 366 days]. */
function nextUpdateMs(args: ParsedArgs): number {
  const v = str(args, 'next-update') ?? DEFAULT_NEXT_UPDATE;
  const m = /^(\d{1,6})([smhd])$/.exec(v);
  const ms = m ? Number(m[1]) * (UNITS[m[2] as string] as number) : Number.NaN;
  if (!(ms >= MIN_NEXT_UPDATE && ms <= MAX_NEXT_UPDATE))
    throw new UsageError(`--next-update must be a duration like 7d, 12h or 30m, from 1m to 366d, got ${JSON.stringify(v)}`);
  return ms;
}

function required(args: ParsedArgs, name: string): string {
  const v = str(args, name);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

function oneFile(args: ParsedArgs): string {
  if (args.positionals.length !== 1) throw new UsageError('give exactly one revocation list FILE');
  return args.positionals[0] as string;
}

/** The signer from `--key KEY.pem` (the seed is wiped once the signer holds its copy). */
function signerFromKeyFile(args: ParsedArgs) {
  const seed = ed25519PrivateKeyFromPem(readTextFile(required(args, 'key'), '--key'));
  try {
    return revocationSignerFromSeed(seed);
  } finally {
    seed.fill(0);
  }
}

/**
 * Runs `fn` holding `FILE.lock` (created exclusively, holding this process's pid), so that two
 * concurrent changes cannot both write version N+1 and lose an entry. A lock left by a process
 * that no longer runs (kill -9) is taken over; a live holder is `REVOCATION_LOCKED`.
 */
function withListLock<T>(file: string, fn: () => T): T {
  const lockPath = `${file}.lock`;
  const lock = tryPidLockSync(lockPath, 0o644);
  if ('holder' in lock)
    throw new AttestationError(
      'REVOCATION_LOCKED',
      Number.isSafeInteger(lock.holder) && lock.holder > 0
        ? `process ${lock.holder} is changing ${showPath(file)} (lock ${showPath(lockPath)})`
        : `${showPath(lockPath)} exists; remove it if no enigm revocation command is running`,
    );
  try {
    return fn();
  } finally {
    lock.release();
  }
}

function hexOption(name: string, value: string, min: number, max: number): Uint8Array {
  const clean = value.replace(/:/g, '');
  let b: Uint8Array;
  try {
    b = fromHex(clean, `--${name}`);
  } catch {
    throw new UsageError(`--${name} must be hex digits (colons allowed), got ${value.length} characters`);
  }
  if (b.length < min || b.length > max)
    throw new UsageError(`--${name} must be ${min === max ? min : `${min}–${max}`} bytes, got ${b.length}`);
  return b;
}

/** `--identity HEX` (a 32-byte identity public key) or `--serial HEX` (a certificate serial). */
function subject(args: ParsedArgs): RevocationSubject {
  const identity = str(args, 'identity');
  const serial = str(args, 'serial');
  if ((identity === undefined) === (serial === undefined))
    throw new UsageError('give exactly one of --identity HEX and --serial HEX');
  if (identity !== undefined) return { identityKey: hexOption('identity', identity, 32, 32) };
  return { serial: hexOption('serial', serial as string, 1, 21) };
}

/**
 * The audit record's handle for `add`: `--handle H` (checked), else the revoked Key's certificate
 * id `K-…` (a hash prefix of its identity key, as in its certificate) — never the key or a serial.
 */
function auditHandle(args: ParsedArgs, what: RevocationSubject): string | undefined {
  const h = str(args, 'handle');
  if (h !== undefined) {
    try {
      return checkAuditHandle(h);
    } catch (e) {
      throw new UsageError(`--handle: ${(e as Error).message}`);
    }
  }
  return 'identityKey' in what ? keyCertificateId(what.identityKey) : undefined;
}

function reason(args: ParsedArgs): RevocationReason {
  const r = required(args, 'reason');
  if (!Object.hasOwn(REVOCATION_REASONS, r))
    throw new UsageError(`--reason must be one of ${Object.keys(REVOCATION_REASONS).join(', ')}, got ${JSON.stringify(r)}`);
  return r as RevocationReason;
}

/**
 * Reads the list FILE for re-signing: it must verify under the signer's own key (a tampered or
 * foreign list is never re-signed); a stale list is fine (re-signing refreshes it).
 */
function readOwnList(file: string, publicKey: Uint8Array, now: number): RevocationList {
  const r = verifyRevocationList(readInputFile(file, 'revocation list'), { trustedKeys: [publicKey], now });
  if (r.ok) return r.list;
  if (r.code === 'REVOCATION_STALE' && r.list) return r.list;
  throw new AttestationError(
    r.code,
    r.code === 'REVOCATION_UNTRUSTED' ? `${r.message}: --key is not the key that signed this list` : r.message,
  );
}

/** `version 3, 2 entries, stale after …` */
function versionText(list: RevocationList): string {
  const n = list.entries.length;
  return `version ${list.version}, ${n === 0 ? 'no' : n} ${n === 1 ? 'entry' : 'entries'}, stale after ${new Date(list.nextUpdate).toISOString()}`;
}

/**
 * The read-verify-change-sign-write cycle of `add` and `renew`, under the list's lock: the list
 * must verify under the signer's key (a stale one is fine), `change` makes the next version, and
 * the file is replaced atomically.
 */
function reissue(
  file: string,
  signer: RevocationSigner,
  change: (list: RevocationList, now: number) => RevocationList,
): RevocationList {
  return withListLock(file, () => {
    const now = Date.now();
    const next = change(readOwnList(file, signer.publicKey, now), now);
    writeOutputFile(file, signRevocationList(next, signer), 'revocation list');
    return next;
  });
}

function summaryJson(list: RevocationList, file: string): Record<string, unknown> {
  const j = revocationListToJson(list);
  return {
    ok: true,
    file,
    version: j.version,
    issuer: j.issuer,
    issuedAt: j.issuedAt,
    nextUpdate: j.nextUpdate,
    entries: j.entries.length,
  };
}

const createCmd: Command = {
  name: 'revocation create',
  summary: 'create an empty signed revocation list (version 1)',
  help: `Usage: enigm revocation create --key KEY.pem --out FILE [--next-update 7d] [--force] [--json]

Creates a signed revocation list with no entries, version 1, issued now and stale after
--next-update (default ${DEFAULT_NEXT_UPDATE}; units s, m, h, d; 1m to 366d). KEY.pem is the revocation-signing
key (an Ed25519 PKCS#8 PEM held by the CA operator; see docs/revocation.md) — a file, never a
key on the command line. Hosts and verifiers trust its public key (enigm revocation verify --trust).
An existing FILE is refused unless --force (replacing a list restarts its version at 1, which
verifiers that saw a higher version refuse as a rollback).

Options:
${AUDIT_HELP}

Examples:
  enigm revocation create --key revocation.key --out revocation.cose
  enigm revocation create --key revocation.key --out revocation.cose --next-update 24h --json`,
  options: {
    key: { type: 'string', short: 'k' },
    out: { type: 'string', short: 'o' },
    'next-update': { type: 'string' },
    force: { type: 'boolean' },
    ...auditOptions,
  },
  positionals: false,
  async run(args, out) {
    const file = required(args, 'out');
    const validity = nextUpdateMs(args);
    if (existsSync(file) && args.values.force !== true)
      throw new UsageError(`${showPath(file)} exists; use --force to replace it (its version restarts at 1)`);
    return withAudit(args, { role: 'ca-operator', op: 'revocation.create' }, async () => {
      const signer = signerFromKeyFile(args);
      const now = Date.now();
      const list = createRevocationList({ issuerPublicKey: signer.publicKey, issuedAt: now, nextUpdate: now + validity });
      writeOutputFile(file, signRevocationList(list, signer), 'revocation list');
      out.data(summaryJson(list, file));
      out.line(`created ${file}: ${versionText(list)}`);
      return EXIT.ok;
    });
  },
};

const addCmd: Command = {
  name: 'revocation add',
  summary: 'revoke a Key (identity key or certificate serial): re-signs the list with version + 1',
  help: `Usage: enigm revocation add --key KEY.pem (--identity HEX | --serial HEX) --reason R
                            [--next-update 7d] [--json] FILE

Adds one entry to the revocation list FILE and re-signs it: version + 1, issued now, stale after
--next-update (default ${DEFAULT_NEXT_UPDATE}). The list must verify under KEY.pem's public key first: a tampered
list or one signed by another key is refused (exit 1) and left as it is. The file is replaced
atomically.

  --identity HEX  the Key's 32-byte Ed25519 identity public key (64 hex digits); the list records
                  only its SHA-256
  --serial HEX    the Key certificate's serial number (hex, colons allowed; a leading 00 is dropped)
  --reason R      ${Object.keys(REVOCATION_REASONS).join(', ')}
  --handle H      the Key's device handle, for the audit record only (default with --identity:
                  the Key's certificate id K-…; with --serial: none)
${AUDIT_HELP}

Examples:
  enigm revocation add --key revocation.key --identity 3b6a27bc…e3f1 --reason key-compromise revocation.cose
  enigm revocation add --key revocation.key --serial 4f:1a:09 --reason retired --json revocation.cose`,
  options: {
    key: { type: 'string', short: 'k' },
    identity: { type: 'string' },
    serial: { type: 'string' },
    reason: { type: 'string' },
    'next-update': { type: 'string' },
    handle: { type: 'string' },
    ...auditOptions,
  },
  positionals: true,
  async run(args, out) {
    const file = oneFile(args);
    const what = subject(args);
    const why = reason(args);
    const validity = nextUpdateMs(args);
    const handle = auditHandle(args, what);
    return withAudit(args, { role: 'ca-operator', op: 'revocation.add' }, async (note) => {
      if (handle !== undefined) note.handle = handle;
      const signer = signerFromKeyFile(args);
      const next = reissue(file, signer, (list, now) =>
        addRevocationEntry(list, { subject: what, reason: why, issuedAt: now, nextUpdate: now + validity }),
      );
      out.data(summaryJson(next, file));
      out.line(`revoked (${why}) in ${file}: ${versionText(next)}`);
      return EXIT.ok;
    });
  },
};

const renewCmd: Command = {
  name: 'revocation renew',
  summary: 're-sign a revocation list unchanged with version + 1 and a new nextUpdate',
  help: `Usage: enigm revocation renew --key KEY.pem [--next-update 7d] [--json] FILE

Re-issues the revocation list FILE with the same entries: version + 1, issued now, stale after
--next-update (default ${DEFAULT_NEXT_UPDATE}). Run it before the list goes stale, even when nothing is revoked:
hosts and verifiers refuse a stale list. The list must verify under KEY.pem's public key first.

Options:
${AUDIT_HELP}

Example:
  enigm revocation renew --key revocation.key revocation.cose`,
  options: { key: { type: 'string', short: 'k' }, 'next-update': { type: 'string' }, ...auditOptions },
  positionals: true,
  async run(args, out) {
    const file = oneFile(args);
    const validity = nextUpdateMs(args);
    return withAudit(args, { role: 'ca-operator', op: 'revocation.renew' }, async () => {
      const signer = signerFromKeyFile(args);
      const next = reissue(file, signer, (list, now) => {
        if (now < list.issuedAt)
          throw new AttestationError('REVOCATION_ENTRY_INVALID', "now is before the list's issuedAt (check the clock)");
        if (list.version >= Number.MAX_SAFE_INTEGER)
          throw new AttestationError('REVOCATION_ENTRY_INVALID', 'the version would overflow');
        return { ...list, version: list.version + 1, issuedAt: now, nextUpdate: now + validity };
      });
      out.data(summaryJson(next, file));
      out.line(`renewed ${file}: ${versionText(next)}`);
      return EXIT.ok;
    });
  },
};

function renderList(list: RevocationList, out: Output, now: number): void {
  const j = revocationListToJson(list);
  out.line(`issuer key id  ${j.issuer}`);
  out.line(`version        ${j.version}`);
  out.line(`issued at      ${j.issuedAt}`);
  out.line(`next update    ${j.nextUpdate}${now > list.nextUpdate ? '  (STALE)' : ''}`);
  out.line(`entries        ${j.entries.length}`);
  for (const e of j.entries) {
    const what = e.identity ? `identity sha256 ${e.identity}` : `serial ${e.serial}`;
    out.line(`  ${what}  revoked ${e.revokedAt}  ${e.reason}`);
  }
}

const showCmd: Command = {
  name: 'revocation show',
  summary: 'print a revocation list (signature not checked: use verify)',
  help: `Usage: enigm revocation show [--json] FILE

Prints the revocation list FILE: issuer key id, version, issue time, next update (STALE when
past), and each entry (the SHA-256 of a revoked identity key, or a certificate serial; the time
and reason). The signature is NOT checked here: use enigm revocation verify --trust. A file that
is not a well-formed list exits 1 (REVOCATION_MALFORMED).

Examples:
  enigm revocation show revocation.cose
  enigm revocation show --json revocation.cose | jq '.entries | length'`,
  options: {},
  positionals: true,
  async run(args, out) {
    const file = oneFile(args);
    const list = decodeRevocationList(readInputFile(file, 'revocation list'));
    const now = Date.now();
    out.data({ ok: true, signatures: 'unchecked', stale: now > list.nextUpdate, ...revocationListToJson(list) });
    renderList(list, out, now);
    if (!out.json) out.warn('note: signature not checked; use enigm revocation verify --trust KEY.pub');
    return EXIT.ok;
  },
};

const verifyCmd: Command = {
  name: 'revocation verify',
  summary: 'verify a revocation list: signature, rollback, staleness; exit 0 valid, 1 otherwise',
  help: `Usage: enigm revocation verify --trust PUB.pem [--trust PUB.pem]... [--min-version N] [--json] FILE

Verifies the revocation list FILE: strict form, a trusted issuer, the COSE_Sign1 signature, the
version against --min-version (the highest version already seen: a lower one is a rollback), and
freshness (now after nextUpdate is stale). Exit 0 when valid; 1 with the code otherwise:
REVOCATION_MALFORMED, REVOCATION_UNTRUSTED, REVOCATION_SIGNATURE_INVALID (tampered),
REVOCATION_ROLLBACK, REVOCATION_NOT_YET_VALID, REVOCATION_STALE.

Options:
  --trust PUB.pem    a revocation-signing public key (PEM; a private key PEM also works, only its
                     public key is used); repeat for several
  --min-version N    the highest version seen before (default 0: no rollback check)

Examples:
  enigm revocation verify --trust revocation.pub revocation.cose
  enigm revocation verify --trust revocation.pub --min-version 12 --json revocation.cose`,
  options: { trust: { type: 'string', multiple: true }, 'min-version': { type: 'string' } },
  positionals: true,
  async run(args, out) {
    const file = oneFile(args);
    const trustFiles = (args.values.trust as string[] | undefined) ?? [];
    if (trustFiles.length === 0) throw new UsageError('--trust PUB.pem is required (the revocation-signing public key)');
    const mv = str(args, 'min-version');
    if (mv !== undefined && !/^\d{1,15}$/.test(mv))
      throw new UsageError(`--min-version must be a non-negative integer, got ${JSON.stringify(mv)}`);
    const minVersion = mv === undefined ? 0 : Number(mv);
    const trustedKeys = trustFiles.map((f) => ed25519PublicKeyFromPem(readTextFile(f, '--trust key')));
    const r = verifyRevocationList(readInputFile(file, 'revocation list'), { trustedKeys, now: Date.now(), minVersion });
    if (r.ok) {
      const j = revocationListToJson(r.list);
      out.data({
        ok: true,
        version: j.version,
        issuer: j.issuer,
        issuedAt: j.issuedAt,
        nextUpdate: j.nextUpdate,
        entries: j.entries.length,
      });
      out.line(`valid: version ${j.version}, ${j.entries.length} entries, issuer ${j.issuer}, fresh until ${j.nextUpdate}`);
      return EXIT.ok;
    }
    out.data({
      ok: false,
      error: { name: 'AttestationError', code: r.code, message: r.message },
      ...(r.list
        ? { version: r.list.version, issuer: toHex(r.list.issuer), nextUpdate: new Date(r.list.nextUpdate).toISOString() }
        : {}),
    });
    out.line(`NOT VALID: ${r.code}: ${r.message}`);
    if (!out.json) out.warn(`enigm revocation verify: ${r.code}`);
    return EXIT.failure;
  },
};

/** The `enigm revocation` commands. */
export const revocationCommands: Command[] = [createCmd, addCmd, renewCmd, showCmd, verifyCmd];
