/**
 * Records of the emergency messages (catalogue entries 0x50–0x5b, events 0x83–0x84): cancel,
 * resolve, a contact's acknowledgement, the contact set, the Key's bounded event log, and the
 * events of a running emergency.
 * @module
 */
import { EMERGENCY_EVENT_ID_LENGTH, EMERGENCY_PHASES, MAX_CONTACTS, MAX_EMERGENCY_LOG } from './constants.ts';
import { defineRecord, field, t } from './record.ts';

const phase = t.enumOf('emergency phase', EMERGENCY_PHASES);
const eventId = t.bytes(EMERGENCY_EVENT_ID_LENGTH, EMERGENCY_EVENT_ID_LENGTH);

/** Body of `emergency.cancel` and `emergency.resolve` (empty). */
export const EmergencyOpRequest = defineRecord('emergency.op', {});

/** Body of the responses of `emergency.cancel` and `emergency.resolve`. */
export const EmergencyOpResponse = defineRecord('emergency.op.response', {
  phase: field(1, phase, false, 'the phase the event ended in (cancelled or resolved); the Key is dormant again'),
  event: field(2, eventId, false, 'the event id'),
});

/** Body of `emergency.ack`: a contact's signed acknowledgement, relayed by a host. */
export const EmergencyAck = defineRecord('emergency.ack', {
  ack: field(1, t.bytes(64, 1024), false, "the contact's signed acknowledgement of the running event (COSE_Sign1)"),
});

/** Body of `emergency.ack.response`. */
export const EmergencyAckResponse = defineRecord('emergency.ack.response', {
  alias: field(1, t.text(32), false, 'alias of the contact who acknowledged'),
});

/** Body of `contacts.set`: a signed, versioned contact set. */
export const ContactsSet = defineRecord('contacts.set', {
  set: field(
    1,
    t.bytes(64, 8192),
    false,
    `the contact set (COSE_Sign1 by the owner's Ed25519 key): version and at most ${MAX_CONTACTS} contacts (alias, X25519 and Ed25519 keys)`,
  ),
});

/** Body of `contacts.set.response`. */
export const ContactsSetResponse = defineRecord('contacts.set.response', {
  version: field(1, t.uint(), false, 'version of the set now held'),
  count: field(2, t.uint(MAX_CONTACTS), false, 'contacts in it'),
});

/** Body of `contacts.get` (empty). */
export const ContactsGet = defineRecord('contacts.get', {});

/** Body of `contacts.get.response`: no keys, only what the owner needs to recognise the set. */
export const ContactsGetResponse = defineRecord('contacts.get.response', {
  version: field(1, t.uint(), true, 'version of the set (absent: no set)'),
  count: field(2, t.uint(MAX_CONTACTS), false, 'contacts in the set'),
  aliases: field(3, t.array(t.text(32), MAX_CONTACTS), false, 'their aliases'),
});

/** Body of the `emergency.changed` event. */
export const EmergencyChanged = defineRecord('emergency.changed', {
  phase: field(1, phase, false, 'phase after the change'),
  event: field(2, eventId, false, 'the event id'),
  seq: field(3, t.uint(), false, 'sequence number of the last record of the event'),
});

/** Body of the `emergency.record` event: one record of a running event. */
export const EmergencyRecordEvent = defineRecord('emergency.record', {
  record: field(
    1,
    t.bytes(1, 16384),
    false,
    'the record: start or end (signed by the identity key), location or status (sealed to each contact, signed by the event key)',
  ),
});

/** Body of `emergency.log` (empty). */
export const EmergencyLogRequest = defineRecord('emergency.log', {});

const keyTime = t.uint(Number.MAX_SAFE_INTEGER);

/** One past event in the Key's log: what the Key keeps after an event — never a location, key or record. */
export const EmergencyLogEntry = defineRecord('emergency.log.entry', {
  event: field(1, eventId, false, 'the event id'),
  startedAt: field(2, keyTime, false, "start, ms on the Key's clock"),
  endedAt: field(3, keyTime, false, "end, ms on the Key's clock"),
  outcome: field(4, phase, false, 'how it ended: cancelled, resolved or revoked'),
});

/** The running event as the log shows it: id, phase, start and records sent — no location. */
export const EmergencyLogRunning = defineRecord('emergency.log.running', {
  event: field(1, eventId, false, 'the event id'),
  phase: field(2, phase, false, 'triggered or active'),
  startedAt: field(3, keyTime, false, "start, ms on the Key's clock"),
  seq: field(4, t.uint(), false, 'sequence number of the last record sent'),
});

/** Body of `emergency.log.response`: the bounded log, oldest first. */
export const EmergencyLogResponse = defineRecord('emergency.log.response', {
  now: field(
    1,
    keyTime,
    false,
    "the Key's clock now (the times here are on it: monotonic, not wall time; compare within one boot)",
  ),
  events: field(
    2,
    t.array(t.record(EmergencyLogEntry), MAX_EMERGENCY_LOG),
    false,
    `the last ${MAX_EMERGENCY_LOG} events that ended, oldest first`,
  ),
  running: field(3, t.record(EmergencyLogRunning), true, 'the running event, if any'),
});
