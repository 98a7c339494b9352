/**
 * CRC-32C (Castagnoli), the integrity check of the serial frame layer.
 *
 * Parameters (Rocksoft/Williams model, "CRC-32/ISCSI"): width 32, polynomial 0x1EDC6F41
 * (reflected form 0x82F63B78), init 0xFFFFFFFF, input and output reflected, xorout 0xFFFFFFFF.
 * Check value (CRC of the ASCII bytes `123456789`): 0xE3069283. This is the CRC of iSCSI
 * (RFC 3720 §B.4), SCTP, ext4 and Btrfs, and the one computed by the SSE4.2 / ARMv8 `crc32c`
 * instructions, so firmware can use its hardware unit.
 *
 * The implementation is table-driven, slicing-by-8 (eight 256-entry tables, 8 KiB in total,
 * built once at module load): eight input bytes per step, no allocation per call.
 *
 * @module
 */

const POLY_REFLECTED = 0x82f63b78;

/** Eight 256-entry tables: T0 is the classic byte table, Tk advances a byte k further positions. */
const TABLES = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY_REFLECTED : c >>> 1;
  TABLES[n] = c;
}
for (let n = 0; n < 256; n++) {
  let c = TABLES[n]!;
  for (let k = 1; k < 8; k++) {
    c = TABLES[c & 0xff]! ^ (c >>> 8);
    TABLES[k * 256 + n] = c;
  }
}
const T0 = TABLES.subarray(0, 256);
const T1 = TABLES.subarray(256, 512);
const T2 = TABLES.subarray(512, 768);
const T3 = TABLES.subarray(768, 1024);
const T4 = TABLES.subarray(1024, 1280);
const T5 = TABLES.subarray(1280, 1536);
const T6 = TABLES.subarray(1536, 1792);
const T7 = TABLES.subarray(1792, 2048);

/**
 * CRC-32C of `bytes`.
 *
 * `seed` continues a previous computation: `crc32c(b, crc32c(a)) === crc32c(a ‖ b)`. It is the
 * previous (final, post-xorout) CRC value, so the default `0` starts a fresh CRC.
 *
 * @param bytes - data to checksum
 * @param seed - CRC of the bytes that logically precede `bytes` (default 0: none)
 * @returns the CRC as an unsigned 32-bit integer
 */
export function crc32c(bytes: Uint8Array, seed = 0): number {
  return crc32cRange(bytes, 0, bytes.length, seed);
}

/**
 * CRC-32C of `bytes[from, to)`, without making a subarray. Same `seed` convention as
 * {@link crc32c}.
 *
 * @internal shared with the frame layer
 */
export function crc32cRange(bytes: Uint8Array, from: number, to: number, seed = 0): number {
  let crc = ~seed;
  let i = from;
  const end8 = to - 7;
  for (; i < end8; i += 8) {
    const a = crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    crc =
      T7[a & 0xff]! ^
      T6[(a >>> 8) & 0xff]! ^
      T5[(a >>> 16) & 0xff]! ^
      T4[a >>> 24]! ^
      T3[bytes[i + 4]!]! ^
      T2[bytes[i + 5]!]! ^
      T1[bytes[i + 6]!]! ^
      T0[bytes[i + 7]!]!;
  }
  for (; i < to; i++) crc = T0[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
