/**
 * Parser of TCG PC Client firmware event logs (TCG PC Client Platform Firmware Profile §10;
 * TCG EFI Protocol Specification §5): the legacy SHA-1 format (`TCG_PCR_EVENT` records) and the
 * crypto-agile format (a `TCG_PCR_EVENT` carrying the `Spec ID Event03` header, then
 * `TCG_PCR_EVENT2` records). All integers are little-endian.
 *
 * Everything parsed here is UNTRUSTED: a log is attacker-controlled bytes until it has been
 * replayed against PCR values that a verified quote covers (see `replay.ts`).
 *
 * @module
 */
import { AttestationError } from '../errors.ts';
import { hashById } from '../hash.ts';
import { EV_NO_ACTION } from './event-types.ts';

/** One digest of an event. */
export interface EventDigest {
  /** `TPM_ALG_ID` of the digest. Untrusted. */
  readonly alg: number;
  /** The digest bytes (a view into the log). Untrusted until replayed. */
  readonly digest: Uint8Array;
}

/** One event record. Every field is UNTRUSTED until a replay matches a quoted PCR. */
export interface TcgEvent {
  /** Position in the log, 0 for the first record (the Spec ID event in crypto-agile logs). */
  readonly seq: number;
  /** Byte offset of the record in the log. */
  readonly offset: number;
  /** PCR index the event claims to extend (0..31; any value for `EV_NO_ACTION`). Untrusted. */
  readonly pcr: number;
  /** Event type (`EV_*`). Untrusted: not covered by the digest, so a log editor can change it freely. */
  readonly type: number;
  /** Digests, one per bank the record carries. Untrusted until replayed. */
  readonly digests: readonly EventDigest[];
  /** Event data (a view into the log). Untrusted: only some event types bind it to the digest. */
  readonly data: Uint8Array;
}

/** One algorithm declared by the Spec ID event. */
export interface SpecIdAlgorithm {
  /** `TPM_ALG_ID`. */
  readonly id: number;
  /** Declared digest size in bytes. */
  readonly size: number;
}

/** The `TCG_EfiSpecIDEvent` header of a crypto-agile log. Untrusted. */
export interface SpecIdEvent {
  readonly platformClass: number;
  readonly specVersionMinor: number;
  readonly specVersionMajor: number;
  readonly specErrata: number;
  /** 1 = UINT32, 2 = UINT64 (`UINTN` size of the firmware). */
  readonly uintnSize: number;
  readonly algorithms: readonly SpecIdAlgorithm[];
  readonly vendorInfo: Uint8Array;
}

/** A parsed, unverified event log. */
export interface EventLog {
  /** `crypto-agile` (TCG_PCR_EVENT2 records) or `sha1` (legacy TCG_PCR_EVENT records). */
  readonly format: 'crypto-agile' | 'sha1';
  /** The Spec ID header, for crypto-agile logs. */
  readonly specId: SpecIdEvent | undefined;
  /** Algorithms the records may carry (SHA-1 only for legacy logs). */
  readonly algorithms: readonly SpecIdAlgorithm[];
  /** All records in log order, the Spec ID event included. */
  readonly events: readonly TcgEvent[];
}

/** Bounds applied while parsing. */
export interface ParseEventLogOptions {
  /** Largest log accepted, bytes (default 16 MiB). */
  maxBytes?: number;
  /** Largest event data accepted, bytes (default 1 MiB). */
  maxEventBytes?: number;
}

/** Default {@link ParseEventLogOptions.maxBytes}. */
export const DEFAULT_MAX_LOG_BYTES = 16 * 1024 * 1024;
/** Default {@link ParseEventLogOptions.maxEventBytes}. */
export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;
/** Most algorithms a Spec ID event may declare. */
export const MAX_ALGORITHMS = 16;
/** Highest PCR index accepted in a record. */
export const MAX_PCR_INDEX = 31;

const SPEC_ID_SIGNATURE = 'Spec ID Event03\0';
const LEGACY_HEADER = 32; // pcr, type, sha1[20], size

class LeReader {
  private readonly view: DataView;
  pos = 0;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get left(): number {
    return this.bytes.length - this.pos;
  }
  need(n: number, what: string): void {
    if (n > this.left)
      throw new AttestationError(
        'EVENTLOG_TRUNCATED',
        `log ends inside ${what} at offset ${this.pos} (${n} bytes needed, ${this.left} left)`,
      );
  }
  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** Reads PCR index and type; only `EV_NO_ACTION` records may name a PCR over the bound (Windows logs use -1). */
function pcrAndType(r: LeReader, offset: number): [number, number] {
  const pcr = r.u32('a PCR index');
  const type = r.u32('an event type');
  if (pcr > MAX_PCR_INDEX && type !== EV_NO_ACTION)
    throw new AttestationError('EVENTLOG_MALFORMED', `event at offset ${offset}: PCR index ${pcr} is over ${MAX_PCR_INDEX}`);
  return [pcr, type];
}

function eventData(r: LeReader, max: number, offset: number): Uint8Array {
  const size = r.u32('an event size');
  if (size > max)
    throw new AttestationError('EVENTLOG_TOO_LARGE', `event at offset ${offset}: data size ${size} is over the bound ${max}`);
  return r.take(size, 'event data');
}

function readLegacy(r: LeReader, seq: number, max: number): TcgEvent {
  const offset = r.pos;
  r.need(LEGACY_HEADER, 'a TCG_PCR_EVENT header');
  const [pcr, type] = pcrAndType(r, offset);
  const digest = r.take(20, 'a SHA-1 digest');
  const data = eventData(r, max, offset);
  return { seq, offset, pcr, type, digests: [{ alg: 0x0004, digest }], data };
}

function readEvent2(r: LeReader, seq: number, algs: ReadonlyMap<number, number>, max: number): TcgEvent {
  const offset = r.pos;
  const [pcr, type] = pcrAndType(r, offset);
  const count = r.u32('a digest count');
  if (count > algs.size)
    throw new AttestationError(
      'EVENTLOG_TOO_LARGE',
      `event at offset ${offset}: ${count} digests but the Spec ID event declares ${algs.size} algorithms`,
    );
  const digests: EventDigest[] = [];
  for (let i = 0; i < count; i++) {
    const alg = r.u16('a digest algorithm');
    const size = algs.get(alg);
    if (size === undefined)
      throw new AttestationError(
        'EVENTLOG_UNKNOWN_ALGORITHM',
        `event at offset ${offset}: digest algorithm 0x${hex4(alg)} is not declared by the Spec ID event`,
      );
    if (digests.some((d) => d.alg === alg))
      throw new AttestationError('EVENTLOG_MALFORMED', `event at offset ${offset}: two digests for algorithm 0x${hex4(alg)}`);
    digests.push({ alg, digest: r.take(size, 'a digest') });
  }
  return { seq, offset, pcr, type, digests, data: eventData(r, max, offset) };
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

/**
 * Parses a `TCG_EfiSpecIDEvent` (the data of the first record of a crypto-agile log).
 * @throws {@link AttestationError} `EVENTLOG_MALFORMED`, `EVENTLOG_TRUNCATED`, `EVENTLOG_TOO_LARGE`
 */
export function parseSpecIdEvent(data: Uint8Array): SpecIdEvent {
  const r = new LeReader(data);
  const sig = Buffer.from(r.take(16, 'the Spec ID signature')).toString('latin1');
  if (sig !== SPEC_ID_SIGNATURE) throw new AttestationError('EVENTLOG_MALFORMED', `Spec ID signature is ${JSON.stringify(sig)}`);
  const platformClass = r.u32('platformClass');
  const specVersionMinor = r.u8('specVersionMinor');
  const specVersionMajor = r.u8('specVersionMajor');
  const specErrata = r.u8('specErrata');
  const uintnSize = r.u8('uintnSize');
  if (specVersionMajor !== 2 || specVersionMinor !== 0)
    throw new AttestationError('EVENTLOG_MALFORMED', `Spec ID version ${specVersionMajor}.${specVersionMinor} is not 2.0`);
  if (uintnSize !== 1 && uintnSize !== 2)
    throw new AttestationError('EVENTLOG_MALFORMED', `Spec ID uintnSize ${uintnSize} is not 1 or 2`);
  const n = r.u32('numberOfAlgorithms');
  if (n === 0 || n > MAX_ALGORITHMS)
    throw new AttestationError(
      n === 0 ? 'EVENTLOG_MALFORMED' : 'EVENTLOG_TOO_LARGE',
      `Spec ID declares ${n} algorithms (1..${MAX_ALGORITHMS} allowed)`,
    );
  const algorithms: SpecIdAlgorithm[] = [];
  for (let i = 0; i < n; i++) {
    const id = r.u16('an algorithmId');
    const size = r.u16('a digestSize');
    const known = hashById(id);
    if (known && known.size !== size)
      throw new AttestationError(
        'EVENTLOG_MALFORMED',
        `Spec ID declares ${known.name} with digest size ${size}, not ${known.size}`,
      );
    if (size === 0 || size > 64)
      throw new AttestationError('EVENTLOG_MALFORMED', `Spec ID declares algorithm 0x${hex4(id)} with digest size ${size}`);
    if (algorithms.some((a) => a.id === id))
      throw new AttestationError('EVENTLOG_MALFORMED', `Spec ID declares algorithm 0x${hex4(id)} twice`);
    algorithms.push({ id, size });
  }
  const vendorInfo = r.take(r.u8('vendorInfoSize'), 'vendorInfo');
  if (r.left !== 0) throw new AttestationError('EVENTLOG_MALFORMED', `${r.left} bytes follow the Spec ID event's vendorInfo`);
  return { platformClass, specVersionMinor, specVersionMajor, specErrata, uintnSize, algorithms, vendorInfo };
}

function isSpecIdRecord(e: TcgEvent): boolean {
  return (
    e.type === EV_NO_ACTION && e.data.length >= 16 && Buffer.from(e.data.subarray(0, 15)).toString('latin1') === 'Spec ID Event03'
  );
}

/**
 * Parses a TCG event log, either format. Event data and digests are views into `log` (no copy),
 * so the caller must not modify `log` while using the result.
 *
 * @param log - raw log bytes, e.g. `/sys/kernel/security/tpm0/binary_bios_measurements`
 * @throws {@link AttestationError} `EVENTLOG_TRUNCATED`, `EVENTLOG_TOO_LARGE`, `EVENTLOG_MALFORMED`,
 *   `EVENTLOG_UNKNOWN_ALGORITHM`
 * @throws TypeError if `log` is not a Uint8Array
 * @example
 * const log = parseEventLog(readFileSync('binary_bios_measurements'));
 * log.events.length; // number of records
 */
export function parseEventLog(log: Uint8Array, options: ParseEventLogOptions = {}): EventLog {
  if (!(log instanceof Uint8Array)) throw new TypeError('log must be a Uint8Array');
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_LOG_BYTES;
  const maxEvent = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  if (log.length > maxBytes)
    throw new AttestationError('EVENTLOG_TOO_LARGE', `log is ${log.length} bytes, over the bound ${maxBytes}`);
  if (log.length === 0) throw new AttestationError('EVENTLOG_TRUNCATED', 'log is empty');
  const r = new LeReader(log);
  const first = readLegacy(r, 0, maxEvent);
  const events: TcgEvent[] = [first];
  if (!isSpecIdRecord(first)) {
    while (r.left > 0) events.push(readLegacy(r, events.length, maxEvent));
    return { format: 'sha1', specId: undefined, algorithms: [{ id: 0x0004, size: 20 }], events };
  }
  if (first.pcr !== 0) throw new AttestationError('EVENTLOG_MALFORMED', `Spec ID event is on PCR ${first.pcr}, not 0`);
  const specId = parseSpecIdEvent(first.data);
  const algs = new Map(specId.algorithms.map((a) => [a.id, a.size]));
  while (r.left > 0) events.push(readEvent2(r, events.length, algs, maxEvent));
  return { format: 'crypto-agile', specId, algorithms: specId.algorithms, events };
}
