/**
 * The Key simulator: runs N simulated Keys and exposes each on a real pseudo-terminal serial
 * port (a socat pty pair: the host opens one end with any serial library, the Key the other) and
 * on a TCP port on loopback. Each Key keeps its state in `<stateDir>/key-<i>.cbor` and its secure
 * element secrets in `<stateDir>/key-<i>.se` (each two slots, `file-storage.ts`)
 * across restarts; the simulator writes where each Key can be reached to
 * `<stateDir>/simulator.json` ({@link SimulatorStateFile}).
 * @module
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { EmbeddedBroker } from '@enigm/mqtt/broker';
import { toHex } from '@enigm/protocols/bytes';
import { sha256 } from '@enigm/protocols/crypto';
import { verifyManifest } from '@enigm/protocols/firmware';
import { CHECK_IN_KIND, type KeyCounters } from '../firmware/dormancy.ts';
import { DEFAULT_FIRMWARE_CONFIG, KeyFirmware } from '../firmware/firmware.ts';
import type { Flash } from '../firmware/flash/flash.ts';
import type { FlashDeps } from '../firmware/key-flash.ts';
import { PhysicalKey } from '../firmware/physical/device.ts';
import type { ControlTarget, DeviceControls, DeviceEvent } from '../firmware/physical/types.ts';
import { loadSecureElement } from '../firmware/secure-element.ts';
import type { SimBleBindings, SimBleOptions } from '../io/ble/bindings.ts';
import type { BlePeripheral } from '../io/ble/peripheral.ts';
import { SimulatorBle, simulatedKeyPeripheral } from '../io/ble/sim-ble.ts';
import { hasSocat, trackedSocatPids } from '../io/pty.ts';
import { deadlineArming, EventHub } from './control-target.ts';
import type { LinkHooks } from './device-link.ts';
import { SimulatorError } from './errors.ts';
import { openFirmwareFactory } from './factory.ts';
import { FileStorage } from './file-storage.ts';
import { type FlashFactory, FlashPagePool, openKeyFlash } from './flash-store.ts';
import { KeyScheduler, type LongOperationTiming } from './key-scheduler.ts';
import { DEFAULT_LINK_LIMITS, type LinkLimits } from './link-flow.ts';
import type { LinkShape } from './link-shaper.ts';
import { type SimLogger, silentLogger } from './log.ts';
import { MqttEndpoint } from './mqtt-endpoint.ts';
import { SerialEndpoint } from './serial-endpoint.ts';
import { SimulatorClock } from './sim-clock.ts';
import { type SimulatedKeyInfo, STATE_FILE, StateFileWriter, writeStateFile } from './state-file.ts';
import { acquireStateLock, type StateLock } from './state-lock.ts';
import { bindTcpPorts, closeTcpPorts, TcpEndpoint } from './tcp-endpoint.ts';
import { startUplinkBroker, uplinkSetup } from './uplink-setup.ts';

export type { SimulatedKeyLinkStats, SimulatorOptions } from './simulator-options.ts';
export { type SimulatedKeyInfo, type SimulatorStateFile, STATE_FILE } from './state-file.ts';

import type { SimulatedKeyLinkStats, SimulatorOptions } from './simulator-options.ts';

/** The uplink part of {@link SimulatedKeyLinkStats}. */
function mqttLinkStats(m: MqttEndpoint): NonNullable<SimulatedKeyLinkStats['mqtt']> {
  const o = m.outboxStats;
  const dropped = o ? o.dropped.count + o.dropped.bytes + o.dropped.age : 0;
  return { connected: m.connected, queued: m.queued, pending: m.pending, dropped, outboxBytes: o?.fileBytes ?? 0 };
}

interface RunningKey {
  index: number;
  firmware: KeyFirmware;
  physical: PhysicalKey;
  controls: DeviceControls;
  /** Cancels the pending deadline task of the physical model. */
  cancelDeadline?: () => void;
  /** One long operation at a time across the Key's links. */
  scheduler: KeyScheduler;
  serial?: SerialEndpoint;
  tcp?: TcpEndpoint;
  mqtt?: MqttEndpoint;
  ble?: BlePeripheral;
}

/** How often every Key's physical model is ticked (battery drain, radio on-time), simulated ms. */
export const PHYSICAL_TICK_MS = 60_000;

/** A running simulator. It is the {@link ControlTarget} of the control API, dashboard and scenarios. */
export class Simulator implements ControlTarget {
  readonly stateDir: string;
  /** Simulated time: the Keys' clock; real time × speed plus explicit advances. */
  readonly clock: SimulatorClock;
  readonly #events: EventHub;
  readonly #keys: RunningKey[] = [];
  readonly #link: LinkShape | undefined;
  readonly #flushers: (() => void)[] = [];
  readonly #log: SimLogger;
  readonly #limits: LinkLimits;
  #timing: LongOperationTiming | undefined;
  #lock: StateLock | undefined;
  #factoryKeyPath: string | undefined;
  #broker: EmbeddedBroker | undefined;
  /** The factory flash of each model, made once and copied for every new Key. */
  readonly #factoryFlash = new Map<string, Flash>();
  /** Equal pages of the Keys' stored flash, held once (a restarted fleet shares its image). */
  readonly #pagePool = new FlashPagePool();
  #brokerUrl: string | undefined;
  #stopped = false;
  readonly #stateFile = new StateFileWriter(() => {
    if (!this.#stopped) this.writeStateFile();
  });
  readonly #checkInMs: number | undefined;
  #ble: SimulatorBle | undefined;

  private constructor(stateDir: string, options: SimulatorOptions) {
    this.stateDir = stateDir;
    this.#link = options.link;
    this.#log = options.log ?? silentLogger;
    this.#limits = { ...DEFAULT_LINK_LIMITS, ...options.limits };
    this.#checkInMs = options.checkInMs;
    this.#events = new EventHub(this.#log);
    this.clock = options.clock ?? new SimulatorClock({ speed: options.speed ?? 1, onError: (e) => this.#contain(e) });
  }

  /**
   * Starts the simulator.
   * @throws {@link StateLockedError} if another live simulator uses the state folder;
   *   {@link SimulatorError} `SIM_SOCAT_MISSING` if serial is requested and socat is missing,
   *   `SIM_PORT_IN_USE` if a Key's TCP port, the embedded broker's or the BLE adapter's port is
   *   taken (each bound before the state folder is touched),
   *   `SIM_BAD_INPUT` if `tcpBasePort + keys - 1` is above 65535
   */
  static async start(options: SimulatorOptions = {}): Promise<Simulator> {
    const n = options.keys ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new RangeError(`keys must be 1..1024, got ${n}`);
    const level = options.batteryLevel ?? options.firmware?.batteryPct;
    if (level !== undefined && !(typeof level === 'number' && level >= 0 && level <= 100))
      throw new SimulatorError('SIM_BAD_INPUT', `batteryLevel must be a number in 0..100, got ${JSON.stringify(level)}`);
    const serial = options.serial ?? true;
    if (serial && !hasSocat())
      throw new SimulatorError(
        'SIM_SOCAT_MISSING',
        'socat is required for serial ports: install it (apt-get install socat), or run without serial ports (CLI: --no-serial; library: serial: false)',
      );
    const tcpHost = options.tcpHost ?? '127.0.0.1';
    // Every Key's TCP port is held before the state folder is touched: a taken one changes nothing.
    const ports = (options.tcp ?? true) ? await bindTcpPorts(tcpHost, options.tcpBasePort ?? 0, n) : [];
    const sim = new Simulator(resolve(options.stateDir ?? '.sim-state'), options);
    if (options.eraseMsPerPage) sim.#timing = { msPerStep: options.eraseMsPerPage };
    try {
      // The embedded broker and the BLE adapter listen before the folder is touched too.
      sim.#broker = await startUplinkBroker(options.mqtt, sim.#log);
      if (options.ble) {
        sim.#ble = new SimulatorBle(options.ble, () => sim.#keys.flatMap((k) => (k.ble ? [k.ble] : [])), sim.#log);
        await sim.#ble.listen(options.ble);
      }
      mkdirSync(sim.stateDir, { recursive: true });
      // Before anything in the folder is touched: one simulator per state folder.
      sim.#lock = acquireStateLock(sim.stateDir);
      // One signing key and one verifier for all Keys (read once, not per Key).
      const extra = options.trustedFirmwareKeys ?? [];
      const signing = openFirmwareFactory(sim.stateDir, { keepPrivateKey: !(options.retireFactoryKey ?? extra.length > 0) });
      sim.#factoryKeyPath = signing.privateKeyPath;
      const trusted = [signing.publicKey, ...extra];
      const factory: FlashFactory = {
        signing,
        verifier: { verifyManifest: (b) => verifyManifest(b, trusted).manifest, sha256 },
      };
      const uplink = uplinkSetup(options.mqtt, sim.#broker, sim.stateDir, sim.clock.now());
      sim.#brokerUrl = uplink?.broker;
      for (let i = 0; i < n; i++) {
        const random = (k: number) => new Uint8Array(randomBytes(k));
        const flashDeps = sim.#flashFor(i, options, factory);
        const seStorage = new FileStorage(join(sim.stateDir, `key-${i}.se`));
        const clock = sim.clock;
        const firmware = new KeyFirmware({
          flash: flashDeps,
          storage: new FileStorage(join(sim.stateDir, `key-${i}.cbor`)),
          secureElement: loadSecureElement(seStorage, random),
          secureElementStorage: seStorage,
          clock,
          random,
          ...(options.firmware ? { config: options.firmware } : {}),
        });
        const label = `key ${i}`;
        const scheduler = new KeyScheduler(sim.#log, label);
        const key = sim.#addKey(i, firmware, scheduler, flashDeps, level);
        const hooks: LinkHooks = {
          powered: () => key.physical.powered,
          framesWanted: () => sim.#events.size > 0,
          onFrame: (link, f) => sim.#events.emit({ key: i, at: clock.now(), type: 'frame', link, ...f }),
          onLink: (link, phase) => sim.#events.emit({ key: i, at: clock.now(), type: 'link', link, phase }),
        };
        const common = { firmware, scheduler, timing: sim.#timing, limits: sim.#limits, log: sim.#log, label, hooks };
        if (serial) {
          key.serial = new SerialEndpoint({
            ...common,
            linkDir: sim.stateDir,
            name: `ttyKEY${i}`,
            ...(sim.#link ? { shape: sim.#link } : {}),
          });
          await key.serial.open();
        }
        const port = ports[i];
        if (port) {
          key.tcp = new TcpEndpoint(common);
          key.tcp.attach(port, tcpHost);
        }
        if (uplink) {
          key.mqtt = new MqttEndpoint({
            ...common,
            uplink,
            accountSecret: uplink.accountSecret,
            outboxPath: join(sim.stateDir, `key-${i}.outbox`),
            now: () => Math.floor(uplink.epoch + clock.now()),
          });
          await key.mqtt.open();
          key.physical.setRadio('attached'); // the uplink follows the radio from here on
        }
        if (options.ble) key.ble = simulatedKeyPeripheral(i, common);
      }
      sim.writeStateFile();
      sim.clock.every(PHYSICAL_TICK_MS, () => {
        for (const k of sim.#keys) {
          k.physical.tick();
          sim.#armDeadline(k);
        }
      });
    } catch (e) {
      await sim.stop();
      await closeTcpPorts(ports); // those no Key took yet
      throw e;
    }
    return sim;
  }

  /** Builds Key `i`'s physical model and controls around its firmware. */
  #addKey(i: number, firmware: KeyFirmware, scheduler: KeyScheduler, flash: FlashDeps, level: number | undefined): RunningKey {
    const key = { index: i, firmware, scheduler } as RunningKey;
    key.physical = new PhysicalKey({
      index: i,
      firmware,
      clock: this.clock,
      emit: (e) => {
        this.#events.emit(e);
        if ((e.type === 'radio' || e.type === 'power') && !this.#stopped) {
          void key.mqtt?.setRadio(key.physical.powered && key.physical.radio === 'attached');
        }
        if (e.type === 'lifecycle' && !this.#stopped) this.#stateFile.soon(); // the handle may be new
      },
      linkActive: () => (key.tcp?.connections ?? 0) + (key.mqtt?.connections ?? 0) + (key.ble?.connections ?? 0) > 0,
      flash: flash.flash,
      midWrite: () => scheduler.busy,
      onPower: (on) => {
        if (!on) {
          key.tcp?.dropAll();
          key.ble?.dropAll();
        }
      },
      ...(level !== undefined ? { batteryLevel: level } : {}),
      tearSeed: i,
      ...(this.#checkInMs !== undefined ? { checkInMs: this.#checkInMs } : {}),
      onCheckIn: (body) => void key.mqtt?.emit(CHECK_IN_KIND, body, 'normal').catch(() => undefined),
      uplinkCounters: () => key.mqtt?.sent ?? {},
    });
    key.controls = deadlineArming(
      key.physical,
      () => this.#armDeadline(key),
      (s) => (key.ble ? { ...s, ble: key.ble.state() } : s),
    );
    // Emergency records go to the uplink too, at emergency priority (never dropped from the outbox).
    firmware.onEmergencyRecord((r) => void key.mqtt?.emit('emergency', r, 'emergency').catch(() => undefined));
    this.#keys.push(key);
    return key;
  }

  /** Schedules the physical model's next deadline (an expiry, a due GNSS fix) on the clock. */
  #armDeadline(key: RunningKey): void {
    key.cancelDeadline?.();
    key.cancelDeadline = undefined;
    const due = key.physical.nextDeadline();
    if (due === undefined || this.#stopped) return;
    key.cancelDeadline = this.clock.at(due, () => {
      key.cancelDeadline = undefined;
      key.physical.tick();
      this.#armDeadline(key);
    });
  }

  #contain(e: unknown): void {
    this.#log.error(`a clock task failed and was contained: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }

  /** Number of simulated Keys (indices 0..keyCount−1). */
  get keyCount(): number {
    return this.#keys.length;
  }

  /**
   * The physical controls of Key `index` (gestures, battery, GNSS track, radio, USB, power).
   * @throws SimulatorError `SIM_NO_SUCH_KEY` for an index out of range
   */
  controls(index: number): DeviceControls {
    return this.#key(index).controls;
  }

  /**
   * Subscribes to every Key's events (gestures, lifecycle, outputs, battery, radio, USB, power,
   * GNSS, pairing window, factory reset, frame metadata, links). Returns the unsubscribe function.
   */
  onEvent(listener: (event: DeviceEvent) => void): () => void {
    return this.#events.add(listener);
  }

  /** Resolves once every Key's emergency records produced so far have been sealed and sent. */
  async settled(): Promise<void> {
    await Promise.all(this.#keys.map((k) => k.firmware.emergency.settled()));
  }

  #key(index: number): RunningKey {
    const k = Number.isInteger(index) ? this.#keys[index] : undefined;
    if (!k)
      throw new SimulatorError(
        'SIM_NO_SUCH_KEY',
        `no Key ${JSON.stringify(index)}: this simulator has Keys 0..${this.#keys.length - 1}`,
      );
    return k;
  }

  /** Where each Key can be reached, and its state. */
  keys(): SimulatedKeyInfo[] {
    return this.#keys.map((k) => ({
      index: k.index,
      handle: toHex(k.firmware.handle),
      state: k.firmware.state,
      ...(k.serial?.pty ? { serial: k.serial.pty.hostPath } : {}),
      ...(k.tcp?.address ? { tcp: k.tcp.address } : {}),
      ...(k.mqtt ? { mqtt: k.mqtt.address } : {}),
      ...(k.ble ? { ble: `ble:${k.ble.name}` } : {}),
    }));
  }

  /**
   * A fresh virtual BLE adapter over this simulator's Keys, for noble in this process (the
   * adapter server makes one per host connection). `options` override those given at start.
   * @throws SimulatorError `SIM_BAD_INPUT` if the simulator was started without `ble`
   */
  bleBindings(options: SimBleOptions = {}): SimBleBindings {
    if (!this.#ble) throw new SimulatorError('SIM_BAD_INPUT', 'this simulator was started without ble');
    return this.#ble.bindings(options);
  }

  /** The virtual BLE adapter's address (`tcp://127.0.0.1:PORT`), if BLE is on. */
  get bleAdapter(): string | undefined {
    return this.#ble?.server.address;
  }

  /** The broker the Keys' uplinks use, if MQTT is on. */
  get broker(): { url: string; embedded: boolean } | undefined {
    return this.#brokerUrl === undefined ? undefined : { url: this.#brokerUrl, embedded: this.#broker !== undefined };
  }

  /** Flow counters of every Key's links (queued bytes, paused reading). */
  linkStats(): SimulatedKeyLinkStats[] {
    return this.#keys.map((k) => ({
      index: k.index,
      tcp: k.tcp?.stats() ?? [],
      ...(k.serial ? { serial: k.serial.stats() } : {}),
      ...(k.mqtt ? { mqtt: mqttLinkStats(k.mqtt) } : {}),
    }));
  }

  /** What Key `index` did per lifecycle state: fixes, radio-on time, uplink bytes and messages, check-ins. */
  counters(index: number): KeyCounters {
    return this.#key(index).controls.state().counters as KeyCounters;
  }

  /** Process ids of the socat processes behind the Keys' serial ports. */
  socatPids(): number[] {
    const mine = new Set(this.#keys.map((k) => k.serial?.pty?.pid));
    return trackedSocatPids().filter((pid) => mine.has(pid));
  }

  /**
   * The firmware of Key `index` (for tests and the control API).
   * @throws SimulatorError `SIM_NO_SUCH_KEY` for an index out of range
   */
  firmware(index: number): KeyFirmware {
    return this.#key(index).firmware;
  }

  /** Writes `<stateDir>/simulator.json`. */
  writeStateFile(): void {
    const broker = this.broker;
    writeStateFile(this.stateDir, {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      ...(broker ? { broker } : {}),
      ...(this.#ble?.server.address ? { bleAdapter: this.#ble.server.address } : {}),
      keys: this.keys(),
    });
  }

  /**
   * The firmware-signing key this simulator's Keys trust (`<stateDir>/fw-signing.key`). When the
   * factory key was retired ({@link SimulatorOptions.retireFactoryKey}) no such file exists:
   * see {@link Simulator.factoryKeyKept}.
   */
  get signingKeyPath(): string {
    return join(this.stateDir, 'fw-signing.key');
  }

  /** Whether the state folder keeps a firmware-signing private key the Keys trust. */
  get factoryKeyKept(): boolean {
    return this.#factoryKeyPath !== undefined;
  }

  /** Flash of Key `i` (`flash-store.ts`), saved on stop. */
  #flashFor(i: number, options: SimulatorOptions, factory: FlashFactory): FlashDeps {
    const store = openKeyFlash({
      stateDir: this.stateDir,
      index: i,
      model: options.firmware?.model ?? DEFAULT_FIRMWARE_CONFIG.model,
      eraseAhead: (options.eraseMsPerPage ?? 0) > 0,
      factory,
      factoryFlash: this.#factoryFlash,
      pagePool: this.#pagePool,
    });
    this.#flushers.push(store.flush);
    return store.deps;
  }

  /**
   * Stops every Key, closes ports and servers, saves flash, removes the state file and releases
   * the state folder. Idempotent. Removes only files this instance owns (it holds the lock).
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.clock.stop();
    this.#events.clear();
    for (const k of this.#keys) k.scheduler.stop();
    for (const f of this.#flushers) f();
    for (const k of this.#keys) k.ble?.dropAll(); // hosts in this process hear a remote disconnect
    await this.#ble?.server.close();
    await Promise.all(this.#keys.map((k) => Promise.all([k.tcp?.close(), k.serial?.close(), k.mqtt?.close()])));
    await this.#broker?.close();
    if (this.#lock) {
      rmSync(join(this.stateDir, STATE_FILE), { force: true });
      this.#lock.release();
    }
  }
}
