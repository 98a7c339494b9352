/**
 * The account registry: a small on-disk store, on the host/backend side, for ONE account — its
 * secret (`newAccountSecret`, file mode 0600, never printed) and its enrolled Keys, each named by
 * its association handle (`eh1-…`). The Key itself holds no account data.
 *
 * Layout of the folder: `account.secret` (64 hex digits, 0600), `devices.json` (the devices,
 * written atomically: temp file, fsync, rename, fsync of the folder), `registry.lock` (held while
 * a change is read-modified-written; a lock left by a dead process is taken over).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  ACCOUNT_SECRET_LENGTH,
  isAssociationHandle,
  newAccountSecret,
  tryPidLockSync,
  writeFileAtomicSync,
} from '@enigm/attestation';
import { fromHex, toHex } from '@enigm/protocols/bytes';
import { AssociationError } from './errors.ts';

/** State of an association. */
export type AssociationState = 'active' | 'replaced' | 'revoked';

/** One enrolled Key, as the registry keeps it. Never the identity key itself. */
export interface DeviceRecord {
  /** The association handle in this account (`eh1-…`). */
  handle: string;
  /** Identity key id: the first 8 bytes of SHA-256 of the identity public key (16 hex digits). */
  identityKeyId: string;
  /** SHA-256 of the identity public key (64 hex digits): what a revocation list names. */
  identityHash: string;
  /** The Key certificate's serial (hex), when the Key was certified. */
  serial?: string;
  state: AssociationState;
  /** When it was enrolled (ISO 8601). */
  enrolled: string;
  /** When its state last changed, for a replaced or revoked one (ISO 8601). */
  changed?: string;
  /** For a replaced one: the handle of the Key that took over. */
  replacedBy?: string;
  /** For a Key that took over: the handle it replaced. */
  replaces?: string;
  /** Model and firmware at enrollment. */
  model?: string;
  firmware?: string;
}

/** The `devices.json` document. */
export interface RegistryDocument {
  format: 'enigm-account-registry';
  version: 1;
  devices: DeviceRecord[];
}

const SECRET_FILE = 'account.secret';
const DEVICES_FILE = 'devices.json';
const LOCK_FILE = 'registry.lock';

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some file systems do not fsync folders
  }
}

/** Writes `data` to `dir/name` atomically with `mode`: temp file, fsync, rename, fsync of the folder. */
function writeAtomic(dir: string, name: string, data: string, mode: number): void {
  try {
    writeFileAtomicSync(join(dir, name), data, { mode, syncDir: true });
  } catch (e) {
    throw new AssociationError(
      'ACCOUNT_WRITE_FAILED',
      `cannot write ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}

function isRecord(v: unknown): v is DeviceRecord {
  const r = v as DeviceRecord;
  return (
    typeof r === 'object' &&
    r !== null &&
    isAssociationHandle(r.handle) &&
    typeof r.identityKeyId === 'string' &&
    /^[0-9a-f]{16}$/.test(r.identityKeyId) &&
    typeof r.identityHash === 'string' &&
    /^[0-9a-f]{64}$/.test(r.identityHash) &&
    (r.state === 'active' || r.state === 'replaced' || r.state === 'revoked') &&
    typeof r.enrolled === 'string'
  );
}

/**
 * One account's registry in folder `dir`. Create with {@link AccountRegistry.init}, open with
 * {@link AccountRegistry.open}.
 * @example
 * const account = AccountRegistry.init('acct');          // draws the secret
 * const again = AccountRegistry.open('acct');
 * again.list().map((d) => d.handle);
 */
export class AccountRegistry {
  /** The registry's folder. */
  readonly dir: string;
  readonly #secret: Uint8Array;

  private constructor(dir: string, secret: Uint8Array) {
    this.dir = dir;
    this.#secret = secret;
  }

  /**
   * Creates the account: a fresh secret (mode 0600) and an empty device list.
   * @param random - CSPRNG (default node:crypto)
   * @throws {@link AssociationError} `ACCOUNT_EXISTS` (a secret is already there), `ACCOUNT_WRITE_FAILED`
   */
  static init(dir: string, random: (n: number) => Uint8Array = (n) => new Uint8Array(randomBytes(n))): AccountRegistry {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (existsSync(join(dir, SECRET_FILE)))
      throw new AssociationError('ACCOUNT_EXISTS', 'an account already exists in this folder (its secret is kept)');
    const secret = newAccountSecret(random);
    writeFileAtomicSync(join(dir, SECRET_FILE), `${toHex(secret)}\n`, { mode: 0o600 });
    const reg = new AccountRegistry(dir, secret);
    if (!existsSync(join(dir, DEVICES_FILE))) reg.#write({ format: 'enigm-account-registry', version: 1, devices: [] });
    fsyncDir(dir);
    return reg;
  }

  /**
   * Opens an existing account.
   * @throws {@link AssociationError} `ACCOUNT_NOT_FOUND`, `ACCOUNT_CORRUPT`, `ACCOUNT_SECRET_EXPOSED`
   *   (the secret file is readable by group or others)
   */
  static open(dir: string): AccountRegistry {
    const path = join(dir, SECRET_FILE);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new AssociationError('ACCOUNT_NOT_FOUND', 'no account in this folder (enigm account init)');
      throw new AssociationError('ACCOUNT_CORRUPT', `cannot read the account secret: ${(e as NodeJS.ErrnoException).code}`);
    }
    if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0)
      throw new AssociationError('ACCOUNT_SECRET_EXPOSED', 'the account secret file is readable by others: chmod 600 it');
    const hex = text.trim();
    if (!new RegExp(`^[0-9a-f]{${ACCOUNT_SECRET_LENGTH * 2}}$`).test(hex))
      throw new AssociationError('ACCOUNT_CORRUPT', 'the account secret file is not 64 hex digits');
    const reg = new AccountRegistry(dir, fromHex(hex, 'account secret'));
    reg.read();
    return reg;
  }

  /** @internal the secret, for handle derivation inside this library. Never print it. */
  get secret(): Uint8Array {
    return this.#secret;
  }

  /**
   * The registry document as on disk.
   * @throws {@link AssociationError} `ACCOUNT_CORRUPT`
   */
  read(): RegistryDocument {
    let doc: RegistryDocument;
    try {
      doc = JSON.parse(readFileSync(join(this.dir, DEVICES_FILE), 'utf8')) as RegistryDocument;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { format: 'enigm-account-registry', version: 1, devices: [] };
      throw new AssociationError('ACCOUNT_CORRUPT', `${DEVICES_FILE} is not valid JSON`, { cause: e });
    }
    if (
      doc?.format !== 'enigm-account-registry' ||
      doc.version !== 1 ||
      !Array.isArray(doc.devices) ||
      !doc.devices.every(isRecord)
    )
      throw new AssociationError('ACCOUNT_CORRUPT', `${DEVICES_FILE} is not an enigm account registry (version 1)`);
    return doc;
  }

  /** Every association, in enrollment order. */
  list(): DeviceRecord[] {
    return this.read().devices;
  }

  /** The association with `handle`, if any. */
  find(handle: string): DeviceRecord | undefined {
    return this.list().find((d) => d.handle === handle);
  }

  #write(doc: RegistryDocument): void {
    writeAtomic(this.dir, DEVICES_FILE, `${JSON.stringify(doc, null, 2)}\n`, 0o644);
  }

  /**
   * Runs `change` on the document under the registry's lock and writes the result atomically.
   * @throws {@link AssociationError} `ACCOUNT_LOCKED` (another live process holds the lock)
   */
  update<T>(change: (doc: RegistryDocument) => T): T {
    const lock = tryPidLockSync(join(this.dir, LOCK_FILE), 0o600);
    if ('holder' in lock)
      throw new AssociationError(
        'ACCOUNT_LOCKED',
        Number.isSafeInteger(lock.holder) && lock.holder > 0
          ? `process ${lock.holder} is changing this account`
          : `${LOCK_FILE} exists; remove it if no enigm account command is running`,
      );
    try {
      const doc = this.read();
      const r = change(doc);
      this.#write(doc);
      return r;
    } finally {
      lock.release();
    }
  }
}
