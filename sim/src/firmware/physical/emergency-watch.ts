/**
 * What the control API and the dashboard see of a Key's emergency events: metadata only — the
 * phase, the event id, how many records went out and when the event started, and for each record
 * its clear header (kind, sequence number, size). Never a location, a key or a sealed body.
 * {@link EmergencyWatch} follows the firmware's {@link EmergencyEngine}: the physical model calls
 * {@link EmergencyWatch.sync} after anything that can change the phase (lifecycle changes, ticks)
 * and the watch also listens to the engine's records (which may be sealed asynchronously).
 * @module
 */
import { toHex } from '@enigm/protocols/bytes';
import { peekEventRecord, peekEventStart } from '@enigm/protocols/emergency';
import type { EmergencyPhase } from '@enigm/protocols/messages';
import type { DeviceEvent, EmergencyRecordKind, EmergencyState } from './types.ts';

/** What the watch reads from the engine (`EmergencyEngine` satisfies it). */
export interface WatchedEngine {
  readonly phase: 'none' | EmergencyPhase;
  readonly eventId: Uint8Array | undefined;
  /** The bounded past-event log: the outcome of an event that has just ended. */
  readonly log: readonly { readonly id: Uint8Array; readonly outcome: string }[];
  onRecord(listener: (record: Uint8Array) => void): () => void;
}

type Body = DeviceEvent extends infer E ? (E extends DeviceEvent ? Omit<E, 'key' | 'at'> : never) : never;

/** Event ids whose record counts are kept (the current one and a few just ended, for late records). */
const REMEMBERED = 4;

/** One Key's emergency, as metadata. */
export class EmergencyWatch {
  readonly #engine: WatchedEngine;
  readonly #clock: { now(): number };
  readonly #emit: (e: Body) => void;
  #phase: 'none' | EmergencyPhase;
  #eventId: string | undefined;
  #startedAt: number | undefined;
  /** Records sent per event id (start and sealed records), newest last. */
  readonly #records = new Map<string, number>();

  /**
   * @param engine - the Key's emergency engine
   * @param clock - the simulator clock
   * @param emit - receives the `emergency` and `emergency-record` events
   */
  constructor(engine: WatchedEngine, clock: { now(): number }, emit: (e: Body) => void) {
    this.#engine = engine;
    this.#clock = clock;
    this.#emit = emit;
    this.#phase = engine.phase;
    const id = engine.eventId;
    this.#eventId = id ? toHex(id) : undefined; // an event resumed at boot: its start time is not known here
    engine.onRecord((r) => this.#onRecord(r));
  }

  /** The emergency as the Key's state shows it. */
  state(): EmergencyState {
    this.sync();
    const id = this.#eventId;
    if (!id) return { phase: 'none', records: 0 };
    return {
      phase: this.#phase,
      eventId: id,
      records: this.#records.get(id) ?? 0,
      ...(this.#startedAt !== undefined ? { startedAt: this.#startedAt } : {}),
    };
  }

  /** Emits an `emergency` event for each phase change since the last call. */
  sync(): void {
    const phase = this.#engine.phase;
    const raw = this.#engine.eventId;
    const id = raw ? toHex(raw) : undefined;
    if (phase === this.#phase && id === this.#eventId) return;
    const prev = this.#eventId;
    if (prev && prev !== id) {
      // The event ended (the engine forgets it at once): its outcome is the log's last line for it.
      const line = [...this.#engine.log].reverse().find((l) => toHex(l.id) === prev);
      const outcome = (line?.outcome ?? 'cancelled') as EmergencyPhase;
      this.#emit({ type: 'emergency', phase: outcome, eventId: prev, records: this.#records.get(prev) ?? 0 });
      this.#eventId = undefined;
      this.#startedAt = undefined;
    }
    if (id) {
      if (id !== this.#eventId) {
        this.#startedAt = this.#clock.now();
        this.#count(id, 0);
      }
      const running = phase as EmergencyPhase; // an event id means a phase, not `none`
      this.#emit({ type: 'emergency', phase: running, eventId: id, records: this.#records.get(id) ?? 0 });
    }
    this.#phase = phase;
    this.#eventId = id;
  }

  #count(id: string, add: number, atLeast = 0): number {
    const n = Math.max((this.#records.get(id) ?? 0) + add, atLeast);
    this.#records.delete(id);
    this.#records.set(id, n);
    while (this.#records.size > REMEMBERED) this.#records.delete(this.#records.keys().next().value as string);
    return n;
  }

  #onRecord(bytes: Uint8Array): void {
    this.sync(); // a start record comes with its event's first phase: the phase goes first
    let head: { eventId: Uint8Array; kind: EmergencyRecordKind; seq: number } | undefined;
    const start = peekEventStart(bytes);
    if (start) head = { eventId: start.eventId, kind: 'start', seq: 0 };
    else {
      const r = peekEventRecord(bytes);
      if (r) head = { eventId: r.eventId, kind: r.kind, seq: r.seq };
    }
    if (!head) return;
    const eventId = toHex(head.eventId);
    // records sent: the start and every sealed record so far (seq counts from 1)
    const records = this.#count(eventId, 1, head.seq + 1);
    this.#emit({ type: 'emergency-record', eventId, kind: head.kind, seq: head.seq, bytes: bytes.length, records });
  }
}
