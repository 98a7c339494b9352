/**
 * Serves the virtual BLE adapter to other processes: a TCP server on loopback speaking the line
 * wire of `@enigm/protocols/ble` (`adapter-wire.ts`). Each connection is one host's adapter: a
 * fresh {@link SimBleBindings} over the same simulated Keys; the host process runs the real noble
 * on top (`key-firmware-host/src/transport/ble/remote-bindings.ts`). Calls are applied to the
 * bindings, events are sent back as they are emitted. A malformed line closes the connection.
 * At most {@link MAX_ADAPTER_CLIENTS} hosts at once.
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net';
import {
  ADAPTER_EVENTS,
  AdapterLineSplitter,
  type AdapterValue,
  decodeAdapterMessage,
  encodeAdapterMessage,
} from '@enigm/protocols/ble';
import { describeError, type SimLogger, silentLogger } from '../../runtime/log.ts';
import type { SimBleBindings } from './bindings.ts';

/** Hosts served at once. */
export const MAX_ADAPTER_CLIENTS = 16;

/** The virtual adapter on a loopback port. */
export class BleAdapterServer {
  readonly #make: () => SimBleBindings;
  readonly #log: SimLogger;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  /** `tcp://127.0.0.1:PORT` once listening. */
  address: string | undefined;

  /**
   * @param make - a fresh bindings instance per host connection
   * @param log - operational log (connections only; never what they carry)
   */
  constructor(make: () => SimBleBindings, log: SimLogger = silentLogger) {
    this.#make = make;
    this.#log = log;
  }

  /**
   * Listens on `127.0.0.1:port` (0: a free port).
   * @throws Error if the port cannot be bound
   */
  async listen(port = 0): Promise<string> {
    const server = createServer({ noDelay: true }, (s) => this.#accept(s));
    server.on('error', (e) => this.#log.error(`ble adapter: server error: ${describeError(e)}`));
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', rej);
        res();
      });
    });
    this.#server = server;
    const a = server.address();
    this.address = `tcp://127.0.0.1:${a !== null && typeof a === 'object' ? a.port : port}`;
    this.#log.info(`ble adapter: virtual adapter at ${this.address}`);
    return this.address;
  }

  /** Hosts connected now. */
  get clients(): number {
    return this.#sockets.size;
  }

  /** Closes every host connection and the server. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  #accept(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.#sockets.size >= MAX_ADAPTER_CLIENTS) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.setEncoding('utf8');
    const bindings = this.#make();
    const listeners = ADAPTER_EVENTS.map((event) => {
      const fn = (...args: unknown[]) => {
        if (socket.destroyed) return;
        try {
          const wire = args.map((a) => (a instanceof Error ? { $error: a.message } : a)) as AdapterValue[];
          socket.write(encodeAdapterMessage({ kind: 'event', event, args: wire }));
        } catch (e) {
          this.#log.warn(`ble adapter: an event could not be sent (${describeError(e)})`);
        }
      };
      bindings.on(event, fn);
      return [event, fn] as const;
    });
    const splitter = new AdapterLineSplitter();
    socket.on('data', (chunk: string) => {
      try {
        for (const line of splitter.push(chunk)) {
          const m = decodeAdapterMessage(line);
          if (m.kind !== 'call') throw new Error('a host sent an event');
          const method = bindings[m.method] as (...a: unknown[]) => unknown;
          method.apply(bindings, m.args);
        }
      } catch (e) {
        this.#log.warn(`ble adapter: closed a host connection: ${describeError(e)}`);
        socket.destroy();
      }
    });
    socket.on('close', () => {
      this.#sockets.delete(socket);
      for (const [event, fn] of listeners) bindings.off(event, fn);
      bindings.stop();
      bindings.removeAllListeners();
    });
  }
}
