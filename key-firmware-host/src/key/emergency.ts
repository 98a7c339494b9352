/**
 * The emergency operations as the Key facade runs them: push and read the signed contact set,
 * cancel or resolve the running event, relay a contact's signed acknowledgement, and read the
 * Key's emergency events (`emergency.changed`, `emergency.record`) off the event stream.
 *
 * Each operation first reads the Key's lifecycle state (public `info`) and refuses locally what
 * `EMERGENCY_OPERATION_STATES` of `@enigm/protocols/messages` forbids in that state (the Key would
 * answer `INVALID_STATE` or `KEY_REVOKED`); then it runs the request in the known-host session,
 * where the Key checks role, state and phase again (it is the authority). The Key's emergency
 * refusals become typed {@link KeyFacadeError}s (`KEY_INVALID_PHASE`, `KEY_CONTACTS_STALE`,
 * `KEY_CONTACTS_SIGNER`, `KEY_CONTACTS_INVALID`, `KEY_ACK_INVALID`, `KEY_FORBIDDEN`, …), the
 * Key's error as `cause`.
 *
 * Records are never opened here: a host relays ciphertext; only a contact's private key opens it
 * (`EventReader` of `@enigm/protocols/emergency`).
 * @module
 */
import { toHex } from '@enigm/protocols/bytes';
import { MAX_ACK_BYTES, MAX_CONTACT_SET_BYTES, peekEventRecord, peekEventStart } from '@enigm/protocols/emergency';
import { type BodyOf, EMERGENCY_OPERATION_STATES, type EmergencyPhase, type LifecycleState } from '@enigm/protocols/messages';
import { KeyError } from '../client/errors.ts';
import type { SecureSession } from '../session/secure-session.ts';
import { KeyFacadeError, type KeyFacadeErrorCode } from './errors.ts';
import type { KeyEvent } from './events.ts';

/** What the emergency operations need from the facade. */
export interface EmergencyPort {
  /** The Key's public info (its lifecycle state). */
  info(): Promise<BodyOf<'info.response'>>;
  /** The known-host session, opened if needed. */
  session(): Promise<SecureSession>;
}

/** An emergency operation (a request of `EMERGENCY_OPERATION_STATES`). */
export type EmergencyOperation = keyof typeof EMERGENCY_OPERATION_STATES;

/** The contact set a Key holds, as {@link getContacts} reports it (no keys: aliases only). */
export interface ContactsInfo {
  /** Version of the set; `undefined` when the Key holds none. */
  version: number | undefined;
  /** Contacts in it. */
  count: number;
  /** Their aliases, contact 0 first. */
  aliases: string[];
}

/** What {@link endEmergency} did. */
export interface EmergencyEndResult {
  /** The phase the event ended in: `cancelled` or `resolved` (the Key is dormant again). */
  phase: EmergencyPhase;
  /** The event id, hex (32 digits). */
  event: string;
}

/** The Key's wire errors of the emergency operations → facade codes. */
const WIRE_TO_FACADE: Readonly<Record<string, KeyFacadeErrorCode>> = {
  INVALID_PHASE: 'KEY_INVALID_PHASE',
  INVALID_STATE: 'KEY_INVALID_STATE',
  KEY_REVOKED: 'KEY_REVOKED',
  CONTACTS_STALE: 'KEY_CONTACTS_STALE',
  CONTACTS_SIGNER: 'KEY_CONTACTS_SIGNER',
  CONTACTS_INVALID: 'KEY_CONTACTS_INVALID',
  ACK_INVALID: 'KEY_ACK_INVALID',
  FORBIDDEN: 'KEY_FORBIDDEN',
};

/**
 * A Key's refusal of an emergency operation as a typed {@link KeyFacadeError} (the KeyError as
 * `cause`); any other error as it is.
 */
export function emergencyRefusal(e: unknown, op: EmergencyOperation): unknown {
  if (!(e instanceof KeyError) || e.code !== 'KEY_REJECTED' || !e.remote) return e;
  const code = WIRE_TO_FACADE[e.remote.name];
  if (!code) return e;
  return new KeyFacadeError(code, `the Key refused ${op}: ${e.remote.name}: ${e.remote.reason}`, { cause: e });
}

/**
 * Refuses locally what `EMERGENCY_OPERATION_STATES` forbids in the Key's current state.
 * @throws {@link KeyFacadeError} `KEY_REVOKED` (a revoked Key), `KEY_INVALID_STATE` (any other state)
 */
export async function emergencyPreflight(port: EmergencyPort, op: EmergencyOperation): Promise<LifecycleState> {
  const { state } = await port.info();
  if ((EMERGENCY_OPERATION_STATES[op] as readonly string[]).includes(state)) return state;
  if (state === 'revoked')
    throw new KeyFacadeError('KEY_REVOKED', `the Key is revoked: it runs nothing but retire (${op} refused before asking)`);
  const hint = op.startsWith('emergency.') ? ': no emergency event is running' : '';
  throw new KeyFacadeError('KEY_INVALID_STATE', `${op} is not allowed in state ${state}${hint} (refused before asking the Key)`);
}

/** Runs `op` after the preflight, mapping the Key's refusals. */
async function run<T>(port: EmergencyPort, op: EmergencyOperation, fn: (s: SecureSession) => Promise<T>): Promise<T> {
  await emergencyPreflight(port, op);
  const s = await port.session();
  try {
    return await fn(s);
  } catch (e) {
    throw emergencyRefusal(e, op);
  }
}

/**
 * `contacts.set`: pushes a signed contact set (from `signContactSet`, or `enigm contact set-make`).
 * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT` (not bytes, or over 8 KiB), `KEY_INVALID_STATE`,
 *   `KEY_REVOKED`, `KEY_CONTACTS_STALE`, `KEY_CONTACTS_SIGNER`, `KEY_CONTACTS_INVALID`, `KEY_FORBIDDEN`
 */
export async function setContacts(port: EmergencyPort, signedSet: Uint8Array): Promise<{ version: number; count: number }> {
  if (!(signedSet instanceof Uint8Array) || signedSet.length < 64 || signedSet.length > MAX_CONTACT_SET_BYTES)
    throw new KeyFacadeError(
      'KEY_BAD_ARGUMENT',
      `a signed contact set is 64 to ${MAX_CONTACT_SET_BYTES} bytes, got ${signedSet instanceof Uint8Array ? signedSet.length : typeof signedSet}`,
    );
  return run(port, 'contacts.set', (s) => s.request('contacts.set', { set: signedSet }));
}

/**
 * `contacts.get`: version, count and aliases of the set the Key holds.
 * @throws {@link KeyFacadeError} `KEY_INVALID_STATE`, `KEY_REVOKED`, `KEY_FORBIDDEN`
 */
export async function getContacts(port: EmergencyPort): Promise<ContactsInfo> {
  const r = await run(port, 'contacts.get', (s) => s.request('contacts.get', {}));
  return { version: r.version, count: r.count, aliases: [...r.aliases] };
}

/** One past event as the Key's log keeps it: never a location, key or record. */
export interface EmergencyLogEvent {
  /** The event id, hex (32 digits). */
  event: string;
  /** Start and end, ms on the Key's clock (see {@link EmergencyLog.now}). */
  startedAt: number;
  endedAt: number;
  /** How it ended. */
  outcome: EmergencyPhase;
}

/** The Key's bounded emergency log, as {@link readEmergencyLog} reports it. */
export interface EmergencyLog {
  /** The Key's clock when it answered, ms: the times are on it (monotonic, compare within one boot). */
  now: number;
  /** The last events that ended (at most `MAX_EMERGENCY_LOG`), oldest first. */
  events: EmergencyLogEvent[];
  /** The running event, if any: id, phase, start, seq of its last record. */
  running: { event: string; phase: EmergencyPhase; startedAt: number; seq: number } | undefined;
}

/**
 * `emergency.log`: what the Key keeps about past events (the last 8: id, start, end, outcome —
 * no location after an event ends) and the running event. Owner only.
 * @throws {@link KeyFacadeError} `KEY_INVALID_STATE`, `KEY_REVOKED`, `KEY_FORBIDDEN`
 */
export async function readEmergencyLog(port: EmergencyPort): Promise<EmergencyLog> {
  const r = await run(port, 'emergency.log', (s) => s.request('emergency.log', {}));
  return {
    now: r.now,
    events: r.events.map((e) => ({ event: toHex(e.event), startedAt: e.startedAt, endedAt: e.endedAt, outcome: e.outcome })),
    running: r.running
      ? { event: toHex(r.running.event), phase: r.running.phase, startedAt: r.running.startedAt, seq: r.running.seq }
      : undefined,
  };
}

/**
 * `emergency.cancel` or `emergency.resolve`: ends the running event.
 * @throws {@link KeyFacadeError} `KEY_INVALID_STATE` (no event running), `KEY_REVOKED`,
 *   `KEY_INVALID_PHASE` (resolve while only `triggered`), `KEY_FORBIDDEN`
 */
export async function endEmergency(port: EmergencyPort, how: 'cancel' | 'resolve'): Promise<EmergencyEndResult> {
  const op = how === 'cancel' ? 'emergency.cancel' : 'emergency.resolve';
  const r = await run(port, op, (s) => s.request(op, {}));
  return { phase: r.phase, event: toHex(r.event) };
}

/**
 * `emergency.ack`: relays a contact's signed acknowledgement (from `signAck`, or
 * `enigm contact ack`). The Key checks it against the event's contact set.
 * @returns the alias of the contact who acknowledged
 * @throws {@link KeyFacadeError} `KEY_BAD_ARGUMENT` (not bytes, or over 1 KiB), `KEY_INVALID_STATE`,
 *   `KEY_REVOKED`, `KEY_ACK_INVALID` (another event, a stranger, replayed), `KEY_FORBIDDEN`
 */
export async function relayAck(port: EmergencyPort, ack: Uint8Array): Promise<{ alias: string }> {
  if (!(ack instanceof Uint8Array) || ack.length < 64 || ack.length > MAX_ACK_BYTES)
    throw new KeyFacadeError(
      'KEY_BAD_ARGUMENT',
      `a signed acknowledgement is 64 to ${MAX_ACK_BYTES} bytes, got ${ack instanceof Uint8Array ? ack.length : typeof ack}`,
    );
  return run(port, 'emergency.ack', (s) => s.request('emergency.ack', { ack }));
}

/** A Key event of the emergency, decoded for display (see {@link emergencyEventOf}). Never decrypted. */
export type EmergencyKeyEvent =
  | {
      type: 'phase';
      /** The phase after the change. */
      phase: EmergencyPhase;
      /** The event id, hex. */
      event: string;
      /** Seq of the last record of the event. */
      seq: number;
      receivedAt: number;
    }
  | {
      type: 'record';
      /** `start` for the signed event start, else the record's kind (`location`, `status`, `battery-critical`, `end`). */
      kind: string;
      /** The event id, hex (unverified: from the clear header). */
      event: string;
      /** 0 for the start. */
      seq: number;
      /** The record's time, ms since the epoch (Key clock; unverified). */
      time: number;
      /** Bytes of the signed record. */
      size: number;
      /** Contacts it holds an envelope for. */
      envelopes: number;
      /** The signed record itself (give it to a contact: `enigm contact open`). */
      record: Uint8Array;
      receivedAt: number;
    };

/**
 * The emergency content of a Key event, or `undefined` for any other event. Reads only the clear
 * header: nothing is verified or decrypted (a contact does that with `EventReader`).
 * @example for await (const ev of key.events()) { const e = emergencyEventOf(ev); if (e?.type === 'record') console.log(e.seq, e.kind, e.size); }
 */
export function emergencyEventOf(ev: KeyEvent): EmergencyKeyEvent | undefined {
  if (ev.name === 'emergency.changed') {
    const b = ev.body as BodyOf<'emergency.changed'>;
    return { type: 'phase', phase: b.phase, event: toHex(b.event), seq: b.seq, receivedAt: ev.receivedAt };
  }
  if (ev.name !== 'emergency.record') return undefined;
  const record = (ev.body as BodyOf<'emergency.record'>).record;
  const base = { type: 'record' as const, size: record.length, record, receivedAt: ev.receivedAt };
  const start = peekEventStart(record);
  if (start) return { ...base, kind: 'start', event: toHex(start.eventId), seq: 0, time: start.time, envelopes: 0 };
  const r = peekEventRecord(record);
  if (r) return { ...base, kind: r.kind, event: toHex(r.eventId), seq: r.seq, time: r.time, envelopes: r.contacts.length };
  return { ...base, kind: 'unreadable', event: '', seq: -1, time: 0, envelopes: 0 };
}
