/**
 * `enigm events watch`: the fleet's uplink as it happens — every Key's (or the given Keys') signed
 * `up` and `risk` records and retained `status`, decoded, verified when the Key's identity is
 * given, de-duplicated by record id — over `watchFleet` of `@enigm/mqtt`; with `--session NAME` as a
 * persistent session that gets what was published while it was away. Malformed options exit 2
 * (also `--group` on a broker without MQTT 5); an unreachable broker, refused credentials or a
 * refused subscription exit 1 with the `MQTT_*` code.
 * @module
 */

import { randomBytes } from 'node:crypto';
import {
  DEFAULT_SESSION_EXPIRY_S,
  EMERGENCY_UPLINK_KIND,
  EmergencyTimeline,
  type EmergencyTimelineEntry,
  type FleetChannel,
  type FleetMessage,
  MqttError,
  watchFleet,
} from '@enigm/mqtt';
import { toHex } from '@enigm/protocols/bytes';
import { toDiagnostic } from '@enigm/protocols/cbor';
import { isHandle } from '@enigm/protocols/mqtt';
import { BROKER_HELP, brokerFromArgs, brokerOptions } from '../broker-options.ts';
import {
  CliError,
  type Command,
  EXIT,
  int,
  logLevel,
  logOptionsHelp,
  type Output,
  type ParsedArgs,
  readJsonFile,
  showPath,
  stderrLogger,
  str,
  UsageError,
} from '../cli.ts';
import { CONTACT_KEY_TYPE } from './contact.ts';

const CHANNELS: readonly FleetChannel[] = ['up', 'status', 'risk'];

/** The values of a repeatable string option. */
function many(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  return Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
}

/** `--identity HANDLE=HEX` options, by handle. */
export function parseIdentities(values: readonly string[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const v of values) {
    const m = /^([^=]+)=([0-9a-fA-F]*)$/.exec(v);
    if (!m) throw new UsageError(`--identity must be HANDLE=HEX, got ${JSON.stringify(v.slice(0, 100))}`);
    const [, handle, hex] = m as unknown as [string, string, string];
    if (!isHandle(handle))
      throw new UsageError(`--identity: ${JSON.stringify(String(handle).slice(0, 80))} is not a Key handle (eh1-…)`);
    if (hex.length !== 64) throw new UsageError(`--identity ${handle}: the identity public key must be 32 bytes (64 hex digits)`);
    out.set(handle, new Uint8Array(Buffer.from(hex, 'hex')));
  }
  return out;
}

/** A time in ms since the epoch as ISO 8601 (or the number, if out of range). */
function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

/** A record body in CBOR diagnostic notation (hex if it is not CBOR). */
function diagnostic(body: Uint8Array): string {
  try {
    return toDiagnostic(body, { maxStringBytes: 256 });
  } catch {
    return `h'${toHex(body.subarray(0, 256))}'${body.length > 256 ? ` / ${body.length} bytes /` : ''}`;
  }
}

/** The JSON object of one message for `--json`. */
export function messageJson(m: FleetMessage): Record<string, unknown> {
  switch (m.type) {
    case 'uplink':
      return {
        type: 'uplink',
        topic: m.topic,
        handle: m.handle,
        channel: m.channel,
        id: toHex(m.record.id),
        seq: m.record.seq,
        time: iso(m.record.time),
        kind: m.record.kind,
        priority: m.record.priority,
        body: diagnostic(m.record.body),
        verified: m.verified,
      };
    case 'status':
      return m.status === undefined
        ? { type: 'status', topic: m.topic, handle: m.handle, cleared: true }
        : {
            type: 'status',
            topic: m.topic,
            handle: m.handle,
            online: m.status.online,
            state: m.status.state ?? null,
            will: m.status.will ?? false,
            time: iso(m.status.time),
            verified: m.verified,
          };
    default:
      return { type: 'invalid', topic: m.topic, code: m.code, size: m.size };
  }
}

const VERIFIED = (v: true | false | 'bad-signature') => (v === true ? 'verified' : v === false ? 'unverified' : 'BAD SIGNATURE');

/** One human line of one message. */
export function describeMessage(m: FleetMessage): string {
  switch (m.type) {
    case 'uplink': {
      const r = m.record;
      const body = diagnostic(r.body);
      return [
        iso(r.time),
        m.handle,
        m.channel,
        `#${r.seq}`,
        r.kind,
        ...(r.priority === 'emergency' ? ['EMERGENCY'] : []),
        body.length > 160 ? `${body.slice(0, 160)}…` : body,
        VERIFIED(m.verified),
        `id ${toHex(r.id)}`,
      ].join('  ');
    }
    case 'status': {
      if (m.status === undefined) return `${' '.repeat(24)}${m.handle}  status cleared`;
      const s = m.status;
      return [
        iso(s.time),
        m.handle,
        'status',
        s.online ? 'online' : 'offline',
        ...(s.state === undefined ? [] : [s.state]),
        ...(s.will ? ['(last will)'] : []),
        VERIFIED(m.verified),
      ].join('  ');
    }
    default:
      return `invalid payload on ${m.topic}: ${m.code}`;
  }
}

/** The X25519 private key of a contact key file (PREFIX.key of `enigm contact keygen`). */
export function readContactPrivateKey(file: string): Uint8Array {
  const o = readJsonFile<Record<string, unknown>>(file, '--contact-key');
  if (o === null || typeof o !== 'object' || o.type !== CONTACT_KEY_TYPE || o.v !== 1)
    throw new CliError('INPUT_INVALID', `--contact-key ${showPath(file)} is not an ${CONTACT_KEY_TYPE} file (v 1)`);
  const v = o.hpkePrivateKey;
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v))
    throw new CliError('INPUT_INVALID', `--contact-key ${showPath(file)}: "hpkePrivateKey" must be 64 hex digits`);
  return new Uint8Array(Buffer.from(v, 'hex'));
}

/** A decrypted body, short. */
function bodyText(e: EmergencyTimelineEntry): string {
  const b = e.body;
  if (!b) return '';
  switch (b.kind) {
    case 'location': {
      const l = b.location;
      return `lat ${l.lat} lon ${l.lon} ±${l.accuracyM} m fix ${iso(l.fixTime)}`;
    }
    case 'status':
    case 'battery-critical':
      return `battery ${b.status.battery}%${b.status.charging ? ' charging' : ''} phase ${b.status.phase}${b.status.note ? ` note ${JSON.stringify(b.status.note)}` : ''}`;
    case 'end':
      return `ended: ${b.end.outcome}`;
  }
}

/** The JSON object of one emergency timeline entry for `--json`. */
export function emergencyJson(e: EmergencyTimelineEntry, m?: FleetMessage): Record<string, unknown> {
  const body = e.body
    ? e.body.kind === 'location'
      ? e.body.location
      : e.body.kind === 'end'
        ? e.body.end
        : e.body.status
    : undefined;
  return {
    type: 'emergency',
    handle: e.handle,
    event: e.event,
    seq: e.seq,
    kind: e.kind,
    time: iso(e.time),
    ...(e.sinceStartMs !== undefined ? { sinceStartMs: e.sinceStartMs } : {}),
    size: e.size,
    ciphertext: e.ciphertext,
    status: e.status,
    ...(body !== undefined ? { body } : {}),
    ...(e.gaps ? { gaps: e.gaps } : {}),
    ...(e.late ? { late: true } : {}),
    ...(e.identical !== undefined ? { identical: e.identical } : {}),
    ...(e.error ? { error: e.error } : {}),
    ...(m?.type === 'uplink' ? { uplinkSeq: m.record.seq, verified: m.verified } : {}),
  };
}

/** One human line of an emergency timeline entry. */
export function describeEmergency(e: EmergencyTimelineEntry, m?: FleetMessage): string {
  const since = e.sinceStartMs === undefined ? '' : `+${(e.sinceStartMs / 1000).toFixed(1)} s`;
  const ct = e.ciphertext.length > 0 ? `ct ${e.ciphertext.join(',')} B` : '';
  const detail =
    e.status === 'decrypted'
      ? bodyText(e)
      : e.status === 'refused' || e.status === 'not-for-you'
        ? `${e.status.toUpperCase()} ${e.error?.code ?? ''}`
        : e.status === 'duplicate'
          ? `duplicate${e.identical === false ? ' (DIFFERENT content)' : ''}, dropped`
          : e.status === 'verified'
            ? 'signed by the Key'
            : e.status === 'held'
              ? 'held (waiting for the start)'
              : 'sealed';
  return [
    iso(e.time),
    e.handle,
    'EMERGENCY',
    `event ${e.event.slice(0, 12)}`,
    `seq ${e.seq}`,
    e.kind,
    ...(since ? [since] : []),
    `${e.size} B`,
    ...(ct ? [ct] : []),
    detail,
    ...(e.gaps ? [`[gap: seq ${e.gaps.join(', ')} missing]`] : []),
    ...(e.late ? ['[late]'] : []),
    ...(m?.type === 'uplink' ? [`uplink ${VERIFIED(m.verified)}`] : []),
  ].join('  ');
}

/** Waits for SIGINT or SIGTERM, or until `done` resolves; removes its listeners either way. */
function untilSignal(done: Promise<void>): Promise<'signal' | 'done'> {
  return new Promise((resolve) => {
    const onSignal = () => {
      cleanup();
      resolve('signal');
    };
    const cleanup = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    void done.then(() => {
      cleanup();
      resolve('done');
    });
  });
}

const watchCmd: Command = {
  name: 'events watch',
  summary: "print the fleet's uplink records and status as they arrive over MQTT (--json: one JSON line each)",
  help: `Usage: enigm events watch --broker URL [--handle H]... [--channel up|status|risk]...
                          [--identity HANDLE=HEX]... [--contact-key PREFIX.key] [--group NAME]
                          [--session NAME [--session-expiry S]]
                          [--count N] [--log-level L | --verbose] [--json]
                          [--ca F --cert F --key F] [--client NAME]

Subscribes to the Keys' uplink topics — signed records on up and risk, the retained status — of
every Key (+) or the Keys given with --handle, and prints each message as it arrives: uplink
records with handle, channel, id, seq, time, kind, priority and body (CBOR diagnostic notation);
status with online, state, last will and time. A record's COSE signature is checked when the Key's
identity public key is given (--identity): verified, unverified (identity unknown) or BAD
SIGNATURE (forged, or copied from another handle or channel). Records seen before (same id:
at-least-once delivery) are dropped and counted; a payload that is not a record (garbage, too
large, empty) is one line "invalid payload on TOPIC: CODE" — never its bytes. Runs until Ctrl-C
or SIGTERM (exit 0) or --count messages were printed; the counts go to stderr at the end.

Without --session each watch is a clean session: it sees what is published while it runs (and the
retained status). With --session NAME it is a persistent session named NAME (the MQTT client id;
one watcher per name at a time — a second one takes the session over): the broker keeps its
subscriptions and queues the QoS 1 records published while no watcher of that name runs, and the
next watch with the same --session gets them first, in order. On MQTT 5 the broker forgets the
session --session-expiry seconds after the watcher left (default ${DEFAULT_SESSION_EXPIRY_S}: one hour); on MQTT 3.1.1
(the embedded broker) it keeps it by its own rules (mosquitto: persistent_client_expiration). With
--count, records that arrive after the Nth are not acknowledged: the next watch gets them. Records
shown were acknowledged, including those shown just before Ctrl-C or SIGTERM.

Emergency records (kind ${EMERGENCY_UPLINK_KIND} on up, priority emergency: the body is an event's
signed start or a sealed record) are shown as a per-event timeline: event id, seq, kind, the
Key's time and the time since the start, the record's size and each envelope's ciphertext size —
what the broker and any reader of the topics see; never a location. With --contact-key (one
emergency contact's key, from enigm contact keygen) and the Key's --identity, each record is
also verified and this contact's envelope decrypted (the contact's index is found by trying the
envelopes): locations and statuses are shown, with gaps, late records and replays flagged. At
the end a summary per event (records received, seqs missing, how it ended) goes to stderr.

Options:
${BROKER_HELP}
  --handle H      only this Key (repeatable; default every Key)
  --channel C     up, status or risk (repeatable; default all three)
  --identity HANDLE=HEX
                  the Key's identity public key (32 bytes, hex), to verify its records (repeatable)
  --contact-key F an emergency contact's key file (PREFIX.key): decrypt the emergency records
                  sealed to it (needs --identity for the Key)
  --group NAME    consume as an MQTT 5 shared subscription $share/NAME/… (load-balanced between
                  the watchers of the group; needs a broker speaking MQTT 5)
  --session NAME  a persistent session with client id NAME (1-64 of A-Z, a-z, 0-9, -, _): records
                  published while it is away are delivered when it returns with the same NAME
  --session-expiry S
                  MQTT 5: the broker keeps the session S seconds after a disconnect (default ${DEFAULT_SESSION_EXPIRY_S})
  --count N       stop after N messages
${logOptionsHelp('info', 'the subscription and reconnects; warn: disconnects and broker warnings; debug: a line per message (type and size)')}
  --json          one JSON object per message per line

Exit status: 0 at --count or on Ctrl-C/SIGTERM; 1 when the broker cannot be reached, refuses the
credentials or a subscription (MQTT_* code and reason); 2 for malformed options.

Examples:
  enigm events watch --broker mqtt://127.0.0.1:1883 --client backend-1 --channel up --count 10
  enigm events watch --broker mqtts://broker:8883 --ca ca.pem --cert b1.crt --key b1.key \\
      --session backend-1-audit --channel up --json       # Ctrl-C; the same later gets what it missed
  enigm events watch --broker mqtt://127.0.0.1:1883 --channel up \\
      --identity eh1-…=3b6a… --contact-key alice.key       # decrypt alice's envelopes`,
  options: {
    ...brokerOptions,
    handle: { type: 'string', multiple: true },
    channel: { type: 'string', multiple: true },
    identity: { type: 'string', multiple: true },
    'contact-key': { type: 'string' },
    group: { type: 'string' },
    session: { type: 'string' },
    'session-expiry': { type: 'string' },
    count: { type: 'string', short: 'c' },
  },
  longRunning: true,
  async run(args, out: Output) {
    const log = stderrLogger(logLevel(args, 'info'));
    const broker = brokerFromArgs(args);
    const limit = int(args, 'count', 0, 1, 1_000_000_000);
    const handles = many(args, 'handle');
    for (const h of handles)
      if (!isHandle(h)) throw new UsageError(`--handle must be a Key handle (eh1- and 26 of a-z, 2-7), got ${JSON.stringify(h)}`);
    const channels = many(args, 'channel');
    for (const c of channels)
      if (!(CHANNELS as readonly string[]).includes(c))
        throw new UsageError(`--channel must be up, status or risk, got ${JSON.stringify(c)}`);
    const identities = parseIdentities(many(args, 'identity'));
    const group = typeof args.values.group === 'string' ? args.values.group : undefined;
    if (group !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(group))
      throw new UsageError(`--group must be 1-32 of A-Z, a-z, 0-9, "-", "_", got ${JSON.stringify(group)}`);
    const session = str(args, 'session');
    if (session !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(session))
      throw new UsageError(`--session must be 1-64 of A-Z, a-z, 0-9, "-", "_", got ${JSON.stringify(session.slice(0, 80))}`);
    if (session === undefined && args.values['session-expiry'] !== undefined)
      throw new UsageError('--session-expiry needs --session NAME');
    const sessionExpiryS = int(args, 'session-expiry', DEFAULT_SESSION_EXPIRY_S, 1, 0xffff_fffe);

    const contactKeyFile = str(args, 'contact-key');
    const contactPrivateKey = contactKeyFile === undefined ? undefined : readContactPrivateKey(contactKeyFile);
    if (contactPrivateKey && identities.size === 0)
      out.warn('events watch: --contact-key decrypts only the records of Keys given with --identity HANDLE=HEX');
    const timeline = new EmergencyTimeline({ identities, ...(contactPrivateKey ? { contactPrivateKey } : {}) });
    // Emergency records are read in order, one after another (decryption is asynchronous).
    let queue: Promise<void> = Promise.resolve();

    let seen = 0;
    let finish: () => void = () => {};
    const finished = new Promise<void>((r) => {
      finish = r;
    });
    let watch: Awaited<ReturnType<typeof watchFleet>>;
    try {
      watch = await watchFleet({
        connect: {
          url: broker.url,
          ...(broker.tls ? { tls: broker.tls } : {}),
          ...(broker.client !== undefined ? { username: broker.client } : {}),
          ...(broker.client === undefined && broker.tls?.cert === undefined ? { username: `host-${toHex(randomBytes(5))}` } : {}),
        },
        ...(handles.length > 0 ? { handles } : {}),
        ...(channels.length > 0 ? { channels: channels as FleetChannel[] } : {}),
        ...(group !== undefined ? { group } : {}),
        ...(session !== undefined ? { session: { name: session, expiryS: sessionExpiryS } } : {}),
        ...(limit !== 0 ? { limit } : {}),
        identities,
        onMessage(m) {
          log.debug(
            `events watch: ${m.type} message${m.type === 'uplink' ? ` on ${m.channel}, ${m.record.body.length} B body` : ''}`,
          );
          if (limit !== 0 && seen >= limit) return;
          seen++;
          const last = limit !== 0 && seen >= limit;
          if (m.type === 'uplink' && m.record.kind === EMERGENCY_UPLINK_KIND) {
            queue = queue.then(async () => {
              for (const e of await timeline.feed(m.handle, m.record.body).catch(() => [])) {
                if (out.json) out.data(emergencyJson(e, m));
                else out.line(describeEmergency(e, m));
              }
              if (last) finish();
            });
            return;
          }
          if (out.json) out.data(messageJson(m));
          else out.line(describeMessage(m));
          if (last) finish();
        },
        onState(e) {
          if (e.state === 'disconnected') log.warn(`events watch: ${e.reason}; reconnecting`);
          else if (e.state === 'reconnecting') log.info(`events watch: reconnect attempt ${e.attempt} in ${e.delayMs} ms`);
          else if (e.state === 'connected' && e.attempt > 0) log.info('events watch: reconnected');
          else if (e.state === 'warning') log.warn(`events watch: ${e.code}: ${e.message}`);
        },
      });
    } catch (e) {
      if (e instanceof MqttError && e.code === 'MQTT_BAD_URL') throw new UsageError(e.message);
      if (e instanceof MqttError && e.code === 'MQTT_BAD_INPUT')
        throw new UsageError(`${/session/.test(e.message) ? '--session' : '--group'}: ${e.message}`);
      throw e;
    }
    try {
      // The stop signals are ours before "watching" is announced: a supervisor that sends SIGTERM
      // the moment it reads that line gets a clean stop (exit 0), not the default kill.
      const stopped = limit === 0 || seen < limit ? untilSignal(finished) : undefined;
      log.info(
        `watching ${watch.url} (MQTT ${watch.protocolVersion === 5 ? '5' : '3.1.1'}): ${watch.filters.join(', ')}${
          watch.session === undefined
            ? ''
            : ` as persistent session ${watch.session}${watch.protocolVersion === 5 ? ` (kept ${sessionExpiryS} s after it leaves)` : ''}`
        } (Ctrl-C to stop)`,
      );
      await stopped;
    } finally {
      await watch.close();
      await queue;
    }
    for (const ev of timeline.events()) {
      out.warn(
        `emergency ${ev.handle} event ${ev.event}: ${ev.received} record${ev.received === 1 ? '' : 's'}${ev.missing.length ? `, missing seq ${ev.missing.join(', ')}` : ', none missing'}${ev.ended ? `, ${ev.ended}` : ', running'}${ev.contactIndex !== undefined ? ` (decrypted as contact ${ev.contactIndex})` : ''}`,
      );
    }
    const s = watch.stats();
    out.warn(
      `events watch: ${seen} message${seen === 1 ? '' : 's'} shown; ${s.duplicates} duplicate${s.duplicates === 1 ? '' : 's'} dropped; ${s.invalid} invalid; ${s.badSignatures} with a bad signature`,
    );
    return EXIT.ok;
  },
};

/** The `enigm events` commands. */
export const eventsCommands: Command[] = [watchCmd];
