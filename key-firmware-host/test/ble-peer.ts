/**
 * Test helpers for the BLE tests (not a test file): a raw GATT peer on the simulated adapter and
 * signed images for the simulator's Keys.
 */
import { sha256 } from '@enigm/protocols/crypto';
import { buildImage, signManifest } from '@enigm/protocols/firmware';
import { type BleByteLink, BlePeripheral } from '@enigm/sim';

/** A peripheral whose connection hands bytes to the test instead of a Key. */
/** @throws never */
export function rawPeer(name = 'Enigm-T0', address = 'c0:de:00:00:0f:00') {
  let onData: (bytes: Uint8Array) => void = () => undefined;
  let current: { write: (b: Uint8Array) => void } | undefined;
  const peripheral = new BlePeripheral({
    label: 'peer',
    name,
    address,
    openLink: (write): BleByteLink => {
      current = { write };
      return { receive: (b) => onData(b), resume: () => undefined, close: () => undefined };
    },
  });
  return {
    peripheral,
    radio: { peripherals: () => [peripheral] },
    onData: (cb: (b: Uint8Array) => void) => {
      onData = cb;
    },
    write: async (bytes: Uint8Array) => {
      for (let i = 0; i < 2000 && current === undefined; i++) await new Promise((r) => setTimeout(r, 5)); // ≥ 10 s bound: a loaded machine
      current?.write(bytes);
    },
  };
}

/** A signed image of `size` payload bytes for the simulator's signing key. */
export function bleImage(seed: Uint8Array, version: string, counter: number, size: number): Uint8Array {
  const payload = new Uint8Array(size);
  let x = counter * 7 + size;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    payload[i] = x >>> 24;
  }
  const manifest = signManifest(
    { model: 'enigm-key-1', version, securityCounter: counter, payloadSize: size, payloadDigest: sha256(payload) },
    seed,
  );
  return buildImage(manifest, payload);
}
