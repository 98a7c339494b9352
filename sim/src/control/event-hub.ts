/**
 * The WebSocket stream of device events: every {@link DeviceEvent} of the target is sent to every
 * client as one JSON text message. Bounded: at most `maxClients` clients (one more is refused
 * with 503), and a client whose unsent backlog passes `maxBacklogBytes` (it stopped reading) is
 * dropped. Events carry metadata only (the contract's {@link DeviceEvent}); nothing is logged
 * about their content.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { ControlTarget, DeviceEvent } from '../firmware/physical/types.ts';
import type { SimLogger } from '../runtime/log.ts';

/** Bounds of the event stream. */
export interface EventHubLimits {
  /** Most clients at once (default 64). */
  readonly maxClients: number;
  /** Unsent bytes after which a client is dropped (default 1 MiB). */
  readonly maxBacklogBytes: number;
}

/** Default {@link EventHubLimits}. */
export const DEFAULT_EVENT_HUB_LIMITS: EventHubLimits = { maxClients: 64, maxBacklogBytes: 1024 * 1024 };

/** Counters of the event stream. */
export interface EventHubStats {
  clients: number;
  /** Events seen from the target. */
  events: number;
  /** Clients dropped for not reading. */
  dropped: number;
}

/** Fans the target's events out to WebSocket clients. */
export class EventHub {
  readonly #wss: WebSocketServer;
  readonly #limits: EventHubLimits;
  readonly #log: SimLogger;
  readonly #unsubscribe: () => void;
  readonly #stats: EventHubStats = { clients: 0, events: 0, dropped: 0 };

  /**
   * Subscribes to `target`'s events.
   * @param target - the simulator
   * @param limits - bounds
   * @param log - operational log (client counts and drops only)
   */
  constructor(target: ControlTarget, limits: EventHubLimits, log: SimLogger) {
    this.#limits = limits;
    this.#log = log;
    // Clients never need to send more than a close frame: anything larger closes the connection.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: 1024, perMessageDeflate: false });
    this.#unsubscribe = target.onEvent((e) => this.#broadcast(e));
  }

  /** Whether one more client is allowed. */
  get full(): boolean {
    return this.#wss.clients.size >= this.#limits.maxClients;
  }

  /** Counters (a copy). */
  stats(): EventHubStats {
    return { ...this.#stats, clients: this.#wss.clients.size };
  }

  /** Completes a WebSocket upgrade the server has authorised. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => ws.terminate());
      ws.on('message', () => undefined); // clients have nothing to say; maxPayload bounds it
      this.#log.debug(`control: event stream client connected (${this.#wss.clients.size} now)`);
    });
  }

  #broadcast(e: DeviceEvent): void {
    this.#stats.events++;
    if (this.#wss.clients.size === 0) return;
    const text = JSON.stringify(e);
    for (const ws of this.#wss.clients) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (ws.bufferedAmount + text.length > this.#limits.maxBacklogBytes) {
        this.#stats.dropped++;
        this.#log.warn(
          `control: an event stream client was dropped: ${ws.bufferedAmount} bytes unsent (bound ${this.#limits.maxBacklogBytes})`,
        );
        ws.terminate();
        continue;
      }
      ws.send(text);
    }
  }

  /** Unsubscribes and closes every client. */
  close(): void {
    this.#unsubscribe();
    for (const ws of this.#wss.clients) ws.terminate();
    this.#wss.close();
  }
}
