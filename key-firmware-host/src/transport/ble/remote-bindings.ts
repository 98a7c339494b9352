/**
 * Noble bindings that forward every call to the simulator's virtual adapter over loopback TCP and
 * re-emit its events (the line wire of `@enigm/protocols/ble`, `adapter-wire.ts`), so the real
 * noble in this process talks GATT with simulated Keys in another. An adapter that cannot be
 * reached, or a connection to it that drops, is reported to noble as the state `unsupported`.
 * @module
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import {
  ADAPTER_METHODS,
  AdapterLineSplitter,
  type AdapterMethod,
  type AdapterValue,
  decodeAdapterMessage,
  encodeAdapterMessage,
} from '@enigm/protocols/ble';

/** How long the adapter connection may take, ms. */
const CONNECT_TIMEOUT_MS = 5000;

/** Bindings over the virtual adapter's wire; noble calls the methods, listens to the events. */
export class RemoteBleBindings extends EventEmitter {
  readonly address: string;
  #socket: Socket | undefined;
  #queue: string[] = [];
  #ready = false;
  #ended = false;
  /** Why the adapter is unreachable, once it is. */
  lastError: Error | undefined;

  /** @param address - `tcp://host:port` of the virtual adapter */
  constructor(address: string) {
    super();
    this.address = address;
    for (const m of ADAPTER_METHODS) {
      if (m === 'start' || m === 'stop' || m === 'reset') continue;
      (this as unknown as Record<string, (...a: unknown[]) => void>)[m] = (...args: unknown[]) => this.#call(m, args);
    }
  }

  /** Connects to the adapter and asks it to start (it answers with `stateChange`). */
  start(): void {
    if (this.#socket || this.#ended) return;
    const m = /^tcp:\/\/(.+):(\d+)$/.exec(this.address);
    const socket = connect({ host: m?.[1] ?? '127.0.0.1', port: Number(m?.[2] ?? 0) });
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    const timer = setTimeout(
      () => socket.destroy(new Error(`no answer from ${this.address} within ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );
    socket.once('connect', () => {
      clearTimeout(timer);
      this.#ready = true;
      socket.write(encodeAdapterMessage({ kind: 'call', method: 'start', args: [] }));
      for (const line of this.#queue) socket.write(line);
      this.#queue = [];
    });
    const splitter = new AdapterLineSplitter();
    socket.on('data', (chunk: string) => {
      try {
        for (const line of splitter.push(chunk)) {
          const msg = decodeAdapterMessage(line);
          if (msg.kind !== 'event') throw new Error('the adapter sent a call');
          this.emit(msg.event, ...msg.args.map(toNoble));
        }
      } catch (e) {
        socket.destroy(e as Error);
      }
    });
    socket.on('error', (e) => {
      this.lastError = e;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      this.#ready = false;
      if (this.#ended) return;
      this.#ended = true;
      this.lastError ??= new Error(`the virtual adapter at ${this.address} closed the connection`);
      this.emit('stateChange', 'unsupported');
    });
  }

  /** Stops: asks the adapter to drop its connections, then closes the link to it. */
  stop(): void {
    const socket = this.#socket;
    this.#ended = true;
    if (!socket) return;
    if (this.#ready) socket.end(encodeAdapterMessage({ kind: 'call', method: 'stop', args: [] }));
    else socket.destroy();
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /** As {@link RemoteBleBindings.stop}. */
  reset(): void {
    this.stop();
  }

  /** Noble's address → id: the address without colons, lowercase. */
  addressToId(address: string): string | null {
    return /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(address) ? address.replace(/:/g, '').toLowerCase() : null;
  }

  /** Scan parameters are the adapter's business: acknowledged at once. */
  setScanParameters(): void {
    process.nextTick(() => this.emit('scanParametersSet'));
  }

  #call(method: AdapterMethod, args: unknown[]): void {
    if (this.#ended) return;
    const line = encodeAdapterMessage({ kind: 'call', method, args: args.map(fromNoble) });
    if (this.#ready && this.#socket) this.#socket.write(line);
    else this.#queue.push(line);
  }
}

/** Noble hands Buffers and `undefined`; the wire carries Uint8Array and null. */
function fromNoble(v: unknown): AdapterValue {
  if (v === undefined) return null;
  if (v instanceof Error) return v.message;
  return v as AdapterValue;
}

/** Noble expects Buffers for values and Errors for errors. */
function toNoble(v: AdapterValue): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v);
    const message = (v as Record<string, AdapterValue>).$error;
    if (keys.length === 1 && typeof message === 'string') return new Error(message);
  }
  return v;
}
