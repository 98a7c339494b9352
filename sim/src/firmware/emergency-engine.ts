/**
 * The running emergency event of one Key: the phase table of `emergency.ts` carried out. It starts
 * an event (fresh event id and Ed25519 event key), samples the GNSS receiver's latest fix at the
 * battery band's rate and seals it to each contact of the contact set, sends status records, ends
 * the event (end record, event key erased, one line in the bounded log), verifies contacts'
 * acknowledgements and keeps the signed contact set (pinned signer). Pure: time, randomness,
 * storage and signing come from its {@link EmergencyHost}; {@link EmergencyEngine.tick} and
 * {@link EmergencyEngine.nextDeadline} let the physical model drive it on simulated time.
 *
 * Records go out in order, each once, to every link (the `emergency.record` event) and to the
 * record listeners (the runtime's MQTT uplink), also when sealing is asynchronous.
 * @module
 */
import { ed25519Signer } from '@enigm/protocols/crypto';
import type { EVENT_OUTCOMES, EventBody } from '@enigm/protocols/emergency';
import {
  type BodyOf,
  type EmergencyPhase,
  encodeMessage,
  type LifecycleState,
  PROTOCOL_VERSION,
} from '@enigm/protocols/messages';
import {
  type BatteryBand,
  batteryBand,
  EMERGENCY_POWER,
  EMERGENCY_TRIGGER_MS,
  MAX_PAST_EVENTS,
  nextPhase,
  type PhaseOrNone,
} from './emergency.ts';
import { type ContactSet, contactSetRefusal, type EmergencyCrypto, NO_CONTACTS } from './emergency-crypto.ts';
import type { LifecycleEvent } from './lifecycle.ts';
import { LOW_PCT } from './physical/battery.ts';
import type { GnssFix } from './physical/types.ts';
import { type WireError, wireError } from './result.ts';
import type { Persistent } from './storage.ts';

/** What the engine needs from the firmware around it. */
export interface EmergencyHost {
  now(): number;
  /** The Key's wall clock if set this boot (records carry it), else `undefined`. */
  wallClockMs(): number | undefined;
  random(n: number): Uint8Array;
  /** The persistent record, and its durable replacement. */
  persistent(): Persistent;
  save(next: Persistent): void;
  /** Signs with the identity key (inside the secure element). */
  sign(message: Uint8Array): Uint8Array;
  state(): LifecycleState;
  transition(event: LifecycleEvent): LifecycleState | undefined;
  battery(): { level: number; charging: boolean; critical: boolean };
  /** Sends an encoded event message on every link. */
  sendEvent(bytes: Uint8Array): void;
}

/** The note of the status a resumed event sends first (after the Key restarted mid-event). */
export const RESUMED_NOTE = 'resumed after a restart';

/** A contact's acknowledgement, as the Key showed it. */
export type AckListener = (alias: string) => void;

type StoredEvent = NonNullable<Persistent['event']>;
type EventOutcome = keyof typeof EVENT_OUTCOMES;

/** One Key's emergency events and contact set. */
export class EmergencyEngine {
  readonly #h: EmergencyHost;
  readonly #crypto: EmergencyCrypto;
  readonly #recordListeners = new Set<(record: Uint8Array) => void>();
  readonly #ackListeners = new Set<AckListener>();
  #setBytes: Uint8Array | undefined;
  #set: ContactSet | undefined;
  #eventSetBytes: Uint8Array | undefined;
  #eventSetValue: ContactSet = NO_CONTACTS;
  /** Per-event memory (never stored): the latest fix, what was sealed, acks, the schedule. */
  #lastFix: (GnssFix & { at: number }) | undefined;
  #sealedFixAt = -1;
  /** The event key's signer, held for the event (not in the crypto backend's shared cache). */
  #eventKey: { seed: Uint8Array; sign: (m: Uint8Array) => Uint8Array } | undefined;
  #acks = new Set<string>();
  #nextFixAt = 0;
  #nextStatusAt = 0;
  #band: BatteryBand = 'normal';
  /** Booted into a running event: its first tick sends a status saying so (never silently resumed). */
  #resumed = false;
  #queue: Promise<void> = Promise.resolve();
  #pending = 0;

  constructor(host: EmergencyHost, crypto: EmergencyCrypto) {
    this.#h = host;
    this.#crypto = crypto;
  }

  /** The running event's phase, or `none`. */
  get phase(): PhaseOrNone {
    return this.#event?.phase ?? 'none';
  }

  /** The running event's id, if any. */
  get eventId(): Uint8Array | undefined {
    return this.#event?.id.slice();
  }

  /** The bounded event log (last {@link MAX_PAST_EVENTS}: id, start, end, outcome — no locations). */
  get log(): NonNullable<Persistent['pastEvents']> {
    return this.#h.persistent().pastEvents ?? [];
  }

  /** The contact set held now, if any (the stored set, verified against the pinned signer). */
  get contactSet(): ContactSet | undefined {
    const p = this.#h.persistent();
    if (p.contactSet !== this.#setBytes) {
      this.#setBytes = p.contactSet;
      try {
        this.#set = p.contactSet
          ? this.#crypto.verifyContactSet(p.contactSet, p.contactSigner ? { trustedSigner: p.contactSigner } : {}).set
          : undefined;
      } catch {
        this.#set = undefined; // a stored set that no longer verifies is not used
      }
    }
    return this.#set;
  }

  /** Subscribes to the event's records (the uplink); returns the unsubscribe function. */
  onRecord(listener: (record: Uint8Array) => void): () => void {
    this.#recordListeners.add(listener);
    return () => this.#recordListeners.delete(listener);
  }

  /** Subscribes to accepted acknowledgements (the LED and haptic); returns the unsubscribe function. */
  onAck(listener: AckListener): () => void {
    this.#ackListeners.add(listener);
    return () => this.#ackListeners.delete(listener);
  }

  /** Resolves once every record produced so far has gone out (sealing may be asynchronous). */
  settled(): Promise<void> {
    return this.#queue;
  }

  /**
   * At boot: an event stored with a Key in `emergency` resumes (same id and event key, the
   * schedule from now; its first tick seals a status noted `resumed after a restart`, so contacts
   * know why records may be missing before it); a Key in `emergency` without one starts a fresh event; an event stored
   * on a Key that left `emergency` is erased.
   */
  boot(): void {
    this.#forget();
    const ev = this.#event;
    if (this.#h.state() !== 'emergency') {
      if (ev) this.#store({ event: undefined });
      return;
    }
    if (!ev) this.#begin();
    else {
      this.#schedule(this.#h.now());
      this.#resumed = true; // told at the first tick, once the links and the uplink are up
    }
  }

  /**
   * The gesture's start: dormant → emergency through the lifecycle table (the lifecycle hook
   * then begins the event).
   * @returns the phase, or the named refusal
   */
  start(): EmergencyPhase | 'INVALID_STATE' {
    if (!this.#h.transition('emergency.start')) return 'INVALID_STATE';
    return this.#event?.phase ?? 'triggered';
  }

  /** Called by the firmware on every lifecycle change. */
  onLifecycle(from: LifecycleState, to: LifecycleState): void {
    if (to === 'emergency' && !this.#event) this.#begin();
    else if (from === 'emergency' && to !== 'emergency' && this.#event) this.#finish(to === 'revoked' ? 'revoked' : 'cancelled'); // left by another way than end()
  }

  /**
   * Ends the event: `cancel` (owner: gesture or command) or `resolve` (owner command), as the
   * phase table allows, then the Key goes back to dormant.
   */
  end(trigger: 'cancel' | 'resolve'): { phase: EmergencyPhase; event: Uint8Array } | WireError {
    const ev = this.#event;
    if (!ev) return wireError('INVALID_STATE', 'no emergency event is running');
    const to = nextPhase(ev.phase, trigger);
    if (!to) return wireError('INVALID_PHASE', `${trigger} is not allowed in phase ${ev.phase}`);
    this.#finish(to);
    this.#h.transition('emergency.end');
    return { phase: to, event: ev.id.slice() };
  }

  /** A fix from the GNSS receiver (powered only while an event runs). */
  onFix(fix: GnssFix): void {
    const ev = this.#event;
    if (!ev) return;
    this.#lastFix = { ...fix, at: this.#h.now() };
    if (ev.phase === 'triggered' && nextPhase('triggered', 'fix')) {
      this.#phase('active');
      this.#nextFixAt = this.#h.now(); // the first fix goes out at once
    }
    this.tick();
  }

  /** The battery changed: entering critical sends the battery-critical status first, then the rates drop. */
  setBattery(b: { level: number; charging: boolean; critical: boolean }): void {
    const band = batteryBand(b, LOW_PCT);
    const was = this.#band;
    this.#band = band;
    const ev = this.#event;
    if (!ev || band === was) return;
    if (band === 'critical' && !ev.criticalSent) this.#criticalStatus();
    this.#schedule(this.#h.now());
  }

  /** Brings the event up to now: the triggered timeout, due location and status records. */
  tick(): void {
    const ev = this.#event;
    if (!ev || this.#h.state() !== 'emergency') return;
    const now = this.#h.now();
    if (this.#resumed) {
      this.#resumed = false;
      this.#seal({ kind: 'status', status: this.#status(RESUMED_NOTE) });
    }
    if (ev.phase === 'triggered' && now >= ev.startedAt + EMERGENCY_TRIGGER_MS) this.#phase('active');
    const rates = EMERGENCY_POWER[this.#band];
    if (now >= this.#nextFixAt) {
      const fix = this.#lastFix;
      if (fix && fix.at > this.#sealedFixAt) {
        this.#sealedFixAt = fix.at;
        const { lat, lon, accuracyM } = fix;
        const fixTime = this.#time(fix.at);
        this.#seal({ kind: 'location', location: { lat, lon, accuracyM: Math.round(accuracyM ?? 0), fixTime, source: 'gnss' } });
      }
      this.#nextFixAt = after(this.#nextFixAt, now, rates.fixMs);
    }
    if (now >= this.#nextStatusAt) {
      this.#seal({ kind: 'status', status: this.#status() });
      this.#nextStatusAt = after(this.#nextStatusAt, now, rates.statusMs);
    }
  }

  /** When the event next needs the clock, or `undefined` (no event: a dormant Key wakes for nothing). */
  nextDeadline(): number | undefined {
    const ev = this.#event;
    if (!ev || this.#h.state() !== 'emergency') return undefined;
    const c = [this.#resumed ? this.#h.now() : this.#nextStatusAt];
    if (this.#lastFix && this.#lastFix.at > this.#sealedFixAt) c.push(this.#nextFixAt);
    if (ev.phase === 'triggered') c.push(ev.startedAt + EMERGENCY_TRIGGER_MS);
    return Math.min(...c);
  }

  /** A contact's signed acknowledgement: the alias, or `ACK_INVALID` (wrong event, stranger, replayed). */
  ack(bytes: Uint8Array): { alias: string } | WireError {
    const ev = this.#event;
    if (!ev) return wireError('INVALID_STATE', 'no emergency event is running');
    const set = this.#eventSet(ev);
    let index: number;
    try {
      index = this.#crypto.verifyAck(bytes, set, ev.id);
    } catch (e) {
      return wireError('ACK_INVALID', e instanceof Error ? e.message.slice(0, 200) : undefined);
    }
    const alias = set.contacts[index]?.alias ?? `contact ${index}`;
    if (this.#acks.has(alias)) return wireError('ACK_INVALID', `${alias} has already acknowledged this event (replayed)`);
    this.#acks.add(alias);
    for (const l of this.#ackListeners) l(alias);
    this.#seal({ kind: 'status', status: this.#status(`ack ${index}`) }); // the other contacts learn of it
    return { alias };
  }

  /** `contacts.set`: a newer set, signed by the pinned signer (the first accepted one pins it). */
  setContacts(bytes: Uint8Array): { version: number; count: number } | WireError {
    const p = this.#h.persistent();
    const held = this.contactSet;
    const wall = this.#h.wallClockMs();
    let r: { set: ContactSet; signer: Uint8Array };
    try {
      r = this.#crypto.verifyContactSet(bytes, {
        ...(p.contactSigner ? { trustedSigner: p.contactSigner } : {}),
        ...(held ? { newerThan: held.version } : {}),
        ...(wall !== undefined ? { now: wall } : {}),
      });
    } catch (e) {
      const why = e instanceof Error ? e.message.slice(0, 200) : undefined;
      const reason = contactSetRefusal(e);
      return wireError(
        reason === 'foreign-signer' ? 'CONTACTS_SIGNER' : reason === 'not-newer' ? 'CONTACTS_STALE' : 'CONTACTS_INVALID',
        why,
      );
    }
    this.#store({ contactSet: bytes.slice(), contactSigner: r.signer.slice() });
    return { version: r.set.version, count: r.set.contacts.length };
  }

  /**
   * `emergency.log`: the bounded log (id, start, end, outcome of the last {@link MAX_PAST_EVENTS}
   * events) and the running event (id, phase, start, last seq), on the Key's clock — no location,
   * key or record: the Key keeps none after an event ends.
   */
  readLog(): BodyOf<'emergency.log.response'> {
    const ev = this.#event;
    return {
      now: Math.max(0, Math.floor(this.#h.now())),
      events: this.log.map((l) => ({ event: l.id.slice(), startedAt: l.startedAt, endedAt: l.endedAt, outcome: l.outcome })),
      ...(ev ? { running: { event: ev.id.slice(), phase: ev.phase, startedAt: ev.startedAt, seq: ev.seq } } : {}),
    };
  }

  /** `contacts.get`: version, count and aliases (no keys). */
  getContacts(): { version?: number; count: number; aliases: string[] } {
    const s = this.contactSet;
    return s
      ? { version: s.version, count: s.contacts.length, aliases: s.contacts.map((c) => c.alias) }
      : { count: 0, aliases: [] };
  }

  // ---- internals ----

  get #event(): StoredEvent | undefined {
    return this.#h.persistent().event;
  }

  #store(patch: Partial<Persistent>): void {
    const next = { ...this.#h.persistent(), ...patch };
    for (const k of Object.keys(patch) as (keyof Persistent)[]) if (patch[k] === undefined) delete next[k];
    this.#h.save(next);
  }

  #forget(): void {
    this.#resumed = false;
    this.#lastFix = undefined;
    this.#sealedFixAt = -1;
    this.#eventKey = undefined;
    this.#acks = new Set();
    this.#band = batteryBand(this.#h.battery(), LOW_PCT);
  }

  #schedule(now: number): void {
    const r = EMERGENCY_POWER[this.#band];
    this.#nextFixAt = now + r.fixMs;
    this.#nextStatusAt = now + r.statusMs;
  }

  /** The set this event seals to: the one it started with, kept with the event (none: no envelopes). */
  #eventSet(ev: StoredEvent): ContactSet {
    if (ev.contactSet !== this.#eventSetBytes) {
      this.#eventSetBytes = ev.contactSet;
      try {
        this.#eventSetValue = ev.contactSet ? this.#crypto.verifyContactSet(ev.contactSet, {}).set : NO_CONTACTS;
      } catch {
        this.#eventSetValue = NO_CONTACTS;
      }
    }
    return this.#eventSetValue;
  }

  /** A record's time: the Key's wall clock if set this boot, else its clock. */
  #time(at = this.#h.now()): number {
    const wall = this.#h.wallClockMs();
    return Math.floor(wall === undefined ? at : wall - this.#h.now() + at);
  }

  #identity() {
    return { signer: (m: Uint8Array) => this.#h.sign(m) };
  }

  #begin(): void {
    this.#forget();
    const now = this.#h.now();
    const set = this.contactSet;
    const start = this.#crypto.startEvent(
      { contactSetVersion: set?.version ?? 0, time: this.#time(), reason: 'gesture' },
      this.#identity(),
      (n) => this.#h.random(n),
    );
    const ev: StoredEvent = {
      id: start.eventId,
      startedAt: Math.floor(now), // a whole ms: the stored record is strict (t.uint) when read back
      phase: 'triggered',
      seq: 0,
      eventSeed: start.eventSeed,
      criticalSent: false,
      ...(set ? { contactsVersion: set.version, contactSet: this.#h.persistent().contactSet } : {}),
    };
    this.#store({ event: ev });
    this.#out(() => start.bytes);
    this.#changed(ev.id, 'triggered', 0);
    this.#nextFixAt = now; // the first fix goes out at once
    this.#nextStatusAt = now + EMERGENCY_POWER[this.#band].statusMs;
    if (this.#band === 'critical') this.#criticalStatus();
  }

  #finish(to: EmergencyPhase): void {
    const ev = this.#event;
    if (!ev) return;
    const seq = ev.seq + 1;
    const set = this.#eventSet(ev);
    // The end record's outcome is the terminal phase itself (EVENT_OUTCOMES = TERMINAL_PHASES).
    const outcome: EventOutcome = to === 'resolved' || to === 'revoked' ? to : 'cancelled';
    const input = { eventId: ev.id, seq, time: this.#time(), body: { kind: 'end' as const, end: { outcome } } };
    this.#out(() => this.#crypto.seal(input, set, this.#identity()));
    this.#changed(ev.id, to, seq);
    const line = { id: ev.id, startedAt: ev.startedAt, endedAt: Math.floor(this.#h.now()), outcome: to };
    // The event record (with its key) is replaced: storage holds no event key from here on.
    this.#store({ event: undefined, pastEvents: [...this.log, line].slice(-MAX_PAST_EVENTS) });
    this.#forget();
  }

  #phase(to: EmergencyPhase): void {
    const ev = this.#event;
    if (!ev) return;
    this.#store({ event: { ...ev, phase: to } });
    this.#changed(ev.id, to, ev.seq);
  }

  #status(note?: string) {
    const b = this.#h.battery();
    return {
      battery: Math.max(0, Math.min(100, Math.round(b.level))),
      phase: this.phase,
      charging: b.charging,
      ...(note ? { note } : {}),
    };
  }

  #criticalStatus(): void {
    this.#seal({ kind: 'battery-critical', status: this.#status() });
    const ev = this.#event;
    if (ev) this.#store({ event: { ...ev, criticalSent: true } });
  }

  /** Seals `body` to the event's contacts as the next record; nothing without contacts. */
  #seal(body: EventBody): void {
    const ev = this.#event;
    if (!ev) return;
    const set = this.#eventSet(ev);
    if (set.contacts.length === 0) return; // without a contact set nothing is sealed (docs/emergency.md)
    const seq = ev.seq + 1;
    this.#store({ event: { ...ev, seq } });
    const input = { eventId: ev.id, seq, time: this.#time(), body };
    if (this.#eventKey?.seed !== ev.eventSeed) this.#eventKey = { seed: ev.eventSeed, sign: ed25519Signer(ev.eventSeed) };
    const by = { signer: this.#eventKey.sign };
    this.#out(() => this.#crypto.seal(input, set, by));
  }

  #changed(event: Uint8Array, phase: EmergencyPhase, seq: number): void {
    const bytes = encodeMessage({ version: PROTOCOL_VERSION, name: 'emergency.changed', body: { phase, event, seq } });
    this.#deliver(() => this.#h.sendEvent(bytes));
  }

  /** A record: built now (or asynchronously), sent on every link and to the listeners, in order. */
  #out(build: () => Uint8Array | Promise<Uint8Array>): void {
    const r = build();
    this.#deliver(r instanceof Promise ? r : () => this.#send(r), r instanceof Promise);
  }

  #deliver(job: (() => void) | Promise<Uint8Array>, async = false): void {
    if (!async && this.#pending === 0) {
      (job as () => void)();
      return;
    }
    this.#pending++;
    this.#queue = this.#queue
      .then(async () => {
        if (typeof job === 'function') job();
        else this.#send(await job);
      })
      .catch(() => undefined) // a failed seal drops that record, never the queue
      .finally(() => {
        this.#pending--;
      });
  }

  #send(record: Uint8Array): void {
    const ev = encodeMessage({ version: PROTOCOL_VERSION, name: 'emergency.record', body: { record } });
    this.#h.sendEvent(ev);
    for (const l of this.#recordListeners) l(record);
  }
}

/** The next due time after `now` on a grid of `period` from `due`. */
function after(due: number, now: number, period: number): number {
  return due + period * Math.max(1, Math.ceil((now - due + 1) / period));
}
