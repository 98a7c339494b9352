/**
 * The TPM transport contract: one call that sends a whole command and resolves with the whole
 * response, plus close. swtpm over TCP, `/dev/tpmrm0` and test fakes implement it.
 *
 * @module
 */

/** Bytes-in, bytes-out transport to one TPM. Calls are serialized by the implementation. */
export interface TpmTransport {
  /** Sends one complete command; resolves with its complete response. */
  send(command: Uint8Array): Promise<Uint8Array>;
  /** Releases the connection or device. */
  close(): Promise<void>;
}

/** Largest response accepted from a TPM (`MAX_RESPONSE_SIZE` is 4096 on most TPMs). */
export const MAX_RESPONSE_BYTES = 8192;
