/**
 * Test support: a simulated Key with injected storage, clock and seeded randomness.
 */
import { type FirmwareConfig, KeyFirmware } from '../src/firmware/firmware.ts';
import { loadSecureElement } from '../src/firmware/secure-element.ts';
import { MemoryStorage } from '../src/firmware/storage.ts';

/** A deterministic random source (LCG), for reproducible tests. */
export function seededRandom(seed = 1): (n: number) => Uint8Array {
  let x = seed >>> 0;
  return (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      b[i] = x >>> 24;
    }
    return b;
  };
}

/** A test Key and its controls. */
export interface TestKey {
  fw: KeyFirmware;
  storage: MemoryStorage;
  seStorage: MemoryStorage;
  now: { t: number };
}

/** Boots a Key on memory storage (reuse `storage`/`seStorage` to reboot the same Key). */
export function makeTestKey(
  options: {
    storage?: MemoryStorage;
    seStorage?: MemoryStorage;
    now?: { t: number };
    seed?: number;
    config?: Partial<FirmwareConfig>;
  } = {},
): TestKey {
  const storage = options.storage ?? new MemoryStorage();
  const seStorage = options.seStorage ?? new MemoryStorage();
  const now = options.now ?? { t: 1000 };
  const random = seededRandom(options.seed ?? 1);
  const fw = new KeyFirmware({
    storage,
    secureElement: loadSecureElement(seStorage, random),
    clock: { now: () => now.t },
    random,
    ...(options.config ? { config: options.config } : {}),
  });
  return { fw, storage, seStorage, now };
}
