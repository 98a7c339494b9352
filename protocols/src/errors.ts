/**
 * Error classes of the protocol layer.
 *
 * Every error in the suite carries a stable symbolic `code` (never a bare number), a class `name`
 * naming the layer it comes from, and a human `message`. Each layer has exactly one error class;
 * lower-layer errors are wrapped once at a boundary and kept as `cause`.
 *
 * @module
 */

/** Base class of every typed error in the suite: a stable `code`, a layer `name`, a human message. */
export class EnigmError<C extends string = string> extends Error {
  /** Stable symbolic code, e.g. `CBOR_DUPLICATE_KEY`. Safe to match on; never renamed. */
  readonly code: C;

  /**
   * @param code - stable symbolic code
   * @param message - human reason, without secrets, message content or key material
   * @param options - optional `cause`
   */
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** A JSON-friendly view: `{ name, code, message }`. */
  toJSON(): { name: string; code: C; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/**
 * Codes of {@link ProtocolError}, each with its human meaning. The meaning is documentation; the
 * thrown message says what exactly was wrong.
 */
export const PROTOCOL_ERROR_CODES = {
  CBOR_TRUNCATED: 'input ended inside a CBOR item',
  CBOR_TRAILING_BYTES: 'bytes follow the single top-level CBOR item',
  CBOR_DUPLICATE_KEY: 'a map holds the same key twice',
  CBOR_UNSORTED_KEYS: 'map keys are not in bytewise lexicographic order of their encodings',
  CBOR_INDEFINITE_LENGTH: 'an indefinite-length item (not allowed on the wire)',
  CBOR_NON_CANONICAL: 'an item is not in its shortest (preferred) encoding',
  CBOR_RESERVED: 'a reserved additional-information value (28..30) or a malformed break',
  CBOR_UNSUPPORTED_SIMPLE: 'a simple value other than false, true and null (undefined included)',
  CBOR_UNSUPPORTED_TAG: 'a tag the protocol does not define here',
  CBOR_UNSUPPORTED_TYPE: 'a value with no CBOR encoding in this protocol',
  CBOR_INVALID_KEY: 'a map key that is neither an integer nor a text string',
  CBOR_INVALID_UTF8: 'a text string that is not valid UTF-8',
  CBOR_TOO_DEEP: 'nesting deeper than the decoder bound',
  CBOR_TOO_LARGE: 'a size over a decoder or encoder limit',
  FRAME_TOO_LARGE: 'a frame longer than the negotiated maximum',
  FRAME_MALFORMED: 'a frame whose byte stuffing or header is invalid',
  FRAME_CRC: 'a frame whose CRC does not match its contents',
  FRAME_LENGTH: 'a frame whose declared length does not match its contents',
  MESSAGE_INVALID: 'a message whose fields do not match its declared record',
  MESSAGE_UNKNOWN_TYPE: 'a message type this protocol version does not define',
  MESSAGE_VERSION: 'a protocol version this side does not speak',
  CRYPTO_INVALID_KEY: 'a key that is malformed, non-canonical, or of small order',
  CRYPTO_BAD_SIGNATURE: 'a signature that does not verify (or is malformed or non-canonical)',
  CRYPTO_DECRYPT_FAILED: 'authenticated decryption failed: tampered data, wrong key, wrong nonce or wrong associated data',
  CRYPTO_WEAK_SHARED_SECRET: 'a Diffie-Hellman result that is all zeros (the peer sent a small-order point)',
  COSE_MALFORMED: 'a COSE structure that does not follow RFC 9052',
  COSE_UNSUPPORTED_ALG: 'an algorithm other than the expected one, or an algorithm outside the protected header',
  NOISE_HANDSHAKE_FAILED: 'a Noise handshake message that is malformed, out of order, or fails to decrypt',
  NOISE_STATE: 'a Noise operation in the wrong state (e.g. transport before the handshake completed)',
  NOISE_NONCE_EXHAUSTED: 'a Noise cipher state reached its maximum nonce; the session must be rekeyed or closed',
  SESSION_REPLAY: 'a session message whose counter is not above the last accepted one (replayed or reordered)',
  SESSION_INVALID: 'a session message that fails authentication, or names no open session; the session ends',
  SESSION_BINDING: "the Key's static key is not bound to its identity key by a valid signature",
  FIRMWARE_MALFORMED: 'a firmware image or manifest that does not follow the image format',
  FIRMWARE_UNTRUSTED_SIGNER: 'a manifest not signed by a trusted firmware-signing key',
  FIRMWARE_BAD_SIGNATURE: 'a manifest whose signature does not verify',
  FIRMWARE_WRONG_MODEL: 'an image built for another model',
  FIRMWARE_DOWNGRADE: 'an image whose security counter is below the installed one',
  FIRMWARE_DIGEST_MISMATCH: 'a payload whose SHA-256 differs from the manifest',
  FIRMWARE_TOO_LARGE: 'an image larger than the slot',
  MQTT_TOPIC_INVALID: 'a topic, handle, client or link name outside the MQTT topic contract',
  MQTT_PAYLOAD_INVALID:
    'an MQTT payload that is not the record its topic carries (malformed, unsigned, wrong handle or too large)',
  EMERGENCY_CONTACTS_INVALID:
    'an emergency contact set refused: unsigned, malformed, oversized, too many contacts, duplicate keys or aliases, a foreign signer, or a version not newer than the one held',
  EMERGENCY_RECORD_INVALID:
    'an emergency event start or record that is malformed, oversized, or not signed by the key it must be signed by',
  EMERGENCY_NOT_FOR_YOU: 'an emergency record with no envelope for this contact, or made for another contact set version',
  EMERGENCY_DECRYPT_FAILED:
    'an emergency envelope that does not decrypt (tampered, swapped between contacts or records, or the wrong key)',
  EMERGENCY_ACK_INVALID: 'an emergency acknowledgement that is malformed or not signed by a contact of the set',
  BLE_FRAGMENT_MALFORMED: 'a GATT fragment whose header does not parse, or longer than the negotiated bound',
  BLE_FRAGMENT_SEQUENCE: 'a GATT fragment out of sequence (one was lost or reordered); the partial SDU is dropped',
  BLE_FRAGMENT_DUPLICATE: 'a GATT fragment received twice in a row; the repeat is ignored',
  BLE_SDU_LENGTH: 'a GATT SDU whose declared length is 0 or over the bound, or whose fragments carry more or start anew',
  BLE_INFO_INVALID: "the Key's GATT info value is malformed or names a framing revision this side does not speak",
  BLE_ADAPTER_WIRE_INVALID: "a message of the simulator's virtual BLE adapter wire that is malformed, unknown or over a bound",
} as const;

/** Symbolic code of a {@link ProtocolError}. */
export type ProtocolErrorCode = keyof typeof PROTOCOL_ERROR_CODES;

/** The one error class of `protocols/`: CBOR, framing and message-model failures. */
export class ProtocolError extends EnigmError<ProtocolErrorCode> {
  override readonly name = 'ProtocolError';
}
