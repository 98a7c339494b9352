/**
 * The flash file: how a simulator keeps a Key's flash on disk (`key-<i>.flash`), storing only the
 * programmed pages. All integers big-endian:
 *
 * ```
 * offset  size                 field
 * 0       4                    magic "EKFL"
 * 4       1                    version (1)
 * 5       3                    reserved, zero
 * 8       4                    page size, bytes
 * 12      4                    page count
 * 16      ceil(pageCount / 8)  bitmap: bit (p % 8) (least significant first) of byte p / 8 is set
 *                              when page p is stored; bits past the last page are zero
 * …       pageSize × stored    the stored pages, in page order
 * end−4   4                    CRC-32C of every byte before it
 * ```
 *
 * A page not in the bitmap is erased (all `0xFF`). A factory Key's file is ~72 KiB instead of
 * the 1 MiB raw image. Decoding is strict: a file of another geometry, with a bad magic, version,
 * reserved byte, bitmap, length or checksum is refused (SimulatorError `SIM_BAD_INPUT`).
 *
 * Older simulators wrote the raw image (`Flash.snapshot()`, exactly `pageSize × pageCount` bytes);
 * {@link decodeFlashFile} accepts it too (a file of that length that does not decode as a flash
 * file is a raw image), and so does `new Flash({ initial })`.
 * @module
 */
import { crc32c } from '@enigm/protocols/framing';
import { SimulatorError } from '../../runtime/errors.ts';

/** The file's first four bytes, `EKFL`. */
export const FLASH_FILE_MAGIC: Uint8Array = Uint8Array.of(0x45, 0x4b, 0x46, 0x4c);
/** The format version this module writes and reads. */
export const FLASH_FILE_VERSION = 1;
const HEADER = 16;

/** A flash as the encoder sees it: its geometry and a copy of each stored page. */
export interface StoredPages {
  readonly pageSize: number;
  readonly pageCount: number;
  /** A copy of page `page`, or undefined if it is erased. */
  storedPage(page: number): Uint8Array | undefined;
}

/** Whether `bytes` starts with the flash file magic (not whether it is valid). */
export function isFlashFile(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && FLASH_FILE_MAGIC.every((b, i) => bytes[i] === b);
}

/**
 * Encodes `flash` as a flash file (the header, the bitmap and only the stored pages).
 * @example
 * writeFileSync(path, encodeFlashFile(flash));
 */
export function encodeFlashFile(flash: StoredPages): Uint8Array {
  const { pageSize, pageCount } = flash;
  const bitmapBytes = Math.ceil(pageCount / 8);
  const pages: [number, Uint8Array][] = [];
  for (let p = 0; p < pageCount; p++) {
    const page = flash.storedPage(p);
    if (page !== undefined) pages.push([p, page]);
  }
  const out = new Uint8Array(HEADER + bitmapBytes + pages.length * pageSize + 4);
  const view = new DataView(out.buffer);
  out.set(FLASH_FILE_MAGIC, 0);
  out[4] = FLASH_FILE_VERSION;
  view.setUint32(8, pageSize);
  view.setUint32(12, pageCount);
  let at = HEADER + bitmapBytes;
  for (const [p, page] of pages) {
    out[HEADER + (p >> 3)] = (out[HEADER + (p >> 3)] as number) | (1 << (p & 7));
    out.set(page, at);
    at += pageSize;
  }
  view.setUint32(at, crc32c(out.subarray(0, at)));
  return out;
}

/**
 * Decodes a flash file, or a raw image of exactly `pageSize × pageCount` bytes (the format older
 * simulators wrote), for a flash of `geometry`: one entry per page, `undefined` for an erased one.
 * @param what - names the file in error messages (e.g. its path)
 * @throws SimulatorError `SIM_BAD_INPUT` if `bytes` is neither, is damaged (bad magic, version,
 *   reserved byte, bitmap, length or CRC) or is for another geometry
 */
export function decodeFlashFile(
  bytes: Uint8Array,
  geometry: { readonly pageSize: number; readonly pageCount: number },
  what = 'flash file',
): (Uint8Array | undefined)[] {
  const { pageSize, pageCount } = geometry;
  const raw = bytes.length === pageSize * pageCount;
  if (isFlashFile(bytes)) {
    try {
      return decodeSparse(bytes, pageSize, pageCount, what);
    } catch (e) {
      if (!raw) throw e; // else: a raw image that happens to start with the magic
    }
  } else if (!raw)
    throw new SimulatorError(
      'SIM_BAD_INPUT',
      `${what}: neither a flash file (no EKFL magic) nor a raw ${pageSize * pageCount}-byte image (${bytes.length} bytes): damaged or truncated`,
    );
  const pages: (Uint8Array | undefined)[] = [];
  for (let p = 0; p < pageCount; p++) {
    const page = bytes.subarray(p * pageSize, (p + 1) * pageSize);
    pages.push(page.every((b) => b === 0xff) ? undefined : page.slice());
  }
  return pages;
}

function decodeSparse(bytes: Uint8Array, pageSize: number, pageCount: number, what: string): (Uint8Array | undefined)[] {
  const bad = (why: string) => new SimulatorError('SIM_BAD_INPUT', `${what}: ${why}`);
  const bitmapBytes = Math.ceil(pageCount / 8);
  if (bytes.length < HEADER + bitmapBytes + 4) throw bad(`truncated (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[4] !== FLASH_FILE_VERSION) throw bad(`unsupported version ${bytes[4]} (this simulator reads ${FLASH_FILE_VERSION})`);
  if (bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw bad('reserved header bytes are not zero');
  const fileSize = view.getUint32(8);
  const fileCount = view.getUint32(12);
  if (fileSize !== pageSize || fileCount !== pageCount)
    throw bad(`made for ${fileCount} pages of ${fileSize} bytes, this flash has ${pageCount} pages of ${pageSize}`);
  let stored = 0;
  for (let p = 0; p < bitmapBytes * 8; p++) {
    if (((bytes[HEADER + (p >> 3)] as number) & (1 << (p & 7))) === 0) continue;
    if (p >= pageCount) throw bad(`the bitmap marks page ${p}, past the last page`);
    stored++;
  }
  const end = HEADER + bitmapBytes + stored * pageSize;
  if (bytes.length !== end + 4)
    throw bad(
      `${bytes.length} bytes where the header and bitmap (${stored} stored pages) call for ${end + 4}: truncated or damaged`,
    );
  if (view.getUint32(end) !== crc32c(bytes.subarray(0, end))) throw bad('checksum mismatch: damaged');
  const pages: (Uint8Array | undefined)[] = new Array(pageCount).fill(undefined);
  let at = HEADER + bitmapBytes;
  for (let p = 0; p < pageCount; p++) {
    if (((bytes[HEADER + (p >> 3)] as number) & (1 << (p & 7))) === 0) continue;
    pages[p] = bytes.slice(at, at + pageSize);
    at += pageSize;
  }
  return pages;
}
