/// <reference lib="dom" />
/**
 * The dashboard's view of each Key's emergency event, from the state and the `emergency` /
 * `emergency-record` events: metadata only (phase, event id, record count, elapsed time, and each
 * record's kind, sequence number and size — never a location). A running event (`triggered`,
 * `active`) shows as a red badge; an ended one (`cancelled`, `resolved`, `revoked`) shows for a
 * few seconds, then the badge goes back to `—` (the Key is dormant again).
 * @module
 */
import type { DeviceEvent, EmergencyState } from '../../firmware/physical/types.ts';

type EmergencyEvent = Extract<DeviceEvent, { type: 'emergency' | 'emergency-record' }>;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** How long an ended event's outcome stays on the badge, ms (real time). */
export const ENDED_SHOWN_MS = 4000;

const RUNNING = new Set(['triggered', 'active']);

/** Ended events still shown, by Key index. */
const ended = new Map<number, { phase: string; eventId: string; records: number; until: number }>();

/**
 * Applies an emergency event to the Key's emergency state.
 * @returns the new state (the Key's to keep)
 */
export function applyEmergency(key: number, s: EmergencyState, e: EmergencyEvent): EmergencyState {
  const next: Mutable<EmergencyState> = { ...s };
  if (e.type === 'emergency') {
    if (RUNNING.has(e.phase)) {
      if (s.eventId !== e.eventId) next.startedAt = e.at;
      ended.delete(key);
      return {
        ...next,
        phase: e.phase,
        eventId: e.eventId,
        records: Math.max(e.records, s.eventId === e.eventId ? s.records : 0),
      };
    }
    ended.set(key, { phase: e.phase, eventId: e.eventId, records: e.records, until: performance.now() + ENDED_SHOWN_MS });
    return { phase: 'none', records: 0 };
  }
  const done = ended.get(key);
  if (done?.eventId === e.eventId) done.records = Math.max(done.records, e.records);
  if (s.eventId === e.eventId) next.records = Math.max(s.records, e.records);
  return next;
}

/** Whether the Key's badge changes with time (elapsed time ticking, or an ended event fading). */
export function emergencyTicking(key: number, s: EmergencyState | undefined): boolean {
  return (s !== undefined && s.phase !== 'none') || ended.has(key);
}

/** Elapsed simulated time as `m:ss` (or `h:mm:ss`). */
export function elapsed(ms: number): string {
  const t = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = String(t % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

const plural = (n: number) => `${n} record${n === 1 ? '' : 's'}`;

/** The badge of a Key: its text and class (`em em-<phase>`); `now` is the simulator clock. */
export function emergencyBadge(key: number, s: EmergencyState | undefined, now: number): { text: string; cls: string } {
  if (s && s.phase !== 'none') {
    const since = s.startedAt !== undefined ? ` · ${elapsed(now - s.startedAt)}` : '';
    return { text: `${s.phase} · ${s.records} rec${since}`, cls: `em em-${s.phase}` };
  }
  const done = ended.get(key);
  if (done && done.until > performance.now()) return { text: `${done.phase} · ${done.records} rec`, cls: `em em-${done.phase}` };
  if (done) ended.delete(key);
  return { text: '—', cls: 'em' };
}

/** The detail panel's line: the phase, records, elapsed time and event id. */
export function emergencyDetail(key: number, s: EmergencyState | undefined, now: number): string {
  const b = emergencyBadge(key, s, now);
  if (b.text === '—') return 'none';
  const id = s?.eventId ?? ended.get(key)?.eventId;
  const text = b.text.replace(/ (\d+) rec\b/, (_, n: string) => ` ${plural(Number(n))}`);
  return id ? `${text} · event ${id.slice(0, 8)}…` : text;
}

/** A timeline line for an emergency event. */
export function emergencyEventText(e: EmergencyEvent): string {
  const id = `event ${e.eventId.slice(0, 8)}…`;
  if (e.type === 'emergency') return `${e.phase} · ${id} · ${plural(e.records)}`;
  return `${e.kind} #${e.seq} · ${e.bytes} B · ${id}`;
}
