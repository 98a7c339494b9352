/**
 * `enigm contact keygen | set-make | open | ack`: an emergency contact's keys, the owner's signed
 * contact set, reading a Key's emergency records as a contact, and a contact's signed
 * acknowledgement. Thin: every step is a call into
 * `@enigm/protocols/emergency` (docs/emergency.md, "Cryptography").
 *
 * Files:
 * - PREFIX.key (mode 0600): JSON `{"type": "enigm-contact-key", "v": 1, "hpkePrivateKey",
 *   "hpkeKey", "signSeed", "signKey"}` — the X25519 private and public key and the Ed25519 seed and
 *   public key, hex. Secret.
 * - PREFIX.pub: JSON `{"type": "enigm-contact-pub", "v": 1, "hpkeKey", "signKey"}`, hex: what the
 *   contact gives the owner for the contact set.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { fromHex, toHex } from '@enigm/protocols/bytes';
import { ed25519PrivateKeyFromPem, ed25519PublicKey, ed25519PublicKeyFromPem } from '@enigm/protocols/crypto';
import {
  CONTACT_ALIAS_PATTERN,
  type ContactSet,
  contactKeygen,
  type EventBody,
  EventReader,
  MAX_CONTACTS,
  openEventRecord,
  peekEventRecord,
  peekEventStart,
  type ReaderEvent,
  signAck,
  signContactSet,
  verifyContactSet,
  verifyEventStart,
} from '@enigm/protocols/emergency';
import { ProtocolError } from '@enigm/protocols/errors';
import {
  CliError,
  type Command,
  EXIT,
  int,
  type ParsedArgs,
  readInput,
  readInputFile,
  readJsonFile,
  readTextFile,
  showPath,
  str,
  UsageError,
  writeOutputFile,
} from '../cli.ts';

/** `type` of a contact's private key file. */
export const CONTACT_KEY_TYPE = 'enigm-contact-key';
/** `type` of a contact's public key file. */
export const CONTACT_PUB_TYPE = 'enigm-contact-pub';

/** A contact's private key file (PREFIX.key). */
export interface ContactKeyFile {
  type: typeof CONTACT_KEY_TYPE;
  v: 1;
  hpkePrivateKey: string;
  hpkeKey: string;
  signSeed: string;
  signKey: string;
}

/** A contact's public key file (PREFIX.pub). */
export interface ContactPubFile {
  type: typeof CONTACT_PUB_TYPE;
  v: 1;
  hpkeKey: string;
  signKey: string;
}

function required(args: ParsedArgs, name: string): string {
  const v = str(args, name);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

/** Reads a 32-byte hex field of a key file. */
function hex32(o: Record<string, unknown>, name: string, file: string, what: string): Uint8Array {
  const v = o[name];
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) {
    throw new CliError('INPUT_INVALID', `${what} ${showPath(file)}: "${name}" must be 64 hex digits`);
  }
  return fromHex(v);
}

function readKeyFile<T extends string>(file: string, type: T, what: string): Record<string, unknown> {
  const o = readJsonFile<Record<string, unknown>>(file, what);
  if (o === null || typeof o !== 'object' || o.type !== type || o.v !== 1) {
    throw new CliError('INPUT_INVALID', `${what} ${showPath(file)} is not an ${type} file (v 1)`);
  }
  return o;
}

/** Reads a contact's private key file. */
function readContactKey(file: string): { privateKey: Uint8Array; hpkeKey: Uint8Array; signSeed: Uint8Array } {
  const o = readKeyFile(file, CONTACT_KEY_TYPE, '--key');
  return {
    privateKey: hex32(o, 'hpkePrivateKey', file, '--key'),
    hpkeKey: hex32(o, 'hpkeKey', file, '--key'),
    signSeed: hex32(o, 'signSeed', file, '--key'),
  };
}

/** An Ed25519 public key given as 64 hex digits or a PEM file (public, private or certificate). */
function readIdentity(v: string): Uint8Array {
  if (/^[0-9a-fA-F]{64}$/.test(v)) return fromHex(v);
  return ed25519PublicKeyFromPem(readTextFile(v, '--identity'));
}

const keygenCmd: Command = {
  name: 'contact keygen',
  summary: "make an emergency contact's keys (PREFIX.key secret, PREFIX.pub for the owner)",
  help: `Usage: enigm contact keygen [--out PREFIX] [--force] [--json]

Generates an emergency contact's keys: X25519 (events are HPKE-sealed to it) and Ed25519 (signs
the contact's acknowledgements). Writes
  PREFIX.key  (mode 0600) JSON {"type":"${CONTACT_KEY_TYPE}","v":1,"hpkePrivateKey","hpkeKey","signSeed","signKey"}, hex
  PREFIX.pub  JSON {"type":"${CONTACT_PUB_TYPE}","v":1,"hpkeKey","signKey"}, hex: give it to the owner
Refuses to overwrite existing files unless --force.

Options:
  --out PREFIX   file name prefix (default enigm-contact)
  --force        overwrite existing PREFIX.key / PREFIX.pub

Examples:
  enigm contact keygen --out alice
  enigm contact set-make --owner-key owner.key --version 1 --contact "sister=alice.pub" --out contacts.cose`,
  options: { out: { type: 'string', short: 'o' }, force: { type: 'boolean' } },
  async run(args, out) {
    const prefix = str(args, 'out') ?? 'enigm-contact';
    const keyFile = `${prefix}.key`;
    const pubFile = `${prefix}.pub`;
    if (args.values.force !== true) {
      for (const f of [keyFile, pubFile]) {
        if (existsSync(f)) throw new UsageError(`${f} exists; use --force to overwrite or --out for another prefix`);
      }
    }
    const k = contactKeygen();
    const key: ContactKeyFile = {
      type: CONTACT_KEY_TYPE,
      v: 1,
      hpkePrivateKey: toHex(k.privateKey),
      hpkeKey: toHex(k.publicKey),
      signSeed: toHex(k.signSeed),
      signKey: toHex(k.signKey),
    };
    const pub: ContactPubFile = { type: CONTACT_PUB_TYPE, v: 1, hpkeKey: key.hpkeKey, signKey: key.signKey };
    writeOutputFile(keyFile, `${JSON.stringify(key, null, 2)}\n`, '--out', 0o600);
    writeOutputFile(pubFile, `${JSON.stringify(pub, null, 2)}\n`, '--out', 0o644);
    out.data({ ok: true, key: keyFile, pub: pubFile, hpkeKey: pub.hpkeKey, signKey: pub.signKey });
    out.line(`hpke key    ${pub.hpkeKey}`);
    out.line(`sign key    ${pub.signKey}`);
    out.line(`private     ${keyFile} (mode 0600)`);
    out.line(`public      ${pubFile} (give it to the owner)`);
    return EXIT.ok;
  },
};

const setMakeCmd: Command = {
  name: 'contact set-make',
  summary: "build and sign the owner's emergency contact set (COSE_Sign1)",
  help: `Usage: enigm contact set-make --owner-key KEY --version N --contact ALIAS=PREFIX.pub...
                            [--issued-at MS] --out FILE [--json]

Builds a contact set of up to ${MAX_CONTACTS} contacts, in the order given (the first is contact 0),
and signs it with the owner's Ed25519 key (COSE_Sign1, kid = the owner's public key). A Key takes
it only if its version is newer than the set it holds. An alias is 1-32 characters of
a-z 0-9 space _ - : a label, never a name or a phone number.

Options:
  --owner-key KEY    the owner's Ed25519 private key PEM (e.g. from enigm cose keygen)
  --version N        the set's version (must exceed the one the Key holds)
  --contact A=F      a contact: alias A and its public key file F (from enigm contact keygen); repeat
  --issued-at MS     issue time, ms since the epoch (default now)
  --out FILE         where to write the signed set

Examples:
  enigm cose keygen --out owner
  enigm contact set-make --owner-key owner.key --version 2 --contact "sister=alice.pub" \\
      --contact "neighbour_1=bob.pub" --out contacts.cose`,
  options: {
    'owner-key': { type: 'string' },
    version: { type: 'string' },
    contact: { type: 'string', multiple: true },
    'issued-at': { type: 'string' },
    out: { type: 'string', short: 'o' },
  },
  async run(args, out) {
    const ownerFile = required(args, 'owner-key');
    const outFile = required(args, 'out');
    if (str(args, 'version') === undefined) throw new UsageError('--version is required');
    const version = int(args, 'version', 0, 0, Number.MAX_SAFE_INTEGER);
    const issuedAt = int(args, 'issued-at', Date.now(), 0, Number.MAX_SAFE_INTEGER);
    const specs = (args.values.contact as string[] | undefined) ?? [];
    if (specs.length > MAX_CONTACTS) throw new UsageError(`at most ${MAX_CONTACTS} --contact, got ${specs.length}`);
    const contacts: ContactSet['contacts'] = specs.map((spec) => {
      const eq = spec.indexOf('=');
      if (eq < 1) throw new UsageError(`--contact must be ALIAS=PREFIX.pub, got ${JSON.stringify(spec)}`);
      const alias = spec.slice(0, eq);
      if (!CONTACT_ALIAS_PATTERN.test(alias)) {
        throw new UsageError(`--contact alias ${JSON.stringify(alias)}: 1-32 characters of a-z 0-9 space _ -`);
      }
      const file = spec.slice(eq + 1);
      const o = readKeyFile(file, CONTACT_PUB_TYPE, '--contact');
      return { alias, hpkeKey: hex32(o, 'hpkeKey', file, '--contact'), signKey: hex32(o, 'signKey', file, '--contact') };
    });
    const seed = ed25519PrivateKeyFromPem(readTextFile(ownerFile, '--owner-key'));
    const set: ContactSet = { version, issuedAt, contacts };
    const bytes = signContactSet(set, seed);
    writeOutputFile(outFile, bytes, '--out');
    const owner = ed25519PublicKey(seed);
    out.data({ ok: true, out: outFile, size: bytes.length, version, issuedAt, owner, contacts: contacts.map((c) => c.alias) });
    out.line(`wrote ${outFile} (${bytes.length} bytes): contact set v${version}, owner ${toHex(owner)}`);
    contacts.forEach((c, i) => {
      out.line(`  ${i}  ${c.alias}`);
    });
    return EXIT.ok;
  },
};

/** Splits an input into messages: hex lines (one message each) or one binary message. */
export function splitMessages(bytes: Uint8Array): Uint8Array[] {
  const text = Buffer.from(bytes).toString('latin1');
  if (/^[0-9a-fA-F\s]*$/.test(text) && /[0-9a-fA-F]/.test(text)) {
    return text
      .split(/\r?\n/)
      .map((l) => l.replace(/\s+/g, ''))
      .filter((l) => l.length > 0)
      .map((l, i) => {
        if (l.length % 2 !== 0) throw new CliError('INPUT_INVALID', `hex line ${i + 1} has an odd number of digits`);
        return fromHex(l);
      });
  }
  return [bytes];
}

function time(ms: number): string {
  return new Date(ms).toISOString();
}

/** The decrypted body for humans. */
function showBody(b: EventBody): string {
  switch (b.kind) {
    case 'location': {
      const l = b.location;
      return `lat ${l.lat} lon ${l.lon} ±${l.accuracyM} m${l.altitudeM !== undefined ? ` alt ${l.altitudeM} m` : ''}${l.source ? ` (${l.source})` : ''} fix ${time(l.fixTime)}`;
    }
    case 'status':
    case 'battery-critical': {
      const s = b.status;
      return `battery ${s.battery}%${s.charging ? ' charging' : ''} phase ${s.phase}${s.network ? ` via ${s.network}` : ''}${s.note ? ` note ${JSON.stringify(s.note)}` : ''}`;
    }
    case 'end':
      return `event ended: ${b.end.outcome}`;
  }
}

function bodyJson(b: EventBody): unknown {
  return b.kind === 'location' ? b.location : b.kind === 'end' ? b.end : b.status;
}

/** Finds this contact's index by trying each envelope of the first record that verifies. */
async function findIndex(messages: Uint8Array[], identity: Uint8Array, privateKey: Uint8Array): Promise<number | undefined> {
  let eventKey: Uint8Array | undefined;
  for (const m of messages) {
    if (peekEventStart(m) === undefined) continue;
    try {
      eventKey = verifyEventStart(m, identity).eventKey;
      break;
    } catch {}
  }
  if (eventKey === undefined) return undefined;
  for (const m of messages) {
    for (const i of peekEventRecord(m)?.contacts ?? []) {
      try {
        await openEventRecord(m, { eventKey, identityPublicKey: identity, contactIndex: i, contactPrivateKey: privateKey });
        return i;
      } catch {}
    }
  }
  return undefined;
}

const openCmd: Command = {
  name: 'contact open',
  summary: "read a Key's emergency records as a contact: verify, decrypt, report gaps and replays",
  help: `Usage: enigm contact open --key PREFIX.key --identity KEY [--start FILE] [--set FILE | --index N]
                        [--json] FILE... | -

Reads an emergency event as one of the owner's contacts. Each FILE (or stdin with -) holds one
record as binary CBOR (COSE_Sign1), or hex lines, one record per line; the event start may be
among them or given with --start. Records may come in any order. Verifies the start with the
Key's identity key and each record with the start's event key (the end record with the identity
key), decrypts this contact's envelope, and prints one line per record: seq, kind, time and the
decrypted location or status, flagged "late" when out of order, with the gaps it reveals;
replays are reported as duplicates and dropped. Ends with the seqs still missing.

Options:
  --key F        this contact's key file (from enigm contact keygen)
  --identity K   the Key's Ed25519 identity public key: 64 hex digits or a PEM file
  --start F      the event start (else found among the inputs)
  --set F        the signed contact set this contact is in: gives its index and version (a record
                 for another version is refused as EMERGENCY_NOT_FOR_YOU)
  --index N      this contact's index in the set (default: found by trying the envelopes)

--json prints one line per input {type: start|record|duplicate|pending|refused, …} (bytes as hex)
and a last line {ok, received, missing, ended}.

Exit status: 0 every input was read; 1 one was refused (bad signature, not for this contact,
does not decrypt) or an input cannot be read; 2 usage error.

Examples:
  enigm contact open --key alice.key --identity key-identity.pub --set contacts.cose start.cbor rec-*.cbor
  mosquitto_sub … | xxd -p -c 0 | enigm contact open --key alice.key --identity 3b6a…  -`,
  options: {
    key: { type: 'string', short: 'k' },
    identity: { type: 'string' },
    start: { type: 'string' },
    set: { type: 'string' },
    index: { type: 'string' },
  },
  positionals: true,
  async run(args, out) {
    if (args.positionals.length === 0 && str(args, 'start') === undefined) {
      throw new UsageError('give at least one FILE (or - for stdin)');
    }
    const key = readContactKey(required(args, 'key'));
    const identity = readIdentity(required(args, 'identity'));
    if (str(args, 'set') !== undefined && str(args, 'index') !== undefined)
      throw new UsageError('give --set or --index, not both');
    const messages: Uint8Array[] = [];
    const startFile = str(args, 'start');
    if (startFile !== undefined) messages.push(...splitMessages(readInputFile(startFile, '--start')));
    for (const f of args.positionals) messages.push(...splitMessages(await readInput(f, 'FILE')));

    let index: number | undefined;
    let version: number | undefined;
    const setFile = str(args, 'set');
    if (setFile !== undefined) {
      const { set } = verifyContactSet(readInputFile(setFile, '--set'));
      index = set.contacts.findIndex((c) => toHex(c.hpkeKey) === toHex(key.hpkeKey));
      if (index < 0) {
        throw new ProtocolError('EMERGENCY_NOT_FOR_YOU', `this contact is not in contact set v${set.version} (${setFile})`);
      }
      version = set.version;
    } else if (str(args, 'index') !== undefined) {
      index = int(args, 'index', 0, 0, MAX_CONTACTS - 1);
    } else {
      index = await findIndex(messages, identity, key.privateKey);
      if (index === undefined) out.warn('no envelope opens with this key: reading as contact 0');
    }
    const reader = new EventReader({
      identityPublicKey: identity,
      contactIndex: index ?? 0,
      contactPrivateKey: key.privateKey,
      ...(version !== undefined ? { contactSetVersion: version } : {}),
    });
    let refused = 0;
    for (const m of messages) {
      for (const e of await reader.feed(m)) {
        if (e.type === 'refused') refused++;
        report(e, out);
      }
    }
    if (reader.start === undefined && reader.pendingCount > 0) {
      out.warn(`${reader.pendingCount} record(s) held: no event start among the inputs (give --start)`);
      refused++;
    }
    const missing = reader.missing();
    out.data({
      ok: refused === 0,
      contactIndex: index ?? 0,
      received: reader.received(),
      missing,
      ...(reader.ended ? { ended: reader.ended.outcome } : {}),
    });
    out.line(
      `received ${reader.received().length} record(s)${missing.length ? `; missing seq ${missing.join(', ')}` : '; none missing'}${reader.ended ? `; ended (${reader.ended.outcome})` : ''}`,
    );
    return refused === 0 ? EXIT.ok : EXIT.failure;
  },
};

function report(e: ReaderEvent, out: Parameters<Command['run']>[1]): void {
  switch (e.type) {
    case 'start':
      out.data({ type: 'start', ...e.start });
      out.line(
        `start    event ${toHex(e.start.eventId)}  ${time(e.start.time)}  contact set v${e.start.contactSetVersion}${e.start.reason ? `  reason ${e.start.reason}` : ''}`,
      );
      return;
    case 'record': {
      const h = e.header;
      out.data({
        type: 'record',
        seq: h.seq,
        kind: h.kind,
        time: h.time,
        body: bodyJson(e.body),
        outOfOrder: e.outOfOrder,
        gaps: e.gaps,
      });
      const flags = `${e.outOfOrder ? '  [late]' : ''}${e.gaps.length ? `  [gap: seq ${e.gaps.join(', ')} missing]` : ''}`;
      out.line(`seq ${String(h.seq).padEnd(4)} ${h.kind.padEnd(16)} ${time(h.time)}  ${showBody(e.body)}${flags}`);
      return;
    }
    case 'duplicate':
      out.data(e);
      out.line(
        `seq ${String(e.seq).padEnd(4)} duplicate, dropped${e.identical ? '' : ' (DIFFERENT content under the same seq)'}`,
      );
      return;
    case 'pending':
      out.data(e);
      return;
    case 'refused':
      out.data({ type: 'refused', ...(e.seq !== undefined ? { seq: e.seq } : {}), error: e.error.toJSON() });
      out.line(`${e.seq !== undefined ? `seq ${String(e.seq).padEnd(4)} ` : ''}REFUSED ${e.error.code}: ${e.error.message}`);
      return;
  }
}

const ackCmd: Command = {
  name: 'contact ack',
  summary: "sign a contact's acknowledgement of an emergency event (for enigm key emergency ack)",
  help: `Usage: enigm contact ack --key PREFIX.key --event HEX --seq N [--time MS] --out FILE [--json]

Signs this contact's acknowledgement of emergency event HEX ("I have seen it, up to record N")
with the contact's Ed25519 key (COSE_Sign1, kid = the contact's signKey). A host relays it to
the Key ('enigm key emergency ack FILE'), which accepts it only from a contact of the event's
contact set, for the running event, once per contact.

Options:
  --key F        this contact's key file (from enigm contact keygen)
  --event HEX    the event id (32 hex digits; 'enigm contact open' prints it on the start line)
  --seq N        the highest record seq seen (0: the start only)
  --time MS      when, ms since the epoch (default now)
  --out FILE     where to write the signed acknowledgement

Examples:
  enigm contact open --key alice.key --identity 3b6a… records.hex
  enigm contact ack --key alice.key --event 5f0c1e… --seq 4 --out ack.cose
  enigm key emergency ack ack.cose --port tcp://127.0.0.1:7001`,
  options: {
    key: { type: 'string', short: 'k' },
    event: { type: 'string' },
    seq: { type: 'string' },
    time: { type: 'string' },
    out: { type: 'string', short: 'o' },
  },
  async run(args, out) {
    const keyFile = required(args, 'key');
    const event = required(args, 'event');
    const outFile = required(args, 'out');
    if (!/^[0-9a-fA-F]{32}$/.test(event)) throw new UsageError(`--event must be the event id: 32 hex digits`);
    if (str(args, 'seq') === undefined) throw new UsageError('--seq is required');
    const seq = int(args, 'seq', 0, 0, Number.MAX_SAFE_INTEGER);
    const at = int(args, 'time', Date.now(), 0, Number.MAX_SAFE_INTEGER);
    const key = readContactKey(keyFile);
    const bytes = signAck({ eventId: fromHex(event.toLowerCase()), seq, time: at }, key.signSeed);
    writeOutputFile(outFile, bytes, '--out');
    out.data({ ok: true, out: outFile, size: bytes.length, event: event.toLowerCase(), seq, time: at });
    out.line(`wrote ${outFile} (${bytes.length} bytes): acknowledgement of event ${event.toLowerCase()} up to seq ${seq}`);
    return EXIT.ok;
  },
};

/** Commands under `enigm contact`. */
export const contactCommands: Command[] = [keygenCmd, setMakeCmd, openCmd, ackCmd];
