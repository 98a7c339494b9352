/**
 * The Enigm Key's GATT service, defined once: the service and characteristic UUIDs, their
 * properties, and the value of the info characteristic. HARDWARE.md ("Bluetooth Low Energy")
 * documents the same table; `protocols/test/ble-gatt.test.ts` checks the two agree.
 *
 * | characteristic | properties | carries |
 * |---|---|---|
 * | request  | write without response, write | host → Key fragments ({@link encodeFragments}) |
 * | response | notify | Key → host fragments: responses and events |
 * | info     | read | {@link BleInfo}: GATT framing revision, the Key's largest fragment and SDU |
 *
 * UUIDs are 128-bit, in noble's form (lowercase hex, no dashes); {@link dashedUuid} gives the
 * RFC 4122 form for documents.
 *
 * @module
 */
import { ProtocolError } from '../errors.ts';

/** The Key's primary service UUID (advertised, and the scan filter). */
export const ENIGM_SERVICE_UUID = 'e1a500017c1d4b8e9f3a5e4b1c0d2a10';
/** Host → Key: request fragments (write without response). */
export const ENIGM_REQUEST_UUID = 'e1a500027c1d4b8e9f3a5e4b1c0d2a10';
/** Key → host: response and event fragments (notify). */
export const ENIGM_RESPONSE_UUID = 'e1a500037c1d4b8e9f3a5e4b1c0d2a10';
/** The Key's GATT framing facts (read): {@link BleInfo}. */
export const ENIGM_INFO_UUID = 'e1a500047c1d4b8e9f3a5e4b1c0d2a10';

/** GATT characteristic properties, by noble's names. */
export type GattProperty = 'read' | 'write' | 'writeWithoutResponse' | 'notify' | 'indicate';

/** One characteristic of the Key's service. */
export interface GattCharacteristicDef {
  /** Short name used in documents and logs. */
  readonly name: 'request' | 'response' | 'info';
  /** 128-bit UUID, noble form. */
  readonly uuid: string;
  /** Properties, in the order noble lists them. */
  readonly properties: readonly GattProperty[];
  /** What the characteristic carries. */
  readonly purpose: string;
}

/** The Key's service: its UUID and characteristics. */
export const ENIGM_GATT_SERVICE: {
  readonly uuid: string;
  readonly characteristics: readonly GattCharacteristicDef[];
} = {
  uuid: ENIGM_SERVICE_UUID,
  characteristics: [
    {
      name: 'request',
      uuid: ENIGM_REQUEST_UUID,
      properties: ['write', 'writeWithoutResponse'],
      purpose: 'host → Key fragments of the serial frame stream (one write in flight)',
    },
    {
      name: 'response',
      uuid: ENIGM_RESPONSE_UUID,
      properties: ['notify'],
      purpose: 'Key → host fragments: responses, keepalives and events',
    },
    {
      name: 'info',
      uuid: ENIGM_INFO_UUID,
      properties: ['read'],
      purpose: 'GATT framing revision, largest fragment and largest SDU the Key accepts (8 bytes)',
    },
  ],
};

/** The GATT framing revision this code speaks (info byte 0). */
export const BLE_FRAMING_REVISION = 1;
/** Smallest ATT_MTU (Bluetooth Core 5.4 Vol 3 Part F 3.2.8): fragments of 20 bytes. */
export const ATT_MTU_MIN = 23;
/** Largest ATT_MTU this code negotiates (ATT values are at most 512 bytes). */
export const ATT_MTU_MAX = 517;
/** Largest fragment: an ATT attribute value is at most 512 bytes. */
export const BLE_FRAGMENT_MAX = 512;
/** Smallest fragment: ATT_MTU_MIN − 3. */
export const BLE_FRAGMENT_MIN = ATT_MTU_MIN - 3;
/** Length of the info characteristic's value. */
export const BLE_INFO_LENGTH = 8;

/**
 * The largest fragment a link carries: ATT_MTU − 3 (the write/notify opcode and handle), never
 * more than the Key accepts.
 * @throws RangeError if `mtu` is not an integer in 23..517
 */
export function fragmentSizeFor(mtu: number, keyMaxFragment = BLE_FRAGMENT_MAX): number {
  if (!Number.isInteger(mtu) || mtu < ATT_MTU_MIN || mtu > ATT_MTU_MAX)
    throw new RangeError(`mtu must be an integer in ${ATT_MTU_MIN}..${ATT_MTU_MAX}, got ${mtu}`);
  return Math.min(mtu - 3, keyMaxFragment, BLE_FRAGMENT_MAX);
}

/** The value of the info characteristic. */
export interface BleInfo {
  /** GATT framing revision ({@link BLE_FRAMING_REVISION}). */
  revision: number;
  /** Largest fragment the Key accepts, bytes (20..512). */
  maxFragment: number;
  /** Largest SDU (one reassembled write) the Key accepts, bytes (1..65535). */
  maxSdu: number;
}

/**
 * Encodes the info value: `revision u8 ‖ flags u8 (0) ‖ maxFragment u16 BE ‖ maxSdu u16 BE ‖ 00 00`.
 * @throws RangeError for a field out of range
 */
export function encodeBleInfo(info: BleInfo): Uint8Array {
  const { revision, maxFragment, maxSdu } = info;
  if (!Number.isInteger(revision) || revision < 1 || revision > 255) throw new RangeError(`revision out of range: ${revision}`);
  if (!Number.isInteger(maxFragment) || maxFragment < BLE_FRAGMENT_MIN || maxFragment > BLE_FRAGMENT_MAX)
    throw new RangeError(`maxFragment must be ${BLE_FRAGMENT_MIN}..${BLE_FRAGMENT_MAX}, got ${maxFragment}`);
  if (!Number.isInteger(maxSdu) || maxSdu < 1 || maxSdu > 0xffff) throw new RangeError(`maxSdu must be 1..65535, got ${maxSdu}`);
  const out = new Uint8Array(BLE_INFO_LENGTH);
  const view = new DataView(out.buffer);
  out[0] = revision;
  view.setUint16(2, maxFragment);
  view.setUint16(4, maxSdu);
  return out;
}

/**
 * Decodes the info value strictly: exactly 8 bytes, reserved bytes zero, a known revision,
 * fields in range.
 * @throws {@link ProtocolError} `BLE_INFO_INVALID` naming what is wrong
 */
export function decodeBleInfo(bytes: Uint8Array): BleInfo {
  const bad = (why: string): ProtocolError => new ProtocolError('BLE_INFO_INVALID', `Key info characteristic: ${why}`);
  if (!(bytes instanceof Uint8Array)) throw bad('not bytes');
  if (bytes.length !== BLE_INFO_LENGTH) throw bad(`${bytes.length} bytes, expected ${BLE_INFO_LENGTH}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const revision = bytes[0] as number;
  if (revision !== BLE_FRAMING_REVISION) throw bad(`framing revision ${revision}; this host speaks ${BLE_FRAMING_REVISION}`);
  if (bytes[1] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw bad('reserved bytes are not zero');
  const maxFragment = view.getUint16(2);
  const maxSdu = view.getUint16(4);
  if (maxFragment < BLE_FRAGMENT_MIN || maxFragment > BLE_FRAGMENT_MAX) throw bad(`max fragment ${maxFragment} out of range`);
  if (maxSdu < 1) throw bad('max SDU 0');
  return { revision, maxFragment, maxSdu };
}

/**
 * A UUID in RFC 4122 form (`e1a50001-7c1d-…`), for documents.
 * @throws RangeError if `uuid` is not 32 hex digits
 */
export function dashedUuid(uuid: string): string {
  if (!/^[0-9a-f]{32}$/.test(uuid)) throw new RangeError('uuid must be 32 lowercase hex digits');
  return `${uuid.slice(0, 8)}-${uuid.slice(8, 12)}-${uuid.slice(12, 16)}-${uuid.slice(16, 20)}-${uuid.slice(20)}`;
}
