/**
 * The status ring: the update model's only mutable metadata, kept power-fail safe.
 *
 * Every change of state is one 64-byte record appended to the ring; the record with the highest
 * sequence number whose CRC verifies is the state. Writing that one record is therefore the
 * commit point of every transition: a power loss before or during it leaves the previous state
 * (a torn record fails its CRC, or is still blank), a power loss after it leaves the new one.
 *
 * Record (big-endian):
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | magic `EKST` |
 * | 4 | 4 | sequence number |
 * | 8 | 4 | installed security counter |
 * | 12 | 1 | primary state (index in {@link PRIMARY_STATES}) |
 * | 13 | 1 | secondary state (index in {@link SECONDARY_STATES}) |
 * | 14 | 1 | swap in progress (index in {@link SWAP_KINDS}) |
 * | 15 | 1 | swap step (0..2) |
 * | 16 | 2 | pages the swap covers |
 * | 18 | 2 | swap page |
 * | 20 | 4 | upload offset (payload bytes received) |
 * | 24 | 32 | manifest id of the upload in the secondary slot (zeros when none) |
 * | 56 | 4 | reserved (zero) |
 * | 60 | 4 | CRC-32 (IEEE) of bytes 0..59 |
 *
 * Ring: records are appended to the current page (the one holding the latest record) after its
 * last non-blank slot, so torn slots are skipped, never reprogrammed. When the page is full the
 * next page is erased and the record goes to its slot 0; the latest record stays in the full page
 * until then, so a torn erase loses nothing (the next append erases again).
 *
 * @module
 */
import type { Flash } from './flash.ts';
import type { FlashLayout } from './layout.ts';

/** States of the primary slot's image. */
export const PRIMARY_STATES = ['confirmed', 'testing', 'reverting'] as const;
/**
 * State of the primary image: `confirmed`; `testing` (swapped in for its one test boot, not yet
 * confirmed; any later boot reverts it); `reverting` (revert requested; the next boot reverts).
 */
export type PrimaryState = (typeof PRIMARY_STATES)[number];

/** States of the secondary slot. */
export const SECONDARY_STATES = ['empty', 'uploading', 'ready', 'pending-test', 'old'] as const;
/**
 * State of the secondary slot: `empty` (nothing usable); `uploading` (manifest accepted, payload
 * arriving); `ready` (payload complete, digest checked); `pending-test` (the next boot swaps it in
 * for a test boot); `old` (the previous image, moved there by the swap).
 */
export type SecondaryState = (typeof SECONDARY_STATES)[number];

/** Kinds of swap the bootloader journals. */
export const SWAP_KINDS = ['none', 'test', 'revert', 'promote'] as const;
/**
 * A swap in progress: `test` (secondary's new image in for a test boot), `revert` (the old image
 * back), `promote` (recovery: a valid secondary image replaces an invalid primary one).
 */
export type SwapKind = (typeof SWAP_KINDS)[number];

/** The decoded state of the update model. */
export interface SlotStatus {
  /** Sequence number of the record (0 for the implicit initial state). */
  readonly seq: number;
  /** Installed security counter: monotonic, advanced only by a confirm. */
  readonly securityCounter: number;
  readonly primary: PrimaryState;
  readonly secondary: SecondaryState;
  /** Manifest id of the image uploaded into the secondary slot (zeros when none). */
  readonly imageId: Uint8Array;
  /** Payload bytes received (meaningful while `uploading`). */
  readonly uploadOffset: number;
  readonly swap: SwapKind;
  /** Pages the swap covers (from page 0). */
  readonly swapPages: number;
  /** Next page of the swap. */
  readonly swapPage: number;
  /** Next step on `swapPage` (0: primary→scratch, 1: secondary→primary, 2: scratch→secondary). */
  readonly swapStep: number;
}

/** A change to commit: any fields but `seq`. */
export type StatusChange = Partial<Omit<SlotStatus, 'seq'>>;

/** Size of one status record, bytes. */
export const STATUS_RECORD_SIZE = 64;
/** Status record magic, `EKST`. */
export const STATUS_MAGIC = 0x454b5354;
const CRC_OFFSET = 60;

/** No manifest id. */
export const NO_IMAGE_ID: Uint8Array = new Uint8Array(32);

/** The state of a Key whose status ring holds no valid record (blank flash). */
export const INITIAL_STATUS: SlotStatus = {
  seq: 0,
  securityCounter: 0,
  primary: 'confirmed',
  secondary: 'empty',
  imageId: NO_IMAGE_ID,
  uploadOffset: 0,
  swap: 'none',
  swapPages: 0,
  swapPage: 0,
  swapStep: 0,
};

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32 (IEEE 802.3, as zlib) of `bytes`.
 * @example crc32(new TextEncoder().encode('123456789')) === 0xcbf43926
 */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = (CRC_TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * The 64-byte record of `s`.
 * @throws {RangeError} if a field is out of its encoded range
 */
export function encodeStatus(s: SlotStatus): Uint8Array {
  const out = new Uint8Array(STATUS_RECORD_SIZE);
  const dv = new DataView(out.buffer);
  for (const f of ['seq', 'securityCounter', 'uploadOffset'] as const) {
    if (!Number.isSafeInteger(s[f]) || s[f] < 0 || s[f] > 0xffffffff) throw new RangeError(`${f} must be a u32, got ${s[f]}`);
  }
  for (const f of ['swapPages', 'swapPage'] as const) {
    if (!Number.isSafeInteger(s[f]) || s[f] < 0 || s[f] > 0xffff) throw new RangeError(`${f} must be a u16, got ${s[f]}`);
  }
  if (s.imageId.length !== 32) throw new RangeError('imageId must be 32 bytes');
  dv.setUint32(0, STATUS_MAGIC);
  dv.setUint32(4, s.seq);
  dv.setUint32(8, s.securityCounter);
  out[12] = PRIMARY_STATES.indexOf(s.primary);
  out[13] = SECONDARY_STATES.indexOf(s.secondary);
  out[14] = SWAP_KINDS.indexOf(s.swap);
  out[15] = s.swapStep;
  dv.setUint16(16, s.swapPages);
  dv.setUint16(18, s.swapPage);
  dv.setUint32(20, s.uploadOffset);
  out.set(s.imageId, 24);
  dv.setUint32(CRC_OFFSET, crc32(out.subarray(0, CRC_OFFSET)));
  return out;
}

/** The status in a 64-byte record, or `undefined` if it is torn, blank or not a record. */
export function decodeStatus(rec: Uint8Array): SlotStatus | undefined {
  if (rec.length !== STATUS_RECORD_SIZE) return undefined;
  const dv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
  if (dv.getUint32(0) !== STATUS_MAGIC) return undefined;
  if (dv.getUint32(CRC_OFFSET) !== crc32(rec.subarray(0, CRC_OFFSET))) return undefined;
  const primary = PRIMARY_STATES[rec[12] as number];
  const secondary = SECONDARY_STATES[rec[13] as number];
  const swap = SWAP_KINDS[rec[14] as number];
  const swapStep = rec[15] as number;
  const swapPages = dv.getUint16(16);
  const swapPage = dv.getUint16(18);
  if (primary === undefined || secondary === undefined || swap === undefined || swapStep > 2 || swapPage > swapPages)
    return undefined;
  return {
    seq: dv.getUint32(4),
    securityCounter: dv.getUint32(8),
    primary,
    secondary,
    swap,
    swapStep,
    swapPages,
    swapPage,
    uploadOffset: dv.getUint32(20),
    imageId: rec.slice(24, 56),
  };
}

function isBlank(b: Uint8Array, at: number, n: number): boolean {
  for (let i = at; i < at + n; i++) if (b[i] !== 0xff) return false;
  return true;
}

/**
 * The status ring of one flash, loaded once; {@link StatusJournal.commit} appends records. Load a
 * fresh journal after every boot (and after anything else wrote the ring): the journal caches
 * where it appends.
 */
export class StatusJournal {
  readonly #flash: Flash;
  readonly #layout: FlashLayout;
  #current: SlotStatus;
  /** Page of the ring (0-based within the ring) holding the latest record. */
  #page: number;
  /** Next free slot in `#page`. */
  #slot: number;

  private constructor(flash: Flash, layout: FlashLayout, current: SlotStatus, page: number, slot: number) {
    this.#flash = flash;
    this.#layout = layout;
    this.#current = current;
    this.#page = page;
    this.#slot = slot;
  }

  /** Reads the ring: the latest valid record is the state ({@link INITIAL_STATUS} if none). */
  static load(flash: Flash, layout: FlashLayout): StatusJournal {
    const { status, pageSize } = layout;
    const perPage = pageSize / STATUS_RECORD_SIZE;
    const all = flash.read(status.start, status.size);
    let best: SlotStatus | undefined;
    let bestPage = 0;
    const lastUsed: number[] = [];
    for (let p = 0; p < status.pages; p++) {
      let used = -1;
      for (let j = 0; j < perPage; j++) {
        const at = p * pageSize + j * STATUS_RECORD_SIZE;
        if (isBlank(all, at, STATUS_RECORD_SIZE)) continue;
        const rec = all.subarray(at, at + STATUS_RECORD_SIZE);
        used = j;
        const s = decodeStatus(rec);
        if (s !== undefined && (best === undefined || s.seq > best.seq)) {
          best = s;
          bestPage = p;
        }
      }
      lastUsed.push(used);
    }
    return new StatusJournal(flash, layout, best ?? INITIAL_STATUS, bestPage, (lastUsed[bestPage] as number) + 1);
  }

  /** The current state. */
  get current(): SlotStatus {
    return this.#current;
  }

  /**
   * Commits `change` as one new record (the commit point; see the module documentation).
   * @returns the new state
   * @throws {@link PowerLoss} from the flash (the change may or may not have been committed)
   */
  commit(change: StatusChange): SlotStatus {
    const next: SlotStatus = { ...this.#current, ...change, seq: this.#current.seq + 1 };
    const rec = encodeStatus(next);
    const { status, pageSize } = this.#layout;
    if (this.#slot >= pageSize / STATUS_RECORD_SIZE) {
      const page = (this.#page + 1) % status.pages;
      this.#flash.erase(status.firstPage + page);
      this.#page = page;
      this.#slot = 0;
    }
    const at = status.start + this.#page * pageSize + this.#slot * STATUS_RECORD_SIZE;
    this.#slot++;
    this.#flash.write(at, rec);
    this.#current = next;
    return next;
  }

  /**
   * Erases the whole ring and commits `s` as its first record (factory provisioning only: not
   * power-fail safe).
   */
  static reset(flash: Flash, layout: FlashLayout, s: StatusChange): StatusJournal {
    for (let p = 0; p < layout.status.pages; p++) flash.erase(layout.status.firstPage + p);
    const j = new StatusJournal(flash, layout, INITIAL_STATUS, 0, 0);
    j.commit(s);
    return j;
  }
}
