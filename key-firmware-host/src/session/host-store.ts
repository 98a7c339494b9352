/**
 * What a host keeps on disk: its own static X25519 key (PEM PKCS#8, mode 0600, so openssl reads it)
 * and the Keys it has met (pinned identity and static keys). Default folder: `$ENIGM_HOME`, else
 * `~/.config/enigm`.
 *
 * Pins are keyed by the Key's Ed25519 identity — the one thing a Key proves in every handshake —
 * never by the device handle a Key reports about itself. The handle is stored too, as the Key's
 * signed binding named it; two identities claiming one handle are refused
 * ({@link KnownKeys.conflicts}).
 * @module
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { x25519Generate, x25519PrivateKeyFromPem, x25519PrivateKeyToPem, x25519PublicKey } from '@enigm/protocols/crypto';
import type { HostRole } from '@enigm/protocols/messages';
import { type StaticKey, staticKeyFromPrivate } from '@enigm/protocols/noise';
import { KeyError } from '../client/errors.ts';

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
  /** Device handle, hex (from the Key's signed identity binding). */
  handle: string;
  /** Ed25519 identity public key, hex (verified binding at first contact): the pin's key. */
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

  /** The pin for an identity (hex, any case): the one lookup that decides trust. */
  byIdentity(identity: string): KnownKey | undefined {
    const id = identity.toLowerCase();
    return this.#keys.find((k) => k.identity === id);
  }

  /** Pins whose signed binding named this handle (hex): normally one; more is a conflict. */
  byHandle(handle: string): KnownKey[] {
    const h = handle.toLowerCase();
    return this.#keys.filter((k) => k.handle === h);
  }

  /**
   * The entry for a device handle (hex).
   * @deprecated a handle is only a name; look pins up with {@link KnownKeys.byIdentity}
   */
  get(handle: string): KnownKey | undefined {
    return this.byHandle(handle)[0];
  }

  /** All entries. */
  all(): readonly KnownKey[] {
    return this.#keys;
  }

  /**
   * The pins a session may try for a Key the user named by identity and/or handle (hex), or
   * every pin when nothing is named. Each candidate is then proven by its own handshake.
   */
  select(expect: { identity?: string; handle?: string } = {}): KnownKey[] {
    const id = expect.identity?.toLowerCase();
    const h = expect.handle?.toLowerCase();
    return this.#keys.filter((k) => (id === undefined || k.identity === id) && (h === undefined || k.handle === h));
  }

  /**
   * Why `entry` cannot be pinned next to the existing pins, or `undefined` if it can: the same
   * identity pinned with another static key, or the same handle pinned to another identity
   * (a second Key claiming a pinned Key's handle: possible impersonation).
   */
  conflicts(entry: Pick<KnownKey, 'identity' | 'handle' | 'staticKey'>): string | undefined {
    const same = this.byIdentity(entry.identity);
    if (same && same.staticKey !== entry.staticKey.toLowerCase())
      return `identity ${entry.identity} is pinned with static key ${same.staticKey}, but this Key shows ${entry.staticKey}`;
    const other = this.byHandle(entry.handle).find((k) => k.identity !== entry.identity.toLowerCase());
    if (other)
      return `handle ${entry.handle} is pinned to identity ${other.identity}, but this Key (identity ${entry.identity}) claims it too (possible impersonation)`;
    return undefined;
  }

  /**
   * Adds or replaces the pin of `entry.identity` and saves the file atomically.
   * @throws Error if the entry {@link KnownKeys.conflicts} with another pin
   */
  put(entry: KnownKey): void {
    const e = {
      ...entry,
      handle: entry.handle.toLowerCase(),
      identity: entry.identity.toLowerCase(),
      staticKey: entry.staticKey.toLowerCase(),
    };
    const conflict = this.byHandle(e.handle).find((k) => k.identity !== e.identity);
    if (conflict) throw new KeyError('KEY_IDENTITY_MISMATCH', `refusing to pin: ${this.conflicts(e)}`);
    this.#keys = [...this.#keys.filter((k) => k.identity !== e.identity), e];
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ keys: this.#keys }, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
