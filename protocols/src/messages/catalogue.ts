/**
 * The Key protocol message catalogue: every message type, its number, its kind and its body
 * record. Defined once; validators, the simulator, the host client and docs/protocol.md all read
 * this table. The firmware update records live in `firmware.ts` (re-exported here), the emergency
 * records in `emergency.ts`.
 *
 * @module
 */
import { HOST_KEY_ID_LENGTH, HOST_ROLES, KEY_ERRORS, LIFECYCLE_STATES, SESSION_PATTERNS } from './constants.ts';
import {
  ContactsGet,
  ContactsGetResponse,
  ContactsSet,
  ContactsSetResponse,
  EmergencyAck,
  EmergencyAckResponse,
  EmergencyChanged,
  EmergencyLogRequest,
  EmergencyLogResponse,
  EmergencyOpRequest,
  EmergencyOpResponse,
  EmergencyRecordEvent,
} from './emergency.ts';
import {
  FwBegin,
  FwBeginResponse,
  FwChunk,
  FwChunkResponse,
  FwConfirmResponse,
  FwEmpty,
  FwFinish,
  FwStatusResponse,
} from './firmware.ts';
import { defineRecord, field, type RecordType, type RecordValue, type Schema, t } from './record.ts';

export * from './firmware.ts';

const state = t.enumOf('lifecycle state', LIFECYCLE_STATES);

/** Body of `hello`: what the host speaks. */
export const HelloRequest = defineRecord('hello', {
  versions: field(1, t.array(t.uint(0xffff), 16), false, 'protocol versions the host speaks'),
  maxFrame: field(2, t.uint(65536), false, 'largest frame payload the host accepts, bytes'),
});

/** Body of `hello.response`: the Key's capabilities. Nothing about link sizes is set by hand. */
export const HelloResponse = defineRecord('hello.response', {
  version: field(1, t.uint(0xffff), false, 'protocol version chosen for this link'),
  versions: field(2, t.array(t.uint(0xffff), 16), false, 'protocol versions the Key speaks'),
  maxFrame: field(3, t.uint(65536), false, 'largest frame payload the Key accepts, bytes'),
  window: field(4, t.uint(255), false, 'requests the Key buffers; the host keeps at most this many in flight'),
  features: field(5, t.array(t.text(32), 32), false, 'feature names (see the feature table)'),
  model: field(6, t.text(64), false, 'model identifier'),
  firmware: field(7, t.text(64), false, 'firmware version (semantic version)'),
  state: field(8, state, false, 'lifecycle state'),
});

/** Body of `ping`. */
export const PingRequest = defineRecord('ping', {
  data: field(1, t.bytes(0, 65536), true, 'bytes to echo back'),
});

/** Body of `ping.response`. */
export const PingResponse = defineRecord('ping.response', {
  data: field(1, t.bytes(0, 65536), true, 'the echoed bytes'),
  uptimeMs: field(2, t.uint(Number.MAX_SAFE_INTEGER), false, 'milliseconds since boot'),
});

/** Body of `info` (empty). */
export const InfoRequest = defineRecord('info', {});

/** Body of `info.response`: public, non-secret facts about the Key. */
export const InfoResponse = defineRecord('info.response', {
  model: field(1, t.text(64), false, 'model identifier'),
  hardware: field(2, t.text(32), false, 'hardware revision'),
  firmware: field(3, t.text(64), false, 'firmware version'),
  state: field(4, state, false, 'lifecycle state'),
  handle: field(
    5,
    t.bytes(16, 16),
    true,
    'device handle (random, not a serial number); only inside a session with a paired host, or while the Key is pairable',
  ),
  bootCount: field(6, t.uint(), false, 'boots since manufacture'),
  uptimeMs: field(7, t.uint(Number.MAX_SAFE_INTEGER), false, 'milliseconds since boot'),
  batteryPct: field(8, t.uint(100), false, 'battery charge, percent'),
});

/** Body of `activate` (empty): factory → dormant. */
export const ActivateRequest = defineRecord('activate', {});

/** Body of `activate.response`. */
export const ActivateResponse = defineRecord('activate.response', {
  state: field(1, state, false, 'lifecycle state after the command'),
});

/** Body of `reboot` and `reboot.response` (empty). */
export const RebootBody = defineRecord('reboot', {});

const role = t.enumOf('host role', HOST_ROLES);
const sessionId = t.bytes(8, 8);

/** Body of `session.start`: the first Noise handshake message. */
export const SessionStart = defineRecord('session.start', {
  pattern: field(1, t.enumOf('pattern', SESSION_PATTERNS), false, 'XX (first contact) or IK (known Key)'),
  message: field(2, t.bytes(32, 1024), false, 'Noise handshake message 1'),
});

/** Body of `session.start.response`: the Key's handshake message. */
export const SessionStartResponse = defineRecord('session.start.response', {
  session: field(1, sessionId, false, 'session id chosen by the Key'),
  message: field(2, t.bytes(32, 1024), false, 'Noise handshake message 2'),
});

/** Body of `session.finish`: the third XX message (host static key and payload). */
export const SessionFinish = defineRecord('session.finish', {
  session: field(1, sessionId, false, 'session id'),
  message: field(2, t.bytes(32, 1024), false, 'Noise handshake message 3'),
});

/** Body of `session.finish.response` (empty): the session is open. */
export const SessionFinishResponse = defineRecord('session.finish.response', {});

/** Body of `secure` and `secure.response`: one encrypted inner message. */
export const SecureMessage = defineRecord('secure', {
  session: field(1, sessionId, false, 'session id'),
  counter: field(2, t.uint(Number.MAX_SAFE_INTEGER), false, 'message counter: the AEAD nonce; strictly increasing per direction'),
  ciphertext: field(3, t.bytes(16, 65536), false, 'ChaCha20-Poly1305 of the inner message (an envelope), tag appended'),
});

/** Body of `session.close`. */
export const SessionClose = defineRecord('session.close', {
  session: field(1, sessionId, false, 'session id'),
});

/** Body of `session.close.response` (empty). */
export const SessionCloseResponse = defineRecord('session.close.response', {});

/** Body of `pair` (inside a session): keep this host with a role. */
export const PairRequest = defineRecord('pair', {
  role: field(1, role, false, 'requested role'),
  label: field(2, t.text(32), true, 'human label of the host'),
});

/** Body of `pair.response`. */
export const PairResponse = defineRecord('pair.response', {
  role: field(1, role, false, 'role granted'),
});

/** Body of `attest`: a fresh nonce from the verifier. */
export const AttestRequest = defineRecord('attest', {
  nonce: field(1, t.bytes(32, 32), false, 'verifier nonce, 32 random bytes'),
});

/** Body of `attest.response`: the evidence. */
export const AttestResponse = defineRecord('attest.response', {
  evidence: field(1, t.bytes(64, 4096), false, "COSE_Sign1 (EdDSA) by the Key's identity key over EAT claims"),
});

/** Body of `hosts.list` (empty). */
export const HostsListRequest = defineRecord('hosts.list', {});

/** One paired host. */
export const PairedHost = defineRecord('paired-host', {
  publicKey: field(1, t.bytes(32, 32), false, "host's static X25519 public key"),
  role: field(2, role, false, 'role'),
  label: field(3, t.text(32), true, 'label'),
});

/** Body of `hosts.list.response`. */
export const HostsListResponse = defineRecord('hosts.list.response', {
  hosts: field(1, t.array(t.record(PairedHost), 16), false, 'paired hosts'),
});

/** Body of `hosts.remove`: unpair one host. */
export const HostsRemove = defineRecord('hosts.remove', {
  keyId: field(
    1,
    t.bytes(HOST_KEY_ID_LENGTH, HOST_KEY_ID_LENGTH),
    false,
    "the host's key id: the first 8 bytes of SHA-256 of its static public key (as `enigm key hosts` shows it)",
  ),
});

/** Body of `hosts.remove.response`. */
export const HostsRemoveResponse = defineRecord('hosts.remove.response', {
  role: field(1, role, false, 'the role the removed host held'),
  hosts: field(2, t.uint(16), false, 'paired hosts left'),
});

/** Body of `suspend`, `resume`, `revoke` and `retire` (empty). */
export const LifecycleOpRequest = defineRecord('lifecycle.op', {});

/** Body of the responses of `suspend`, `resume`, `revoke` and `retire`. */
export const LifecycleOpResponse = defineRecord('lifecycle.op.response', {
  state: field(1, state, false, 'lifecycle state after the command'),
});

/** Body of `csr` (empty): a PKCS#10 request signed by the identity key. */
export const CsrRequest = defineRecord('csr', {});

/** Body of `csr.response`. */
export const CsrResponse = defineRecord('csr.response', {
  csr: field(
    1,
    t.bytes(64, 1024),
    false,
    "PKCS#10 request (DER) for the Key's Ed25519 identity key, subject CN=K-<id>, signed inside the secure element (proof of possession)",
  ),
});

/** Most bytes of a certificate chain a Key stores (it travels in every evidence). */
export const MAX_CERT_CHAIN_BYTES = 2048;

/** Body of `cert.install`: the Key's certificate chain, leaf first. */
export const CertInstall = defineRecord('cert.install', {
  chain: field(
    1,
    t.array(t.bytes(64, 1024), 3),
    false,
    `certificates (DER), leaf first, then its issuer (the provisioning intermediate); at most ${MAX_CERT_CHAIN_BYTES} bytes in all`,
  ),
});

/** Body of `cert.install.response`. */
export const CertInstallResponse = defineRecord('cert.install.response', {
  notAfter: field(1, t.uint(Number.MAX_SAFE_INTEGER), false, "the leaf's notAfter, ms since the Unix epoch"),
});

/** Earliest and latest time `time.set` accepts (2024-01-01 and 2100-01-01 UTC, ms). */
export const TIME_SET_BOUNDS = { min: Date.UTC(2024, 0, 1), max: Date.UTC(2100, 0, 1) } as const;

/** Body of `time.set`: the station's wall clock. */
export const TimeSet = defineRecord('time.set', {
  unixMs: field(1, t.uint(Number.MAX_SAFE_INTEGER), false, 'current time, ms since the Unix epoch (2024 … 2100)'),
});

/** Body of `time.set.response` (empty). */
export const TimeSetResponse = defineRecord('time.set.response', {});

/** Body of `error`: a request failed. Never a bare number: code, name and reason together. */
export const ErrorResponse = defineRecord('error', {
  code: field(1, t.uint(0xffff), false, 'numeric error code (see the error table)'),
  name: field(2, t.text(32), false, 'stable symbolic name of the code'),
  reason: field(3, t.text(256), false, 'human reason'),
});

/** Body of the `lifecycle.changed` event. */
export const LifecycleChanged = defineRecord('lifecycle.changed', {
  from: field(1, state, false, 'state before'),
  to: field(2, state, false, 'state after'),
});

/** Message kinds. */
export type MessageKind = 'request' | 'response' | 'event';

/** One catalogue entry. */
export interface MessageDef<S extends Schema = Schema> {
  /** Wire number of the message type. */
  readonly type: number;
  readonly kind: MessageKind;
  readonly body: RecordType<S>;
  /** For requests: the response type name. */
  readonly response?: string;
  /** One-line meaning for docs. */
  readonly doc: string;
}

const def = <S extends Schema>(type: number, kind: MessageKind, body: RecordType<S>, doc: string, response?: string) =>
  ({ type, kind, body, doc, ...(response ? { response } : {}) }) as MessageDef<S>;

/** Every message of the protocol, by name. */
export const MESSAGES = {
  hello: def(0x01, 'request', HelloRequest, 'capability negotiation; always allowed, before anything else', 'hello.response'),
  'hello.response': def(0x02, 'response', HelloResponse, "the Key's capabilities"),
  ping: def(0x03, 'request', PingRequest, 'liveness and round-trip time', 'ping.response'),
  'ping.response': def(0x04, 'response', PingResponse, 'echo'),
  info: def(0x05, 'request', InfoRequest, 'public facts about the Key', 'info.response'),
  'info.response': def(0x06, 'response', InfoResponse, 'public facts'),
  activate: def(0x07, 'request', ActivateRequest, 'leave factory state for dormant', 'activate.response'),
  'activate.response': def(0x08, 'response', ActivateResponse, 'new state'),
  reboot: def(0x09, 'request', RebootBody, 'reboot the Key now: the bootloader runs, sessions end (session)', 'reboot.response'),
  'reboot.response': def(0x0a, 'response', RebootBody, 'rebooting after this answer; reconnect and hello again'),
  'session.start': def(0x10, 'request', SessionStart, 'begin a Noise handshake (public)', 'session.start.response'),
  'session.start.response': def(0x11, 'response', SessionStartResponse, 'handshake message 2'),
  'session.finish': def(0x12, 'request', SessionFinish, 'complete an XX handshake (public)', 'session.finish.response'),
  'session.finish.response': def(0x13, 'response', SessionFinishResponse, 'session open'),
  secure: def(0x14, 'request', SecureMessage, 'an encrypted request inside a session', 'secure.response'),
  'secure.response': def(0x15, 'response', SecureMessage, 'an encrypted response inside a session'),
  'session.close': def(0x16, 'request', SessionClose, 'end a session', 'session.close.response'),
  'session.close.response': def(0x17, 'response', SessionCloseResponse, 'session ended'),
  pair: def(0x20, 'request', PairRequest, 'keep the session host as a paired host (session only)', 'pair.response'),
  'pair.response': def(0x21, 'response', PairResponse, 'role granted'),
  attest: def(0x22, 'request', AttestRequest, 'attestation evidence for a nonce (session only)', 'attest.response'),
  'attest.response': def(0x23, 'response', AttestResponse, 'evidence'),
  'hosts.list': def(0x24, 'request', HostsListRequest, 'list paired hosts (owner only)', 'hosts.list.response'),
  'hosts.list.response': def(0x25, 'response', HostsListResponse, 'paired hosts'),
  'hosts.remove': def(
    0x26,
    'request',
    HostsRemove,
    'unpair a host by its key id (session; owner, or a host its own entry)',
    'hosts.remove.response',
  ),
  'hosts.remove.response': def(0x27, 'response', HostsRemoveResponse, 'host removed; its open sessions lose their role'),
  suspend: def(0x28, 'request', LifecycleOpRequest, 'dormant → suspended (session; owner)', 'suspend.response'),
  'suspend.response': def(0x29, 'response', LifecycleOpResponse, 'new state'),
  resume: def(0x2a, 'request', LifecycleOpRequest, 'suspended → dormant (session; owner)', 'resume.response'),
  'resume.response': def(0x2b, 'response', LifecycleOpResponse, 'new state'),
  revoke: def(
    0x2c,
    'request',
    LifecycleOpRequest,
    '→ revoked: the Key then runs only public info and retire (session; owner or provisioning)',
    'revoke.response',
  ),
  'revoke.response': def(0x2d, 'response', LifecycleOpResponse, 'new state'),
  retire: def(
    0x2e,
    'request',
    LifecycleOpRequest,
    '→ retired → factory: crypto-wipe of identity, static key, hosts, sessions and certificate chain (session)',
    'retire.response',
  ),
  'retire.response': def(
    0x2f,
    'response',
    LifecycleOpResponse,
    'factory: a new identity; every session and link negotiation has ended (hello again)',
  ),
  'fw.begin': def(0x30, 'request', FwBegin, 'start or resume a firmware upload (session)', 'fw.begin.response'),
  'fw.begin.response': def(0x31, 'response', FwBeginResponse, 'resume offset and chunk size'),
  'fw.chunk': def(0x32, 'request', FwChunk, 'payload bytes at an offset (session; pipelined to the window)', 'fw.chunk.response'),
  'fw.chunk.response': def(0x33, 'response', FwChunkResponse, 'cumulative acknowledgement'),
  'fw.finish': def(0x34, 'request', FwFinish, 'all bytes sent: check the digest (session)', 'fw.finish.response'),
  'fw.finish.response': def(0x35, 'response', FwEmpty, 'image stored and verified'),
  'fw.test': def(0x36, 'request', FwEmpty, 'reboot into the new image on test (session)', 'fw.test.response'),
  'fw.test.response': def(0x37, 'response', FwEmpty, 'rebooting; sessions end'),
  'fw.confirm': def(0x38, 'request', FwEmpty, 'keep the running test image (session)', 'fw.confirm.response'),
  'fw.confirm.response': def(0x39, 'response', FwConfirmResponse, 'security counter advanced'),
  'fw.revert': def(
    0x3a,
    'request',
    FwEmpty,
    'go back to the other image at the next boot, or cancel an upload (session)',
    'fw.revert.response',
  ),
  'fw.revert.response': def(0x3b, 'response', FwEmpty, 'done'),
  'fw.status': def(0x3c, 'request', FwEmpty, 'slots and update state (session)', 'fw.status.response'),
  'fw.status.response': def(0x3d, 'response', FwStatusResponse, 'slots and update state'),
  csr: def(0x40, 'request', CsrRequest, 'a PKCS#10 request signed by the identity key (session; factory state)', 'csr.response'),
  'csr.response': def(0x41, 'response', CsrResponse, 'the request'),
  'cert.install': def(
    0x42,
    'request',
    CertInstall,
    "store the Key's certificate chain; the leaf must certify its identity key (session; factory state)",
    'cert.install.response',
  ),
  'cert.install.response': def(0x43, 'response', CertInstallResponse, 'stored (durably)'),
  'time.set': def(0x44, 'request', TimeSet, "set the Key's wall clock until its next boot (session)", 'time.set.response'),
  'time.set.response': def(0x45, 'response', TimeSetResponse, 'clock set'),
  'emergency.cancel': def(
    0x50,
    'request',
    EmergencyOpRequest,
    'false alarm: → cancelled → dormant (session)',
    'emergency.cancel.response',
  ),
  'emergency.cancel.response': def(0x51, 'response', EmergencyOpResponse, 'cancelled; sampling stopped, event keys erased'),
  'emergency.resolve': def(
    0x52,
    'request',
    EmergencyOpRequest,
    'over: active → resolved → dormant (session)',
    'emergency.resolve.response',
  ),
  'emergency.resolve.response': def(0x53, 'response', EmergencyOpResponse, 'resolved; sampling stopped, event keys erased'),
  'emergency.ack': def(
    0x54,
    'request',
    EmergencyAck,
    "relay a contact's signed acknowledgement (session)",
    'emergency.ack.response',
  ),
  'emergency.ack.response': def(0x55, 'response', EmergencyAckResponse, 'accepted and shown (LED, haptic)'),
  'contacts.set': def(
    0x56,
    'request',
    ContactsSet,
    'replace the contact set: newer, same signer (session)',
    'contacts.set.response',
  ),
  'contacts.set.response': def(0x57, 'response', ContactsSetResponse, 'stored (durably)'),
  'contacts.get': def(
    0x58,
    'request',
    ContactsGet,
    'version, count and aliases of the contact set (session)',
    'contacts.get.response',
  ),
  'contacts.get.response': def(0x59, 'response', ContactsGetResponse, 'the set, without keys'),
  'emergency.log': def(
    0x5a,
    'request',
    EmergencyLogRequest,
    "the Key's bounded log of past events and the running one: ids, times, outcomes, no location (session)",
    'emergency.log.response',
  ),
  'emergency.log.response': def(0x5b, 'response', EmergencyLogResponse, 'the log, oldest first'),
  keepalive: def(0x82, 'event', FwEmpty, 'the Key is busy with a long operation (e.g. erasing); it has not gone silent'),
  error: def(0x7f, 'response', ErrorResponse, 'the request failed; carries code, name and reason'),
  'lifecycle.changed': def(0x81, 'event', LifecycleChanged, 'the lifecycle state changed'),
  'emergency.changed': def(0x83, 'event', EmergencyChanged, "the emergency event's phase changed"),
  'emergency.record': def(0x84, 'event', EmergencyRecordEvent, 'a record of the running emergency event (as on the uplink)'),
} as const;

/** Name of a message type. */
export type MessageName = keyof typeof MESSAGES;
/** Names of request messages. */
export type RequestName = keyof typeof RESPONSE_OF;
/** Typed body of message `N`. */
export type BodyOf<N extends MessageName> = (typeof MESSAGES)[N]['body'] extends RecordType<infer S> ? RecordValue<S> : never;

/** The response message name of each request. */
export type ResponseOf<N extends RequestName> = (typeof RESPONSE_OF)[N];
/** Request name → response name. */
export const RESPONSE_OF = {
  hello: 'hello.response',
  ping: 'ping.response',
  info: 'info.response',
  activate: 'activate.response',
  reboot: 'reboot.response',
  'session.start': 'session.start.response',
  'session.finish': 'session.finish.response',
  secure: 'secure.response',
  'session.close': 'session.close.response',
  pair: 'pair.response',
  attest: 'attest.response',
  'hosts.list': 'hosts.list.response',
  'hosts.remove': 'hosts.remove.response',
  suspend: 'suspend.response',
  resume: 'resume.response',
  revoke: 'revoke.response',
  retire: 'retire.response',
  'fw.begin': 'fw.begin.response',
  'fw.chunk': 'fw.chunk.response',
  'fw.finish': 'fw.finish.response',
  'fw.test': 'fw.test.response',
  'fw.confirm': 'fw.confirm.response',
  'fw.revert': 'fw.revert.response',
  'fw.status': 'fw.status.response',
  csr: 'csr.response',
  'cert.install': 'cert.install.response',
  'time.set': 'time.set.response',
  'emergency.cancel': 'emergency.cancel.response',
  'emergency.resolve': 'emergency.resolve.response',
  'emergency.ack': 'emergency.ack.response',
  'contacts.set': 'contacts.set.response',
  'contacts.get': 'contacts.get.response',
  'emergency.log': 'emergency.log.response',
} as const satisfies Record<string, MessageName>;

/** Wire type number → message name. */
export const MESSAGE_BY_TYPE: ReadonlyMap<number, MessageName> = new Map(
  (Object.entries(MESSAGES) as [MessageName, MessageDef][]).map(([n, d]) => [d.type, n]),
);

// Keep the tables consistent at load time: every request has a response, numbers are unique.
for (const [n, d] of Object.entries(MESSAGES) as [MessageName, MessageDef][]) {
  if ((d.kind === 'request') !== n in RESPONSE_OF) throw new Error(`RESPONSE_OF and MESSAGES disagree on ${n}`);
}
// Keep the error table and the catalogue honest at load time.
if (MESSAGE_BY_TYPE.size !== Object.keys(MESSAGES).length) throw new Error('duplicate message type number');
if (new Set(Object.values(KEY_ERRORS).map((e) => e.code)).size !== Object.keys(KEY_ERRORS).length)
  throw new Error('duplicate error code');
