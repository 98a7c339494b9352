/**
 * The BLE transport: a Key's GATT service (`@enigm/protocols/ble`) through the real
 * `@stoprocent/noble`, on the platform's adapter or the simulator's virtual one (`noble.ts`).
 *
 * Open: wait for the adapter (`poweredOff` → `TRANSPORT_ADAPTER_OFF`, `unsupported` or
 * `unauthorized` → `TRANSPORT_ADAPTER_UNSUPPORTED`), scan with the service UUID as filter for the
 * target (noble id, address or advertised name; none within the scan time → `TRANSPORT_NOT_FOUND`),
 * connect, discover the service, read the info characteristic (framing revision, the Key's
 * largest fragment and SDU), subscribe to notifications. Every one of these, and every GATT write,
 * has our own timeout (`TRANSPORT_TIMEOUT`): noble has none, and a Key that advertises but never
 * answers would otherwise hang the host.
 *
 * Send: each send is cut into SDUs of at most the Key's largest SDU, each SDU into fragments of
 * ATT_MTU − 3 (the MTU noble reports as negotiated, capped by the Key's largest fragment), written
 * without response, strictly one at a time (noble hangs the first of two concurrent writes on a
 * characteristic). Receive: notifications are reassembled; a fragment error drops the partial SDU
 * and the frame layer above recovers (retries), as after a corrupted UART frame.
 *
 * Loss: a disconnect, or the adapter leaving `poweredOn`, ends the open period with
 * `TRANSPORT_CLOSED` (the Key facade reconnects and resumes as over serial). Close: disconnect
 * (bounded), `noble.stop()`, and every listener this transport added is removed.
 * @module
 */
import {
  BLE_FRAGMENT_MAX,
  BLE_SDU_MAX,
  type BleInfo,
  decodeBleInfo,
  ENIGM_INFO_UUID,
  ENIGM_REQUEST_UUID,
  ENIGM_RESPONSE_UUID,
  ENIGM_SERVICE_UUID,
  FragmentDecoder,
  FragmentEncoder,
  fragmentSizeFor,
} from '@enigm/protocols/ble';
import { type StreamConnection, type StreamEvents, StreamTransport, type StreamTransportOptions } from '../stream.ts';
import { TransportError } from '../transport.ts';
import {
  type BleAdapterChoice,
  type Characteristic,
  createNoble,
  muteNobleConsole,
  type Noble,
  type Peripheral,
  resolveBleAdapter,
} from './noble.ts';

/** Options of {@link BleTransport}. */
export interface BleTransportOptions extends StreamTransportOptions {
  /** The Key: its noble id (hex), address (`aa:bb:…`) or advertised name (`Enigm-…`). */
  target: string;
  /** The adapter (default: `ENIGM_BLE_ADAPTER`, see `noble.ts`). */
  adapter?: BleAdapterChoice;
  /** How long to scan for the target, ms (default 10,000). */
  scanTimeoutMs?: number;
  /** Bound of every other operation (adapter state, connect, discovery, read, subscribe, each write), ms (default 5000). */
  operationTimeoutMs?: number;
}

/** A Key found by {@link scanBle}. */
export interface BleSighting {
  /** Noble's peripheral id. */
  id: string;
  address: string;
  /** Advertised local name, if any. */
  name: string | undefined;
  rssi: number;
}

const DEFAULT_SCAN_MS = 10_000;
const DEFAULT_OP_MS = 5000;

/**
 * Whether `target` is a valid BLE Key address: a noble id (12 or 32 hex digits), a colon-separated
 * address, or an advertised name (1..29 printable characters).
 */
export function isBleTarget(target: string): boolean {
  return (
    /^[0-9a-fA-F]{12}$|^[0-9a-fA-F]{32}$/.test(target) ||
    /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(target) ||
    /^[\x21-\x7e][\x20-\x7e]{0,28}$/.test(target)
  );
}

function matches(p: Peripheral, target: string): boolean {
  const t = target.toLowerCase();
  return p.id.toLowerCase() === t || p.address?.toLowerCase() === t || p.advertisement?.localName === target;
}

/** Rejects with `TRANSPORT_TIMEOUT` if `promise` has not settled within `ms`; the late result is swallowed. */
function bounded<T>(promise: Promise<T>, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  promise.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new TransportError('TRANSPORT_TIMEOUT', `${what}: no answer within ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Waits until the adapter is `poweredOn`.
 * @throws {@link TransportError} `TRANSPORT_ADAPTER_OFF`, `TRANSPORT_ADAPTER_UNSUPPORTED`
 */
async function poweredOn(noble: Noble, bindings: unknown, ms: number): Promise<void> {
  const state = await new Promise<string>((resolve) => {
    const settle = (s: string) => {
      if (!['poweredOn', 'poweredOff', 'unsupported', 'unauthorized', 'timeout'].includes(s)) return;
      clearTimeout(timer);
      noble.removeListener('stateChange', settle);
      resolve(s);
    };
    const timer = setTimeout(() => settle('timeout'), ms);
    noble.on('stateChange', settle);
    settle(noble.state);
  });
  if (state === 'poweredOn') return;
  if (state === 'poweredOff')
    throw new TransportError('TRANSPORT_ADAPTER_OFF', 'the Bluetooth adapter is powered off: turn Bluetooth on');
  const why = (bindings as { lastError?: Error }).lastError?.message;
  throw new TransportError(
    'TRANSPORT_ADAPTER_UNSUPPORTED',
    state === 'timeout'
      ? `the Bluetooth adapter did not report its state within ${ms} ms`
      : `no usable Bluetooth LE adapter (state ${state}${why ? `: ${why}` : ''}); for the simulator's virtual adapter set ENIGM_BLE_ADAPTER=sim (enigm sim start --ble)`,
  );
}

/** Stops noble (scans, connections) and drops every listener on it, its objects and the bindings. */
function release(noble: Noble, bindings: unknown, parts: readonly (NodeJS.EventEmitter | undefined)[]): void {
  try {
    noble.stop();
  } catch {
    // the bindings are gone already
  }
  for (const p of parts) p?.removeAllListeners();
  noble.removeAllListeners();
  const b = bindings as { removeAllListeners?: () => void };
  if (typeof b.removeAllListeners === 'function') b.removeAllListeners();
}

/**
 * Scans for Keys (the service UUID as filter) for `durationMs` and lists what answered.
 * @throws {@link TransportError} `TRANSPORT_ADAPTER_OFF`, `TRANSPORT_ADAPTER_UNSUPPORTED`
 */
export async function scanBle(options: { adapter?: BleAdapterChoice; durationMs?: number } = {}): Promise<BleSighting[]> {
  const bindings = resolveBleAdapter(options.adapter)();
  const unmute = muteNobleConsole(); // our typed error says what noble would print
  const noble = createNoble(bindings);
  const seen = new Map<string, BleSighting>();
  try {
    await poweredOn(noble, bindings, DEFAULT_OP_MS);
    noble.on('discover', (p: Peripheral) => {
      seen.set(p.id, { id: p.id, address: p.address, name: p.advertisement?.localName, rssi: p.rssi });
    });
    await bounded(noble.startScanningAsync([ENIGM_SERVICE_UUID], false), DEFAULT_OP_MS, 'start scanning');
    await new Promise((r) => setTimeout(r, options.durationMs ?? 2000));
  } finally {
    release(noble, bindings, []);
    unmute();
  }
  return [...seen.values()];
}

/** A Key over BLE; see the module documentation. */
export class BleTransport extends StreamTransport {
  readonly description: string;
  readonly #o: BleTransportOptions;
  readonly #scanMs: number;
  readonly #opMs: number;
  /** The info the Key reported and the fragment size in use, once open. */
  link: { info: BleInfo; mtu: number; fragment: number } | undefined;
  /** Fragment errors seen on the way in (lost, reordered, duplicated), for diagnostics. */
  fragmentErrors = 0;

  /**
   * @throws {@link TransportError} `TRANSPORT_BAD_ADDRESS` for a target that is no id, address or name
   * @throws RangeError for a timeout that is not positive
   */
  constructor(options: BleTransportOptions) {
    super(options);
    if (typeof options.target !== 'string' || !isBleTarget(options.target))
      throw new TransportError(
        'TRANSPORT_BAD_ADDRESS',
        `bad BLE Key address ${JSON.stringify(options.target)}: use ble:<noble id, aa:bb:cc:dd:ee:ff or advertised name>`,
      );
    this.#scanMs = options.scanTimeoutMs ?? DEFAULT_SCAN_MS;
    this.#opMs = options.operationTimeoutMs ?? DEFAULT_OP_MS;
    if (!(this.#scanMs > 0) || !(this.#opMs > 0)) throw new RangeError('scanTimeoutMs and operationTimeoutMs must be > 0');
    this.#o = options;
    this.description = `ble:${options.target}`;
  }

  protected async connect(events: StreamEvents): Promise<StreamConnection> {
    const bindings = resolveBleAdapter(this.#o.adapter)();
    const unmute = muteNobleConsole(); // while noble runs: our typed errors say what it would print
    const noble = createNoble(bindings);
    const ms = this.#opMs;
    let peripheral: Peripheral | undefined;
    let response: Characteristic | undefined;
    let request: Characteristic | undefined;
    try {
      await poweredOn(noble, bindings, ms);
      peripheral = await this.#find(noble);
      const p = peripheral;
      await bounded(p.connectAsync(), ms, `connect to ${this.description}`, () => p.cancelConnect());
      const { characteristics } = await bounded(
        p.discoverSomeServicesAndCharacteristicsAsync(
          [ENIGM_SERVICE_UUID],
          [ENIGM_REQUEST_UUID, ENIGM_RESPONSE_UUID, ENIGM_INFO_UUID],
        ),
        ms,
        `${this.description}: service discovery`,
      );
      const byUuid = (u: string) => characteristics.find((c) => c.uuid === u);
      request = byUuid(ENIGM_REQUEST_UUID);
      response = byUuid(ENIGM_RESPONSE_UUID);
      const infoChar = byUuid(ENIGM_INFO_UUID);
      if (!request || !response || !infoChar)
        throw new TransportError('TRANSPORT_OPEN_FAILED', `${this.description} does not offer the Enigm Key GATT service`);
      const info = decodeBleInfo(await bounded(infoChar.readAsync(), ms, `${this.description}: read info`));
      const mtu = p.mtu ?? 23;
      const fragment = fragmentSizeFor(mtu, info.maxFragment);
      const sduMax = Math.min(info.maxSdu, BLE_SDU_MAX);
      this.link = { info, mtu, fragment };
      const decoder = new FragmentDecoder({ maxSdu: BLE_SDU_MAX, maxFragment: Math.min(mtu - 3, BLE_FRAGMENT_MAX) });
      response.on('data', (data: Buffer, isNotification: boolean) => {
        if (!isNotification) return;
        for (const ev of decoder.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))) {
          if (ev.kind === 'sdu') events.data(ev.sdu);
          else this.fragmentErrors++;
        }
      });
      await bounded(response.subscribeAsync(), ms, `${this.description}: subscribe`);
      p.once('disconnect', (reason: unknown) =>
        events.lost('TRANSPORT_CLOSED', new Error(`the Key disconnected (reason ${String(reason)})`)),
      );
      noble.on('stateChange', (s: string) => {
        if (s !== 'poweredOn') events.lost('TRANSPORT_CLOSED', new Error(`the Bluetooth adapter went ${s}`));
      });
      return this.#connection(noble, bindings, p, request, response, fragment, sduMax, events, unmute);
    } catch (e) {
      release(noble, bindings, [peripheral, request, response]);
      unmute();
      if (e instanceof TransportError) throw e;
      const code = (e as { code?: string }).code;
      throw new TransportError(
        'TRANSPORT_OPEN_FAILED',
        `cannot open ${this.description}: ${code ? `${code}: ` : ''}${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }

  /** Scans for the target with the service UUID as filter. */
  #find(noble: Noble): Promise<Peripheral> {
    const target = this.#o.target;
    return new Promise<Peripheral>((resolve, reject) => {
      let done = false;
      const finish = (error: Error | undefined, p?: Peripheral) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        noble.removeListener('discover', onDiscover);
        noble.stopScanning();
        if (error) reject(error);
        else resolve(p as Peripheral);
      };
      const onDiscover = (p: Peripheral) => {
        if (matches(p, target)) finish(undefined, p);
      };
      const timer = setTimeout(
        () =>
          finish(
            new TransportError(
              'TRANSPORT_NOT_FOUND',
              `no Key ${JSON.stringify(target)} advertised within ${this.#scanMs} ms (is it on and in range?)`,
            ),
          ),
        this.#scanMs,
      );
      noble.on('discover', onDiscover);
      noble
        .startScanningAsync([ENIGM_SERVICE_UUID], false)
        .catch((e: Error) => finish(new TransportError('TRANSPORT_OPEN_FAILED', `cannot scan: ${e.message}`, { cause: e })));
    });
  }

  #connection(
    noble: Noble,
    bindings: unknown,
    p: Peripheral,
    request: Characteristic,
    response: Characteristic,
    fragment: number,
    sduMax: number,
    events: StreamEvents,
    unmute: () => void,
  ): StreamConnection {
    const encoder = new FragmentEncoder();
    const ms = this.#opMs;
    let chain: Promise<void> = Promise.resolve();
    let closed = false;
    const writeAll = async (bytes: Buffer): Promise<void> => {
      for (let off = 0; off < bytes.length; off += sduMax) {
        for (const frag of encoder.encode(bytes.subarray(off, off + sduMax), fragment)) {
          if (closed) throw new TransportError('TRANSPORT_CLOSED', `${this.description} closed`);
          // One write in flight: the next starts only when noble reports this one done.
          await bounded(request.writeAsync(Buffer.from(frag), true), ms, `${this.description}: GATT write`);
        }
      }
    };
    return {
      write: (bytes, done) => {
        chain = chain
          .then(() => writeAll(bytes))
          .then(
            () => done(),
            (e: Error) => {
              if (e instanceof TransportError && e.code === 'TRANSPORT_TIMEOUT') events.lost('TRANSPORT_TIMEOUT', e);
              done(e);
            },
          );
      },
      close: async () => {
        closed = true;
        await chain.catch(() => undefined);
        p.removeAllListeners('disconnect');
        if (p.state === 'connected')
          await bounded(p.disconnectAsync(), ms, `${this.description}: disconnect`).catch(() => undefined);
        release(noble, bindings, [p, request, response]);
        unmute();
      },
      destroy: () => {
        closed = true;
        try {
          if (p.state === 'connected') p.disconnect();
        } catch {
          // already gone
        }
        release(noble, bindings, [p, request, response]);
        unmute();
      },
    };
  }
}
