/**
 * File-backed {@link KeyStorage}: a simulated Key's flash record, kept as a real Key keeps a small
 * record in flash: two slots written in turn, each `[magic "EKS1"][generation u64][length u32]
 * [CRC-32C u32][record]` — slot A in `<path>`, slot B in `<path>.b`. A read takes the valid slot
 * with the higher generation; a slot cut short or damaged fails its CRC and the other one is
 * used. A file holding a bare record (what older simulators wrote) is read as generation 0.
 *
 * **Atomic at once, durable in groups.** {@link FileStorage.write} overwrites the older slot in
 * place before it returns (one `write` into the page cache: no rename, no folder change): a
 * simulator killed at any instant (`kill -9`, the Key losing power) finds every write that
 * returned, and never half of one. The `fsync` that makes the record survive a crash of the *host
 * machine* runs off the event loop, after the current turn, once for all writes made meanwhile
 * (the slot files written; the folder only when a slot file was created)
 * (group commit: 100 Keys entering an emergency at once cost the disk a few flushes, not 400
 * synchronous fsyncs and renames on the simulator's one thread). {@link FileStorage.synced}
 * resolves once everything written so far is on disk; the MQTT uplink waits for it before it
 * queues a record (`KeyFirmware.durable`), so nothing the Key sends over the uplink describes a
 * state a host crash could make it forget.
 * @module
 */
import { close as closeFd, closeSync, fsync, open, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { crc32c } from '@enigm/protocols/framing';
import type { KeyStorage } from '../firmware/storage.ts';

/**
 * Makes the files' content durable, and their folder entry when `folder` (a file was created since
 * the last flush). Default: fsync of each file, then of the folder.
 */
export type SyncFile = (paths: readonly string[], folder: boolean) => Promise<void>;

/** Options of {@link FileStorage}. */
export interface FileStorageOptions {
  /** The durable flush (tests inject a counting or held one). */
  sync?: SyncFile;
}

/** A slot never written has nothing to flush. */
const notMissing = (e: NodeJS.ErrnoException) => {
  if (e.code !== 'ENOENT') throw e;
};

function fsyncPath(path: string, flags: string): Promise<void> {
  return new Promise((resolve, reject) => {
    open(path, flags, (err, fd) => {
      if (err) return reject(err);
      fsync(fd, (e) => {
        closeFd(fd, () => (e ? reject(e) : resolve()));
      });
    });
  });
}

/** fsync of each file (one never written has nothing to flush), then, if asked, of their folder (some file systems cannot fsync a folder: ignored there). */
export const fsyncFileAndFolder: SyncFile = async (paths, folder) => {
  await Promise.all(paths.map((p) => fsyncPath(p, 'r').catch(notMissing)));
  if (!folder || paths.length === 0) return;
  await fsyncPath(dirname(paths[0] as string), 'r').catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EISDIR' && e.code !== 'EINVAL' && e.code !== 'EBADF') throw e;
  });
};

const MAGIC = [0x45, 0x4b, 0x53, 0x31]; // "EKS1"
const HEADER = 20;

/** A slot's record and generation, or `undefined` if the slot is missing, cut short or damaged. */
function readSlot(path: string): { gen: number; bytes: Uint8Array } | undefined {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  if (b.length === 0) return undefined;
  if (!MAGIC.every((m, i) => b[i] === m)) return { gen: 0, bytes: new Uint8Array(b) }; // a bare record (older simulators)
  if (b.length < HEADER) return undefined;
  const gen = Number(b.readBigUInt64BE(4));
  const len = b.readUInt32BE(12);
  if (HEADER + len > b.length) return undefined;
  const bytes = new Uint8Array(b.subarray(HEADER, HEADER + len));
  return crc32c(bytes) === b.readUInt32BE(16) ? { gen, bytes } : undefined;
}

/** Storage in one file. */
export class FileStorage implements KeyStorage {
  readonly #sync: SyncFile;
  /** Generation of the newest slot, and which slot holds it (0: `path`, 1: `path.b`). */
  #gen = -1;
  #slot = 1;
  /** Writes made so far, and the count the last finished flush covered. */
  #written = 0;
  #flushed = 0;
  #flushing: Promise<void> | undefined;
  /** Slot files written, and whether one was created, since the last flush began. */
  #dirty = new Set<string>();
  #created = false;
  #waiters: { upTo: number; resolve: () => void; reject: (e: unknown) => void }[] = [];

  /** @param path - file holding the record; created on first write */
  constructor(
    readonly path: string,
    options: FileStorageOptions = {},
  ) {
    this.#sync = options.sync ?? fsyncFileAndFolder;
  }

  /** The slot files, A and B. */
  get slots(): readonly [string, string] {
    return [this.path, `${this.path}.b`];
  }

  read(): Uint8Array | undefined {
    const [a, b] = this.slots.map(readSlot);
    const newest = a && (!b || a.gen >= b.gen) ? { ...a, slot: 0 } : b ? { ...b, slot: 1 } : undefined;
    if (!newest) return undefined;
    this.#gen = newest.gen;
    this.#slot = newest.slot;
    return newest.bytes;
  }

  /** Overwrites the older slot in place now; the fsync follows (see {@link FileStorage.synced}). */
  write(bytes: Uint8Array): void {
    if (this.#gen < 0) this.read(); // learn which slot is newest before overwriting one
    const gen = this.#gen + 1;
    const slot = 1 - this.#slot;
    const out = Buffer.alloc(HEADER + bytes.length);
    out.set(MAGIC, 0);
    out.writeBigUInt64BE(BigInt(gen), 4);
    out.writeUInt32BE(bytes.length, 12);
    out.writeUInt32BE(crc32c(bytes), 16);
    out.set(bytes, HEADER);
    // In place, no truncation (the header's length bounds the record): no allocation or folder change.
    const file = this.slots[slot] as string;
    let fd: number;
    try {
      fd = openSync(file, 'r+');
    } catch {
      fd = openSync(file, 'w', 0o600);
      this.#created = true; // a new folder entry: the flush syncs the folder too
    }
    try {
      writeSync(fd, out);
    } finally {
      closeSync(fd);
    }
    this.#gen = gen;
    this.#slot = slot;
    this.#dirty.add(file);
    this.#written++;
    this.#flushSoon();
  }

  /**
   * Resolves once every write made before this call is on disk (one fsync covers all writes made
   * while the previous one ran).
   * @throws the fsync's error (the record is still replaced; only its durability is in doubt)
   */
  synced(): Promise<void> {
    if (this.#flushed >= this.#written) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => {
      this.#waiters.push({ upTo: this.#written, resolve, reject });
    });
    this.#flushSoon(); // after a failed flush nothing else would retry
    return p;
  }

  #flushSoon(): void {
    if (this.#flushing) return; // the running flush starts another when it ends
    // After this turn of the event loop: every write of the turn shares the flush.
    this.#flushing = new Promise<void>((r) => setImmediate(r)).then(() => {
      const upTo = this.#written;
      const paths = [...this.#dirty];
      const folder = this.#created;
      this.#dirty.clear();
      this.#created = false;
      return this.#sync(paths, folder).then(
        () => this.#settle(upTo),
        (e: unknown) => {
          for (const p of paths) this.#dirty.add(p); // the retry flushes them again
          this.#created ||= folder;
          this.#settle(upTo, e);
        },
      );
    });
  }

  #settle(upTo: number, error?: unknown): void {
    this.#flushing = undefined;
    if (error === undefined) this.#flushed = upTo;
    const due = this.#waiters.filter((w) => w.upTo <= upTo);
    this.#waiters = this.#waiters.filter((w) => w.upTo > upTo);
    for (const w of due) error === undefined ? w.resolve() : w.reject(error);
    if (this.#written > upTo) this.#flushSoon();
  }
}
