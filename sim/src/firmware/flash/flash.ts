/**
 * A simulated NOR flash: pages that erase to `0xFF` and program only 1→0, with injectable power
 * loss that tears the interrupted operation.
 *
 * Semantics (what the update model relies on):
 * - {@link Flash.erase} sets a whole page to `0xFF`.
 * - {@link Flash.write} ANDs bytes into flash. A write that would need a 0→1 bit anywhere is
 *   refused as a whole, before any byte changes and without counting as an operation
 *   ({@link FlashError} `WRITE_WITHOUT_ERASE`). Writing `0xFF` bytes or bytes already stored is a
 *   no-op on those bytes, as on real NOR flash.
 * - {@link Flash.armPowerLoss} makes a later mutating operation "torn": a write applies only a
 *   prefix of its bytes (the byte after the prefix may be partly programmed), an erase leaves the
 *   page unchanged, fully erased, erased up to some byte, or with random bits set. Which one is
 *   chosen deterministically from a seed. The operation then throws {@link PowerLoss}; software
 *   must treat the flash as it finds it at the next boot.
 *
 * Sparse: an erased page (all `0xFF`) takes no memory. A page is allocated on its first program
 * and freed when it is erased, so a factory Key holds its image and status pages (~72 KiB), not
 * the whole 1 MiB.
 *
 * Pure: no I/O, no timers. {@link Flash.snapshot} and the `initial` option let a simulator persist
 * the flash as a file; `image-file.ts` stores only the programmed pages.
 *
 * @module
 */
import { EnigmError } from '@enigm/protocols/errors';
import { decodeFlashFile, isFlashFile } from './image-file.ts';

/**
 * Codes of {@link FlashError} (the one error class of the flash and firmware-update layer), each
 * with its meaning. A manifest the injected verifier refuses is `FIRMWARE_UNVERIFIED`, with the
 * verifier's own code (e.g. `FIRMWARE_BAD_SIGNATURE`) at the start of the message and its error
 * as `cause`: callers map codes with a table, never by parsing messages.
 */
export const FLASH_ERROR_CODES = {
  WRITE_WITHOUT_ERASE: 'a write would turn a 0 bit into 1; NOR flash programs 1→0 only, so erase the page first',
  NO_VALID_IMAGE: 'no slot holds a valid signed image the bootloader may boot (impossible from a legal history)',
  FIRMWARE_MALFORMED: 'a slot header or manifest that does not follow the slot format',
  FIRMWARE_UNVERIFIED:
    "the injected verifier refused a manifest (untrusted signer, bad signature, …); the message starts with the verifier's code and `cause` is its error",
  FIRMWARE_WRONG_MODEL: 'an image built for another model',
  FIRMWARE_DOWNGRADE: 'an image whose security counter is below the installed one',
  FIRMWARE_TOO_LARGE: 'an image (manifest or payload) larger than the slot, or a chunk beyond the payload size',
  FIRMWARE_DIGEST_MISMATCH: 'a received payload whose SHA-256 differs from the manifest; the upload is discarded',
  OUT_OF_ORDER: 'a chunk whose offset is beyond the next expected offset (a predecessor is missing)',
  CHUNK_MISMATCH: 'a resent chunk whose bytes differ from the bytes already stored at that offset',
  UPDATE_INCOMPLETE: 'finish before every payload byte was received',
  UPDATE_STATE: 'a command the update state table does not allow in the current state',
} as const;

/** Symbolic code of a {@link FlashError}. */
export type FlashErrorCode = keyof typeof FLASH_ERROR_CODES;

/** The error class of the simulated flash, bootloader and update engine. */
export class FlashError extends EnigmError<FlashErrorCode> {
  override readonly name = 'FlashError';
}

/**
 * Thrown by the flash operation a power loss interrupted. Not an {@link EnigmError}: it is a
 * simulation event (the Key lost power), not a failure to report; the caller "reboots".
 */
export class PowerLoss extends Error {
  override readonly name = 'PowerLoss';
  /** Index (0-based, see {@link Flash.ops}) of the torn operation. */
  readonly op: number;

  /** @param op - index of the torn operation */
  constructor(op: number) {
    super(`power lost during flash operation #${op}`);
    this.op = op;
  }
}

/** Options of {@link Flash}. */
export interface FlashOptions {
  /** Erase unit, bytes (a positive integer). */
  pageSize: number;
  /** Number of pages (a positive integer). */
  pageCount: number;
  /**
   * Initial content, copied: the raw image (`pageSize * pageCount` bytes, as {@link Flash.snapshot}
   * returns) or a flash file (`EKFL`, see `image-file.ts`) of this geometry. Erased (`0xFF`) when
   * absent.
   */
  initial?: Uint8Array;
  /**
   * Shares the pages of `initial` with other flashes: given a page just decoded, returns a buffer
   * with the same bytes (an equal page seen before, or this one, now kept for later callers).
   * Such pages are shared copy-on-write like a {@link Flash.clone}'s: whichever flash changes one
   * copies it first. A simulator restarting many Keys holds one copy of their common image.
   */
  intern?: (page: Uint8Array) => Uint8Array;
}

/** The erased value of a byte. */
export const ERASED = 0xff;

/**
 * A deterministic 32-bit PRNG (mulberry32) returning floats in [0, 1).
 * @example const r = seededUnit(1); r() < 1
 */
export function seededUnit(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A simulated NOR flash (see the module documentation for the semantics).
 * @example
 * const f = new Flash({ pageSize: 4096, pageCount: 16 });
 * f.write(0, Uint8Array.of(0x0f)); f.erase(0);
 */
export class Flash {
  /** Erase unit, bytes. */
  readonly pageSize: number;
  /** Number of pages. */
  readonly pageCount: number;
  /** Total size, bytes. */
  readonly size: number;
  /** Page contents; `undefined` is an erased page (all `0xFF`, not allocated). */
  readonly #pages: (Uint8Array | undefined)[];
  /** 1 where the page's buffer is shared with a {@link Flash.clone} (copied before it changes). */
  readonly #shared: Uint8Array;
  #ops = 0;
  #armed: { at: number; seed: number } | undefined;

  /**
   * @throws {RangeError} if `pageSize` or `pageCount` is not a positive integer, or `initial` has
   *   the wrong length (and is not a flash file)
   * @throws {TypeError} if `initial` is given but not a Uint8Array
   * @throws SimulatorError `SIM_BAD_INPUT` if `initial` is a damaged flash file or one of another
   *   geometry
   */
  constructor(opts: FlashOptions) {
    const { pageSize, pageCount, initial } = opts;
    if (!Number.isSafeInteger(pageSize) || pageSize < 1)
      throw new RangeError(`pageSize must be a positive integer, got ${pageSize}`);
    if (!Number.isSafeInteger(pageCount) || pageCount < 1)
      throw new RangeError(`pageCount must be a positive integer, got ${pageCount}`);
    this.pageSize = pageSize;
    this.pageCount = pageCount;
    this.size = pageSize * pageCount;
    this.#pages = new Array<Uint8Array | undefined>(pageCount).fill(undefined);
    this.#shared = new Uint8Array(pageCount);
    if (initial === undefined) return;
    if (!(initial instanceof Uint8Array)) throw new TypeError('initial must be a Uint8Array');
    if (initial.length !== this.size && !isFlashFile(initial))
      throw new RangeError(`initial must be ${this.size} bytes, got ${initial.length}`);
    const intern = opts.intern;
    decodeFlashFile(initial, this, 'initial').forEach((page, p) => {
      if (page === undefined) return;
      this.#pages[p] = intern ? intern(page) : page;
      if (intern) this.#shared[p] = 1; // the pool, or other flashes, hold the same buffer
    });
  }

  /** Mutating operations (erases and writes, torn ones included) performed so far. */
  get ops(): number {
    return this.#ops;
  }

  /** Whether a power loss is armed and has not fired yet. */
  get powerLossArmed(): boolean {
    return this.#armed !== undefined;
  }

  /**
   * Bytes of page memory this flash holds (programmed pages × page size); erased pages take none.
   * A page still shared with a {@link Flash.clone} counts in both.
   */
  get residentBytes(): number {
    let n = 0;
    for (const page of this.#pages) if (page !== undefined) n++;
    return n * this.pageSize;
  }

  /**
   * Arms a power loss: `afterOps` further mutating operations complete normally, the next one is
   * torn (see the module documentation) and throws {@link PowerLoss}. `afterOps = 0` tears the
   * very next erase or write. The tear is chosen deterministically from `seed` and the operation
   * index. Fires once; re-arming replaces a pending power loss.
   * @throws {RangeError} if `afterOps` is not a non-negative integer
   * @example
   * flash.armPowerLoss(3, 42); // the 4th next erase/write is torn
   */
  armPowerLoss(afterOps: number, seed = 0): void {
    if (!Number.isSafeInteger(afterOps) || afterOps < 0)
      throw new RangeError(`afterOps must be a non-negative integer, got ${afterOps}`);
    this.#armed = { at: this.#ops + afterOps, seed: seed >>> 0 };
  }

  /** Cancels a pending power loss, if any. */
  disarmPowerLoss(): void {
    this.#armed = undefined;
  }

  /**
   * Erases page `page` (all bytes become `0xFF`).
   * @throws {RangeError} if `page` is not a page index
   * @throws {@link PowerLoss} if this operation was armed to be torn
   */
  erase(page: number): void {
    if (!Number.isSafeInteger(page) || page < 0 || page >= this.pageCount)
      throw new RangeError(`page must be an integer in [0, ${this.pageCount}), got ${page}`);
    const rng = this.#tear();
    if (rng === undefined) {
      this.#pages[page] = undefined;
      return;
    }
    const mode = Math.floor(rng() * 4);
    if (mode === 1) this.#pages[page] = undefined;
    else if (mode === 2) {
      const upTo = Math.floor(rng() * this.pageSize);
      this.#writable(page)?.fill(ERASED, 0, upTo);
    } else if (mode === 3) {
      // an erased page stays erased (OR with 0xFF); the PRNG is not used after this
      const mem = this.#writable(page);
      if (mem !== undefined) for (let i = 0; i < this.pageSize; i++) mem[i] = (mem[i] as number) | Math.floor(rng() * 256);
    }
    throw new PowerLoss(this.#ops - 1);
  }

  /**
   * Programs `bytes` at `address` (NOR: each stored byte becomes `old & new`). May span pages.
   * @throws {TypeError} if `bytes` is not a Uint8Array
   * @throws {RangeError} if the range is outside the flash
   * @throws {@link FlashError} `WRITE_WITHOUT_ERASE` (nothing written, not counted) if a bit
   *   would have to go 0→1
   * @throws {@link PowerLoss} if this operation was armed to be torn
   */
  write(address: number, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    this.#checkRange(address, bytes.length, 'address');
    const ps = this.pageSize;
    for (let i = 0; i < bytes.length; ) {
      const at = address + i;
      const p = Math.floor(at / ps);
      const off = at - p * ps;
      const n = Math.min(ps - off, bytes.length - i);
      const mem = this.#pages[p];
      if (mem !== undefined) {
        for (let j = 0; j < n; j++) {
          const b = bytes[i + j] as number;
          if (((mem[off + j] as number) & b) !== b) this.#refuse(at + j);
        }
      }
      i += n;
    }
    const rng = this.#tear();
    if (rng === undefined) {
      this.#program(address, bytes);
      return;
    }
    const prefix = Math.floor(rng() * (bytes.length + 1));
    this.#program(address, bytes.subarray(0, prefix));
    if (prefix < bytes.length && rng() < 0.5) {
      // the byte being programmed when power failed: some of its 1→0 bits made it
      const at = address + prefix;
      const old = this.#byte(at);
      this.#program(at, Uint8Array.of(old & ((bytes[prefix] as number) | Math.floor(rng() * 256))));
    }
    throw new PowerLoss(this.#ops - 1);
  }

  /**
   * A copy of `length` bytes at `address`.
   * @throws {RangeError} if the range is outside the flash
   */
  read(address: number, length: number): Uint8Array {
    this.#checkRange(address, length, 'address');
    const out = new Uint8Array(length).fill(ERASED);
    const ps = this.pageSize;
    for (let i = 0; i < length; ) {
      const at = address + i;
      const p = Math.floor(at / ps);
      const off = at - p * ps;
      const n = Math.min(ps - off, length - i);
      const mem = this.#pages[p];
      if (mem !== undefined) out.set(mem.subarray(off, off + n), i);
      i += n;
    }
    return out;
  }

  /**
   * Whether every byte of `[address, address + length)` is erased (`0xFF`), without copying.
   * @throws {RangeError} if the range is outside the flash
   */
  isErased(address: number, length: number): boolean {
    this.#checkRange(address, length, 'address');
    const ps = this.pageSize;
    for (let i = 0; i < length; ) {
      const at = address + i;
      const p = Math.floor(at / ps);
      const off = at - p * ps;
      const n = Math.min(ps - off, length - i);
      const mem = this.#pages[p];
      if (mem !== undefined && !allErased(mem, off, off + n)) return false;
      i += n;
    }
    return true;
  }

  /**
   * A copy of page `page`, or `undefined` if it is erased (for compact persistence, see
   * `image-file.ts`).
   * @throws {RangeError} if `page` is not a page index
   */
  storedPage(page: number): Uint8Array | undefined {
    if (!Number.isSafeInteger(page) || page < 0 || page >= this.pageCount)
      throw new RangeError(`page must be an integer in [0, ${this.pageCount}), got ${page}`);
    const mem = this.#pages[page];
    return mem === undefined || allErased(mem, 0, mem.length) ? undefined : mem.slice();
  }

  /**
   * An independent copy: the same content, operation count and pending power loss (so it tears
   * exactly as this flash would). Pages are shared copy-on-write: a page is copied by whichever
   * flash changes it first, so clones of a factory flash hold one copy of the unchanged image.
   */
  clone(): Flash {
    const c = new Flash({ pageSize: this.pageSize, pageCount: this.pageCount });
    this.#pages.forEach((mem, p) => {
      if (mem === undefined) return;
      c.#pages[p] = mem;
      c.#shared[p] = 1;
      this.#shared[p] = 1;
    });
    c.#ops = this.#ops;
    c.#armed = this.#armed && { ...this.#armed };
    return c;
  }

  /** A copy of the whole flash (for persistence; pass it back as `initial`). */
  snapshot(): Uint8Array {
    const out = new Uint8Array(this.size).fill(ERASED);
    this.#pages.forEach((mem, p) => {
      if (mem !== undefined) out.set(mem, p * this.pageSize);
    });
    return out;
  }

  /** The byte at `address` (in range). */
  #byte(address: number): number {
    const p = Math.floor(address / this.pageSize);
    return (this.#pages[p]?.[address - p * this.pageSize] as number | undefined) ?? ERASED;
  }

  /** Page `p` to change in place: copied first if it is shared with a clone; undefined if erased. */
  #writable(p: number): Uint8Array | undefined {
    const mem = this.#pages[p];
    if (mem === undefined || this.#shared[p] === 0) return mem;
    const own = mem.slice();
    this.#pages[p] = own;
    this.#shared[p] = 0;
    return own;
  }

  /** Stores `bytes` at `address` (already checked: only 1→0 bits), allocating pages as needed. */
  #program(address: number, bytes: Uint8Array): void {
    const ps = this.pageSize;
    for (let i = 0; i < bytes.length; ) {
      const at = address + i;
      const p = Math.floor(at / ps);
      const off = at - p * ps;
      const n = Math.min(ps - off, bytes.length - i);
      const part = bytes.subarray(i, i + n);
      let mem = this.#pages[p];
      if (mem === undefined) {
        if (allErased(part, 0, n)) {
          i += n;
          continue;
        }
        mem = new Uint8Array(ps).fill(ERASED);
        this.#pages[p] = mem;
        this.#shared[p] = 0;
      } else mem = this.#writable(p) as Uint8Array;
      mem.set(part, off);
      i += n;
    }
  }

  #refuse(address: number): never {
    throw new FlashError(
      'WRITE_WITHOUT_ERASE',
      `write at 0x${address.toString(16)} needs a 0→1 bit (page ${Math.floor(address / this.pageSize)} not erased)`,
    );
  }

  /** Counts one mutating operation; returns the tear PRNG if this one is the armed one. */
  #tear(): (() => number) | undefined {
    const op = this.#ops++;
    const armed = this.#armed;
    if (armed === undefined || op !== armed.at) return undefined;
    this.#armed = undefined;
    return seededUnit((armed.seed ^ Math.imul(op + 1, 0x9e3779b1)) >>> 0);
  }

  #checkRange(address: number, length: number, name: string): void {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`length must be a non-negative integer, got ${length}`);
    if (!Number.isSafeInteger(address) || address < 0 || address + length > this.size)
      throw new RangeError(`${name} range [${address}, ${address + length}) is outside the ${this.size}-byte flash`);
  }
}

/** Whether `bytes[from, to)` are all erased (`0xFF`). */
function allErased(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== ERASED) return false;
  return true;
}
