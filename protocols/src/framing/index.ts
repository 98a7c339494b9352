/**
 * Serial framing of the Enigm Key protocol: `00 ‖ COBS(length ‖ payload ‖ CRC-32C) ‖ 00` frames
 * over a byte stream. See `frame.ts` for the wire format.
 *
 * @module
 */

export { cobsDecode, cobsEncode, cobsMaxEncodedLength } from './cobs.ts';
export { crc32c } from './crc32c.ts';
export type { FrameDecoderOptions, FrameEvent } from './frame.ts';
export { encodeFrame, FRAME_DELIMITER, FRAME_LENGTH_FIELD_MAX, FrameDecoder, frameOverhead } from './frame.ts';
