/**
 * Internal helpers of the crypto backend: argument guards, zero-copy views of node:crypto
 * `Buffer`s, and the bounded caches of `KeyObject`s.
 *
 * Why caches: building a node:crypto `KeyObject` from raw key bytes costs 6-35 µs through JWK
 * (and 90-400 µs through DER), as much as or more than the signature or Diffie-Hellman it serves.
 * Keys repeat (a device key, a peer's static key), so each module keeps one small cache keyed by
 * the hex of the raw key. Caches are bounded; the least recently used entry goes first.
 * Private-key caches therefore keep the hex of up to 64 seeds per curve (and their `KeyObject`s)
 * reachable until evicted; {@link clearCryptoCaches} drops them, e.g. after a key is erased.
 *
 * Not exported from the package index except {@link clearCryptoCaches}.
 *
 * @module
 */

/** Every cache created by {@link BoundedCache}, so {@link clearCryptoCaches} can empty them all. */
const ALL_CACHES: BoundedCache<unknown>[] = [];

/**
 * A string-keyed cache holding at most `capacity` entries; on overflow the least recently used
 * entry is dropped. Lookups refresh recency.
 * @example
 * const c = new BoundedCache<number>(2); c.set('a', 1); c.set('b', 2); c.set('c', 3); c.get('a') === undefined
 */
export class BoundedCache<V> {
  readonly #map = new Map<string, V>();

  /**
   * @param capacity - maximum number of entries, at least 1
   * @throws {RangeError} if `capacity` is not a positive integer
   */
  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    ALL_CACHES.push(this as BoundedCache<unknown>);
  }

  /** The entry for `key`, refreshed as most recently used, or `undefined`. */
  get(key: string): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }

  /** Stores `value` under `key`, evicting the least recently used entry when full. */
  set(key: string, value: V): void {
    this.#map.delete(key);
    if (this.#map.size >= this.capacity) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(key, value);
  }

  /** Number of entries. */
  get size(): number {
    return this.#map.size;
  }

  /** Drops every entry. */
  clear(): void {
    this.#map.clear();
  }
}

/**
 * Empties every key cache of the crypto backend (private-key `KeyObject`s included). Call it when
 * key material must stop being reachable from this process's caches, e.g. after erasing a key.
 * @example
 * clearCryptoCaches();
 */
export function clearCryptoCaches(): void {
  for (const c of ALL_CACHES) c.clear();
}

/**
 * Throws a `TypeError` naming `field` unless `value` is a `Uint8Array`.
 * @throws {TypeError} `<field> must be a Uint8Array, got <type>`
 * @example
 * assertBytes('00', 'nonce') // throws TypeError('nonce must be a Uint8Array, got string')
 */
export function assertBytes(value: unknown, field: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
    throw new TypeError(`${field} must be a Uint8Array, got ${got}`);
  }
}

/**
 * A plain `Uint8Array` view of a node `Buffer` (no copy), so results compare equal to plain arrays.
 * @example
 * view(Buffer.from('ab', 'hex')) // Uint8Array [0xab]
 */
export function view(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * A `Buffer` view of bytes (no copy), for node:crypto calls that want one.
 * @example
 * asBuffer(Uint8Array.of(1)).toString('hex') === '01'
 */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export { toHex } from '../bytes.ts';

/**
 * Unpadded base64url of `b` (the JWK encoding).
 * @example
 * toBase64Url(Uint8Array.of(0xfb)) === '-w'
 */
export function toBase64Url(b: Uint8Array): string {
  return asBuffer(b).toString('base64url');
}

/**
 * Bytes of an unpadded base64url string.
 * @example
 * fromBase64Url('-w') // Uint8Array [0xfb]
 */
export function fromBase64Url(s: string): Uint8Array {
  return view(Buffer.from(s, 'base64url'));
}

export { bytesEqual } from '../bytes.ts';

/**
 * Draws `n` bytes from an injected source and checks it returned exactly that.
 * @throws {TypeError} if `random` returned something other than `n` bytes
 * @example
 * drawRandom((n) => new Uint8Array(n), 32).length === 32
 */
export function drawRandom(random: (n: number) => Uint8Array, n: number): Uint8Array {
  const out = random(n);
  if (!(out instanceof Uint8Array) || out.length !== n) {
    throw new TypeError(`random(${n}) must return ${n} bytes, got ${out instanceof Uint8Array ? out.length : typeof out}`);
  }
  return out;
}
