/**
 * Test support: a simulated Key with injected storage, clock and seeded randomness.
 */
import { ed25519Generate, sha256 } from '@enigm/protocols/crypto';
import { verifyManifest } from '@enigm/protocols/firmware';
import { type FirmwareConfig, KeyFirmware } from './firmware/firmware.ts';
import { flashFactoryImage } from './firmware/flash/bootloader.ts';
import { Flash } from './firmware/flash/flash.ts';
import { DEFAULT_LAYOUT } from './firmware/flash/layout.ts';
import type { FlashDeps } from './firmware/key-flash.ts';
import { loadSecureElement } from './firmware/secure-element.ts';
import { MemoryStorage } from './firmware/storage.ts';
import { factoryImage } from './runtime/factory.ts';

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

/** A flash with the factory image, signed by a fresh firmware-signing key (returned). */
export function makeTestFlash(model = 'enigm-key-1'): { deps: FlashDeps; signingSeed: Uint8Array } {
  const signing = ed25519Generate();
  const verifier = { verifyManifest: (b: Uint8Array) => verifyManifest(b, [signing.publicKey]).manifest, sha256 };
  const flash = new Flash({ pageSize: DEFAULT_LAYOUT.pageSize, pageCount: DEFAULT_LAYOUT.pageCount });
  const img = factoryImage(signing.seed, model);
  flashFactoryImage(flash, DEFAULT_LAYOUT, img.signedManifest, img.payload, verifier);
  return { deps: { flash, layout: DEFAULT_LAYOUT, verifier }, signingSeed: signing.seed };
}

/** Boots a Key on memory storage (reuse `storage`/`seStorage` to reboot the same Key). */
export function makeTestKey(
  options: {
    storage?: MemoryStorage;
    seStorage?: MemoryStorage;
    now?: { t: number };
    seed?: number;
    config?: Partial<FirmwareConfig>;
    flash?: FlashDeps;
  } = {},
): TestKey {
  const storage = options.storage ?? new MemoryStorage();
  const seStorage = options.seStorage ?? new MemoryStorage();
  const now = options.now ?? { t: 1000 };
  const random = seededRandom(options.seed ?? 1);
  const fw = new KeyFirmware({
    storage,
    secureElement: loadSecureElement(seStorage, random),
    secureElementStorage: seStorage,
    clock: { now: () => now.t },
    random,
    ...(options.config ? { config: options.config } : {}),
    ...(options.flash ? { flash: options.flash } : {}),
  });
  return { fw, storage, seStorage, now };
}

export { killAfter, stopChild } from './child-stop.ts';

/**
 * Whether a Key's MQTT uplink still holds records: queued in its outbox, or accepted and not yet
 * there (`pending`: waiting for the Key's state to be durable, or for their append). Tests wait
 * for `false` before they look at the broker's side or stop the simulator.
 * @param mqtt - `sim.linkStats()[i].mqtt`
 * @example while (uplinkBusy(sim.linkStats()[0]?.mqtt)) await sleep(20);
 */
export function uplinkBusy(mqtt: { queued: number; pending: number } | undefined): boolean {
  return mqtt !== undefined && mqtt.queued + mqtt.pending > 0;
}
