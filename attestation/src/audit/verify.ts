/**
 * Verification of an audit log: structure, record form, signatures (when trusted keys are given)
 * and the hash chain. Pure: bytes in, a typed report out; never throws on bad bytes.
 *
 * The first problem is reported with the record index (0-based position in the file), the file
 * offset and a kind:
 * - `not-an-audit-log`: the file header is wrong;
 * - `edited`: a record does not parse, its signature does not verify, a frame header is damaged,
 *   or record `index`'s bytes changed after the next record was chained to it;
 * - `reordered`: a record appears before one with a lower sequence number;
 * - `deleted`: sequence numbers jump (records are missing at `index`);
 * - `inserted`: a record that does not belong in the chain (a duplicate, a second record with the
 *   same sequence number, or a signed record that does not chain to its predecessor);
 * - `torn-tail`: the last record is cut short (a crash mid-append); every record before it is fine;
 * - `truncated`: the log ends before the head the caller expected (`expectHead`);
 * - `unknown-signer`: a record signed by a key id that is not among `trustedKeys`.
 *
 * Without `trustedKeys` the signatures are not checked (`signatures: 'unchecked'`): the chain
 * still catches any change to a record that is followed by another, but whoever rewrites the log
 * from some record onwards re-chains it undetected. Only a verification with the signers' public
 * keys is a verification of who wrote it.
 *
 * @module
 */
import { bytesEqual, toHex } from '@enigm/protocols/bytes';
import { scanAuditFrames } from './format.ts';
import {
  AUDIT_GENESIS_PREV,
  type AuditRecord,
  auditKeyId,
  auditRecordHash,
  decodeAuditRecord,
  verifyAuditRecordSignature,
} from './record.ts';

/** Kind of the first problem found; see the module doc. */
export type AuditProblemKind =
  | 'not-an-audit-log'
  | 'edited'
  | 'reordered'
  | 'deleted'
  | 'inserted'
  | 'torn-tail'
  | 'truncated'
  | 'unknown-signer';

/** The first problem of a log. */
export interface AuditProblem {
  /** What is wrong. */
  readonly kind: AuditProblemKind;
  /** The record's 0-based position in the file (for `torn-tail`/`truncated`: the number of good records). */
  readonly index: number;
  /** Byte offset in the file where the problem is. */
  readonly offset: number;
  /** Human description (never key material or record content beyond sequence numbers). */
  readonly message: string;
}

/** One record that passed every check. */
export interface VerifiedAuditRecord {
  /** The decoded record. */
  readonly record: AuditRecord;
  /** Its bytes (the COSE_Sign1). */
  readonly bytes: Uint8Array;
  /** SHA-256 of its bytes. */
  readonly hash: Uint8Array;
  /** Offset of its frame in the file. */
  readonly offset: number;
}

/** Options of {@link verifyAuditLog}. */
export interface VerifyAuditLogOptions {
  /** Ed25519 public keys (32 bytes each) of the actors allowed to append; enables signature checks. */
  readonly trustedKeys?: readonly Uint8Array[];
  /** A head known from earlier (a console's last ingested record): the log must still hold it, unchanged. */
  readonly expectHead?: { readonly seq: number; readonly hash: Uint8Array };
}

/** The report of {@link verifyAuditLog}. */
export interface AuditVerifyReport {
  /** True when no problem was found. */
  readonly ok: boolean;
  /** Whether signatures were checked (trusted keys were given). */
  readonly signatures: 'checked' | 'unchecked';
  /** The records before the first problem (all of them when `ok`). */
  readonly records: readonly VerifiedAuditRecord[];
  /** The key ids (hex) that signed those records, in first-seen order. */
  readonly signers: readonly string[];
  /** The last good record's sequence number and hash, if any. */
  readonly head?: { readonly seq: number; readonly hash: Uint8Array };
  /** The first problem, if any. */
  readonly problem?: AuditProblem;
  /** Offset just after the last complete frame (where a repair truncates). */
  readonly end: number;
}

/**
 * Verifies an audit log's bytes.
 * @param bytes - the whole file
 * @param options - trusted signer keys and an expected head
 * @returns the report; never throws on bad bytes
 * @throws {TypeError} if `bytes` is not a Uint8Array, or a trusted key is not 32 bytes
 * @example
 * const r = verifyAuditLog(readFileSync('audit.log'), { trustedKeys: [stationKey] });
 * if (!r.ok) console.log(r.problem.kind, r.problem.index);
 */
export function verifyAuditLog(bytes: Uint8Array, options: VerifyAuditLogOptions = {}): AuditVerifyReport {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  const trusted = new Map<string, Uint8Array>();
  for (const k of options.trustedKeys ?? []) {
    if (!(k instanceof Uint8Array) || k.length !== 32)
      throw new TypeError('each trusted key must be a 32-byte Ed25519 public key');
    trusted.set(toHex(auditKeyId(k)), k);
  }
  const checkSigs = trusted.size > 0;
  const scan = scanAuditFrames(bytes);
  const frames = scan.frames;
  const good: VerifiedAuditRecord[] = [];
  const decoded = frames.map((f) => decodeAuditRecord(f.bytes));
  const report = (problem?: AuditProblem): AuditVerifyReport => {
    // a problem found at record i+1 may lie in record i (its hash changed): it is not good either
    if (problem && problem.index < good.length) good.length = problem.index;
    const last = good[good.length - 1];
    return {
      ok: problem === undefined,
      signatures: checkSigs ? 'checked' : 'unchecked',
      records: good,
      signers: [...new Set(good.map((g) => toHex(g.record.actor)))],
      ...(last ? { head: { seq: last.record.seq, hash: last.hash } } : {}),
      ...(problem ? { problem } : {}),
      end: scan.end,
    };
  };

  for (let i = 0; i < frames.length; i++) {
    const frame = frames[i] as (typeof frames)[number];
    const d = decoded[i] as (typeof decoded)[number];
    const at = (kind: AuditProblemKind, index: number, message: string) =>
      report({ kind, index, offset: (frames[index] ?? frame).offset, message });
    if (!d.ok) return at('edited', i, `record ${i} is not a valid audit record: ${d.why}`);
    const r = d.record;
    const keyId = toHex(r.actor);
    if (checkSigs) {
      const key = trusted.get(keyId);
      if (!key) return at('unknown-signer', i, `record ${i} (seq ${r.seq}) is signed by key id ${keyId}, which is not trusted`);
      if (!verifyAuditRecordSignature(frame.bytes, key))
        return at('edited', i, `record ${i} (seq ${r.seq}): the signature does not verify`);
    }
    const prev = good[i - 1];
    const expectedSeq = prev ? prev.record.seq + 1 : 0;
    const expectedPrev = prev ? prev.hash : AUDIT_GENESIS_PREV;
    const hash = auditRecordHash(frame.bytes);
    if (r.seq !== expectedSeq || !bytesEqual(r.prev, expectedPrev)) {
      const p = classify(i, r, expectedSeq, expectedPrev);
      return at(p.kind, p.index, p.message);
    }
    good.push({ record: r, bytes: frame.bytes, hash, offset: frame.offset });
  }

  if (scan.problem) {
    const { kind, offset, message } = scan.problem;
    const index = frames.length;
    if (kind === 'bad-header') return report({ kind: 'not-an-audit-log', index: 0, offset, message });
    if (kind === 'torn') return report({ kind: 'torn-tail', index, offset, message: `record ${index} is torn: ${message}` });
    return report({ kind: 'edited', index, offset, message: `record ${index}: ${message}` });
  }

  const expect = options.expectHead;
  if (expect) {
    const held = good.find((g) => g.record.seq === expect.seq);
    if (!held) {
      return report({
        kind: 'truncated',
        index: good.length,
        offset: scan.end,
        message: `the log ends at seq ${good.length - 1} but the expected head is seq ${expect.seq}`,
      });
    }
    if (!bytesEqual(held.hash, expect.hash)) {
      const index = good.indexOf(held);
      return report({
        kind: 'edited',
        index,
        offset: held.offset,
        message: `record ${index} (seq ${expect.seq}) is not the expected head: history was rewritten`,
      });
    }
  }
  return report();

  /** Names what broke the chain at record `i` (seq or prev not as expected). */
  function classify(
    i: number,
    r: AuditRecord,
    expectedSeq: number,
    expectedPrev: Uint8Array,
  ): { kind: AuditProblemKind; index: number; message: string } {
    const seqAt = (j: number) => {
      const x = decoded[j];
      return x?.ok ? x.record.seq : undefined;
    };
    if (r.seq > expectedSeq) {
      for (let j = i + 1; j < frames.length; j++) {
        if (seqAt(j) === expectedSeq) {
          return {
            kind: 'reordered',
            index: i,
            message: `record ${i} has seq ${r.seq} where seq ${expectedSeq} was due; seq ${expectedSeq} is at record ${j}`,
          };
        }
      }
      const missing = r.seq - expectedSeq === 1 ? `seq ${expectedSeq} is` : `seq ${expectedSeq}–${r.seq - 1} are`;
      return { kind: 'deleted', index: i, message: `${missing} missing before record ${i} (seq ${r.seq})` };
    }
    if (r.seq < expectedSeq) {
      const bytes = frames[i]?.bytes as Uint8Array;
      const dup = good.findIndex((g) => bytesEqual(g.bytes, bytes));
      if (dup >= 0) return { kind: 'inserted', index: i, message: `record ${i} is a copy of record ${dup} (seq ${r.seq})` };
      // a record before this one was slipped in: this one chains to the record before that
      const before = good[i - 2];
      if (r.seq === expectedSeq - 1 && before && bytesEqual(r.prev, before.hash)) {
        return {
          kind: 'inserted',
          index: i - 1,
          message: `record ${i - 1} (seq ${r.seq}) does not belong: record ${i} chains to record ${i - 2}`,
        };
      }
      if (good.some((g) => g.record.seq === r.seq)) {
        return { kind: 'inserted', index: i, message: `record ${i} is a second record with seq ${r.seq}` };
      }
      return { kind: 'reordered', index: i, message: `record ${i} has seq ${r.seq}, after seq ${expectedSeq - 1}` };
    }
    // right seq, wrong prev
    if (i === 0) return { kind: 'edited', index: 0, message: 'record 0 does not start the chain (its prev is not zero)' };
    const next = decoded[i + 1];
    if (next?.ok && next.record.seq === r.seq && bytesEqual(next.record.prev, expectedPrev)) {
      return {
        kind: 'inserted',
        index: i,
        message: `record ${i} (seq ${r.seq}) does not belong: record ${i + 1} chains to record ${i - 1}`,
      };
    }
    if (checkSigs) {
      return {
        kind: 'inserted',
        index: i,
        message: `record ${i} (seq ${r.seq}) is signed but does not chain to record ${i - 1}`,
      };
    }
    return {
      kind: 'edited',
      index: i - 1,
      message: `record ${i - 1} (seq ${expectedSeq - 1}) was changed: record ${i} holds another hash for it`,
    };
  }
}
