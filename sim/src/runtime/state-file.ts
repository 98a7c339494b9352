/**
 * The simulator's state file, `<stateDir>/simulator.json`: where each Key can be reached (serial
 * port, TCP address, MQTT topic, BLE name), the broker and the virtual BLE adapter. Hosts and the
 * CLI read it to find the Keys; the simulator rewrites it when a Key's handle may have changed
 * (coalesced: one write per turn of the event loop) and removes it on stop.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Name of the state file inside the state directory. */
export const STATE_FILE = 'simulator.json';

/** Where one simulated Key can be reached. */
export interface SimulatedKeyInfo {
  index: number;
  /** Device handle, hex. */
  handle: string;
  state: string;
  /** Serial port path for hosts (a symlink to the pty), if serial is on. */
  serial?: string;
  /** `tcp://host:port`, if TCP is on. */
  tcp?: string;
  /** `mqtt://broker/HANDLE`, if the MQTT uplink is on. */
  mqtt?: string;
  /** `ble:<name>`, if BLE is on (reached through {@link SimulatorStateFile.bleAdapter}). */
  ble?: string;
}

/** Contents of `<stateDir>/simulator.json`. */
export interface SimulatorStateFile {
  pid: number;
  startedAt: string;
  /** The broker the Keys' uplinks use, if MQTT is on (the embedded one unless given). */
  broker?: { url: string; embedded: boolean };
  /** The virtual BLE adapter (`tcp://127.0.0.1:PORT`), if BLE is on: a host sets `ENIGM_BLE_ADAPTER` to it. */
  bleAdapter?: string;
  keys: SimulatedKeyInfo[];
}

/**
 * Writes `<stateDir>/simulator.json`.
 * @throws Error if the file cannot be written
 */
export function writeStateFile(stateDir: string, content: SimulatorStateFile): void {
  writeFileSync(join(stateDir, STATE_FILE), `${JSON.stringify(content, null, 2)}\n`);
}

/**
 * Coalesces rewrites: {@link StateFileWriter.soon} asks for one, and the write runs once for every
 * request of this turn of the event loop (100 Keys changing at once: one write, not 100).
 */
export class StateFileWriter {
  readonly #write: () => void;
  #pending = false;

  /** @param write - writes the file; called on a later turn unless the simulator stopped (it checks) */
  constructor(write: () => void) {
    this.#write = write;
  }

  /** Rewrites the file once for all requests of this turn. */
  soon(): void {
    if (this.#pending) return;
    this.#pending = true;
    setImmediate(() => {
      this.#pending = false;
      this.#write();
    });
  }
}
