/**
 * The Noise prologue of a Key session. It binds the session to the capability negotiation that
 * preceded it and to the transport: both sides hash in exactly what the host offered in `hello`,
 * what the Key answered, the chosen version and the transport name. A man in the middle who
 * rewrote `hello` (say, to force an older protocol version) makes the two prologues differ, and
 * the handshake fails.
 * @module
 */
import { encode } from '../cbor/encode.ts';

/** What both sides know of the negotiation on this link. */
export interface PrologueInput {
  /** Versions the host offered in `hello`. */
  hostVersions: readonly number[];
  /** Versions the Key listed in `hello.response`. */
  keyVersions: readonly number[];
  /** Version chosen. */
  version: number;
  /** Transport name as both sides see it: `serial`, `tcp`, `ble`, `mqtt`, `memory`. */
  transport: string;
}

/** Label that starts every prologue. */
export const PROLOGUE_LABEL = 'enigm-key-session';

/**
 * The prologue bytes: CBOR `["enigm-key-session", hostVersions, keyVersions, version, transport]`.
 * @example sessionPrologue({ hostVersions: [1], keyVersions: [1], version: 1, transport: 'serial' })
 */
export function sessionPrologue(p: PrologueInput): Uint8Array {
  return encode([PROLOGUE_LABEL, [...p.hostVersions], [...p.keyVersions], p.version, p.transport]);
}
