/**
 * `--audit FILE --audit-key KEY.pem` on administrative commands (`enigm ca init|rotate|issue`,
 * `enigm key pair|activate|unpair|suspend|resume|revoke|retire`, `enigm revocation
 * create|add|renew`, `enigm fw flash`): one signed record per action
 * in the audit log (`@enigm/attestation` `AuditLog`) — role, op, the Key's device handle (never a
 * key or serial), the decision (`allowed`, or `refused` when the command failed) and, for a
 * refusal, the error code as reason (the Key's own error name, e.g. `FORBIDDEN`, when the Key
 * refused).
 *
 * The log is checked (opened and closed: lock, format, chain, torn tail) before the action runs,
 * so a broken or locked log stops the command before anything happens. An action that succeeded
 * but whose record cannot be written fails the command (exit 1): nothing is done unaudited
 * silently. See docs/audit.md "Who appends what".
 * @module
 */
import { AuditLog, auditSignerFromSeed, checkAuditHandle, checkAuditReason } from '@enigm/attestation';
import type { Key } from '@enigm/key-firmware-host';
import { toHex } from '@enigm/protocols/bytes';
import { ed25519PrivateKeyFromPem } from '@enigm/protocols/crypto';
import { EXIT, errorReason, type ParsedArgs, readTextFile, str, UsageError } from './cli.ts';

/** Help text of the audit options. */
export const AUDIT_HELP = `  --audit FILE    append a signed record of this action (allowed or refused, with the error
                  code) to the audit log FILE (created if missing; see enigm audit verify)
  --audit-key F   the Ed25519 key (PKCS#8 PEM file) that signs the record`;

/** The audit options. */
export const auditOptions = {
  audit: { type: 'string' },
  'audit-key': { type: 'string' },
} as const;

/** What the action learned for its record (set by the action as it goes). */
export interface AuditNote {
  /** Whether the action is audited (--audit given). */
  readonly enabled: boolean;
  /** The actor's role (default: the command's). */
  role?: string;
  /** The Key's device handle (hex), when known. */
  handle?: string;
}

/** An action's record description. */
export interface AuditAction {
  /** The actor's role, e.g. `ca-operator`, `owner`, `host`. */
  role: string;
  /** The operation, e.g. `ca.issue`, `key.revoke`. */
  op: string;
}

interface AuditTarget {
  file: string;
  seed: Uint8Array;
}

/**
 * Reads --audit / --audit-key (both or neither).
 * @throws {@link UsageError} for one without the other or a key that is not an Ed25519 private key
 */
function auditTarget(args: ParsedArgs): AuditTarget | undefined {
  const file = str(args, 'audit');
  const keyFile = str(args, 'audit-key');
  if (file === undefined && keyFile === undefined) return undefined;
  if (file === undefined || keyFile === undefined) throw new UsageError('--audit FILE and --audit-key KEY.pem go together');
  const pem = readTextFile(keyFile, '--audit-key');
  try {
    return { file, seed: ed25519PrivateKeyFromPem(pem) };
  } catch (e) {
    throw new UsageError(`--audit-key must be an Ed25519 private key (PKCS#8 PEM): ${(e as Error).message}`);
  }
}

async function append(target: AuditTarget, role: string, record: Parameters<AuditLog['append']>[0]): Promise<void> {
  const log = await AuditLog.open(target.file, { signer: auditSignerFromSeed(role, target.seed), clock: Date.now });
  try {
    log.append(record);
  } finally {
    log.close();
  }
}

/** A handle the audit log accepts, or undefined (a form it refuses is left out, never forced in). */
function safeHandle(h: string | undefined): string | undefined {
  if (h === undefined) return undefined;
  try {
    return checkAuditHandle(h);
  } catch {
    return undefined;
  }
}

/**
 * The Key's named error when the Key itself refused (a `KEY_REJECTED` error carries the Key's
 * answer as `remote`, possibly as the cause of a facade error), e.g. `FORBIDDEN`,
 * `FIRMWARE_REJECTED`; undefined otherwise.
 */
function remoteName(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 5 && cur instanceof Error; depth++) {
    const name = (cur as { remote?: { name?: unknown } }).remote?.name;
    if (typeof name === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(name)) return name;
    cur = cur.cause;
  }
  return undefined;
}

/**
 * The refusal reason: the Key's named error when the Key refused, else the error's code (or its
 * name); never its message.
 */
function refusalReason(e: unknown): string {
  const r = errorReason(e);
  const reason = (remoteName(e) ?? r.code ?? r.name).slice(0, 160);
  try {
    return checkAuditReason(reason);
  } catch {
    return 'refused';
  }
}

/**
 * Runs an administrative action and, with --audit, records it: `allowed` when it returns exit 0,
 * `refused` (reason: the error code) when it throws or returns another code. Without --audit it
 * just runs `fn`.
 * @throws {@link UsageError} for bad audit options (before the action); the log's
 *   `AUDIT_LOCKED`, `AUDIT_LOG_INVALID`, `AUDIT_LOG_TORN` before the action; the action's own
 *   errors (after recording them); an `AUDIT_*` error when an allowed action's record fails
 */
export async function withAudit(
  args: ParsedArgs,
  action: AuditAction,
  fn: (note: AuditNote) => Promise<number>,
): Promise<number> {
  const target = auditTarget(args);
  if (!target) return fn({ enabled: false });
  try {
    // Check the log before acting: locked, torn or tampered stops the command here.
    (await AuditLog.open(target.file, { signer: auditSignerFromSeed(action.role, target.seed), clock: Date.now })).close();
    const note: AuditNote = { enabled: true };
    const record = (decision: 'allowed' | 'refused', reason?: string) => {
      const handle = safeHandle(note.handle ?? str(args, 'handle'));
      return append(target, note.role ?? action.role, {
        op: action.op,
        decision,
        ...(handle !== undefined ? { handle } : {}),
        ...(reason !== undefined ? { reason } : {}),
      });
    };
    let code: number;
    try {
      code = await fn(note);
    } catch (e) {
      try {
        await record('refused', refusalReason(e));
      } catch (a) {
        const r = errorReason(a);
        process.stderr.write(`warning: the refusal could not be recorded in the audit log: ${r.code ?? r.name}: ${r.message}\n`);
      }
      throw e;
    }
    await record(code === EXIT.ok ? 'allowed' : 'refused', code === EXIT.ok ? undefined : `exit ${code}`);
    return code;
  } finally {
    target.seed.fill(0);
  }
}

/**
 * For an audited Key command: opens (or reuses) the session the action is about to use and notes
 * the Key's device handle and this host's role. Best effort: a session that cannot be opened
 * leaves both out (the action then fails with the reason, and that is recorded).
 */
export async function noteKey(key: Key, note: AuditNote): Promise<void> {
  if (!note.enabled) return;
  try {
    const s = await key.session();
    note.handle = toHex(s.peer.handle);
    if (key.role) note.role = key.role;
  } catch {
    // recorded without a handle
  }
}
