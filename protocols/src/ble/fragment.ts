/**
 * Framing over GATT: an SDU (the bytes of one transport send: serial frames with their CRC) is
 * cut into fragments of at most ATT_MTU − 3 bytes, one write-without-response or notification
 * each, and reassembled by length on the other side.
 *
 * Fragment format (one byte of header, big-endian lengths):
 *
 * ```
 * first fragment:         F=1 | seq (7 bits) ‖ SDU length u16 ‖ data
 * continuation fragment:  F=0 | seq (7 bits) ‖ data (≥ 1 byte)
 * ```
 *
 * `seq` counts fragments per direction and connection from 0, modulo 128. ATT over a BLE link
 * is reliable and ordered, so a gap is a bug or a lost link below us; the sequence number turns
 * it into a typed error instead of a silently corrupted SDU:
 * - the same `seq` twice in a row → `BLE_FRAGMENT_DUPLICATE`, the repeat is ignored;
 * - a `seq` up to {@link BLE_LATE_WINDOW} behind the last accepted one (a straggler that was
 *   overtaken, or an older repeat) → `BLE_FRAGMENT_SEQUENCE`, the straggler is dropped and nothing
 *   else changes: SDUs are delivered in the order they were sent or not at all, never an older one
 *   after a newer one (the secure session above rejects a replayed counter and would end);
 * - any other unexpected `seq` (a lost or reordered fragment) → `BLE_FRAGMENT_SEQUENCE`, the
 *   partial SDU is dropped and the reassembler waits for the next first fragment;
 * - a header that does not parse or a fragment over the bound → `BLE_FRAGMENT_MALFORMED`;
 * - a declared length of 0 or over the bound, data past the declared length, or a new SDU
 *   before the last completed → `BLE_SDU_LENGTH`.
 * The framing above (CRC-32C frames, request ids, retries) recovers from a dropped SDU as it
 * does from a corrupted frame on a UART.
 *
 * @module
 */
import { ProtocolError } from '../errors.ts';
import { BLE_FRAGMENT_MAX, BLE_FRAGMENT_MIN } from './gatt.ts';

/**
 * How far behind the last accepted sequence number a fragment counts as late (dropped) rather than
 * as a jump ahead after lost fragments (resynchronised on): 16 of the 128 sequence numbers.
 */
export const BLE_LATE_WINDOW = 16;

/** Bit 7 of the header: this fragment starts an SDU. */
const FIRST = 0x80;
const SEQ_MASK = 0x7f;
/** Header bytes of a first fragment (header + u16 length). */
export const FIRST_HEADER = 3;
/** Header bytes of a continuation fragment. */
export const CONTINUATION_HEADER = 1;
/** Largest SDU the length field can declare. */
export const BLE_SDU_MAX = 0xffff;

function checkFragmentSize(name: string, size: number): void {
  if (!Number.isInteger(size) || size < BLE_FRAGMENT_MIN || size > BLE_FRAGMENT_MAX)
    throw new RangeError(`${name} must be an integer in ${BLE_FRAGMENT_MIN}..${BLE_FRAGMENT_MAX}, got ${size}`);
}

/**
 * Number of fragments an SDU of `length` bytes takes at `fragmentSize`.
 * @throws RangeError for a length outside 1..65535 or a bad fragment size
 */
export function fragmentCount(length: number, fragmentSize: number): number {
  checkFragmentSize('fragmentSize', fragmentSize);
  if (!Number.isInteger(length) || length < 1 || length > BLE_SDU_MAX)
    throw new RangeError(`SDU length must be 1..65535, got ${length}`);
  const first = fragmentSize - FIRST_HEADER;
  return length <= first ? 1 : 1 + Math.ceil((length - first) / (fragmentSize - CONTINUATION_HEADER));
}

/** Cuts SDUs into fragments, numbering them per direction. One per link direction. */
export class FragmentEncoder {
  #seq = 0;

  /** The sequence number the next fragment gets. */
  get nextSeq(): number {
    return this.#seq;
  }

  /**
   * Fragments `sdu` into pieces of at most `fragmentSize` bytes (ATT_MTU − 3).
   * @param sdu - 1..65535 bytes
   * @param fragmentSize - 20..512
   * @returns the fragments, in order (fresh arrays)
   * @throws RangeError for an empty or oversized SDU or a bad fragment size
   * @example new FragmentEncoder().encode(Uint8Array.of(1, 2), 20) // [Uint8Array [0x80, 0, 2, 1, 2]]
   */
  encode(sdu: Uint8Array, fragmentSize: number): Uint8Array[] {
    if (!(sdu instanceof Uint8Array)) throw new TypeError('sdu must be a Uint8Array');
    fragmentCount(sdu.length, fragmentSize);
    const out: Uint8Array[] = [];
    let offset = Math.min(sdu.length, fragmentSize - FIRST_HEADER);
    const first = new Uint8Array(FIRST_HEADER + offset);
    first[0] = FIRST | this.#take();
    first[1] = sdu.length >>> 8;
    first[2] = sdu.length & 0xff;
    first.set(sdu.subarray(0, offset), FIRST_HEADER);
    out.push(first);
    while (offset < sdu.length) {
      const n = Math.min(sdu.length - offset, fragmentSize - CONTINUATION_HEADER);
      const frag = new Uint8Array(CONTINUATION_HEADER + n);
      frag[0] = this.#take();
      frag.set(sdu.subarray(offset, offset + n), CONTINUATION_HEADER);
      out.push(frag);
      offset += n;
    }
    return out;
  }

  #take(): number {
    const s = this.#seq;
    this.#seq = (s + 1) & SEQ_MASK;
    return s;
  }
}

/** What {@link FragmentDecoder.push} yields: a reassembled SDU, or a typed error. */
export type FragmentEvent = { kind: 'sdu'; sdu: Uint8Array } | { kind: 'error'; error: ProtocolError };

/** Options of {@link FragmentDecoder}. */
export interface FragmentDecoderOptions {
  /** Largest SDU accepted (1..65535). */
  maxSdu: number;
  /** Largest fragment accepted (20..512); default 512. */
  maxFragment?: number;
}

/**
 * Reassembles SDUs from fragments, in order. Never throws on bad input: every problem is an
 * `error` event. Memory is bounded by `maxSdu`.
 */
export class FragmentDecoder {
  readonly #maxSdu: number;
  readonly #maxFragment: number;
  /** The seq of the last fragment accepted, or -1 before the first. */
  #last = -1;
  #sdu: Uint8Array | undefined;
  #filled = 0;
  /** After an error: continuations are dropped quietly until the next first fragment. */
  #hunting = false;
  /** Counters (for diagnostics). */
  readonly stats = { fragments: 0, sdus: 0, errors: 0, dropped: 0 };

  /**
   * @throws RangeError for a bound out of range
   */
  constructor(options: FragmentDecoderOptions) {
    const maxFragment = options.maxFragment ?? BLE_FRAGMENT_MAX;
    checkFragmentSize('maxFragment', maxFragment);
    if (!Number.isInteger(options.maxSdu) || options.maxSdu < 1 || options.maxSdu > BLE_SDU_MAX)
      throw new RangeError(`maxSdu must be 1..65535, got ${options.maxSdu}`);
    this.#maxSdu = options.maxSdu;
    this.#maxFragment = maxFragment;
  }

  /** Bytes of the SDU being reassembled so far. */
  get pending(): number {
    return this.#sdu === undefined ? 0 : this.#filled;
  }

  /**
   * Takes one fragment (a write's or notification's value).
   * @returns zero or one event
   * @throws never
   */
  push(fragment: Uint8Array): FragmentEvent[] {
    this.stats.fragments++;
    if (!(fragment instanceof Uint8Array) || fragment.length < 2 || fragment.length > this.#maxFragment) {
      const n = fragment instanceof Uint8Array ? fragment.length : -1;
      return this.#fail('BLE_FRAGMENT_MALFORMED', `a fragment of ${n} bytes (bounds 2..${this.#maxFragment})`);
    }
    const header = fragment[0] as number;
    const seq = header & SEQ_MASK;
    const first = (header & FIRST) !== 0;
    if (this.#last >= 0 && seq === this.#last) {
      this.stats.dropped++;
      return this.#error('BLE_FRAGMENT_DUPLICATE', `fragment ${seq} received twice; the repeat is ignored`);
    }
    if (this.#last >= 0) {
      const behind = (this.#last - seq) & SEQ_MASK;
      if (behind > 0 && behind <= BLE_LATE_WINDOW) {
        this.stats.dropped++;
        return this.#error('BLE_FRAGMENT_SEQUENCE', `fragment ${seq} arrived after ${this.#last} (late); it is dropped`);
      }
    }
    const expected = (this.#last + 1) & SEQ_MASK;
    this.#last = seq;
    if (seq !== expected) {
      this.#drop();
      this.#hunting = true;
      if (first) {
        const started = this.#start(fragment);
        const error = this.#error('BLE_FRAGMENT_SEQUENCE', `fragment ${seq} where ${expected} was due (lost or out of order)`);
        return [...error, ...started];
      }
      return this.#fail('BLE_FRAGMENT_SEQUENCE', `fragment ${seq} where ${expected} was due (lost or out of order)`);
    }
    if (first) {
      if (this.#sdu !== undefined) {
        this.#drop();
        const error = this.#error('BLE_SDU_LENGTH', 'a new SDU began before the previous one was complete');
        return [...error, ...this.#start(fragment)];
      }
      return this.#start(fragment);
    }
    if (this.#sdu === undefined) {
      this.stats.dropped++;
      if (this.#hunting) return [];
      this.#hunting = true;
      return this.#error('BLE_FRAGMENT_SEQUENCE', 'a continuation fragment with no SDU begun');
    }
    return this.#append(fragment.subarray(CONTINUATION_HEADER));
  }

  /** Forgets everything (a new connection: sequence numbers start at 0 again). */
  reset(): void {
    this.#drop();
    this.#last = -1;
    this.#hunting = false;
  }

  #start(fragment: Uint8Array): FragmentEvent[] {
    if (fragment.length < FIRST_HEADER + 1)
      return this.#fail('BLE_FRAGMENT_MALFORMED', 'a first fragment without length and data');
    const length = ((fragment[1] as number) << 8) | (fragment[2] as number);
    if (length < 1 || length > this.#maxSdu)
      return this.#fail('BLE_SDU_LENGTH', `an SDU of ${length} bytes (bounds 1..${this.#maxSdu})`);
    this.#hunting = false;
    this.#sdu = new Uint8Array(length);
    this.#filled = 0;
    return this.#append(fragment.subarray(FIRST_HEADER));
  }

  #append(data: Uint8Array): FragmentEvent[] {
    const sdu = this.#sdu as Uint8Array;
    if (this.#filled + data.length > sdu.length) {
      this.#drop();
      return this.#fail('BLE_SDU_LENGTH', `fragments carry more than the declared ${sdu.length} bytes`);
    }
    sdu.set(data, this.#filled);
    this.#filled += data.length;
    if (this.#filled < sdu.length) return [];
    this.#sdu = undefined;
    this.#filled = 0;
    this.stats.sdus++;
    return [{ kind: 'sdu', sdu }];
  }

  #drop(): void {
    if (this.#sdu !== undefined) this.stats.dropped++;
    this.#sdu = undefined;
    this.#filled = 0;
  }

  /** An error that also drops what was being reassembled and waits for the next first fragment. */
  #fail(code: 'BLE_FRAGMENT_MALFORMED' | 'BLE_FRAGMENT_SEQUENCE' | 'BLE_SDU_LENGTH', message: string): FragmentEvent[] {
    this.#drop();
    this.#hunting = true;
    return this.#error(code, message);
  }

  #error(
    code: 'BLE_FRAGMENT_MALFORMED' | 'BLE_FRAGMENT_SEQUENCE' | 'BLE_FRAGMENT_DUPLICATE' | 'BLE_SDU_LENGTH',
    message: string,
  ) {
    this.stats.errors++;
    return [{ kind: 'error', error: new ProtocolError(code, message) }] as FragmentEvent[];
  }
}
