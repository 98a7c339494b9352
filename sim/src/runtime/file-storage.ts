/**
 * File-backed {@link KeyStorage}: a simulated Key's flash is one file, replaced atomically
 * (write to a temporary file, fsync, rename) so a crash never leaves half a record.
 * @module
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { KeyStorage } from '../firmware/storage.ts';

/** Storage in one file. */
export class FileStorage implements KeyStorage {
  /** @param path - file holding the record; created on first write */
  constructor(readonly path: string) {}

  read(): Uint8Array | undefined {
    try {
      return new Uint8Array(readFileSync(this.path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  write(bytes: Uint8Array): void {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}
