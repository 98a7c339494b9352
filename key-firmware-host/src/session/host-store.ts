/**
 * What a host keeps on disk: its own static X25519 key (PEM PKCS#8, mode 0600, so openssl reads it)
 * and the Keys it has met (pinned identity and static keys, by device handle). Default folder:
 * `$ENIGM_HOME`, else `~/.config/enigm`.
 * @module
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { x25519Generate, x25519PrivateKeyFromPem, x25519PrivateKeyToPem, x25519PublicKey } from '@enigm/protocols/crypto';
import type { HostRole } from '@enigm/protocols/messages';
import { type StaticKey, staticKeyFromPrivate } from '@enigm/protocols/noise';

/** The host's folder. */
export function enigmHome(): string {
  return process.env.ENIGM_HOME ?? join(homedir(), '.config', 'enigm');
}

/** A host's static key, loaded or created. */
export interface HostKey {
  path: string;
  publicKey: Uint8Array;
  staticKey: StaticKey;
  created: boolean;
}

/**
 * Loads the host key at `path` (default `<home>/host-key.pem`), creating it if missing.
 * @throws ProtocolError `CRYPTO_INVALID_KEY` if the file is not an X25519 private key
 */
export function loadOrCreateHostKey(path = join(enigmHome(), 'host-key.pem')): HostKey {
  let created = false;
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const kp = x25519Generate();
    writeFileSync(path, x25519PrivateKeyToPem(kp.privateKey), { mode: 0o600 });
    chmodSync(path, 0o600);
    created = true;
  }
  const priv = x25519PrivateKeyFromPem(readFileSync(path, 'utf8'));
  return { path, publicKey: x25519PublicKey(priv), staticKey: staticKeyFromPrivate(priv), created };
}

/** A Key this host has met. */
export interface KnownKey {
  /** Device handle, hex. */
  handle: string;
  /** Ed25519 identity public key, hex (verified binding at first contact). */
  identity: string;
  /** X25519 static public key, hex. */
  staticKey: string;
  /** Role this host holds on the Key, if paired. */
  role?: HostRole;
  model?: string;
  firstSeen: string;
}

/** The known-Keys file (`<home>/known-keys.json`). */
export class KnownKeys {
  readonly path: string;
  #keys: KnownKey[];

  constructor(path = join(enigmHome(), 'known-keys.json')) {
    this.path = path;
    this.#keys = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { keys: KnownKey[] }).keys : [];
  }

  /** The entry for a device handle (hex). */
  get(handle: string): KnownKey | undefined {
    return this.#keys.find((k) => k.handle === handle);
  }

  /** All entries. */
  all(): readonly KnownKey[] {
    return this.#keys;
  }

  /** Adds or replaces an entry and saves the file atomically. */
  put(entry: KnownKey): void {
    this.#keys = [...this.#keys.filter((k) => k.handle !== entry.handle), entry];
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ keys: this.#keys }, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
