/**
 * The on-disk format of an audit log: an 8-byte file header, then length-prefixed records.
 *
 * ```
 * file   = "ENAUDIT" 0x01                          ; magic and format version 1
 *          *frame
 * frame  = length:u32be  check:u32be  record       ; check = length XOR 0xFFFFFFFF
 *                                                  ; 1 ≤ length ≤ AUDIT_MAX_RECORD_BYTES
 * record = COSE_Sign1 bytes (see record.ts)
 * ```
 *
 * The check word makes a damaged length visible as damage: a frame whose header is complete but
 * inconsistent is an edit, never mistaken for a torn tail. A torn tail is a last frame that ends
 * early — a header or record cut short by the end of the file — or an end of file that is all
 * zero bytes (a file system that extended the file before the data reached the disk).
 *
 * @module
 */
import { AUDIT_MAX_RECORD_BYTES } from './record.ts';

/** The file header: `ENAUDIT` and format version 1. */
export const AUDIT_FILE_HEADER: Uint8Array = Uint8Array.of(0x45, 0x4e, 0x41, 0x55, 0x44, 0x49, 0x54, 0x01);
/** Bytes before a record in a frame. */
export const AUDIT_FRAME_HEADER_BYTES = 8;

/** One complete frame: where it starts and its record's bytes. */
export interface AuditFrame {
  /** Offset of the frame header in the file. */
  readonly offset: number;
  /** The record's bytes (a view into the file's bytes). */
  readonly bytes: Uint8Array;
}

/** What ends a scan early. */
export interface AuditScanProblem {
  /** `bad-header`: not an audit log; `torn`: a cut-short last frame; `bad-frame`: a damaged frame header. */
  readonly kind: 'bad-header' | 'torn' | 'bad-frame';
  /** Offset where the problem starts. */
  readonly offset: number;
  /** Human description (never file content). */
  readonly message: string;
}

/** Result of {@link scanAuditFrames}. */
export interface AuditScan {
  /** The complete frames before any problem. */
  readonly frames: AuditFrame[];
  /** Offset just after the last complete frame (the header's end if none). */
  readonly end: number;
  /** Why the scan stopped before the end of the bytes, if it did. */
  readonly problem?: AuditScanProblem;
}

/**
 * Encodes one frame around a record's bytes.
 * @throws {RangeError} if the record is empty or over {@link AUDIT_MAX_RECORD_BYTES}
 */
export function encodeAuditFrame(record: Uint8Array): Uint8Array {
  if (record.length === 0 || record.length > AUDIT_MAX_RECORD_BYTES) {
    throw new RangeError(`an audit record must be 1–${AUDIT_MAX_RECORD_BYTES} bytes, got ${record.length}`);
  }
  const out = new Uint8Array(AUDIT_FRAME_HEADER_BYTES + record.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, record.length);
  dv.setUint32(4, ~record.length >>> 0);
  out.set(record, AUDIT_FRAME_HEADER_BYTES);
  return out;
}

function allZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Splits an audit log's bytes into frames, structurally (records are not decoded). Never throws on
 * bad bytes: the first problem ends the scan and is returned.
 * @example
 * const { frames, problem } = scanAuditFrames(readFileSync('audit.log'));
 */
export function scanAuditFrames(bytes: Uint8Array): AuditScan {
  const H = AUDIT_FILE_HEADER.length;
  if (bytes.length < H || AUDIT_FILE_HEADER.some((b, i) => bytes[i] !== b)) {
    const torn = bytes.length < H && bytes.every((b, i) => b === AUDIT_FILE_HEADER[i]);
    return {
      frames: [],
      end: 0,
      problem: torn
        ? { kind: 'torn', offset: 0, message: `the file header is cut short (${bytes.length} of ${H} bytes)` }
        : { kind: 'bad-header', offset: 0, message: 'not an Enigm audit log (the file header is not ENAUDIT version 1)' },
    };
  }
  const frames: AuditFrame[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = H;
  while (p < bytes.length) {
    const remaining = bytes.length - p;
    if (allZero(bytes, p)) {
      return { frames, end: p, problem: { kind: 'torn', offset: p, message: `the last ${remaining} bytes are zero-filled` } };
    }
    if (remaining < AUDIT_FRAME_HEADER_BYTES) {
      return {
        frames,
        end: p,
        problem: { kind: 'torn', offset: p, message: `the last frame header is cut short (${remaining} bytes)` },
      };
    }
    const length = dv.getUint32(p);
    const check = dv.getUint32(p + 4);
    if (check !== ~length >>> 0 || length === 0 || length > AUDIT_MAX_RECORD_BYTES) {
      return {
        frames,
        end: p,
        problem: {
          kind: 'bad-frame',
          offset: p,
          message: 'a frame header is damaged (length and check disagree or out of range)',
        },
      };
    }
    if (remaining < AUDIT_FRAME_HEADER_BYTES + length) {
      return {
        frames,
        end: p,
        problem: {
          kind: 'torn',
          offset: p,
          message: `the last record is cut short (${remaining - AUDIT_FRAME_HEADER_BYTES} of ${length} bytes)`,
        },
      };
    }
    frames.push({ offset: p, bytes: bytes.subarray(p + AUDIT_FRAME_HEADER_BYTES, p + AUDIT_FRAME_HEADER_BYTES + length) });
    p += AUDIT_FRAME_HEADER_BYTES + length;
  }
  return { frames, end: p };
}
