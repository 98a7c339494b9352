/**
 * The Enigm OS posture daemon protocol: how the posture agent asks the Enigm OS daemon (`enigm-osd`)
 * for Trust Security Center posture, device-management state, privacy-mode state, network-policy
 * state, OTA verification state and the remote-attestation outcome.
 *
 * Transport: a Unix domain (stream) socket. Each message is one frame:
 *
 * ```
 * frame    = length(uint32, big-endian, 1..DAEMON_MAX_FRAME_BYTES) ‖ payload(CBOR, strict deterministic)
 * request  = { 1: version, 2: id (uint32), 3: query }
 * response = { 1: version, 2: id (echoed), 3: query (echoed), 4: status, ? 5: state, ? 6: reason, ? 7: ageMs }
 * ```
 *
 * One query per request; a client may pipeline several requests on one connection and match the
 * responses by id (the daemon may answer out of order). `state` is present exactly when `status` is
 * `ok`, and its record is the one declared for the query in {@link DAEMON_STATE_RECORDS}. `reason`
 * (status `unavailable` or `error`) is short human text from the daemon, `ageMs` how old the
 * daemon's view of that state is. States are policy/posture enums only: no traffic, endpoints,
 * accounts, names or content.
 *
 * Decoding is strict and bounded: a frame longer than {@link DAEMON_MAX_FRAME_BYTES} is refused from
 * its length prefix before its payload is read (`FRAME_TOO_LARGE`), a zero length is `FRAME_LENGTH`,
 * the CBOR must be deterministic (`CBOR_*`), records must match their declaration
 * (`MESSAGE_INVALID`), unknown versions are `MESSAGE_VERSION` and unknown queries
 * `MESSAGE_UNKNOWN_TYPE`. Every failure is a {@link ProtocolError}.
 *
 * @module
 */
import { decode } from '../cbor/decode.ts';
import { encode } from '../cbor/encode.ts';
import type { CborMap, CborValue } from '../cbor/types.ts';
import { ProtocolError } from '../errors.ts';
import {
  defineRecord,
  type FieldType,
  field,
  INVALID,
  type RecordType,
  type RecordValue,
  type Schema,
  t,
} from '../messages/record.ts';

/** Protocol version spoken here. */
export const DAEMON_PROTOCOL_VERSION = 1;
/** Largest frame payload, bytes (a response is well under 200 bytes). */
export const DAEMON_MAX_FRAME_BYTES = 4096;
/** Length of the frame length prefix, bytes. */
export const DAEMON_FRAME_HEADER_BYTES = 4;
/** Largest request id. */
export const DAEMON_MAX_REQUEST_ID = 0xffff_ffff;
/** Longest `reason` text in a response, UTF-16 code units. */
export const DAEMON_MAX_REASON = 120;
/** Largest `ageMs` (about 49 days). */
export const DAEMON_MAX_AGE_MS = 0xffff_ffff;

/** Query codes: which state a request asks for. */
export const DAEMON_QUERIES = {
  tsc: 1,
  mdm: 2,
  privacy: 3,
  network: 4,
  ota: 5,
  attestation: 6,
} as const;
/** A query name. */
export type DaemonQuery = keyof typeof DAEMON_QUERIES;
/** Every query name, in code order. */
export const DAEMON_QUERY_NAMES: readonly DaemonQuery[] = Object.keys(DAEMON_QUERIES) as DaemonQuery[];

/** Response status codes. */
export const DAEMON_STATUS = {
  /** The state is known; `state` holds it. */
  ok: 0,
  /** The daemon does not know the state (e.g. not provisioned, subsystem off); `reason` says why. */
  unavailable: 1,
  /** The daemon could not serve the request (bad version, internal error); `reason` says why. */
  error: 2,
} as const;
/** A response status name. */
export type DaemonStatus = keyof typeof DAEMON_STATUS;

const enumCodes = <E extends string>(...names: E[]): Readonly<Record<E, number>> =>
  Object.fromEntries(names.map((n, i) => [n, i])) as Record<E, number>;

/** Enum codes of the state records (value name → integer on the wire). */
export const DAEMON_ENUMS = {
  tscLevel: enumCodes('secure', 'attention', 'at-risk'),
  mdmState: enumCodes('unmanaged', 'enrolling', 'enrolled', 'enrolled-noncompliant'),
  privacyMode: enumCodes('standard', 'private', 'strict'),
  vpn: enumCodes('off', 'on', 'always-on'),
  esimProfile: enumCodes('none', 'personal', 'enterprise', 'travel'),
  otaState: enumCodes('verified', 'pending', 'failed'),
  attestationOutcome: enumCodes('pass', 'fail', 'pending', 'never'),
} as const;

/** The state record declared for each query. */
export const DAEMON_STATE_RECORDS = {
  tsc: defineRecord('osd.tsc', {
    level: field(1, t.enumOf('tsc level', DAEMON_ENUMS.tscLevel), false, 'Trust Security Center overall level'),
  }),
  mdm: defineRecord('osd.mdm', {
    state: field(1, t.enumOf('mdm state', DAEMON_ENUMS.mdmState), false, 'device-management enrolment state'),
  }),
  privacy: defineRecord('osd.privacy', {
    mode: field(1, t.enumOf('privacy mode', DAEMON_ENUMS.privacyMode), false, 'privacy-mode state'),
  }),
  network: defineRecord('osd.network', {
    vpn: field(1, t.enumOf('vpn state', DAEMON_ENUMS.vpn), false, 'VPN policy state'),
    proxy: field(2, t.bool(), false, 'a proxy is configured'),
    torGateway: field(3, t.bool(), false, 'traffic goes through the Tor gateway'),
    esimProfile: field(4, t.enumOf('esim profile', DAEMON_ENUMS.esimProfile), false, 'kind of eSIM profile in use'),
  }),
  ota: defineRecord('osd.ota', {
    state: field(1, t.enumOf('ota state', DAEMON_ENUMS.otaState), false, 'verification of the running system image'),
  }),
  attestation: defineRecord('osd.attestation', {
    outcome: field(1, t.enumOf('attestation outcome', DAEMON_ENUMS.attestationOutcome), false, 'last remote attestation outcome'),
  }),
} as const;

type StateRecords = typeof DAEMON_STATE_RECORDS;
/** The typed state for query `Q`. */
export type DaemonState<Q extends DaemonQuery = DaemonQuery> =
  StateRecords[Q] extends RecordType<infer S> ? RecordValue<S> : never;
/** The typed state of every query. */
export type DaemonStates = { [Q in DaemonQuery]: DaemonState<Q> };

const queryField = t.enumOf('query', DAEMON_QUERIES);
const anyMap: FieldType<CborMap> = {
  describe: 'map (the state record of the query)',
  check: (v) => (v instanceof Map ? v : INVALID),
  why: () => 'expected a map',
  toCbor: (v) => v,
};

/** The request record. */
export const DaemonRequestRecord = defineRecord('osd.request', {
  version: field(1, t.uint(0xffff), false, 'protocol version'),
  id: field(2, t.uint(DAEMON_MAX_REQUEST_ID), false, 'request id, echoed in the response'),
  query: field(3, queryField, false, 'which state is asked for'),
});

/** The response record (its `state` is validated against the query's record by {@link decodeDaemonResponse}). */
export const DaemonResponseRecord = defineRecord('osd.response', {
  version: field(1, t.uint(0xffff), false, 'protocol version'),
  id: field(2, t.uint(DAEMON_MAX_REQUEST_ID), false, 'request id of the request answered'),
  query: field(3, queryField, false, 'query answered'),
  status: field(4, t.enumOf('status', DAEMON_STATUS), false, 'ok, unavailable or error'),
  state: field(5, anyMap, true, 'the state record of the query (status ok only)'),
  reason: field(6, t.text(DAEMON_MAX_REASON), true, 'why the state is unavailable or the request failed'),
  ageMs: field(7, t.uint(DAEMON_MAX_AGE_MS), true, "age of the daemon's view of the state, ms"),
});

/** A request. */
export interface DaemonRequest {
  /** Protocol version ({@link DAEMON_PROTOCOL_VERSION}). */
  version: number;
  /** Request id, uint32. */
  id: number;
  /** What is asked for. */
  query: DaemonQuery;
}

/** A response to query `Q`. */
export type DaemonResponse<Q extends DaemonQuery = DaemonQuery> = {
  [K in Q]: {
    /** Protocol version. */
    version: number;
    /** The id of the request answered. */
    id: number;
    /** The query answered. */
    query: K;
    /** ok, unavailable or error. */
    status: DaemonStatus;
    /** The state (exactly when status is ok). */
    state?: DaemonState<K>;
    /** Why not ok (daemon's words, ≤ {@link DAEMON_MAX_REASON}). */
    reason?: string;
    /** Age of the state in ms. */
    ageMs?: number;
  };
}[Q];

const DECODE_OPTIONS = { maxBytes: DAEMON_MAX_FRAME_BYTES, maxDepth: 4, maxItems: 16 } as const;

function decodeBounded(payload: Uint8Array): CborValue {
  if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
  return decode(payload, DECODE_OPTIONS);
}

function checkVersion(value: CborValue, what: string): void {
  if (value instanceof Map) {
    const v = value.get(1);
    if (typeof v === 'number' && Number.isInteger(v) && v !== DAEMON_PROTOCOL_VERSION && v >= 0) {
      throw new ProtocolError(
        'MESSAGE_VERSION',
        `${what}: protocol version ${v} is not spoken here (${DAEMON_PROTOCOL_VERSION} is)`,
      );
    }
    const q = value.get(3);
    if (typeof q === 'number' && Number.isInteger(q) && q >= 0 && !Object.values(DAEMON_QUERIES).includes(q as never)) {
      throw new ProtocolError('MESSAGE_UNKNOWN_TYPE', `${what}: unknown query ${q}`);
    }
  }
}

/**
 * Encodes a request payload (deterministic CBOR, without the frame header).
 * @throws {@link ProtocolError} `MESSAGE_INVALID` if a field is out of range
 */
export function encodeDaemonRequest(req: DaemonRequest): Uint8Array {
  const map = DaemonRequestRecord.toMap(req);
  DaemonRequestRecord.fromMap(map); // range checks of the declared types
  return encode(map);
}

/**
 * Strictly decodes a request payload.
 * @throws {@link ProtocolError} `CBOR_*`, `MESSAGE_INVALID`, `MESSAGE_VERSION` or `MESSAGE_UNKNOWN_TYPE`
 */
export function decodeDaemonRequest(payload: Uint8Array): DaemonRequest {
  const value = decodeBounded(payload);
  checkVersion(value, 'osd.request');
  return DaemonRequestRecord.fromMap(value);
}

/**
 * Encodes a response payload, checking that `state` fits the query's record and is present exactly
 * when the status is ok.
 * @throws {@link ProtocolError} `MESSAGE_INVALID`
 */
export function encodeDaemonResponse(res: DaemonResponse): Uint8Array {
  const rec = DAEMON_STATE_RECORDS[res.query] as RecordType<Schema> | undefined;
  if (!rec) throw new ProtocolError('MESSAGE_UNKNOWN_TYPE', `osd.response: unknown query ${String(res.query)}`);
  if ((res.status === 'ok') !== (res.state !== undefined)) {
    throw new ProtocolError('MESSAGE_INVALID', 'osd.response: state must be present exactly when status is ok');
  }
  const state = res.state === undefined ? undefined : rec.toMap(res.state as never);
  if (state) rec.fromMap(state);
  const map = DaemonResponseRecord.toMap({ ...res, state } as RecordValue<typeof DaemonResponseRecord.schema>);
  DaemonResponseRecord.fromMap(map);
  return encode(map);
}

/**
 * Strictly decodes a response payload, validating `state` against the record of the query it
 * answers.
 * @throws {@link ProtocolError} `CBOR_*`, `MESSAGE_INVALID`, `MESSAGE_VERSION` or `MESSAGE_UNKNOWN_TYPE`
 */
export function decodeDaemonResponse(payload: Uint8Array): DaemonResponse {
  const value = decodeBounded(payload);
  checkVersion(value, 'osd.response');
  const r = DaemonResponseRecord.fromMap(value);
  if ((r.status === 'ok') !== (r.state !== undefined)) {
    throw new ProtocolError('MESSAGE_INVALID', 'osd.response: state must be present exactly when status is ok');
  }
  const out: DaemonResponse = { version: r.version, id: r.id, query: r.query, status: r.status };
  if (r.state !== undefined) {
    (out as { state?: unknown }).state = (DAEMON_STATE_RECORDS[r.query] as RecordType<Schema>).fromMap(r.state);
  }
  if (r.reason !== undefined) out.reason = r.reason;
  if (r.ageMs !== undefined) out.ageMs = r.ageMs;
  return out;
}

/**
 * Prefixes a payload with its 4-byte big-endian length.
 * @throws {@link ProtocolError} `FRAME_TOO_LARGE` over {@link DAEMON_MAX_FRAME_BYTES}, `FRAME_LENGTH` if empty
 */
export function frameDaemonPayload(payload: Uint8Array): Uint8Array {
  if (payload.length === 0) throw new ProtocolError('FRAME_LENGTH', 'empty daemon frame payload');
  if (payload.length > DAEMON_MAX_FRAME_BYTES) {
    throw new ProtocolError(
      'FRAME_TOO_LARGE',
      `daemon frame payload of ${payload.length} bytes is over ${DAEMON_MAX_FRAME_BYTES}`,
    );
  }
  const out = new Uint8Array(DAEMON_FRAME_HEADER_BYTES + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, DAEMON_FRAME_HEADER_BYTES);
  return out;
}

/**
 * Splits a byte stream into frame payloads. Holds at most one partial frame
 * (≤ {@link DAEMON_FRAME_HEADER_BYTES} + max payload bytes). After an error the reader is broken:
 * every later {@link DaemonFrameReader.push} throws the same error, and the connection should be closed
 * (a length-prefixed stream has no resynchronisation point).
 */
export class DaemonFrameReader {
  private buf = new Uint8Array(0);
  private failed: ProtocolError | undefined;

  /** @param maxPayload - largest payload accepted (default and at most {@link DAEMON_MAX_FRAME_BYTES}) */
  constructor(private readonly maxPayload = DAEMON_MAX_FRAME_BYTES) {
    if (!Number.isInteger(maxPayload) || maxPayload < 1 || maxPayload > DAEMON_MAX_FRAME_BYTES) {
      throw new RangeError(`maxPayload must be in [1, ${DAEMON_MAX_FRAME_BYTES}]`);
    }
  }

  /** Bytes held of an incomplete frame. */
  get pending(): number {
    return this.buf.length;
  }

  /**
   * Adds bytes; returns the payloads of the frames they complete, in order.
   * @throws {@link ProtocolError} `FRAME_TOO_LARGE` (declared length over the bound) or `FRAME_LENGTH` (zero length)
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failed) throw this.failed;
    let data = chunk;
    if (this.buf.length > 0) {
      data = new Uint8Array(this.buf.length + chunk.length);
      data.set(this.buf);
      data.set(chunk, this.buf.length);
    }
    const out: Uint8Array[] = [];
    let pos = 0;
    while (data.length - pos >= DAEMON_FRAME_HEADER_BYTES) {
      const len = new DataView(data.buffer, data.byteOffset + pos, DAEMON_FRAME_HEADER_BYTES).getUint32(0);
      if (len === 0) this.fail(new ProtocolError('FRAME_LENGTH', 'daemon frame with a zero length'));
      if (len > this.maxPayload) {
        this.fail(
          new ProtocolError('FRAME_TOO_LARGE', `daemon frame declares ${len} bytes, over the limit of ${this.maxPayload}`),
        );
      }
      if (data.length - pos - DAEMON_FRAME_HEADER_BYTES < len) break;
      const start = pos + DAEMON_FRAME_HEADER_BYTES;
      out.push(data.slice(start, start + len));
      pos = start + len;
    }
    this.buf = data.slice(pos);
    return out;
  }

  private fail(err: ProtocolError): never {
    this.failed = err;
    this.buf = new Uint8Array(0);
    throw err;
  }
}
