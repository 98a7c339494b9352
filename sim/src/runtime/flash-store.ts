/**
 * A simulated Key's flash as a file: `<stateDir>/key-<i>.flash` (the sparse flash file of
 * `firmware/flash/image-file.ts`, or the raw 1 MiB image older simulators wrote) is loaded at
 * start, or a new Key is manufactured with the factory image (signed and verified once per model,
 * then copied). Changes are saved when they pause, synchronously before the Key acknowledges
 * `fw.finish`/`test`/`confirm`/`revert`, and on stop; each save is atomic and durable (temporary
 * file, fsync, rename, fsync of the folder).
 * @module
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { flashFactoryImage } from '../firmware/flash/bootloader.ts';
import { Flash } from '../firmware/flash/flash.ts';
import type { ImageVerifier } from '../firmware/flash/image.ts';
import { encodeFlashFile } from '../firmware/flash/image-file.ts';
import { DEFAULT_LAYOUT } from '../firmware/flash/layout.ts';
import type { FlashDeps } from '../firmware/key-flash.ts';
import { SimulatorError } from './errors.ts';
import type { FirmwareFactory } from './factory.ts';

/** What every Key's flash is manufactured and verified with. */
export interface FlashFactory {
  signing: FirmwareFactory;
  verifier: ImageVerifier;
}

/** What {@link openKeyFlash} needs. */
export interface KeyFlashOptions {
  stateDir: string;
  /** The Key's index (its file is `key-<index>.flash`). */
  index: number;
  /** The model a new Key is manufactured as. */
  model: string;
  /** Whether the Key erases the pages of an upload when it begins (modelled erase time). */
  eraseAhead: boolean;
  factory: FlashFactory;
  /** The factory flash of each model, made once and copied for every new Key (shared across Keys). */
  factoryFlash: Map<string, Flash>;
  /** Pages loaded from flash files, by content: equal pages of different Keys share one buffer. */
  pagePool?: FlashPagePool;
}

/**
 * Equal flash pages loaded from different Keys' files, kept once (copy-on-write in each
 * {@link Flash}). Keyed by a SHA-1 of the page and confirmed byte for byte.
 */
export class FlashPagePool {
  readonly #pages = new Map<string, Uint8Array>();

  /** The pooled buffer equal to `page` (`page` itself the first time). */
  intern = (page: Uint8Array): Uint8Array => {
    const key = createHash('sha1').update(page).digest('base64');
    const seen = this.#pages.get(key);
    if (seen !== undefined && Buffer.compare(seen, page) === 0) return seen;
    if (seen === undefined) this.#pages.set(key, page);
    return page;
  };

  /** Distinct pages held. */
  get size(): number {
    return this.#pages.size;
  }
}

/** A Key's flash and how to save it. */
export interface KeyFlash {
  /** What the Key's firmware takes. */
  deps: FlashDeps;
  /** Saves pending changes now (on stop); does nothing if the file already holds the flash. */
  flush(): void;
}

/** Milliseconds without changes before the flash file is written. */
const SAVE_AFTER_MS = 250;

/**
 * Flash of Key `index`: loaded from `key-<index>.flash`, or manufactured with the factory image
 * (and written at once).
 * @throws SimulatorError `SIM_BAD_INPUT` for a flash file that does not decode
 */
export function openKeyFlash(o: KeyFlashOptions): KeyFlash {
  const { signing, verifier } = o.factory;
  const path = join(o.stateDir, `key-${o.index}.flash`);
  const layout = DEFAULT_LAYOUT;
  const stored = existsSync(path) ? new Uint8Array(readFileSync(path)) : undefined;
  let flash: Flash;
  if (stored) {
    // the sparse flash file, or the raw 1 MiB image older simulators wrote
    try {
      flash = new Flash({
        pageSize: layout.pageSize,
        pageCount: layout.pageCount,
        initial: stored,
        ...(o.pagePool ? { intern: o.pagePool.intern } : {}),
      });
    } catch (e) {
      throw new SimulatorError('SIM_BAD_INPUT', `${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  } else {
    // Manufactured once per model (signed, verified, written), then copied for every new Key.
    let made = o.factoryFlash.get(o.model);
    if (!made) {
      made = new Flash({ pageSize: layout.pageSize, pageCount: layout.pageCount });
      const img = signing.image(o.model);
      flashFactoryImage(made, layout, img.signedManifest, img.payload, verifier);
      o.factoryFlash.set(o.model, made);
    }
    flash = made.clone();
  }
  let timer: NodeJS.Timeout | undefined;
  let savedOps = stored ? flash.ops : -1; // the file holds the flash as of this operation count
  // Durable and atomic: write a temporary file, fsync it, rename it over the file, fsync the
  // folder. Only the programmed pages are written (image-file.ts).
  const save = (syncFolder = true) => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const ops = flash.ops;
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, encodeFlashFile(flash));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    savedOps = ops;
    if (!syncFolder) return;
    const dir = openSync(o.stateDir, 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  };
  // A new Key's factory flash: should the rename not survive a crash, the same flash is made again.
  if (!stored) save(false);
  return {
    flush: () => {
      if (timer) clearTimeout(timer);
      if (flash.ops !== savedOps) save(); // unchanged since the last save: the file already holds it
    },
    deps: {
      flash,
      layout,
      verifier,
      eraseAhead: o.eraseAhead,
      // Debounced: the snapshot is written once changes pause (and always on stop), not during a
      // transfer — writing 1 MiB every few chunks would stall the simulated Key.
      onChange: () => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(save, SAVE_AFTER_MS);
      },
      // Synchronous, before the Key acknowledges fw.finish/test/confirm/revert: nothing is
      // acknowledged before it is durable.
      persist: () => save(),
    },
  };
}
