/**
 * One simulated Key as a BLE peripheral: its advertisement and the GATT service of
 * `@enigm/protocols/ble`. Each connection gets its own {@link DeviceLink} (as each TCP connection
 * does), so the Key's frames, sessions, keepalives and long operations are exactly those of the
 * serial and TCP paths; the GATT layer only reassembles request fragments into the link's byte
 * stream and fragments what the link writes into notifications.
 * @module
 */
import {
  BLE_FRAMING_REVISION,
  BLE_SDU_MAX,
  ENIGM_GATT_SERVICE,
  ENIGM_INFO_UUID,
  ENIGM_REQUEST_UUID,
  ENIGM_RESPONSE_UUID,
  ENIGM_SERVICE_UUID,
  encodeBleInfo,
  FragmentDecoder,
  FragmentEncoder,
} from '@enigm/protocols/ble';
import type { KeyFirmware } from '../../firmware/firmware.ts';
import type { BleKeyState, BleLinkState } from '../../firmware/physical/types.ts';
import { DeviceLink, type LinkHooks, linkHookOptions } from '../../runtime/device-link.ts';
import type { KeyScheduler, LongOperationTiming } from '../../runtime/key-scheduler.ts';
import { DEFAULT_LINK_LIMITS, type LinkLimits } from '../../runtime/link-flow.ts';
import { describeError, type SimLogger, silentLogger } from '../../runtime/log.ts';

/** Largest fragment a simulated Key accepts (rev-b: 244, ATT_MTU 247 − 3). */
export const SIM_KEY_MAX_FRAGMENT = 244;
/** Largest SDU a simulated Key accepts: a 4096-byte frame payload plus framing, rounded up. */
export const SIM_KEY_MAX_SDU = 8192;

/** The byte stream behind one GATT connection (a Key's {@link DeviceLink}, or a test's raw peer). */
export interface BleByteLink {
  /** Bytes reassembled from request fragments. */
  receive(bytes: Uint8Array): void;
  /** The air can take notifications again. */
  resume(): void;
  close(): void;
}

/** Opens the byte link of connection `name`; `write` sends bytes to the host; `canSend` is the air's flow control. */
export type BleLinkFactory = (write: (bytes: Uint8Array) => void, canSend: () => boolean, name: string) => BleByteLink;

/** What a Key's links need: the same as a TCP connection's. */
export interface KeyLinkOptions {
  firmware: KeyFirmware;
  scheduler: KeyScheduler;
  timing?: LongOperationTiming | undefined;
  log?: SimLogger;
  hooks?: LinkHooks;
  /** The Key's link bounds; BLE reads `maxBleLinksPerKey` (default {@link DEFAULT_LINK_LIMITS}). */
  limits?: Pick<LinkLimits, 'maxBleLinksPerKey'>;
}

/**
 * Links into a Key's firmware: one {@link DeviceLink} per connection, sessions bound to transport `ble`.
 * @throws never
 */
export function keyLinkFactory(o: KeyLinkOptions): BleLinkFactory {
  return (write, canSend, name) => {
    const tag = name.slice(name.lastIndexOf(' ') + 1);
    return new DeviceLink(o.firmware, write, 'ble', o.timing, {
      scheduler: o.scheduler,
      canSend,
      ...(o.log ? { log: o.log } : {}),
      label: name,
      ...linkHookOptions(o.hooks, tag),
    });
  };
}

/** What a {@link BlePeripheral} needs. */
export interface BlePeripheralOptions {
  /** The byte link of each connection (a Key: {@link keyLinkFactory}). */
  openLink: BleLinkFactory;
  log?: SimLogger;
  /** Names the Key in log lines, e.g. `key 0`. */
  label: string;
  /** Advertised local name, e.g. `Enigm-K0`. */
  name: string;
  /** Static random address, `c0:…` form. */
  address: string;
  hooks?: LinkHooks;
  /** A Key that advertises but never answers a connection (fault injection). */
  silent?: boolean;
  /**
   * Connections open at once, from any host adapter (default
   * {@link LinkLimits.maxBleLinksPerKey}, 1: a real Key's radio serves one host).
   */
  maxConnections?: number;
}

/** The advertisement noble reports for a discovered peripheral. */
export interface BleAdvertisement {
  localName: string;
  serviceUuids: string[];
  serviceData: never[];
  serviceSolicitationUuids: never[];
  txPowerLevel: number;
  manufacturerData: null;
}

/** The Key's side of one GATT connection. */
export interface BleKeyConnection {
  /** A write to a characteristic (request fragments). */
  write(characteristic: string, value: Uint8Array): void;
  /** A read of a characteristic's value, or `undefined` for one that is not readable. */
  read(characteristic: string): Uint8Array | undefined;
  /** The host (un)subscribed to notifications of a characteristic. */
  subscribe(characteristic: string, on: boolean): boolean;
  /**
   * Ends the connection on the Key's side (its device link closes); `air` (the faults the link
   * injected) goes into the log line with the GATT counters.
   */
  close(air?: BleAirFaultStats): void;
  /** Counters of the GATT layer. */
  readonly stats: { fragmentsIn: number; fragmentsOut: number; fragmentErrors: number };
}

/** What the air did to a connection's fragments (`BleAir.stats`). */
export interface BleAirFaultStats {
  readonly lost: number;
  readonly duplicated: number;
  readonly reordered: number;
}

/** How a connection sends a notification fragment; returns nothing (the air queues it). */
export type NotifySink = (characteristic: string, fragment: Uint8Array) => void;

/** A simulated Key's BLE face. */
export class BlePeripheral {
  readonly #o: BlePeripheralOptions;
  readonly #log: SimLogger;
  #next = 1;
  /** Open connections: how each is dropped and its link. */
  readonly #open = new Map<number, { drop: () => void; link: BleLinkState }>();

  readonly #max: number;

  /**
   * @param options - the Key, its scheduler, name and address
   * @throws RangeError if `maxConnections` is not a positive integer
   */
  constructor(options: BlePeripheralOptions) {
    this.#o = options;
    this.#log = options.log ?? silentLogger;
    this.#max = options.maxConnections ?? DEFAULT_LINK_LIMITS.maxBleLinksPerKey;
    if (!Number.isInteger(this.#max) || this.#max < 1)
      throw new RangeError(`maxConnections must be a positive integer, got ${String(options.maxConnections)}`);
  }

  /** Noble's peripheral id: the address without colons, lowercase. */
  get id(): string {
    return this.#o.address.replace(/:/g, '').toLowerCase();
  }

  /** The static random address. */
  get address(): string {
    return this.#o.address;
  }

  /** The advertised local name. */
  get name(): string {
    return this.#o.name;
  }

  /** Whether it advertises but never answers a connection. */
  get silent(): boolean {
    return this.#o.silent === true;
  }

  /** Whether it advertises now (a Key without power does not). */
  get advertising(): boolean {
    return this.#o.hooks?.powered?.() ?? true;
  }

  /** Open GATT connections. */
  get connections(): number {
    return this.#open.size;
  }

  /** GATT connections it accepts at once, from any host adapter. */
  get maxConnections(): number {
    return this.#max;
  }

  /**
   * Why a new connection is refused now, or `undefined` if it is accepted: with
   * {@link BlePeripheral.maxConnections} open (from any host) the radio takes no further central.
   * A refusal is logged as a warning (counts only).
   */
  refusal(): string | undefined {
    if (this.#open.size < this.#max) return undefined;
    const bound = `${this.#max} BLE link${this.#max === 1 ? '' : 's'} per Key`;
    this.#log.warn(`${this.#o.label}: refused a ble connection: ${this.#open.size} already open (bound ${bound})`);
    return `Key is connected to another host (${bound})`;
  }

  /** Its name, whether it advertises, and each open connection's MTU and PHY (the control API's `ble`). */
  state(): BleKeyState {
    const links = [...this.#open.values()].map((c) => ({ ...c.link }));
    return { name: this.#o.name, advertising: this.advertising, connections: links.length, links };
  }

  /** Ends every connection from the Key's side (it lost power or was reset). */
  dropAll(): void {
    for (const { drop } of [...this.#open.values()]) drop();
  }

  /** What it advertises: the service UUID and its name (never its handle). */
  advertisement(): BleAdvertisement {
    return {
      localName: this.#o.name,
      serviceUuids: [ENIGM_SERVICE_UUID],
      serviceData: [],
      serviceSolicitationUuids: [],
      txPowerLevel: 0,
      manufacturerData: null,
    };
  }

  /** The GATT table: service and characteristics with their properties. */
  services(): typeof ENIGM_GATT_SERVICE {
    return ENIGM_GATT_SERVICE;
  }

  /**
   * Accepts a connection whose link carries fragments of at most `fragmentSize` bytes.
   * @param notify - sends a notification fragment to the host
   * @param canSend - whether the air takes more notifications now
   * @param drop - ends the connection from the Key's side (the adapter reports a remote disconnect)
   * @param air - the negotiated ATT_MTU and the PHY, as {@link BlePeripheral.state} reports them
   *   (default: MTU `fragmentSize` + 3, 1M)
   */
  connect(
    fragmentSize: number,
    notify: NotifySink,
    canSend: () => boolean,
    drop: () => void = () => undefined,
    air: { mtu: number; phy: '1M' | '2M' } = { mtu: fragmentSize + 3, phy: '1M' },
  ): BleKeyConnection & { resume(): void } {
    const { label, hooks } = this.#o;
    const n = this.#next++;
    const name = `${label} ble#${n}`;
    const decoder = new FragmentDecoder({ maxSdu: SIM_KEY_MAX_SDU, maxFragment: SIM_KEY_MAX_FRAGMENT });
    const encoder = new FragmentEncoder();
    let subscribed = false;
    let closed = false;
    const stats = { fragmentsIn: 0, fragmentsOut: 0, fragmentErrors: 0 };
    const link = this.#o.openLink(
      (bytes) => {
        if (closed || !subscribed) return; // nobody listens: a notification goes nowhere
        for (let off = 0; off < bytes.length; off += BLE_SDU_MAX) {
          for (const frag of encoder.encode(bytes.subarray(off, off + BLE_SDU_MAX), fragmentSize)) {
            stats.fragmentsOut++;
            notify(ENIGM_RESPONSE_UUID, frag);
          }
        }
      },
      () => !closed && canSend(),
      name,
    );
    this.#open.set(n, { drop, link: { link: `ble#${n}`, mtu: air.mtu, phy: air.phy } });
    hooks?.onLink?.(`ble#${n}`, 'open');
    this.#log.info(`${label}: ble link #${n} opened (fragments of ${fragmentSize} bytes)`);
    return {
      stats,
      write: (characteristic, value) => {
        if (closed || characteristic !== ENIGM_REQUEST_UUID) return;
        stats.fragmentsIn++;
        for (const ev of decoder.push(value)) {
          if (ev.kind === 'error') {
            stats.fragmentErrors++;
            continue; // the frame layer above recovers (the host retries)
          }
          try {
            link.receive(ev.sdu);
          } catch (e) {
            this.#log.error(`${name}: a failure was contained: ${describeError(e)}`);
          }
        }
      },
      read: (characteristic) =>
        characteristic === ENIGM_INFO_UUID
          ? encodeBleInfo({ revision: BLE_FRAMING_REVISION, maxFragment: SIM_KEY_MAX_FRAGMENT, maxSdu: SIM_KEY_MAX_SDU })
          : undefined,
      subscribe: (characteristic, on) => {
        if (characteristic !== ENIGM_RESPONSE_UUID) return false;
        subscribed = on;
        return true;
      },
      resume: () => link.resume(),
      close: (air) => {
        if (closed) return;
        closed = true;
        link.close();
        this.#open.delete(n);
        hooks?.onLink?.(`ble#${n}`, 'closed');
        // counts only, never content
        const faults = air ? `; air: lost ${air.lost}, duplicated ${air.duplicated}, reordered ${air.reordered}` : '';
        this.#log.info(
          `${label}: ble link #${n} closed (fragments in ${stats.fragmentsIn}, out ${stats.fragmentsOut}, errors ${stats.fragmentErrors}${faults})`,
        );
      },
    };
  }
}
