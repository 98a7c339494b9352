/**
 * A virtual BLE adapter: an implementation of noble's bindings contract (the object noble's
 * `Noble` class drives: methods `start`, `startScanning`, `connect`, `discoverServices`, `read`,
 * `write`, `notify`, …; events `stateChange`, `discover`, `connect`, `onMtu`, `servicesDiscover`,
 * `characteristicsDiscover`, `read`, `write`, `notify`, `disconnect`, …) backed by simulated
 * Keys' GATT model ({@link BlePeripheral}) and a modelled link ({@link BleAir}) per connection.
 *
 * The simulator may not import noble, so the contract is implemented structurally;
 * `key-firmware-host/test/ble-noble-contract.test.ts` drives the installed noble over it and
 * fails if an upgrade changes a method or event this relies on.
 *
 * Injectable: the adapter state (`poweredOn`, `poweredOff`, `unsupported`), MTU, link parameters,
 * latency, time scale, fragment faults, and link loss ({@link SimBleBindings.dropLink}, or after
 * `linkLossAfterFragments`).
 * @module
 */
import { EventEmitter } from 'node:events';
import {
  ATT_MTU_MAX,
  ATT_MTU_MIN,
  type BleLinkParams,
  checkLinkParams,
  DEFAULT_BLE_LINK,
  ENIGM_SERVICE_UUID,
  fragmentSizeFor,
} from '@enigm/protocols/ble';
import { BleAir, type BleFaults } from './air.ts';
import type { BleKeyConnection, BlePeripheral } from './peripheral.ts';
import { SIM_KEY_MAX_FRAGMENT } from './peripheral.ts';

/** Adapter states noble knows; the virtual adapter can be any of the three that matter. */
export type SimAdapterState = 'poweredOn' | 'poweredOff' | 'unsupported';

/** Options of {@link SimBleBindings}. */
export interface SimBleOptions {
  /** Adapter state reported on `start` (default `poweredOn`). */
  state?: SimAdapterState;
  /** The link every connection gets (default {@link DEFAULT_BLE_LINK}); `mtu` is the negotiated ATT_MTU. */
  link?: Partial<BleLinkParams>;
  /** Modelled time per real time: 0 = as fast as possible (default), 1 = real time. */
  timeScale?: number;
  /** Extra one-way latency per delivery, ms (default 0). */
  latencyMs?: number;
  /** Fragment faults (loss, duplication, reordering; seeded). */
  faults?: BleFaults;
  /** Drop each connection after this many fragments in either direction (link loss). */
  linkLossAfterFragments?: number;
  /** RSSI reported for every Key (default -55). */
  rssi?: number;
}

/** The Keys a virtual adapter sees. */
export interface BleRadio {
  /** The peripherals in range now. */
  peripherals(): readonly BlePeripheral[];
}

interface Conn {
  peripheral: BlePeripheral;
  air: BleAir;
  key: BleKeyConnection & { resume(): void };
  /** Notification fragments scheduled and not yet delivered. */
  inFlight: number;
  fragments: number;
}

/** HCI reason codes noble's HCI bindings report. */
const REMOTE_USER_TERMINATED = 0x13;
const CONNECTION_TIMEOUT = 0x08;
const LOCAL_HOST_TERMINATED = 0x16;
/** Notifications the Key queues on the air before it stops handling requests. */
const MAX_NOTIFY_IN_FLIGHT = 64;

/** A virtual adapter; see the module documentation. */
export class SimBleBindings extends EventEmitter {
  readonly #radio: BleRadio;
  readonly #o: SimBleOptions;
  readonly #link: BleLinkParams;
  readonly #conns = new Map<string, Conn>();
  #state: SimAdapterState;
  #scanning = false;
  #started = false;
  #scanTimer: NodeJS.Timeout | undefined;

  /**
   * @param radio - the Keys in range
   * @param options - state, link, time scale, latency, faults, link loss
   * @throws RangeError for bad link parameters or fault probabilities
   */
  constructor(radio: BleRadio, options: SimBleOptions = {}) {
    super();
    this.#radio = radio;
    this.#o = options;
    this.#link = checkLinkParams({ ...DEFAULT_BLE_LINK, ...options.link });
    this.#state = options.state ?? 'poweredOn';
    new BleAir(this.#link, options).close(); // validates the options now, not at the first connect
  }

  /** The link parameters every connection gets. */
  get link(): BleLinkParams {
    return { ...this.#link };
  }

  /** Air counters of a connection (for tests and benchmarks), or `undefined`. */
  air(id: string): BleAir | undefined {
    return this.#conns.get(id)?.air;
  }

  /** Starts the adapter: reports its state (noble calls this once). */
  start(): void {
    this.#started = true;
    process.nextTick(() => this.emit('stateChange', this.#state));
  }

  /** Changes the adapter state (fault injection): every connection drops when it leaves `poweredOn`. */
  setState(state: SimAdapterState): void {
    this.#state = state;
    if (state !== 'poweredOn') {
      this.#stopScan();
      for (const id of [...this.#conns.keys()]) this.#drop(id, LOCAL_HOST_TERMINATED);
    }
    if (this.#started) this.emit('stateChange', state);
  }

  /** Stops scanning and drops every connection (noble's `stop()`). */
  stop(): void {
    this.#stopScan();
    for (const id of [...this.#conns.keys()]) this.#drop(id, LOCAL_HOST_TERMINATED);
  }

  /** As {@link SimBleBindings.stop}. */
  reset(): void {
    this.stop();
  }

  /** Noble asks for scan parameters; acknowledged. */
  setScanParameters(): void {
    process.nextTick(() => this.emit('scanParametersSet'));
  }

  /** Scans: reports each advertising Key that offers one of `serviceUuids` (all if empty). */
  startScanning(serviceUuids?: string[], allowDuplicates?: boolean): void {
    if (this.#state !== 'poweredOn') return;
    this.#scanning = true;
    const wanted = (serviceUuids ?? []).map((u) => u.toLowerCase().replace(/-/g, ''));
    process.nextTick(() => this.emit('scanStart', !allowDuplicates));
    const report = () => {
      if (!this.#scanning) return;
      for (const p of this.#radio.peripherals()) {
        if (!p.advertising) continue;
        const adv = p.advertisement();
        if (wanted.length > 0 && !adv.serviceUuids.some((u) => wanted.includes(u))) continue;
        this.emit('discover', p.id, p.address, 'random', true, adv, this.#o.rssi ?? -55, true);
      }
    };
    setImmediate(report);
    clearInterval(this.#scanTimer);
    this.#scanTimer = setInterval(report, 100); // advertising interval
    this.#scanTimer.unref();
  }

  /** Stops scanning. */
  stopScanning(): void {
    this.#stopScan();
    process.nextTick(() => this.emit('scanStop'));
  }

  #stopScan(): void {
    this.#scanning = false;
    clearInterval(this.#scanTimer);
    this.#scanTimer = undefined;
  }

  /** Noble's address → id mapping. */
  addressToId(address: string): string | null {
    const p = this.#radio.peripherals().find((x) => x.address.toLowerCase() === String(address).toLowerCase());
    return p ? p.id : null;
  }

  /**
   * Connects to a discovered Key; a silent Key never answers (noble's connect stays pending). A
   * Key already holding its {@link BlePeripheral.maxConnections} connections (from any adapter)
   * refuses: `connect` is emitted with an Error naming the reason.
   */
  connect(id: string): void {
    const p = this.#radio.peripherals().find((x) => x.id === id);
    if (p === undefined || this.#state !== 'poweredOn') {
      process.nextTick(() => this.emit('connect', id, new Error(`no peripheral ${id} in range`)));
      return;
    }
    if (p.silent || !p.advertising) return;
    const existing = this.#conns.get(id);
    if (existing) {
      process.nextTick(() => this.emit('connect', id, null));
      return;
    }
    const refused = p.refusal(); // the Key's radio serves a bounded number of hosts at once
    if (refused !== undefined) {
      process.nextTick(() => this.emit('connect', id, new Error(refused)));
      return;
    }
    const air = new BleAir(this.#link, this.#o);
    const fragmentSize = fragmentSizeFor(this.#link.mtu, SIM_KEY_MAX_FRAGMENT);
    const conn = { peripheral: p, air, inFlight: 0, fragments: 0 } as Conn;
    conn.key = p.connect(
      fragmentSize,
      (characteristic, fragment) => {
        conn.inFlight++;
        this.#count(id, conn);
        air.fragment(
          'down',
          fragment.length,
          () => {
            if (this.#conns.get(id) === conn)
              this.emit('read', id, ENIGM_SERVICE_UUID, characteristic, Buffer.from(fragment), true, null);
          },
          () => {
            conn.inFlight--;
            if (this.#conns.get(id) === conn && conn.inFlight < MAX_NOTIFY_IN_FLIGHT / 2) conn.key.resume();
          },
        );
      },
      () => conn.inFlight < MAX_NOTIFY_IN_FLIGHT,
      () => this.remoteDisconnect(id),
      { mtu: this.#link.mtu, phy: this.#link.phy },
    );
    this.#conns.set(id, conn);
    air.procedure(() => {
      this.emit('connect', id, null);
      this.emit('onMtu', id, Math.min(ATT_MTU_MAX, Math.max(ATT_MTU_MIN, this.#link.mtu)));
    });
  }

  /** Cancels a pending connect. */
  cancelConnect(id: string): void {
    this.#drop(id, LOCAL_HOST_TERMINATED, false);
  }

  /** Disconnects (the host asked). */
  disconnect(id: string): void {
    if (!this.#conns.has(id)) {
      process.nextTick(() => this.emit('disconnect', id, LOCAL_HOST_TERMINATED));
      return;
    }
    this.#drop(id, LOCAL_HOST_TERMINATED);
  }

  /** Link loss (fault injection): the connection drops as on a supervision timeout. */
  dropLink(id: string): void {
    this.#drop(id, CONNECTION_TIMEOUT);
  }

  /** The peer ended the connection (the Key lost power, or was reset). */
  remoteDisconnect(id: string): void {
    this.#drop(id, REMOTE_USER_TERMINATED);
  }

  /** Reports the RSSI. */
  updateRssi(id: string): void {
    process.nextTick(() => this.emit('rssiUpdate', id, this.#o.rssi ?? -55));
  }

  /** Discovers the Key's service (filtered by `uuids` if given). */
  discoverServices(id: string, uuids?: string[]): void {
    this.#procedure(id, (c) => {
      const svc = c.peripheral.services().uuid;
      const want = uuids ?? [];
      this.emit('servicesDiscover', id, want.length === 0 || want.includes(svc) ? [svc] : []);
    });
  }

  /** Discovers the service's characteristics (filtered by `uuids` if given). */
  discoverCharacteristics(id: string, serviceUuid: string, uuids?: string[]): void {
    this.#procedure(id, (c) => {
      const svc = c.peripheral.services();
      const want = uuids ?? [];
      const list =
        serviceUuid === svc.uuid
          ? svc.characteristics
              .filter((x) => want.length === 0 || want.includes(x.uuid))
              .map((x) => ({ uuid: x.uuid, properties: [...x.properties] }))
          : [];
      this.emit('characteristicsDiscover', id, serviceUuid, list);
    });
  }

  /** Reads a characteristic. */
  read(id: string, serviceUuid: string, characteristicUuid: string): void {
    this.#procedure(id, (c) => {
      const value = c.key.read(characteristicUuid);
      const error = value === undefined ? new Error('read not permitted') : null;
      this.emit('read', id, serviceUuid, characteristicUuid, Buffer.from(value ?? []), false, error);
    });
  }

  /** Writes a characteristic; without response the write completes when the controller buffer has room. */
  write(id: string, serviceUuid: string, characteristicUuid: string, data: Uint8Array, withoutResponse: boolean): void {
    const c = this.#conns.get(id);
    if (c === undefined) return;
    const value = Uint8Array.from(data);
    this.#count(id, c);
    if (!this.#conns.has(id)) return;
    const next = c.air.fragment('up', value.length, () => c.key.write(characteristicUuid, value));
    const done = () => this.#conns.get(id) === c && this.emit('write', id, serviceUuid, characteristicUuid, null);
    if (withoutResponse) c.air.at(next, done);
    else c.air.procedure(done);
  }

  /** Subscribes to (or unsubscribes from) notifications. */
  notify(id: string, serviceUuid: string, characteristicUuid: string, on: boolean): void {
    this.#procedure(id, (c) => {
      const ok = c.key.subscribe(characteristicUuid, on);
      this.emit('notify', id, serviceUuid, characteristicUuid, ok ? on : false, ok ? null : new Error('notify not permitted'));
    });
  }

  /** The Key's service has no descriptors beyond the CCCD, which noble does not need listed. */
  discoverDescriptors(id: string, serviceUuid: string, characteristicUuid: string): void {
    this.#procedure(id, () => this.emit('descriptorsDiscover', id, serviceUuid, characteristicUuid, []));
  }

  #procedure(id: string, answer: (c: Conn) => void): void {
    const c = this.#conns.get(id);
    if (c === undefined) return; // noble's disconnect handler rejects the pending operation
    c.air.procedure(() => {
      if (this.#conns.get(id) === c) answer(c);
    });
  }

  #count(id: string, c: Conn): void {
    c.fragments++;
    const after = this.#o.linkLossAfterFragments;
    if (after !== undefined && c.fragments > after) this.#drop(id, CONNECTION_TIMEOUT);
  }

  #drop(id: string, reason: number, report = true): void {
    const c = this.#conns.get(id);
    if (c === undefined) return;
    this.#conns.delete(id);
    c.air.close();
    c.key.close(c.air.stats);
    if (report) process.nextTick(() => this.emit('disconnect', id, reason));
  }
}
