/**
 * The simulator's BLE face, kept out of `runtime/simulator.ts`: one virtual adapter served on
 * loopback for hosts in other processes, fresh bindings over the Keys' peripherals for hosts in
 * this one, and each Key's name and address.
 * @module
 */
import { SimulatorError } from '../../runtime/errors.ts';
import type { SimLogger } from '../../runtime/log.ts';
import { BleAdapterServer } from './adapter-server.ts';
import { SimBleBindings, type SimBleOptions } from './bindings.ts';
import { BlePeripheral, type KeyLinkOptions, keyLinkFactory } from './peripheral.ts';

/** What `Simulator.start({ ble })` takes: `true`, or adapter options and the loopback port. */
export type SimulatorBleOption = boolean | (SimBleOptions & { port?: number });

/** Key `i`'s static random BLE address (the two top bits set, as the Core spec requires). */
export function bleAddress(i: number): string {
  const hex = (0xc0de_0000_0000 + i).toString(16).padStart(12, '0');
  return hex.match(/../g)?.join(':') ?? hex;
}

/** Key `i`'s GATT model: advertised as `Enigm-K<i>`, one device link per connection. */
export function simulatedKeyPeripheral(i: number, o: KeyLinkOptions & { label: string; log?: SimLogger }): BlePeripheral {
  return new BlePeripheral({
    ...o,
    openLink: keyLinkFactory(o),
    name: `Enigm-K${i}`,
    address: bleAddress(i),
    ...(o.limits ? { maxConnections: o.limits.maxBleLinksPerKey } : {}),
  });
}

/** The virtual adapter of a running simulator. */
export class SimulatorBle {
  readonly options: SimBleOptions;
  readonly server: BleAdapterServer;
  readonly #peripherals: () => readonly BlePeripheral[];

  /**
   * @param option - the `ble` option (time scale 1, real time, unless given)
   * @param peripherals - the Keys in range
   */
  constructor(option: Exclude<SimulatorBleOption, false>, peripherals: () => readonly BlePeripheral[], log: SimLogger) {
    const { port: _port, ...options } = option === true ? { port: 0 } : option;
    this.options = { timeScale: 1, ...options };
    this.#peripherals = peripherals;
    this.server = new BleAdapterServer(() => this.bindings(), log);
  }

  /**
   * Serves the adapter on loopback.
   * @throws {@link SimulatorError} `SIM_PORT_IN_USE` if the port is taken; Error if it cannot be bound otherwise
   */
  async listen(option: Exclude<SimulatorBleOption, false>): Promise<string> {
    const port = option === true ? 0 : (option.port ?? 0);
    try {
      return await this.server.listen(port);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE')
        throw new SimulatorError(
          'SIM_PORT_IN_USE',
          `the BLE adapter port 127.0.0.1:${port} is taken (another simulator?): give another port (option ble.port), or none for a free one`,
          { cause: e },
        );
      throw e;
    }
  }

  /** Fresh bindings over the Keys; `overrides` replace the start options. */
  bindings(overrides: SimBleOptions = {}): SimBleBindings {
    const list = this.#peripherals();
    return new SimBleBindings({ peripherals: () => list }, { ...this.options, ...overrides });
  }
}
