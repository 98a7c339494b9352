/**
 * `enigm key contacts set | get`, `enigm key emergency cancel | resolve | ack` and `enigm key events`:
 * a Key's emergency contacts and events through the Key facade (docs/emergency.md, "From a host
 * and the CLI"). Each operation runs inside an authenticated session; the facade refuses locally
 * what the Key's state forbids and turns the Key's refusals into typed codes (`KEY_INVALID_PHASE`,
 * `KEY_CONTACTS_STALE`, `KEY_CONTACTS_SIGNER`, `KEY_CONTACTS_INVALID`, `KEY_ACK_INVALID`,
 * `KEY_FORBIDDEN`, …; exit 1). `key events` reads the Key's bounded event log (`emergency.log`:
 * ids, times, outcomes, never a location); with `--follow` it shows the live events, emergency
 * records as seq, kind and size only: they are sealed to the contacts and never decrypted here
 * (`enigm contact open` does that).
 * @module
 */
import { type EmergencyLog, emergencyEventOf, type Key, type KeyEvent } from '@enigm/key-firmware-host';
import { MAX_EMERGENCY_LOG } from '@enigm/protocols/messages';
import { AUDIT_HELP, auditOptions, noteKey, withAudit } from '../audit-options.ts';
import { type Command, EXIT, int, type Output, type ParsedArgs, readInputFile, str, UsageError } from '../cli.ts';
import { KEY_LOG_HELP, PORT_HELP, SESSION_HELP, sessionOptions, withKey } from './key-connect.ts';

function oneFile(args: ParsedArgs, what: string): string {
  if (args.positionals.length !== 1) throw new UsageError(`give exactly one ${what} FILE`);
  return args.positionals[0] as string;
}

const contactsSetCmd: Command = {
  name: 'key contacts set',
  summary: "push the owner's signed emergency contact set to a Key (session; owner)",
  help: `Usage: enigm key contacts set FILE --port ADDR [--json]

Sends the signed contact set in FILE (made by 'enigm contact set-make') to the Key. The Key keeps
it only if its version is newer than the set it holds (else KEY_CONTACTS_STALE) and it is signed
by the owner key it pinned with the first set it accepted (else KEY_CONTACTS_SIGNER; a factory
reset clears the pin); an unsigned, malformed or oversized set is KEY_CONTACTS_INVALID. Events
started from then on are sealed to these contacts; a running event keeps the set it started with.

Options:
${PORT_HELP}
${SESSION_HELP}
${AUDIT_HELP}

Exit status: 0 stored; 1 refused (code above, KEY_FORBIDDEN for a host that is not the owner)
or the Key cannot be reached; 2 usage error.

Examples:
  enigm contact set-make --owner-key owner.key --version 2 --contact "sister=alice.pub" --out contacts.cose
  enigm key contacts set contacts.cose --port tcp://127.0.0.1:7001`,
  options: { ...sessionOptions, ...auditOptions },
  positionals: true,
  async run(args, out) {
    const file = oneFile(args, 'contact set');
    const set = readInputFile(file, 'contact set');
    return withAudit(args, { role: 'host', op: 'key.contacts.set' }, (note) =>
      withKey(
        args,
        async (key) => {
          await noteKey(key, note);
          const r = await key.setContacts(set);
          out.data({ ok: true, ...r });
          out.line(`the Key holds contact set v${r.version} (${r.count} contact${r.count === 1 ? '' : 's'})`);
          return EXIT.ok;
        },
        { changesState: true },
      ),
    );
  },
};

const contactsGetCmd: Command = {
  name: 'key contacts get',
  summary: "show a Key's emergency contact set: version, count, aliases (session; owner)",
  help: `Usage: enigm key contacts get --port ADDR [--json]

Shows the contact set the Key holds: its version, the number of contacts and their aliases
(contact 0 first). The Key never gives out the contacts' keys.

Options:
${PORT_HELP}
${SESSION_HELP}

Examples:
  enigm key contacts get --port tcp://127.0.0.1:7001
  enigm key contacts get --port /dev/ttyACM0 --json`,
  options: sessionOptions,
  async run(args, out) {
    return withKey(args, async (key) => {
      const r = await key.getContacts();
      out.data({ ok: true, version: r.version ?? null, count: r.count, aliases: r.aliases });
      if (r.version === undefined) out.line('no contact set: an emergency would be sealed to nobody');
      else {
        out.line(`contact set v${r.version}: ${r.count} contact${r.count === 1 ? '' : 's'}`);
        r.aliases.forEach((a, i) => {
          out.line(`  ${i}  ${a}`);
        });
      }
      return EXIT.ok;
    });
  },
};

function endCommand(how: 'cancel' | 'resolve'): Command {
  const cancel = how === 'cancel';
  return {
    name: `key emergency ${how}`,
    summary: cancel
      ? 'cancel the running emergency event (false alarm; session; owner)'
      : 'resolve the running emergency event (it is over; session; owner)',
    help: `Usage: enigm key emergency ${how} --port ADDR [--json]

${
  cancel
    ? `Cancels the running emergency event (triggered or active → cancelled): a false alarm. The
button's long hold (≥ 10 s) does the same.`
    : `Resolves the running emergency event (active → resolved): it is over. Refused with
KEY_INVALID_PHASE while the event is only triggered (cancel it instead).`
}
The Key sends the end record signed by its identity key, stops sampling, erases the event key
and is dormant again. Without a running event: KEY_INVALID_STATE (nothing is sent).

Options:
${PORT_HELP}
${SESSION_HELP}
${AUDIT_HELP}

Exit status: 0 ended; 1 refused (KEY_INVALID_STATE, KEY_INVALID_PHASE, KEY_FORBIDDEN) or the Key
cannot be reached; 2 usage error.

Example:
  enigm key emergency ${how} --port tcp://127.0.0.1:7001 --json`,
    options: { ...sessionOptions, ...auditOptions },
    async run(args, out) {
      return withAudit(args, { role: 'host', op: `key.emergency.${how}` }, (note) =>
        withKey(
          args,
          async (key) => {
            await noteKey(key, note);
            const r = cancel ? await key.cancelEmergency() : await key.resolveEmergency();
            out.data({ ok: true, ...r, state: 'dormant' });
            out.line(`event ${r.event} ${r.phase}; the Key is dormant again`);
            return EXIT.ok;
          },
          { changesState: true },
        ),
      );
    },
  };
}

const ackCmd: Command = {
  name: 'key emergency ack',
  summary: "relay a contact's signed acknowledgement to a Key (session; owner or service)",
  help: `Usage: enigm key emergency ack FILE --port ADDR [--json]

Relays the signed acknowledgement in FILE (made by the contact with 'enigm contact ack') to the
Key. The Key checks it against the running event's contact set and shows it to the wearer (LED
flash, haptic); the other contacts learn of it in the next status record. The relaying host adds
no trust: a stranger's ack, one for another event or a replay is KEY_ACK_INVALID.

Options:
${PORT_HELP}
${SESSION_HELP}
${AUDIT_HELP}

Exit status: 0 accepted; 1 refused (KEY_ACK_INVALID, KEY_INVALID_STATE without a running event,
KEY_FORBIDDEN) or the Key cannot be reached; 2 usage error.

Examples:
  enigm contact ack --key alice.key --event 5f0c… --seq 4 --out ack.cose
  enigm key emergency ack ack.cose --port tcp://127.0.0.1:7001`,
  options: { ...sessionOptions, ...auditOptions },
  positionals: true,
  async run(args, out) {
    const ack = readInputFile(oneFile(args, 'acknowledgement'), 'acknowledgement');
    return withAudit(args, { role: 'host', op: 'key.emergency.ack' }, (note) =>
      withKey(
        args,
        async (key) => {
          await noteKey(key, note);
          const r = await key.relayAck(ack);
          out.data({ ok: true, ...r });
          out.line(`acknowledgement of ${r.alias} accepted and shown on the Key`);
          return EXIT.ok;
        },
        { changesState: true },
      ),
    );
  },
};

const time = (ms: number) => {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
};

/** Prints one Key event; returns whether it counts (keepalives do not). */
function showEvent(ev: KeyEvent, out: Output): boolean {
  if (ev.name === 'keepalive') return false;
  const at = time(ev.receivedAt);
  const e = emergencyEventOf(ev);
  if (e?.type === 'phase') {
    out.data({ type: 'emergency.changed', at, phase: e.phase, event: e.event, seq: e.seq });
    out.line(`${at}  emergency  phase ${e.phase}  event ${e.event}  last seq ${e.seq}`);
  } else if (e?.type === 'record') {
    out.data({ type: 'emergency.record', at, kind: e.kind, event: e.event, seq: e.seq, size: e.size, envelopes: e.envelopes });
    out.line(
      `${at}  record     seq ${String(e.seq).padEnd(4)} ${e.kind.padEnd(16)} ${e.size} B, ${e.envelopes} envelope${e.envelopes === 1 ? '' : 's'} (sealed)`,
    );
  } else if (ev.name === 'lifecycle.changed') {
    const b = ev.body as { from?: string; to?: string; state?: string };
    out.data({ type: 'lifecycle.changed', at, ...b });
    out.line(`${at}  lifecycle  ${b.from ?? '?'} → ${b.to ?? b.state ?? '?'}`);
  } else {
    out.data({ type: ev.name, at });
    out.line(`${at}  ${ev.name}`);
  }
  return true;
}

/** Prints the Key's bounded log (`emergency.log`): past events and the running one, no location. */
function showLog(log: EmergencyLog, out: Output): void {
  const ago = (ms: number) => `${Math.max(0, Math.round((log.now - ms) / 1000))} s ago`;
  for (const e of log.events) {
    out.data({ type: 'past', ...e });
    out.line(
      `event ${e.event}  ${e.outcome.padEnd(9)}  started ${ago(e.startedAt)}, lasted ${Math.round((e.endedAt - e.startedAt) / 1000)} s`,
    );
  }
  if (log.running) {
    const r = log.running;
    out.data({ type: 'running', ...r });
    out.line(`event ${r.event}  ${`${r.phase} now`.padEnd(9)}  started ${ago(r.startedAt)}, last seq ${r.seq}`);
  }
  out.data({ ok: true, now: log.now, events: log.events.length, running: log.running !== undefined });
  out.line(
    `${log.events.length} past event${log.events.length === 1 ? '' : 's'} (the Key keeps the last ${MAX_EMERGENCY_LOG}: id, times, outcome; no location)${log.running ? '; one running' : ''}`,
  );
}

const eventsCmd: Command = {
  name: 'key events',
  summary: "a Key's bounded emergency log (owner); --follow: its events live (phases, records as seq/kind/size)",
  help: `Usage: enigm key events --port ADDR [--json]
       enigm key events --port ADDR --follow [--count N] [--for S] [--json]

Without --follow: reads what the Key retains about past emergency events (request emergency.log,
in a session; owner only, else KEY_FORBIDDEN): the last ${MAX_EMERGENCY_LOG} events, each its id, start,
end and outcome (cancelled, resolved, revoked), and the running event if any (phase, start, last
seq). Never a location: the Key keeps none after an event ends. Times are the Key's own clock
(shown as "s ago").

With --follow: connects to the Key and prints its events as they arrive: lifecycle changes,
emergency phase changes (triggered, active, cancelled, resolved, revoked, with the event id and its
last seq) and each emergency record as seq, kind and size. Records are sealed to the emergency
contacts: nothing is decrypted here (a contact reads them with 'enigm contact open'; --json gives
no record bytes). Runs until Ctrl-C or SIGTERM, --count events, or --for seconds (exit 0). Events
travel in clear on the link (the records in them are signed and sealed), so no session is needed;
with --identity or --handle the Key is authenticated first (a known-host session: this host must
be paired with it; anything else is refused, exit 1).

Options:
${PORT_HELP}
${SESSION_HELP}
  --follow        watch the Key's events live instead of reading its log
  --count N       (--follow) stop after N events (keepalives not counted)
  --for S         (--follow) stop after S seconds
${KEY_LOG_HELP}

--json prints one object per line: the log as {type: past|running, event, …} then {ok, now, events,
running}; with --follow one object per event, {type, at, …} (emergency.record: kind, event, seq,
size, envelopes), then {ok, events}.

Exit status: 0 done; 1 refused (KEY_FORBIDDEN, KEY_REVOKED) or the Key cannot be reached; 2 usage error.

Examples:
  enigm key events --port tcp://127.0.0.1:7001
  enigm key events --port /dev/ttyACM0 --follow --count 5 --json`,
  options: { ...sessionOptions, follow: { type: 'boolean' }, count: { type: 'string', short: 'c' }, for: { type: 'string' } },
  longRunning: true,
  async run(args, out) {
    if (args.values.follow !== true) {
      if (str(args, 'count') !== undefined || str(args, 'for') !== undefined)
        throw new UsageError('--count and --for go with --follow');
      return withKey(args, async (key: Key) => {
        showLog(await key.emergencyLog(), out);
        return EXIT.ok;
      });
    }
    const limit = int(args, 'count', 0, 1, 1_000_000_000);
    const seconds = int(args, 'for', 0, 1, 86_400 * 365);
    return withKey(args, async (key: Key) => {
      if (str(args, 'identity') !== undefined || str(args, 'handle') !== undefined) await key.session();
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const timer = seconds > 0 ? setTimeout(() => stop.abort(), seconds * 1000) : undefined;
      let n = 0;
      try {
        const events = key.events({ signal: stop.signal, bound: 4096 });
        out.warn(`watching the Key at ${key.address} (Ctrl-C to stop)`);
        for await (const ev of events) {
          if (showEvent(ev, out)) n++;
          if (limit !== 0 && n >= limit) break;
        }
      } finally {
        clearTimeout(timer);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      out.data({ ok: true, events: n });
      out.warn(`key events: ${n} event${n === 1 ? '' : 's'}`);
      return EXIT.ok;
    });
  },
};

/** Emergency commands under `enigm key`. */
export const keyEmergencyCommands: Command[] = [
  contactsSetCmd,
  contactsGetCmd,
  endCommand('cancel'),
  endCommand('resolve'),
  ackCmd,
  eventsCmd,
];
