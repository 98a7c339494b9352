/**
 * The on-disk format of the outbox log: a sequence of self-delimiting entries, no file header.
 *
 * ```
 * log    = *entry
 * entry  = marker  length:u32be  crc:u32be  record
 * marker = EE 4F 42 31                              ; 0xEE "OB1": sync marker and format version 1
 * crc    = CRC-32C(length bytes ‖ record)           ; RFC 3720 §B.4 (iSCSI), so a damaged length is damage too
 * record = deterministic CBOR map (RFC 8949 §4.2.1) ; 1 ≤ length ≤ OUTBOX_MAX_RECORD_BYTES
 *   put  = {0: 1, 1: id bytes[16], 2: seq, 3: time ms, 4: topic, 5: payload, 6: priority (0 normal, 1 emergency),
 *           ? 7: retain bool, ? 8: qos 0..2}
 *   ack  = {0: 2, 1: id}                            ; delivered
 *   drop = {0: 3, 1: id, 9: reason (0 count, 1 bytes, 2 age)}
 *   base = {0: 4, 2: next seq}                      ; first entry of a compacted log: seq never goes back
 * ```
 *
 * {@link scanOutboxLog} reads a whole log without ever throwing: a damaged entry (bad marker,
 * length, CRC, CBOR or record shape) becomes a *bad region* that ends where the next fully valid
 * entry starts (resync on the marker); damage at the very end that looks like an interrupted
 * append (a header or record cut short by the end of the file, or all-zero bytes) is a *torn
 * tail*. Every byte of the file is in exactly one valid entry, bad region or the torn tail.
 *
 * **Why a log.** Every change to the outbox is an entry — `put` (a message), `ack` (delivered),
 * `drop` (given up, with the reason) — and not a folder of files or a database: an append is one
 * `write` + one `fsync` of a few hundred bytes (a file per message costs a create, an fsync of
 * the file *and* of the folder, and an unlink per ack); the format needs no dependency (SQLite
 * would be a native module in a package that may use only `@enigm/protocols` and Node); and every
 * failure has a local, bounded repair — a torn tail is cut, a damaged entry is skipped by
 * resyncing on the next marker, and neither costs the entries around it. **Why CRC-32C:** it
 * detects every burst error up to 32 bits and all odd bit counts, is already in
 * `@enigm/protocols/framing` (the serial frame check, RFC 3720 test vectors), and is what the CRC
 * instructions of x86 and ARMv8 compute. The CRC covers the length as well as the record, so a
 * damaged length is damage, never a different entry.
 *
 * @module
 */
import { decode, encode } from '@enigm/protocols/cbor';
import { crc32c } from '@enigm/protocols/framing';
import { defineRecord, field, t } from '@enigm/protocols/messages';

/** Priority of an outbox entry: `emergency` entries are never dropped and never expire. */
export type OutboxPriority = 'normal' | 'emergency';

/** Why an entry was dropped before delivery. */
export type OutboxDropReason = 'count' | 'bytes' | 'age';

/** One queued message. Treat it as read-only (it is frozen; do not change its bytes). */
export interface OutboxEntry {
  /** 16 random bytes, unique among pending entries. */
  readonly id: Uint8Array;
  /** Position in append order: strictly increasing over the life of the file, never reused. */
  readonly seq: number;
  /** When it was appended, ms since the Unix epoch (the injected clock). */
  readonly time: number;
  /** MQTT topic. */
  readonly topic: string;
  /** Message bytes. */
  readonly payload: Uint8Array;
  /** `normal` (may be dropped by the bounds) or `emergency` (never dropped). */
  readonly priority: OutboxPriority;
  /** MQTT retain flag, when set. */
  readonly retain?: boolean;
  /** MQTT QoS to publish with, when set. */
  readonly qos?: 0 | 1 | 2;
}

/** The sync marker that starts every entry: 0xEE "OB1". */
export const OUTBOX_MARKER: Uint8Array = Uint8Array.of(0xee, 0x4f, 0x42, 0x31);
/** Bytes before the record in an entry: marker, length, CRC. */
export const OUTBOX_HEADER_BYTES = 12;
/** Largest payload of one entry: 256 KiB. */
export const OUTBOX_MAX_PAYLOAD = 256 * 1024;
/** Largest topic, in UTF-8 bytes (the MQTT limit). */
export const OUTBOX_MAX_TOPIC_BYTES = 65535;
/** Largest record an entry may hold (payload, topic and the CBOR around them fit well within it). */
export const OUTBOX_MAX_RECORD_BYTES = 512 * 1024;

const PRIORITY = { normal: 0, emergency: 1 } as const;
const DROP_REASON = { count: 0, bytes: 1, age: 2 } as const;
const KIND = { put: 1, ack: 2, drop: 3, base: 4 } as const;

const kind = (k: number) => field(0, t.uint(k));
const id = field(1, t.bytes(16, 16));
const PutRecord = defineRecord('outbox.put', {
  kind: kind(KIND.put),
  id,
  seq: field(2, t.uint(Number.MAX_SAFE_INTEGER)),
  time: field(3, t.int(0, Number.MAX_SAFE_INTEGER)),
  topic: field(4, t.text(OUTBOX_MAX_TOPIC_BYTES)),
  payload: field(5, t.bytes(0, OUTBOX_MAX_PAYLOAD)),
  priority: field(6, t.enumOf('outbox priority', PRIORITY)),
  retain: field(7, t.bool(), true),
  qos: field(8, t.uint(2), true),
});
const AckRecord = defineRecord('outbox.ack', { kind: kind(KIND.ack), id });
const DropRecord = defineRecord('outbox.drop', {
  kind: kind(KIND.drop),
  id,
  reason: field(9, t.enumOf('outbox drop reason', DROP_REASON)),
});
const BaseRecord = defineRecord('outbox.base', { kind: kind(KIND.base), nextSeq: field(2, t.uint(Number.MAX_SAFE_INTEGER)) });

/** One decoded log record. */
export type OutboxLogRecord =
  | { readonly kind: 'put'; readonly entry: OutboxEntry }
  | { readonly kind: 'ack'; readonly id: Uint8Array }
  | { readonly kind: 'drop'; readonly id: Uint8Array; readonly reason: OutboxDropReason }
  | { readonly kind: 'base'; readonly nextSeq: number };

/**
 * The deterministic CBOR bytes of one record.
 * @throws {@link ProtocolError} `MESSAGE_INVALID` if a field breaks the schema (callers check first)
 * @example encodeOutboxRecord({ kind: 'ack', id })
 */
export function encodeOutboxRecord(r: OutboxLogRecord): Uint8Array {
  switch (r.kind) {
    case 'put': {
      const e = r.entry;
      return encode(
        PutRecord.toMap({
          kind: KIND.put,
          id: e.id,
          seq: e.seq,
          time: e.time,
          topic: e.topic,
          payload: e.payload,
          priority: e.priority,
          ...(e.retain === undefined ? {} : { retain: e.retain }),
          ...(e.qos === undefined ? {} : { qos: e.qos }),
        }),
      );
    }
    case 'ack':
      return encode(AckRecord.toMap({ kind: KIND.ack, id: r.id }));
    case 'drop':
      return encode(DropRecord.toMap({ kind: KIND.drop, id: r.id, reason: r.reason }));
    case 'base':
      return encode(BaseRecord.toMap({ kind: KIND.base, nextSeq: r.nextSeq }));
  }
}

/**
 * Decodes one record's bytes; `undefined` when they are not valid CBOR or not a known record.
 * Never throws.
 * @example decodeOutboxRecord(bytes)?.kind
 */
export function decodeOutboxRecord(bytes: Uint8Array): OutboxLogRecord | undefined {
  let v: ReturnType<typeof decode>;
  try {
    v = decode(bytes, { maxBytes: OUTBOX_MAX_RECORD_BYTES });
  } catch {
    return undefined;
  }
  if (!(v instanceof Map)) return undefined;
  switch (v.get(0)) {
    case KIND.put: {
      const r = PutRecord.tryFromMap(v);
      if (!r.ok || r.value.kind !== KIND.put) return undefined;
      const p = r.value;
      const entry: OutboxEntry = {
        id: p.id,
        seq: p.seq,
        time: p.time,
        topic: p.topic,
        payload: p.payload,
        priority: p.priority,
        ...(p.retain === undefined ? {} : { retain: p.retain }),
        ...(p.qos === undefined ? {} : { qos: p.qos as 0 | 1 | 2 }),
      };
      return { kind: 'put', entry: Object.freeze(entry) };
    }
    case KIND.ack: {
      const r = AckRecord.tryFromMap(v);
      return r.ok && r.value.kind === KIND.ack ? { kind: 'ack', id: r.value.id } : undefined;
    }
    case KIND.drop: {
      const r = DropRecord.tryFromMap(v);
      return r.ok && r.value.kind === KIND.drop ? { kind: 'drop', id: r.value.id, reason: r.value.reason } : undefined;
    }
    case KIND.base: {
      const r = BaseRecord.tryFromMap(v);
      return r.ok && r.value.kind === KIND.base ? { kind: 'base', nextSeq: r.value.nextSeq } : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * One entry around a record's bytes: marker, length, CRC-32C(length ‖ record), record.
 * @throws {RangeError} if the record is empty or over {@link OUTBOX_MAX_RECORD_BYTES}
 * @example writeSync(fd, encodeOutboxFrame(encodeOutboxRecord({ kind: 'ack', id })));
 */
export function encodeOutboxFrame(record: Uint8Array): Uint8Array {
  if (record.length === 0 || record.length > OUTBOX_MAX_RECORD_BYTES) {
    throw new RangeError(`an outbox record must be 1–${OUTBOX_MAX_RECORD_BYTES} bytes, got ${record.length}`);
  }
  const out = new Uint8Array(OUTBOX_HEADER_BYTES + record.length);
  out.set(OUTBOX_MARKER, 0);
  const dv = new DataView(out.buffer);
  dv.setUint32(4, record.length);
  dv.setUint32(8, crc32c(record, crc32c(out.subarray(4, 8))));
  out.set(record, OUTBOX_HEADER_BYTES);
  return out;
}

/**
 * One whole entry (marker, length, CRC, record) for a record: {@link encodeOutboxFrame} of
 * {@link encodeOutboxRecord}.
 * @throws {@link ProtocolError} `MESSAGE_INVALID` if a field breaks the schema (callers check first)
 * @example writeSync(fd, encodeOutboxEntry({ kind: 'ack', id }));
 */
export function encodeOutboxEntry(r: OutboxLogRecord): Uint8Array {
  return encodeOutboxFrame(encodeOutboxRecord(r));
}

/** Why a region of the log was not a valid entry. */
export type OutboxDamage = 'no-marker' | 'bad-length' | 'overrun' | 'bad-crc' | 'bad-cbor';

/** One valid entry found by {@link scanOutboxLog}. */
export interface ScannedEntry {
  /** Offset of its marker. */
  readonly offset: number;
  /** Its length in the file, header included. */
  readonly length: number;
  /** The decoded record. */
  readonly record: OutboxLogRecord;
}

/** One damaged region found by {@link scanOutboxLog}: not an entry, up to the next valid one. */
export interface BadRegion {
  /** Offset of its first byte. */
  readonly offset: number;
  /** Its length. */
  readonly length: number;
  /** What was wrong with the bytes at `offset`. */
  readonly reason: OutboxDamage;
}

/** Result of {@link scanOutboxLog}. */
export interface OutboxScan {
  /** The valid entries, in file order. */
  readonly entries: ScannedEntry[];
  /** The damaged regions between them, in file order. */
  readonly bad: BadRegion[];
  /** Where the torn tail starts (the file's length when there is none). */
  readonly end: number;
}

type Try = { ok: true; length: number; record: OutboxLogRecord } | { ok: false; reason: OutboxDamage; tornLike: boolean };

function markerAt(b: Uint8Array, p: number, n = 4): boolean {
  for (let i = 0; i < n; i++) if (b[p + i] !== OUTBOX_MARKER[i]) return false;
  return true;
}

/** Tries to read one entry at `p`; on failure says why and whether it looks like an interrupted append. */
function tryEntry(b: Uint8Array, p: number): Try {
  const rem = b.length - p;
  if (rem < OUTBOX_HEADER_BYTES) {
    if (!markerAt(b, p, Math.min(rem, 4))) return { ok: false, reason: 'no-marker', tornLike: false };
    if (rem >= 8) {
      const len = new DataView(b.buffer, b.byteOffset + p + 4, 4).getUint32(0);
      if (len === 0 || len > OUTBOX_MAX_RECORD_BYTES) return { ok: false, reason: 'bad-length', tornLike: false };
    }
    return { ok: false, reason: 'overrun', tornLike: true };
  }
  if (!markerAt(b, p)) return { ok: false, reason: 'no-marker', tornLike: false };
  const dv = new DataView(b.buffer, b.byteOffset + p + 4, 8);
  const len = dv.getUint32(0);
  if (len === 0 || len > OUTBOX_MAX_RECORD_BYTES) return { ok: false, reason: 'bad-length', tornLike: false };
  if (OUTBOX_HEADER_BYTES + len > rem) return { ok: false, reason: 'overrun', tornLike: true };
  const body = b.subarray(p + OUTBOX_HEADER_BYTES, p + OUTBOX_HEADER_BYTES + len);
  if (crc32c(body, crc32c(b.subarray(p + 4, p + 8))) !== dv.getUint32(4))
    return { ok: false, reason: 'bad-crc', tornLike: false };
  const record = decodeOutboxRecord(body);
  if (record === undefined) return { ok: false, reason: 'bad-cbor', tornLike: false };
  return { ok: true, length: OUTBOX_HEADER_BYTES + len, record };
}

function allZero(b: Uint8Array, from: number): boolean {
  for (let i = from; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Splits a log's bytes into valid entries, damaged regions and a torn tail. Never throws, whatever
 * the bytes; linear in the file's length except for marker look-alikes inside damaged regions.
 * @example
 * const { entries, bad, end } = scanOutboxLog(readFileSync('outbox.log'));
 */
export function scanOutboxLog(bytes: Uint8Array): OutboxScan {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: ScannedEntry[] = [];
  const bad: BadRegion[] = [];
  const n = bytes.length;
  let p = 0;
  while (p < n) {
    const r = tryEntry(bytes, p);
    if (r.ok) {
      entries.push({ offset: p, length: r.length, record: r.record });
      p += r.length;
      continue;
    }
    // resync: the next marker that starts a fully valid entry
    let q = n;
    let next: Try | undefined;
    for (let from = p + 1; from < n; ) {
      const m = buf.indexOf(OUTBOX_MARKER, from);
      if (m < 0) break;
      const c = tryEntry(bytes, m);
      if (c.ok) {
        q = m;
        next = c;
        break;
      }
      from = m + 1;
    }
    if (q === n && (r.tornLike || allZero(bytes, p))) return { entries, bad, end: p };
    bad.push({ offset: p, length: q - p, reason: r.reason });
    if (next?.ok) {
      entries.push({ offset: q, length: next.length, record: next.record });
      p = q + next.length;
    } else p = q;
  }
  return { entries, bad, end: n };
}
