/**
 * The Key simulator: runs N simulated Keys and exposes each on a real pseudo-terminal serial
 * port (a socat pty pair: the host opens one end with any serial library, the Key the other) and
 * on a TCP port on loopback. Each Key keeps its state in `<stateDir>/key-<i>.cbor` and its secure
 * element secrets in `<stateDir>/key-<i>.se`
 * across restarts; the simulator writes where each Key can be reached to
 * `<stateDir>/simulator.json` ({@link SimulatorStateFile}).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { sha256 } from '@enigm/protocols/crypto';
import { verifyManifest } from '@enigm/protocols/firmware';
import { autoDetect } from '@serialport/bindings-cpp';
import { SerialPortStream } from '@serialport/stream';
import { DEFAULT_FIRMWARE_CONFIG, type FirmwareConfig, KeyFirmware } from '../firmware/firmware.ts';
import { flashFactoryImage } from '../firmware/flash/bootloader.ts';
import { Flash } from '../firmware/flash/flash.ts';
import type { ImageVerifier } from '../firmware/flash/image.ts';
import { DEFAULT_LAYOUT } from '../firmware/flash/layout.ts';
import type { FlashDeps } from '../firmware/key-flash.ts';
import { loadSecureElement } from '../firmware/secure-element.ts';
import { createPtyPair, hasSocat, type PtyPair } from '../io/pty.ts';
import { DeviceLink, type LongOperationTiming } from './device-link.ts';
import { factoryImage, loadOrCreateSigningKey, type SigningKey } from './factory.ts';
import { FileStorage } from './file-storage.ts';
import { type LinkShape, ShapedPipe } from './link-shaper.ts';

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
  /** Extra trusted firmware-signing public keys (Ed25519); the state dir's own key is always trusted. */
  trustedFirmwareKeys?: Uint8Array[];
  /**
   * Model flash erase time: each Key erases the pages an upload needs when it begins, this many ms
   * per 4 KiB page, sending keepalive events meanwhile (default 0: erases are instant and lazy).
   */
  eraseMsPerPage?: number;
}

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
}

/** Contents of `<stateDir>/simulator.json`. */
export interface SimulatorStateFile {
  pid: number;
  startedAt: string;
  keys: SimulatedKeyInfo[];
}

/** Name of the state file inside the state directory. */
export const STATE_FILE = 'simulator.json';

/** What every Key's flash is manufactured and verified with. */
interface FlashFactory {
  signing: SigningKey;
  verifier: ImageVerifier;
}

interface RunningKey {
  index: number;
  firmware: KeyFirmware;
  pty?: PtyPair;
  port?: SerialPortStream;
  serialLink?: DeviceLink;
  server?: Server;
  sockets: Set<Socket>;
  tcpAddress?: string;
  pipes?: ShapedPipe[];
}

/** A running simulator. */
export class Simulator {
  readonly stateDir: string;
  readonly #keys: RunningKey[] = [];
  readonly #link: LinkShape | undefined;
  readonly #flushers: (() => void)[] = [];
  #timing: LongOperationTiming | undefined;
  #stopped = false;

  private constructor(stateDir: string, link?: LinkShape) {
    this.stateDir = stateDir;
    this.#link = link;
  }

  /**
   * Starts the simulator.
   * @throws Error if serial is requested and socat is missing, or a TCP port is taken
   */
  static async start(options: SimulatorOptions = {}): Promise<Simulator> {
    const n = options.keys ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new RangeError(`keys must be 1..1024, got ${n}`);
    const serial = options.serial ?? true;
    if (serial && !hasSocat())
      throw new Error('socat is required for serial ports (apt-get install socat), or pass serial: false');
    const sim = new Simulator(resolve(options.stateDir ?? '.sim-state'), options.link);
    if (options.eraseMsPerPage) sim.#timing = { msPerStep: options.eraseMsPerPage };
    mkdirSync(sim.stateDir, { recursive: true });
    // One signing key and one verifier for all Keys (read once, not per Key).
    const signing = loadOrCreateSigningKey(sim.stateDir);
    const trusted = [signing.publicKey, ...(options.trustedFirmwareKeys ?? [])];
    const factory: FlashFactory = { signing, verifier: { verifyManifest: (b) => verifyManifest(b, trusted).manifest, sha256 } };
    try {
      for (let i = 0; i < n; i++) {
        const random = (k: number) => new Uint8Array(randomBytes(k));
        const flashDeps = sim.#flashFor(i, options, factory);
        const firmware = new KeyFirmware({
          flash: flashDeps,
          storage: new FileStorage(join(sim.stateDir, `key-${i}.cbor`)),
          secureElement: loadSecureElement(new FileStorage(join(sim.stateDir, `key-${i}.se`)), random),
          clock: { now: () => performance.now() },
          random,
          ...(options.firmware ? { config: options.firmware } : {}),
        });
        const key: RunningKey = { index: i, firmware, sockets: new Set() };
        sim.#keys.push(key);
        if (serial) await sim.#startSerial(key);
        if (options.tcp ?? true)
          await sim.#startTcp(key, options.tcpHost ?? '127.0.0.1', options.tcpBasePort ? options.tcpBasePort + i : 0);
      }
      sim.writeStateFile();
    } catch (e) {
      await sim.stop();
      throw e;
    }
    return sim;
  }

  /** Where each Key can be reached, and its state. */
  keys(): SimulatedKeyInfo[] {
    return this.#keys.map((k) => ({
      index: k.index,
      handle: Buffer.from(k.firmware.handle).toString('hex'),
      state: k.firmware.state,
      ...(k.pty ? { serial: k.pty.hostPath } : {}),
      ...(k.tcpAddress ? { tcp: k.tcpAddress } : {}),
    }));
  }

  /** The firmware of Key `index` (for tests and the control API). */
  firmware(index: number): KeyFirmware {
    const k = this.#keys[index];
    if (!k) throw new RangeError(`no Key ${index}`);
    return k.firmware;
  }

  /** Writes `<stateDir>/simulator.json`. */
  writeStateFile(): void {
    const s: SimulatorStateFile = { pid: process.pid, startedAt: new Date().toISOString(), keys: this.keys() };
    writeFileSync(join(this.stateDir, STATE_FILE), `${JSON.stringify(s, null, 2)}\n`);
  }

  /** The firmware-signing key this simulator's Keys trust (`<stateDir>/fw-signing.key`). */
  get signingKeyPath(): string {
    return join(this.stateDir, 'fw-signing.key');
  }

  /** Flash of Key `i`: loaded from `key-<i>.flash`, or manufactured with the factory image. */
  #flashFor(i: number, options: SimulatorOptions, factory: FlashFactory): FlashDeps {
    const { signing, verifier } = factory;
    const path = join(this.stateDir, `key-${i}.flash`);
    const layout = DEFAULT_LAYOUT;
    const stored = existsSync(path) ? new Uint8Array(readFileSync(path)) : undefined;
    const flash = new Flash({ pageSize: layout.pageSize, pageCount: layout.pageCount, ...(stored ? { initial: stored } : {}) });
    if (!stored) {
      const img = factoryImage(signing.seed, options.firmware?.model ?? DEFAULT_FIRMWARE_CONFIG.model);
      flashFactoryImage(flash, layout, img.signedManifest, img.payload, verifier);
    }
    let timer: NodeJS.Timeout | undefined;
    const save = () => {
      timer = undefined;
      writeFileSync(path, flash.snapshot());
    };
    this.#flushers.push(() => {
      if (timer) clearTimeout(timer);
      save();
    });
    if (!stored) save();
    return {
      flash,
      layout,
      verifier,
      eraseAhead: (options.eraseMsPerPage ?? 0) > 0,
      // Debounced: the snapshot is written once changes pause (and always on stop), not during a
      // transfer — writing 1 MiB every few chunks would stall the simulated Key.
      onChange: () => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(save, 250);
      },
    };
  }

  /** Stops every Key, closes ports and servers, saves flash, removes the state file. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const f of this.#flushers) f();
    await Promise.all(
      this.#keys.map(async (k) => {
        k.serialLink?.close();
        for (const p of k.pipes ?? []) p.close();
        for (const s of k.sockets) s.destroy();
        await Promise.all([
          k.server ? new Promise<void>((r) => k.server?.close(() => r())) : undefined,
          k.port?.isOpen ? new Promise<void>((r) => k.port?.close(() => r())) : undefined,
        ]);
        await k.pty?.close();
      }),
    );
    rmSync(join(this.stateDir, STATE_FILE), { force: true });
  }

  async #startSerial(key: RunningKey): Promise<void> {
    key.pty = await createPtyPair({ linkDir: this.stateDir, name: `ttyKEY${key.index}` });
    const port = new SerialPortStream({ binding: autoDetect(), path: key.pty.devicePath, baudRate: 115200 });
    await new Promise<void>((res, rej) => port.once('open', () => res()).once('error', rej));
    key.port = port;
    const toHost = (b: Uint8Array) => {
      if (port.isOpen) port.write(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    };
    // With a link shape, both directions cross a modelled UART; otherwise bytes pass at pty speed.
    const out = this.#link ? new ShapedPipe(this.#link, toHost) : undefined;
    const link = new DeviceLink(key.firmware, out ? (b) => out.push(b) : toHost, 'serial', this.#timing);
    const into = this.#link ? new ShapedPipe(this.#link, (b) => link.receive(b)) : undefined;
    key.serialLink = link;
    key.pipes = [out, into].filter((p): p is ShapedPipe => p !== undefined);
    port.on('data', (chunk: Buffer) => {
      const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (into) into.push(bytes);
      else link.receive(bytes);
    });
    port.on('error', () => {});
  }

  async #startTcp(key: RunningKey, host: string, port: number): Promise<void> {
    const server = createServer({ noDelay: true }, (socket) => {
      key.sockets.add(socket);
      const link = new DeviceLink(
        key.firmware,
        (b) => {
          if (!socket.destroyed) socket.write(b);
        },
        'tcp',
        this.#timing,
      );
      socket.on('data', (chunk) => link.receive(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
      socket.on('error', () => {});
      socket.on('close', () => {
        link.close();
        key.sockets.delete(socket);
      });
    });
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(port, host, () => res());
    });
    key.server = server;
    const addr = server.address();
    if (addr && typeof addr === 'object') key.tcpAddress = `tcp://${host}:${addr.port}`;
  }
}
