/**
 * A model of one BLE connection's air time, for the simulated adapter and the benchmarks: PHY
 * (1M or 2M), data length extension (LL payload 27 or 251 bytes), connection interval and
 * ATT_MTU. Pure: times are microseconds from the connection's start.
 *
 * What it counts (Bluetooth Core 5.4 Vol 6 Part B 2.1, 4.5):
 * - an ATT write-without-response or notification of `n` bytes is an L2CAP PDU of
 *   `n + 3 (opcode, handle) + 4 (L2CAP header)` bytes, cut into LL data PDUs of at most the LL
 *   payload (27 without DLE, 251 with);
 * - each LL PDU costs its air time (`preamble (1 B on 1M, 2 B on 2M) + access address 4 + header 2 +
 *   payload + CRC 3` bytes at 1 or 2 Mbit/s), T_IFS 150 µs, the peer's empty acknowledgement PDU
 *   and another T_IFS;
 * - packets go out in connection events every `connectionIntervalMs`; an event carries packets
 *   back to back while they fit in the interval; a packet that finds the link idle waits for the
 *   next event's anchor.
 * Not modelled: radio errors and retransmissions, the peer's data piggybacked on the acknowledgement
 * (each direction is its own channel), encryption's MIC (4 B per PDU), and controller limits on
 * packets per event.
 *
 * With DLE and MTU 247 the ceiling is about 1.3–1.4 Mbit/s of ATT payload on 2M PHY and
 * 0.7–0.8 Mbit/s on 1M ({@link gattCeiling}).
 *
 * @module
 */
import { ATT_MTU_MAX, ATT_MTU_MIN } from './gatt.ts';

/** Parameters of one modelled BLE link. */
export interface BleLinkParams {
  /** LE PHY: 1 Mbit/s or 2 Mbit/s. */
  phy: '1M' | '2M';
  /** Data length extension: LL payload up to 251 bytes (else 27). */
  dle: boolean;
  /** Negotiated ATT_MTU, 23..517. */
  mtu: number;
  /** Connection interval, ms (7.5..4000, a multiple of 1.25 on real controllers). */
  connectionIntervalMs: number;
}

/** Default link: 2M PHY, DLE, MTU 247, 15 ms interval (what current phones negotiate). */
export const DEFAULT_BLE_LINK: Readonly<BleLinkParams> = { phy: '2M', dle: true, mtu: 247, connectionIntervalMs: 15 };

const T_IFS_US = 150;
/** Access address + LL header + CRC bytes around an LL payload. */
const LL_FIXED_BYTES = 4 + 2 + 3;
/** ATT opcode + handle, then the L2CAP basic header. */
const ATT_OVERHEAD = 3;
const L2CAP_HEADER = 4;

/**
 * Validates link parameters.
 * @throws RangeError naming the bad field
 */
export function checkLinkParams(p: BleLinkParams): BleLinkParams {
  if (p.phy !== '1M' && p.phy !== '2M') throw new RangeError(`phy must be '1M' or '2M', got ${String(p.phy)}`);
  if (typeof p.dle !== 'boolean') throw new RangeError('dle must be a boolean');
  if (!Number.isInteger(p.mtu) || p.mtu < ATT_MTU_MIN || p.mtu > ATT_MTU_MAX)
    throw new RangeError(`mtu must be an integer in ${ATT_MTU_MIN}..${ATT_MTU_MAX}, got ${p.mtu}`);
  if (!(p.connectionIntervalMs >= 7.5 && p.connectionIntervalMs <= 4000))
    throw new RangeError(`connectionIntervalMs must be 7.5..4000, got ${p.connectionIntervalMs}`);
  return p;
}

/** Largest LL payload: 251 with DLE, else 27. */
export function llPayloadMax(dle: boolean): number {
  return dle ? 251 : 27;
}

/** Air time of one LL PDU with `payload` bytes, µs. */
export function llPacketUs(phy: BleLinkParams['phy'], payload: number): number {
  const preamble = phy === '2M' ? 2 : 1;
  const bits = (preamble + LL_FIXED_BYTES + payload) * 8;
  return phy === '2M' ? bits / 2 : bits;
}

/** One LL exchange: the PDU, T_IFS, the empty acknowledgement, T_IFS; µs. */
export function llExchangeUs(phy: BleLinkParams['phy'], payload: number): number {
  return llPacketUs(phy, payload) + T_IFS_US + llPacketUs(phy, 0) + T_IFS_US;
}

/** LL payload sizes of one ATT PDU carrying `attValue` bytes. */
export function llPackets(attValue: number, dle: boolean): number[] {
  let rest = attValue + ATT_OVERHEAD + L2CAP_HEADER;
  const max = llPayloadMax(dle);
  const out: number[] = [];
  while (rest > 0) {
    const n = Math.min(rest, max);
    out.push(n);
    rest -= n;
  }
  return out;
}

/**
 * One direction of a modelled link: schedules ATT PDUs into connection events.
 * Times are µs since the connection began.
 */
export class BleAirChannel {
  readonly params: BleLinkParams;
  readonly #intervalUs: number;
  /** Start of the current connection event, µs. */
  #eventStart = Number.NEGATIVE_INFINITY;
  /** Air time used in the current event, µs. */
  #used = 0;

  /** @throws RangeError for bad parameters */
  constructor(params: BleLinkParams) {
    this.params = checkLinkParams({ ...params });
    this.#intervalUs = params.connectionIntervalMs * 1000;
  }

  /** When the channel is free again, µs. */
  get freeAt(): number {
    return this.#eventStart + this.#used;
  }

  /**
   * Schedules an ATT value of `attValue` bytes that is ready to go at `readyUs`.
   * @returns when its last LL packet is acknowledged (it is delivered), µs
   * @throws RangeError for a negative size
   */
  schedule(attValue: number, readyUs: number): number {
    if (!(attValue >= 0)) throw new RangeError(`attValue must be ≥ 0, got ${attValue}`);
    const { phy, dle } = this.params;
    let done = readyUs;
    for (const payload of llPackets(attValue, dle)) {
      const need = llExchangeUs(phy, payload);
      if (readyUs > this.freeAt) {
        // The link went idle: the event closed; wait for the next anchor.
        this.#eventStart = Math.ceil(readyUs / this.#intervalUs) * this.#intervalUs;
        this.#used = 0;
      }
      if (this.#used + need > this.#intervalUs) {
        this.#eventStart += this.#intervalUs;
        this.#used = 0;
      }
      this.#used += need;
      done = this.freeAt;
    }
    return done;
  }
}

/** The modelled GATT ceiling of a link. */
export interface GattCeiling {
  /** ATT payload bytes per second with full fragments back to back. */
  bytesPerSecond: number;
  /** The same in Mbit/s. */
  mbitPerSecond: number;
  /** Fragment size (MTU − 3). */
  fragment: number;
  /** Air time of one full fragment, µs (all its LL exchanges). */
  fragmentUs: number;
}

/**
 * The GATT ceiling: ATT payload throughput of an endless stream of full-size writes without
 * response (or notifications) in one direction, under {@link BleAirChannel}'s scheduling.
 * @throws RangeError for bad parameters
 * @example gattCeiling({ phy: '2M', dle: true, mtu: 247, connectionIntervalMs: 15 }).mbitPerSecond // ≈ 1.3
 */
export function gattCeiling(params: BleLinkParams): GattCeiling {
  const channel = new BleAirChannel(params);
  const fragment = params.mtu - 3;
  const n = 2000;
  let end = 0;
  for (let i = 0; i < n; i++) end = channel.schedule(fragment, 0);
  const bytesPerSecond = (n * fragment) / (end / 1e6);
  const fragmentUs = llPackets(fragment, params.dle).reduce((s, p) => s + llExchangeUs(params.phy, p), 0);
  return { bytesPerSecond, mbitPerSecond: (bytesPerSecond * 8) / 1e6, fragment, fragmentUs };
}
