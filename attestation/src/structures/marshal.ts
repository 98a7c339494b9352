/**
 * Big-endian marshalling of TPM 2.0 structures (TPM 2.0 Part 2 §5: canonical form, most
 * significant byte first; `TPM2B_*` = 16-bit size then bytes; `TPML_*` = 32-bit count then items).
 * A writer that grows, a reader that checks every bound and throws `TPM_MARSHAL`.
 *
 * @module
 */
import { AttestationError } from '../errors.ts';

/** Appends big-endian TPM fields to a growing buffer. */
export class TpmWriter {
  private buf = Buffer.alloc(256);
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  /** Appends a `UINT8`. */
  u8(v: number): this {
    this.room(1);
    this.buf.writeUInt8(v, this.len++);
    return this;
  }
  /** Appends a `UINT16`. */
  u16(v: number): this {
    this.room(2);
    this.buf.writeUInt16BE(v, this.len);
    this.len += 2;
    return this;
  }
  /** Appends a `UINT32`. */
  u32(v: number): this {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
    return this;
  }
  /** Appends a `UINT64`. */
  u64(v: bigint): this {
    this.room(8);
    this.buf.writeBigUInt64BE(v, this.len);
    this.len += 8;
    return this;
  }
  /** Appends raw bytes. */
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }
  /**
   * Appends a `TPM2B`: 16-bit size, then the bytes.
   * @throws RangeError if longer than 65535 bytes
   */
  tpm2b(b: Uint8Array): this {
    if (b.length > 0xffff) throw new RangeError(`TPM2B of ${b.length} bytes is over 65535`);
    return this.u16(b.length).bytes(b);
  }
  /** Appends a `TPM2B` whose content is written by `fn` (e.g. `TPM2B_PUBLIC`). */
  sized(fn: (w: TpmWriter) => void): this {
    const inner = new TpmWriter();
    fn(inner);
    return this.tpm2b(inner.finish());
  }
  /** Bytes written so far (a copy). */
  finish(): Uint8Array {
    return new Uint8Array(this.buf.subarray(0, this.len));
  }
}

/** Reads big-endian TPM fields, throwing `TPM_MARSHAL` on any overrun. */
export class TpmReader {
  private readonly view: DataView;
  /** Read position. */
  pos = 0;

  /** @param bytes - the buffer to read; views returned by {@link TpmReader.bytes} alias it */
  constructor(
    readonly bytes: Uint8Array,
    private readonly what = 'TPM structure',
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  /** Bytes left. */
  get left(): number {
    return this.bytes.length - this.pos;
  }
  private need(n: number, field: string): void {
    if (n > this.left)
      throw new AttestationError(
        'TPM_MARSHAL',
        `${this.what} ends inside ${field} at offset ${this.pos} (${n} bytes needed, ${this.left} left)`,
      );
  }
  /** Reads a `UINT8`. */
  u8(field = 'a UINT8'): number {
    this.need(1, field);
    return this.view.getUint8(this.pos++);
  }
  /** Reads a `UINT16`. */
  u16(field = 'a UINT16'): number {
    this.need(2, field);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  /** Reads a `UINT32`. */
  u32(field = 'a UINT32'): number {
    this.need(4, field);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }
  /** Reads a `UINT64`. */
  u64(field = 'a UINT64'): bigint {
    this.need(8, field);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }
  /** Reads `n` raw bytes (a view). */
  take(n: number, field = 'bytes'): Uint8Array {
    this.need(n, field);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** Reads a `TPM2B` (a view of its content), optionally bounding its size. */
  tpm2b(field = 'a TPM2B', max = 0xffff): Uint8Array {
    const n = this.u16(`the size of ${field}`);
    if (n > max) throw new AttestationError('TPM_MARSHAL', `${this.what}: ${field} is ${n} bytes, over ${max}`);
    return this.take(n, field);
  }
  /** Reads a `TPML` count, bounded. */
  count(field: string, max: number): number {
    const n = this.u32(`the count of ${field}`);
    if (n > max) throw new AttestationError('TPM_MARSHAL', `${this.what}: ${field} has ${n} entries, over ${max}`);
    return n;
  }
  /** Throws `TPM_MARSHAL` unless every byte was read. */
  end(): void {
    if (this.left !== 0) throw new AttestationError('TPM_MARSHAL', `${this.what}: ${this.left} trailing bytes`);
  }
}
