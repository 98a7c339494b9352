/**
 * The options of {@link Simulator.start} and the link counters it reports
 * ({@link SimulatedKeyLinkStats}), apart from the simulator's code (re-exported by `simulator.ts`).
 * @module
 */
import type { FirmwareConfig } from '../firmware/firmware.ts';
import type { SimulatorBleOption } from '../io/ble/sim-ble.ts';
import type { DEFAULT_LINK_LIMITS, LinkLimits } from './link-flow.ts';
import type { LinkShape } from './link-shaper.ts';
import type { SimLogger } from './log.ts';
import type { SimulatorClock } from './sim-clock.ts';
import type { TcpLinkStats } from './tcp-endpoint.ts';
import type { SimulatorMqttOption } from './uplink-setup.ts';

/** Options of {@link Simulator.start}. */
export interface SimulatorOptions {
  /** Number of Keys (default 1). */
  keys?: number;
  /** Folder for Key storage, pty links and the state file (default `.sim-state`). */
  stateDir?: string;
  /** Expose each Key on a pseudo-terminal (default true; needs socat). */
  serial?: boolean;
  /** Expose each Key on TCP (default true). */
  tcp?: boolean;
  /** TCP port of Key 0; Key i listens on base+i. 0 picks free ports (default 0). */
  tcpBasePort?: number;
  /** TCP listen address (default 127.0.0.1). */
  tcpHost?: string;
  /** Firmware configuration overrides for every Key. */
  firmware?: Partial<FirmwareConfig>;
  /** Model the serial links as UARTs at this baud rate and latency (default: unshaped pty speed). */
  link?: LinkShape;
  /**
   * Extra trusted firmware-signing public keys (Ed25519); the state dir's own key is always trusted.
   * On a new state folder, giving any means the factory key's private half is not kept there
   * (see `retireFactoryKey`).
   */
  trustedFirmwareKeys?: Uint8Array[];
  /**
   * Do not keep the factory signing key's private half in a new state folder: it signs the factory
   * image in memory and is gone, so only `trustedFirmwareKeys` (kept elsewhere) can sign updates.
   * Default: true when `trustedFirmwareKeys` is non-empty. An existing `fw-signing.key` is used.
   */
  retireFactoryKey?: boolean;
  /**
   * Model flash erase time: each Key erases the pages an upload needs when it begins, this many ms
   * per 4 KiB page, sending keepalive events meanwhile (default 0: erases are instant and lazy).
   */
  eraseMsPerPage?: number;
  /** Bounds of every connection's queues and of TCP connections per Key (defaults: {@link DEFAULT_LINK_LIMITS}). */
  limits?: Partial<LinkLimits>;
  /** Operational log: links opened/closed, rejected frames, bounds hit (default: silent). */
  log?: SimLogger;
  /** Simulated time per real time at start (default 1; `clock.setSpeed` changes it later). */
  speed?: number;
  /** The simulator's clock (default: a new {@link SimulatorClock} at `speed`); tests inject one without real timers. */
  clock?: SimulatorClock;
  /** Battery level every Key starts with, % (default `firmware.batteryPct`, else 100). */
  batteryLevel?: number;
  /**
   * An LTE-M uplink per Key over MQTT (default off in the library; `enigm sim start` turns it on).
   * `true` or an object without `broker` starts the embedded broker on loopback; `broker` names
   * an external one (`mqtt://…`, `mqtts://…` with `tls`). The Keys' radios start attached.
   * `outbox` bounds each Key's outbox (records, bytes, age; the oldest normal records are dropped
   * past them, emergency records never: docs/mqtt-outbox.md "Drop policy").
   */
  mqtt?: SimulatorMqttOption;
  /** A dormant Key's check-in interval, simulated ms (default 6 h, ± 10 % jitter; docs/emergency.md "Dormancy"). */
  checkInMs?: number;
  /**
   * Each Key also advertises its GATT service on a virtual BLE adapter (name `Enigm-K<i>`), served
   * to other processes on a loopback port (`bleAdapter` in simulator.json; default off). The
   * options are those of every host's adapter: link (PHY, DLE, MTU, interval), time scale
   * (default 1 here: real time), latency, faults.
   */
  ble?: SimulatorBleOption;
}

/** Flow counters of one Key's links (for tests and diagnostics). */
export interface SimulatedKeyLinkStats {
  index: number;
  tcp: TcpLinkStats[];
  serial?: { outputBytes: number; inputBytes: number; paused: boolean; discarded: number };
  /**
   * The MQTT uplink, if on: connected now, records waiting in its outbox (`queued`), and records
   * not yet in the outbox (`pending`: waiting for the Key's state to be durable, or their append);
   * normal records the outbox dropped at its bounds since the start (`dropped`: oldest first,
   * never emergency ones) and the outbox file's length (`outboxBytes`).
   */
  mqtt?: { connected: boolean; queued: number; pending: number; dropped: number; outboxBytes: number };
}
