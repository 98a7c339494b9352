/**
 * `enigm audit verify | show | append`: the signed audit trail (`@enigm/attestation`, `audit/`).
 * Thin: parses arguments, calls `verifyAuditLog` / `AuditLog`, renders, sets the exit code. No
 * key material is ever printed: records carry key ids, and keys are read only from files.
 * @module
 */

import {
  AttestationError,
  AuditLog,
  type AuditProblem,
  type AuditVerifyReport,
  auditRecordToJson,
  auditSignerFromSeed,
  checkAuditHandle,
  checkAuditOp,
  checkAuditReason,
  checkAuditRole,
  verifyAuditLog,
} from '@enigm/attestation';
import { fromHex, toHex } from '@enigm/protocols/bytes';
import { ed25519PrivateKeyFromPem, ed25519PublicKeyFromPem } from '@enigm/protocols/crypto';
import { type Command, EXIT, type Output, type ParsedArgs, readInputFile, readTextFile, str, UsageError } from '../cli.ts';

function oneFile(args: ParsedArgs): string {
  if (args.positionals.length !== 1) throw new UsageError('give exactly one audit log FILE');
  return args.positionals[0] as string;
}

function required(args: ParsedArgs, name: string): string {
  const v = str(args, name);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

/** Runs a field rule on an option value; a refusal is misuse of that option (exit 2). */
function option<T>(name: string, value: T, check: (v: T) => unknown): T {
  try {
    check(value);
  } catch (e) {
    if (e instanceof AttestationError) throw new UsageError(`--${name}: ${e.code}: ${e.message}`);
    throw e;
  }
  return value;
}

/** `--expect-head SEQ:HASH` (a head recorded earlier, e.g. by a console). */
function expectHead(args: ParsedArgs): { seq: number; hash: Uint8Array } | undefined {
  const v = str(args, 'expect-head');
  if (v === undefined) return undefined;
  const m = /^(\d{1,15}):([0-9a-fA-F]{64})$/.exec(v);
  if (!m) throw new UsageError(`--expect-head must be SEQ:HASH (a sequence number and 64 hex digits), got ${JSON.stringify(v)}`);
  return { seq: Number(m[1]), hash: fromHex(m[2] as string) };
}

function problemJson(p: AuditProblem): Record<string, unknown> {
  return { kind: p.kind, index: p.index, offset: p.offset, message: p.message };
}

function problemLine(p: AuditProblem): string {
  return `${p.kind} at record ${p.index} (offset ${p.offset}): ${p.message}`;
}

function headText(r: AuditVerifyReport): string {
  return r.head ? `head ${r.head.seq}:${toHex(r.head.hash)} (seq:hash, for --expect-head)` : 'no records';
}

const verifyCmd: Command = {
  name: 'audit verify',
  summary: 'verify an audit log: signatures, hash chain, torn tail; exit 0 intact, 1 tampered or torn',
  help: `Usage: enigm audit verify [--trust KEY.pem]... [--expect-head SEQ:HASH] [--json] FILE

Verifies the audit log FILE: its format, every record's form and the hash chain, and with
--trust every record's COSE_Sign1 signature by one of the trusted actors' keys. Reports the
first problem with its kind and record index: edited, reordered, deleted, inserted, torn-tail,
truncated, unknown-signer, not-an-audit-log.

Without --trust the signatures are not checked (a warning says so): the chain still shows any
change followed by a later record, but not who wrote the log.

Options:
  --trust KEY.pem        an actor's Ed25519 public key PEM (a private key or certificate PEM also
                         works; only the public key is used); repeat for each actor
  --expect-head SEQ:HASH a head recorded earlier (from a previous verify): the log must still
                         hold that record unchanged — catches a cut at a record boundary

Examples:
  enigm audit verify --trust station.pub --trust ca.pub audit.log
  enigm audit verify --trust station.pub --json audit.log      # {"ok":true,"records":12,…}
  enigm audit verify --trust station.pub --expect-head 11:3f2a…  audit.log`,
  options: { trust: { type: 'string', multiple: true }, 'expect-head': { type: 'string' } },
  positionals: true,
  async run(args, out) {
    const file = oneFile(args);
    const head = expectHead(args);
    const trustFiles = (args.values.trust as string[] | undefined) ?? [];
    const trustedKeys = trustFiles.map((f) => ed25519PublicKeyFromPem(readTextFile(f, '--trust key')));
    const r = verifyAuditLog(readInputFile(file, 'audit log'), { trustedKeys, ...(head ? { expectHead: head } : {}) });
    out.data({
      ok: r.ok,
      records: r.records.length,
      signatures: r.signatures,
      signers: r.signers,
      ...(r.head ? { head: { seq: r.head.seq, hash: toHex(r.head.hash) } } : {}),
      ...(r.problem ? { problem: problemJson(r.problem) } : {}),
    });
    if (r.signatures === 'unchecked') out.warn('warning: signatures not checked; give --trust KEY.pem for each actor');
    if (r.ok) {
      out.line(`intact: ${r.records.length} records, signatures ${r.signatures}, ${r.signers.length} signer(s); ${headText(r)}`);
      return EXIT.ok;
    }
    const p = r.problem as AuditProblem;
    out.line(`NOT INTACT: ${problemLine(p)}`);
    out.line(`${r.records.length} records before it verify; ${headText(r)}`);
    if (!out.json) out.warn(`enigm audit verify: ${p.kind} at record ${p.index}`);
    return EXIT.failure;
  },
};

/** Prints records as a table (human) or JSON lines. */
function renderRecords(r: AuditVerifyReport, out: Output): void {
  const rows = r.records.map((x) => auditRecordToJson(x.record, x.bytes));
  for (const row of rows) out.data(row);
  if (out.json) return;
  const table = [
    ['SEQ', 'TIME', 'ROLE', 'ACTOR', 'OP', 'HANDLE', 'DECISION', 'REASON'],
    ...rows.map((x) => [String(x.seq), x.time, x.role, x.actor, x.op, x.handle ?? '-', x.decision, x.reason ?? '']),
  ];
  const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => (row[i] as string).length))) ?? [];
  for (const row of table) {
    out.line(
      row
        .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] as number)))
        .join('  ')
        .trimEnd(),
    );
  }
}

const showCmd: Command = {
  name: 'audit show',
  summary: 'render an audit log as a table or JSON lines (never key material)',
  help: `Usage: enigm audit show [--json] FILE

Prints the records of the audit log FILE: sequence number, time (UTC), actor role and key id,
operation, device handle, decision and reason. With --json, one JSON object per record per line
(seq, time, timeMs, role, actor, op, handle, decision, reason, prev, hash) — the form a console
such as Enigm Command ingests. Signatures are not checked here (use enigm audit verify --trust);
the chain and format are: a problem stops the listing there, is reported on stderr, and the
exit code is 1.

Examples:
  enigm audit show audit.log
  enigm audit show --json audit.log | jq -c 'select(.decision == "refused")'`,
  options: {},
  positionals: true,
  async run(args, out) {
    const file = oneFile(args);
    const r = verifyAuditLog(readInputFile(file, 'audit log'));
    renderRecords(r, out);
    if (r.ok) return EXIT.ok;
    out.warn(`enigm audit show: ${problemLine(r.problem as AuditProblem)}`);
    return EXIT.failure;
  },
};

const appendCmd: Command = {
  name: 'audit append',
  summary: 'append one signed record to an audit log (for operators and tests)',
  help: `Usage: enigm audit append --key KEY.pem [--role ROLE] --op OP [--handle H]
                          --decision allowed|refused [--reason R] [--repair] [--json] FILE

Signs one record with the Ed25519 private key in KEY.pem (a file: never a key on the command
line) and appends it to the audit log FILE (created if missing), then syncs it to disk. The
record holds the key's id (8 bytes of its SHA-256), never the key. The log is locked while
appending. A torn last record (a crash mid-append) is refused unless --repair, which truncates
it and appends an audit.repair record saying so. A log that fails verification is refused.

Field rules: ROLE and OP are lowercase words (e.g. operator, key.enroll); H is at most 40
characters of [A-Za-z0-9._:-]; R is at most 160 printable characters and must not look like key
material, an e-mail address, a phone number, coordinates or a URL with a query.

Options:
  --key KEY.pem      the actor's Ed25519 private key (PKCS#8 PEM)
  --role ROLE        the actor's role (default operator)
  --op OP            the operation, e.g. key.suspend
  --handle H         the device handle
  --decision D       allowed or refused
  --reason R         a short reason or error code
  --repair           truncate a torn tail and record the repair

Examples:
  enigm audit append --key operator.key --op key.suspend --handle 7f3a9c2e --decision allowed audit.log
  enigm audit append --key station.key --role station --op key.provision --handle 7f3a9c2e \\
                     --decision refused --reason KEY_WRONG_STATE --json audit.log`,
  options: {
    key: { type: 'string', short: 'k' },
    role: { type: 'string' },
    op: { type: 'string' },
    handle: { type: 'string' },
    decision: { type: 'string' },
    reason: { type: 'string' },
    repair: { type: 'boolean' },
  },
  positionals: true,
  async run(args, out) {
    const file = oneFile(args);
    const keyFile = required(args, 'key');
    const role = option('role', str(args, 'role') ?? 'operator', checkAuditRole);
    const op = option('op', required(args, 'op'), checkAuditOp);
    const handle = str(args, 'handle');
    if (handle !== undefined) option('handle', handle, checkAuditHandle);
    const decision = required(args, 'decision');
    if (decision !== 'allowed' && decision !== 'refused') {
      throw new UsageError(`--decision must be allowed or refused, got ${JSON.stringify(decision)}`);
    }
    const reason = str(args, 'reason');
    if (reason !== undefined) option('reason', reason, checkAuditReason);
    const seed = ed25519PrivateKeyFromPem(readTextFile(keyFile, '--key'));
    const signer = auditSignerFromSeed(role, seed);
    seed.fill(0);
    const log = await AuditLog.open(file, { signer, clock: Date.now, repair: args.values.repair === true });
    try {
      const a = log.append({
        op,
        decision,
        ...(handle === undefined ? {} : { handle }),
        ...(reason === undefined ? {} : { reason }),
      });
      out.data({ ok: true, ...auditRecordToJson(a.record, a.bytes) });
      out.line(`appended seq ${a.record.seq} (${op}, ${decision}) to ${file}; hash ${toHex(a.hash)}`);
    } finally {
      log.close();
    }
    return EXIT.ok;
  },
};

/** The `enigm audit` commands. */
export const auditCommands: Command[] = [verifyCmd, showCmd, appendCmd];
