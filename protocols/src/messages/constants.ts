/**
 * Numbers the Key protocol fixes: protocol versions, lifecycle states, wire error codes, limits.
 *
 * These tables are rendered into docs/protocol.md by `npm run docs:protocol`, and a test checks
 * the committed document against them, so the document cannot drift from the code.
 *
 * @module
 */

/** Protocol versions this code speaks, highest first. */
export const PROTOCOL_VERSIONS = [1] as const;

/** The protocol version spoken by this code. */
export const PROTOCOL_VERSION = 1;

/**
 * The largest frame payload every Key accepts before negotiation. A `hello` request and its
 * response always fit; after `hello` both sides use the Key's advertised maximum.
 */
export const MIN_FRAME_PAYLOAD = 512;

/** The largest frame payload any Key may advertise (a bound for decoders, not a default). */
export const MAX_FRAME_PAYLOAD = 65536;

/** Key lifecycle states and their wire numbers. */
export const LIFECYCLE_STATES = {
  factory: 0,
  dormant: 1,
  emergency: 2,
  suspended: 3,
  revoked: 4,
  retired: 5,
  updating: 6,
} as const;

/** A Key lifecycle state. */
export type LifecycleState = keyof typeof LIFECYCLE_STATES;

/** Meaning of each lifecycle state. */
export const LIFECYCLE_STATE_DOCS: Readonly<Record<LifecycleState, string>> = {
  factory: 'fresh from manufacture or crypto-wiped; not associated with an account',
  dormant: 'provisioned and idle: GNSS off, modem asleep, no location taken (the default)',
  emergency: 'a user-started emergency event is running; location is shared end to end',
  suspended: 'temporarily disabled by the owner (`suspend`); no emergency can start',
  revoked: 'identity revoked (`revoke`, by the owner or a provisioning operator); only public info and retirement are possible',
  retired: 'taken out of service; next step is a crypto-wipe back to factory',
  updating: 'a firmware update is in progress (test-boot pending confirmation)',
};

/**
 * Wire error codes: each has a number (on the wire), a stable symbolic name (also on the wire)
 * and a default human reason. An error response always carries all three.
 */
export const KEY_ERRORS = {
  MALFORMED: { code: 1, reason: 'the request could not be decoded (bad CBOR or envelope)' },
  UNKNOWN_TYPE: { code: 2, reason: 'the message type is not defined by this protocol version' },
  UNSUPPORTED_VERSION: { code: 3, reason: 'the protocol version is not spoken by this Key' },
  INVALID_ARGUMENT: { code: 4, reason: 'a request field is missing, unknown or of the wrong type' },
  INVALID_STATE: { code: 5, reason: 'the command is not allowed in the current lifecycle state' },
  BUSY: { code: 6, reason: 'more requests in flight than the advertised window' },
  TOO_LARGE: { code: 7, reason: 'the request exceeds the negotiated maximum frame size' },
  NOT_A_REQUEST: { code: 8, reason: 'the message is a response or event, not a request' },
  INTERNAL: { code: 9, reason: 'the Key failed internally; the request had no effect' },
  SESSION_REQUIRED: { code: 10, reason: 'the command runs only inside an authenticated session' },
  FORBIDDEN: { code: 11, reason: "the session's host role may not run this command" },
  SESSION_FAILED: { code: 12, reason: 'the session could not be established or was ended (no detail is given)' },
  NOT_PAIRED: { code: 13, reason: 'pairing is closed: the Key already has hosts and its pairing window is not open' },
  TOO_MANY_HOSTS: { code: 14, reason: 'the Key holds the maximum number of paired hosts' },
  FIRMWARE_REJECTED: { code: 15, reason: 'the firmware image was refused (signer, model, security counter, size or digest)' },
  OUT_OF_ORDER: { code: 20, reason: 'a later request of this session has already run; this one was not run' },
  UPDATE_BUSY: { code: 16, reason: "another host's firmware update is in progress on this Key" },
  CERT_KEY_MISMATCH: { code: 30, reason: "the certificate does not certify this Key's identity key" },
  CERT_INVALID: {
    code: 31,
    reason: 'the certificate chain is malformed, too large, not Ed25519, or not signed by the next certificate',
  },
  CERT_NOT_VALID: { code: 32, reason: "a certificate of the chain is not valid at the Key's time (not yet valid or expired)" },
  TIME_NOT_SET: { code: 33, reason: "the Key's clock is not set since its last boot: time.set first" },
  CERT_STALE: {
    code: 34,
    reason: 'the Key already holds a chain whose leaf starts at or after this one (a replayed or older chain)',
  },
  KEY_REVOKED: { code: 40, reason: 'the Key is revoked: it runs nothing but public info and retire' },
  HOST_NOT_FOUND: { code: 41, reason: 'no paired host has this key id' },
  INVALID_PHASE: {
    code: 50,
    reason: "the emergency event's phase does not allow this (phase table: docs/emergency.md)",
  },
  CONTACTS_STALE: { code: 51, reason: 'the contact set is not newer than the one the Key holds' },
  CONTACTS_SIGNER: {
    code: 52,
    reason: 'the contact set is signed by another key than the one the Key pinned (a factory reset clears the pin)',
  },
  CONTACTS_INVALID: { code: 53, reason: 'the contact set is unsigned, malformed, oversized or its signature does not verify' },
  ACK_INVALID: {
    code: 54,
    reason: 'the acknowledgement is malformed, not for the running event, or not signed by a contact of its set',
  },
  BATTERY_CRITICAL: {
    code: 21,
    reason: 'the battery is critical (≤ 5 %) and the Key is not charging: connect USB power before a firmware update',
  },
} as const;

/** Symbolic name of a wire error. */
export type KeyErrorName = keyof typeof KEY_ERRORS;

/** Wire error number → name. */
export const KEY_ERROR_BY_CODE: ReadonlyMap<number, KeyErrorName> = new Map(
  (Object.entries(KEY_ERRORS) as [KeyErrorName, { code: number }][]).map(([n, e]) => [e.code, n]),
);

/**
 * The lifecycle operations and the lifecycle states each is allowed in: the ONE table the Key's
 * lifecycle table (`COMMAND_STATES` in `@enigm/sim/firmware`, from {@link LIFECYCLE_REQUEST_STATES}),
 * the host's preflight (`@enigm/key-firmware-host`: the Key facade's lifecycle operations and the
 * association's enroll / replace) and docs/lifecycle.md read. Anything else is refused with
 * {@link stateRefusal}'s error. Who may run each is the role table (`COMMAND_ACCESS`, access.ts).
 *
 * `enroll` and `replace` ({@link HOST_LIFECYCLE_OPERATIONS}) run on the host (docs/association.md):
 * an owner session, `attest`, and `activate` of a factory Key; their rows are the states the host
 * takes a Key in (the new Key, for `replace`), each of their requests is then checked by the Key.
 */
export const LIFECYCLE_OPERATION_STATES = {
  /** Associate a Key with an account (host side): not while revoked, in an emergency, retired or updating. */
  enroll: ['factory', 'dormant', 'suspended'],
  /** A new Key takes over an association (host side): the new Key as for `enroll`. */
  replace: ['factory', 'dormant', 'suspended'],
  /** List the paired hosts: not while revoked (only retire runs then), nor mid-wipe. */
  'hosts.list': ['factory', 'dormant', 'emergency', 'suspended', 'updating'],
  /** Unpair a host by its key id: not while revoked (only retire runs then). */
  'hosts.remove': ['factory', 'dormant', 'emergency', 'suspended', 'updating'],
  /** dormant → suspended. */
  suspend: ['dormant'],
  /** suspended → dormant. */
  resume: ['suspended'],
  /** → revoked, from an associated Key that is not being updated. */
  revoke: ['dormant', 'suspended', 'emergency'],
  /** → retired → factory (crypto-wipe); `retired` too, to finish a wipe a power cut interrupted. */
  retire: ['dormant', 'suspended', 'revoked', 'retired'],
} as const satisfies Record<string, readonly LifecycleState[]>;

/** The rows of {@link LIFECYCLE_OPERATION_STATES} that run on the host, not as one Key request. */
export const HOST_LIFECYCLE_OPERATIONS = ['enroll', 'replace'] as const;

/** A host-side lifecycle operation (association). */
export type HostLifecycleOperation = (typeof HOST_LIFECYCLE_OPERATIONS)[number];

/** A lifecycle operation that is one Key request. */
export type LifecycleRequest = Exclude<keyof typeof LIFECYCLE_OPERATION_STATES, HostLifecycleOperation>;

/** The Key's rows of {@link LIFECYCLE_OPERATION_STATES}: one request each (`COMMAND_STATES` spreads them). */
export const LIFECYCLE_REQUEST_STATES = Object.fromEntries(
  Object.entries(LIFECYCLE_OPERATION_STATES).filter(([op]) => !(HOST_LIFECYCLE_OPERATIONS as readonly string[]).includes(op)),
) as { readonly [K in LifecycleRequest]: (typeof LIFECYCLE_OPERATION_STATES)[K] };

/**
 * The emergency operations and the lifecycle states each is allowed in (read by the Key's
 * lifecycle table and by hosts). Within `emergency`, the event's phase decides further
 * (`INVALID_PHASE`; docs/emergency.md). Kept beside {@link LIFECYCLE_OPERATION_STATES}, not in it:
 * those are the operations of docs/lifecycle.md's CLI and the host's lifecycle preflight.
 */
export const EMERGENCY_OPERATION_STATES = {
  /** triggered | active → cancelled → dormant (the owner: a false alarm). */
  'emergency.cancel': ['emergency'],
  /** active → resolved → dormant (the owner: it is over). */
  'emergency.resolve': ['emergency'],
  /** A contact's signed acknowledgement, relayed by a host: shown by LED and haptic. */
  'emergency.ack': ['emergency'],
  /** Replace the contact set (signed, versioned). Not on a revoked or retired Key. */
  'contacts.set': ['factory', 'dormant', 'emergency', 'suspended', 'updating'],
  /** Version, count and aliases of the contact set. */
  'contacts.get': ['factory', 'dormant', 'emergency', 'suspended', 'updating'],
  /** The Key's bounded log of past events (and the running one): ids, times, outcomes, no location. */
  'emergency.log': ['factory', 'dormant', 'emergency', 'suspended', 'updating'],
} as const satisfies Record<string, readonly LifecycleState[]>;

/** Phases of an emergency event and their wire numbers (docs/emergency.md). */
export const EMERGENCY_PHASES = { triggered: 1, active: 2, cancelled: 3, resolved: 4, revoked: 5 } as const;

/** A phase of an emergency event. */
export type EmergencyPhase = keyof typeof EMERGENCY_PHASES;

/** Most contacts in a contact set. */
export const MAX_CONTACTS = 8;

/** Most past events a Key keeps in its emergency log (`emergency.log`; docs/emergency.md). */
export const MAX_EMERGENCY_LOG = 8;

/** Bytes of an emergency event id. */
export const EMERGENCY_EVENT_ID_LENGTH = 16;

/** A lifecycle operation (a request of {@link LIFECYCLE_OPERATION_STATES}). */
export type LifecycleOperation = keyof typeof LIFECYCLE_OPERATION_STATES;

/**
 * The named error a Key in `state` answers to a request its lifecycle table refuses there:
 * `KEY_REVOKED` on a revoked Key, `INVALID_STATE` otherwise.
 * @example stateRefusal('revoked') === 'KEY_REVOKED'
 */
export function stateRefusal(state: LifecycleState): 'KEY_REVOKED' | 'INVALID_STATE' {
  return state === 'revoked' ? 'KEY_REVOKED' : 'INVALID_STATE';
}

/**
 * Whether lifecycle operation `op` is allowed in `state`, or the named error the Key answers.
 * @example lifecycleRefusal('resume', 'dormant') === 'INVALID_STATE'
 */
export function lifecycleRefusal(op: LifecycleOperation, state: LifecycleState): 'KEY_REVOKED' | 'INVALID_STATE' | undefined {
  return (LIFECYCLE_OPERATION_STATES[op] as readonly LifecycleState[]).includes(state) ? undefined : stateRefusal(state);
}

/** Bytes of a host key id: the first bytes of SHA-256 of the host's static public key. */
export const HOST_KEY_ID_LENGTH = 8;

/** Roles a paired host can hold. */
export const HOST_ROLES = { owner: 1, provisioning: 2, service: 3 } as const;

/** A paired host's role. */
export type HostRole = keyof typeof HOST_ROLES;

/** Meaning of each host role. */
export const HOST_ROLE_DOCS: Readonly<Record<HostRole, string>> = {
  owner: "the owner's app: everyday use, manages paired hosts",
  provisioning: 'a provisioning station: activation, identity and certificates',
  service: 'a service bench: diagnostics and attestation',
};

/** Noise handshake patterns used by sessions. */
export const SESSION_PATTERNS = { XX: 1, IK: 2 } as const;

/** Feature names a Key may report in `hello`. */
export const FEATURES = {
  'dedup-retry': 'a retried request id gets the cached response; the command does not run twice',
  'state-events': 'the Key sends lifecycle.changed events',
  'noise-xx': 'sessions by Noise_XX_25519_ChaChaPoly_SHA256 (first contact)',
  'noise-ik': 'sessions by Noise_IK_25519_ChaChaPoly_SHA256 (known Key)',
  attest: 'attestation evidence (COSE_Sign1 over EAT claims)',
} as const;
