/**
 * Partitioning of the Key's flash for two-slot updates. Every region is page-aligned:
 *
 * ```
 * | bootloader | primary slot | secondary slot | scratch | status ring |
 * ```
 *
 * - **bootloader**: reserved for the bootloader's own code; the model never touches it.
 * - **primary slot**: the image that runs. **secondary slot**: where an update is received, and
 *   where the previous image lives after a swap (so an unconfirmed update can be reverted).
 *   A slot holds one image: page 0 is the header (magic, manifest length, signed manifest, see
 *   `image.ts`), the payload starts at page 1.
 * - **scratch**: one page used by the page-by-page swap (see `swap.ts`).
 * - **status ring**: at least two pages of append-only, checksummed status records (see
 *   `status.ts`): upload progress, swap progress, image states, installed security counter.
 *
 * {@link DEFAULT_LAYOUT} (1 MiB, 4 KiB pages): bootloader 4 pages (16 KiB), slots 124 pages
 * (496 KiB, payload at most 492 KiB), scratch 1 page, status 3 pages (12 KiB).
 *
 * @module
 */

/** A page-aligned region of flash. */
export interface Region {
  /** First page. */
  readonly firstPage: number;
  /** Number of pages. */
  readonly pages: number;
  /** Byte address of the first page. */
  readonly start: number;
  /** Size, bytes. */
  readonly size: number;
}

/** Where everything lives in flash. */
export interface FlashLayout {
  /** Erase unit, bytes. */
  readonly pageSize: number;
  /** Pages in the flash. */
  readonly pageCount: number;
  /** Reserved for the bootloader's code (never written by the model). */
  readonly bootloader: Region;
  /** The running image. */
  readonly primary: Region;
  /** The update being received, or the previous image after a swap. */
  readonly secondary: Region;
  /** One page, the swap's temporary copy. */
  readonly scratch: Region;
  /** The status ring (at least 2 pages). */
  readonly status: Region;
}

/** Options of {@link computeLayout}. */
export interface LayoutOptions {
  /** Erase unit, bytes: a multiple of 64 (the status record size), at least 256. */
  pageSize: number;
  /** Pages in the flash. */
  pageCount: number;
  /** Pages reserved at the start for the bootloader (default 0). */
  bootloaderPages?: number;
}

/** Fewest status pages (the ring needs one page to fill while another holds the latest record). */
export const MIN_STATUS_PAGES = 2;

function region(firstPage: number, pages: number, pageSize: number): Region {
  return { firstPage, pages, start: firstPage * pageSize, size: pages * pageSize };
}

/**
 * Splits a flash into bootloader, two equal slots, a scratch page and a status ring; the slots
 * get as many pages as possible, the status ring what is left (at least {@link MIN_STATUS_PAGES}).
 * @throws {RangeError} if a size is invalid or the flash is too small for two 2-page slots
 * @example
 * computeLayout({ pageSize: 4096, pageCount: 64 }).primary.pages === 30
 */
export function computeLayout(opts: LayoutOptions): FlashLayout {
  const { pageSize, pageCount, bootloaderPages = 0 } = opts;
  if (!Number.isSafeInteger(pageSize) || pageSize < 256 || pageSize % 64 !== 0)
    throw new RangeError(`pageSize must be a multiple of 64 of at least 256, got ${pageSize}`);
  if (!Number.isSafeInteger(pageCount) || pageCount < 1)
    throw new RangeError(`pageCount must be a positive integer, got ${pageCount}`);
  if (!Number.isSafeInteger(bootloaderPages) || bootloaderPages < 0)
    throw new RangeError(`bootloaderPages must be a non-negative integer, got ${bootloaderPages}`);
  const slotPages = Math.floor((pageCount - bootloaderPages - 1 - MIN_STATUS_PAGES) / 2);
  if (slotPages < 2) throw new RangeError(`pageCount ${pageCount} is too small for two slots of at least 2 pages`);
  const primary = bootloaderPages;
  const secondary = primary + slotPages;
  const scratch = secondary + slotPages;
  const status = scratch + 1;
  return {
    pageSize,
    pageCount,
    bootloader: region(0, bootloaderPages, pageSize),
    primary: region(primary, slotPages, pageSize),
    secondary: region(secondary, slotPages, pageSize),
    scratch: region(scratch, 1, pageSize),
    status: region(status, pageCount - status, pageSize),
  };
}

/** The Key's layout: 1 MiB flash of 4 KiB pages (see the module documentation). */
export const DEFAULT_LAYOUT: FlashLayout = computeLayout({ pageSize: 4096, pageCount: 256, bootloaderPages: 4 });

/**
 * Checks that `layout` was computed for `flash`'s geometry.
 * @throws {RangeError} if the page sizes differ or the layout needs more pages than the flash has
 */
export function checkLayout(flash: { readonly pageSize: number; readonly pageCount: number }, layout: FlashLayout): void {
  if (flash.pageSize !== layout.pageSize || flash.pageCount < layout.pageCount)
    throw new RangeError(
      `layout (${layout.pageCount} pages of ${layout.pageSize}) does not fit the flash (${flash.pageCount} pages of ${flash.pageSize})`,
    );
}

/** Largest payload a slot holds: every page but the header page. */
export function maxPayloadSize(layout: FlashLayout): number {
  return (layout.primary.pages - 1) * layout.pageSize;
}

/** Pages an image with a `payloadSize`-byte payload occupies in a slot (header page included). */
export function imagePages(layout: FlashLayout, payloadSize: number): number {
  return 1 + Math.ceil(payloadSize / layout.pageSize);
}
