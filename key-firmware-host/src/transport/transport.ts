/**
 * The one transport contract of the host: bytes in, bytes out.
 *
 * The serial transport (`serial.ts`: USB CDC-ACM, UART, the simulator's pseudo-terminals), the
 * TCP transport (`tcp.ts`) and the in-memory twin for unit tests (`memory.ts`) implement
 * {@link Transport}; framing and the Key client import only this interface, so another medium is
 * one more implementation. Serial and TCP share one lifecycle (`stream.ts`) and deliver arbitrary
 * chunks; the framing layer above reassembles frames. All pass the same contract suite
 * (`key-firmware-host/test/transport-contract.ts`).
 *
 * @module
 */
import { EnigmError } from '@enigm/protocols/errors';

/** Receives what a transport reads, and learns when it closes. */
export interface TransportSink {
  /** Called with each chunk read, in order. Chunks have no frame boundaries on stream links. */
  data(chunk: Uint8Array): void;
  /** Called once when the link closes, with the error if it did not close on request. */
  closed(error?: TransportError): void;
}

/** A bytes-in/bytes-out link to one Key. */
export interface Transport {
  /** Human description for logs and errors, e.g. `serial:/dev/pts/4` or `tcp://127.0.0.1:7001`. */
  readonly description: string;
  /** Largest byte count one {@link Transport.send} call accepts. */
  readonly maxPayload: number;
  /**
   * The line rate the transport knows of, bytes/s (a UART's baud / 10), or `undefined` if it has
   * none. Only a first guess: the Key client measures the link and uses that once it can.
   */
  readonly nominalBytesPerSecond?: number;
  /** Whether the link is open. */
  readonly isOpen: boolean;
  /**
   * Opens the link and starts delivering received bytes to `sink`.
   * @throws {@link TransportError} `TRANSPORT_OPEN_FAILED` if the link cannot be opened,
   *   `TRANSPORT_ALREADY_OPEN` if it is open.
   */
  open(sink: TransportSink): Promise<void>;
  /**
   * Sends bytes; resolves once they are handed to the operating system (drained).
   * @throws {@link TransportError} `TRANSPORT_NOT_OPEN`, `TRANSPORT_PAYLOAD_TOO_LARGE`, `TRANSPORT_IO`,
   *   `TRANSPORT_BUSY` (stream transports: the outgoing queue is at its bound)
   */
  send(bytes: Uint8Array): Promise<void>;
  /** Closes the link. Idempotent; the sink's `closed` is called without an error. */
  close(): Promise<void>;
}

/** Codes of {@link TransportError}. */
export const TRANSPORT_ERROR_CODES = {
  TRANSPORT_OPEN_FAILED: 'the link could not be opened',
  TRANSPORT_ALREADY_OPEN: 'the link is already open',
  TRANSPORT_NOT_OPEN: 'the link is not open',
  TRANSPORT_CLOSED: 'the link closed (by the peer or an error)',
  TRANSPORT_PAYLOAD_TOO_LARGE: 'a send larger than the transport maximum',
  TRANSPORT_IO: 'an I/O error on the link',
  TRANSPORT_BUSY: 'the outgoing queue is full (the peer is not reading); nothing was sent',
  TRANSPORT_BAD_ADDRESS: 'an address that names no known transport',
  TRANSPORT_ADAPTER_OFF: 'the Bluetooth adapter is powered off',
  TRANSPORT_ADAPTER_UNSUPPORTED:
    'no usable Bluetooth LE adapter (unsupported, unauthorized, or the virtual adapter is unreachable)',
  TRANSPORT_NOT_FOUND: 'no device with this address was found (a BLE scan saw no such Key)',
  TRANSPORT_TIMEOUT: 'a link operation (connect, discovery, subscribe, a GATT write) did not complete in time',
} as const;

/** Symbolic code of a {@link TransportError}. */
export type TransportErrorCode = keyof typeof TRANSPORT_ERROR_CODES;

/** The one error class of the transport layer. */
export class TransportError extends EnigmError<TransportErrorCode> {
  override readonly name = 'TransportError';
}

/**
 * The error a send must fail with before touching the link — `TRANSPORT_NOT_OPEN` or
 * `TRANSPORT_PAYLOAD_TOO_LARGE` — or `undefined` if it may proceed. Shared by every transport so
 * they fail alike (the contract suite checks it).
 */
export function sendRefusal(
  t: Pick<Transport, 'description' | 'maxPayload'>,
  open: boolean,
  length: number,
): TransportError | undefined {
  if (!open) return new TransportError('TRANSPORT_NOT_OPEN', `${t.description} is not open`);
  if (length > t.maxPayload)
    return new TransportError(
      'TRANSPORT_PAYLOAD_TOO_LARGE',
      `${t.description}: send of ${length} bytes exceeds the maximum of ${t.maxPayload}`,
    );
  return undefined;
}
