/**
 * The wire of the simulator's virtual BLE adapter: how a host process drives noble's bindings
 * contract across a loopback socket to the simulator (`enigm sim start --ble`), so the real
 * noble library runs in the host process on top of simulated radios in another.
 *
 * One JSON object per line (UTF-8, `\n`-terminated, at most {@link ADAPTER_LINE_MAX} bytes):
 * - host → simulator: `{"call": METHOD, "args": [...]}`, METHOD one of {@link ADAPTER_METHODS}
 *   (noble's bindings methods);
 * - simulator → host: `{"event": NAME, "args": [...]}`, NAME one of {@link ADAPTER_EVENTS}
 *   (the events noble's bindings emit), with the same arguments.
 * Byte values travel as `{"$bytes": "<hex>"}`. Arguments are bounded JSON: at most 8 per
 * message, nesting depth 4, strings of 256 characters, arrays of 64 items, objects of 16 keys.
 * Anything else is `BLE_ADAPTER_WIRE_INVALID`.
 *
 * @module
 */
import { toHex } from '../bytes.ts';
import { ProtocolError } from '../errors.ts';

/** Noble bindings methods a host may call on the virtual adapter. */
export const ADAPTER_METHODS = [
  'start',
  'stop',
  'reset',
  'startScanning',
  'stopScanning',
  'connect',
  'cancelConnect',
  'disconnect',
  'updateRssi',
  'discoverServices',
  'discoverCharacteristics',
  'read',
  'write',
  'notify',
  'discoverDescriptors',
] as const;

/** Events the virtual adapter emits (noble's bindings event names). */
export const ADAPTER_EVENTS = [
  'stateChange',
  'addressChange',
  'scanStart',
  'scanStop',
  'discover',
  'connect',
  'disconnect',
  'rssiUpdate',
  'servicesDiscover',
  'characteristicsDiscover',
  'read',
  'write',
  'notify',
  'descriptorsDiscover',
  'onMtu',
] as const;

/** A bindings method name. */
export type AdapterMethod = (typeof ADAPTER_METHODS)[number];
/** A bindings event name. */
export type AdapterEvent = (typeof ADAPTER_EVENTS)[number];

/** A value that crosses the wire. */
export type AdapterValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | readonly AdapterValue[]
  | { readonly [key: string]: AdapterValue };

/** One message on the wire. */
export type AdapterMessage =
  | { kind: 'call'; method: AdapterMethod; args: AdapterValue[] }
  | { kind: 'event'; event: AdapterEvent; args: AdapterValue[] };

/** Longest line, bytes (newline excluded). */
export const ADAPTER_LINE_MAX = 16 * 1024;
const MAX_ARGS = 8;
const MAX_DEPTH = 4;
const MAX_STRING = 256;
const MAX_ITEMS = 64;
const MAX_KEYS = 16;
const MAX_BYTES = 1024;

function invalid(why: string): ProtocolError {
  return new ProtocolError('BLE_ADAPTER_WIRE_INVALID', `virtual BLE adapter message: ${why}`);
}

function toWire(v: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) throw invalid('nested too deep');
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw invalid('a number that is not finite');
    return v;
  }
  if (typeof v === 'string') {
    if (v.length > MAX_STRING) throw invalid(`a string of ${v.length} characters`);
    return v;
  }
  if (v instanceof Uint8Array) {
    if (v.length > MAX_BYTES) throw invalid(`a byte value of ${v.length} bytes`);
    return { $bytes: toHex(v) };
  }
  if (Array.isArray(v)) {
    if (v.length > MAX_ITEMS) throw invalid(`an array of ${v.length} items`);
    return v.map((x) => toWire(x, depth + 1));
  }
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    if (entries.length > MAX_KEYS) throw invalid(`an object of ${entries.length} keys`);
    return Object.fromEntries(entries.map(([k, x]) => [k, toWire(x, depth + 1)]));
  }
  throw invalid(`a value of type ${typeof v}`);
}

function fromWire(v: unknown, depth: number): AdapterValue {
  if (depth > MAX_DEPTH) throw invalid('nested too deep');
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v.length > MAX_STRING) throw invalid(`a string of ${v.length} characters`);
    return v;
  }
  if (Array.isArray(v)) {
    if (v.length > MAX_ITEMS) throw invalid(`an array of ${v.length} items`);
    return v.map((x) => fromWire(x, depth + 1));
  }
  if (typeof v === 'object') {
    const keys = Object.keys(v as object);
    if (keys.length === 1 && keys[0] === '$bytes') {
      const hex = (v as { $bytes: unknown }).$bytes;
      if (typeof hex !== 'string' || hex.length % 2 !== 0 || hex.length > MAX_BYTES * 2 || !/^[0-9a-f]*$/.test(hex))
        throw invalid('a $bytes value that is not lowercase hex of at most 1024 bytes');
      return new Uint8Array(Buffer.from(hex, 'hex'));
    }
    if (keys.length > MAX_KEYS) throw invalid(`an object of ${keys.length} keys`);
    const out: Record<string, AdapterValue> = {};
    for (const k of keys) {
      if (k.length > MAX_STRING || k === '__proto__') throw invalid('an object key that is too long or reserved');
      out[k] = fromWire((v as Record<string, unknown>)[k], depth + 1);
    }
    return out;
  }
  throw invalid('a value that is not JSON');
}

/**
 * Encodes a message as one line (with its newline).
 * @throws {@link ProtocolError} `BLE_ADAPTER_WIRE_INVALID` for an unknown name or an argument
 *   outside the bounds (`undefined` travels as `null`)
 */
export function encodeAdapterMessage(m: AdapterMessage): string {
  if (m.kind === 'call' && !(ADAPTER_METHODS as readonly string[]).includes(m.method))
    throw invalid(`unknown method ${m.method}`);
  if (m.kind === 'event' && !(ADAPTER_EVENTS as readonly string[]).includes(m.event)) throw invalid(`unknown event ${m.event}`);
  if (m.args.length > MAX_ARGS) throw invalid(`${m.args.length} arguments`);
  const args = m.args.map((a) => toWire(a, 1));
  const line = JSON.stringify(m.kind === 'call' ? { call: m.method, args } : { event: m.event, args });
  if (Buffer.byteLength(line) > ADAPTER_LINE_MAX) throw invalid('a line over the bound');
  return `${line}\n`;
}

/**
 * Decodes one line (without its newline), strictly.
 * @throws {@link ProtocolError} `BLE_ADAPTER_WIRE_INVALID` naming what is wrong
 */
export function decodeAdapterMessage(line: string): AdapterMessage {
  if (typeof line !== 'string' || Buffer.byteLength(line) > ADAPTER_LINE_MAX) throw invalid('a line over the bound');
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw invalid('not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid('not an object');
  const o = parsed as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  if (!Array.isArray(o.args) || o.args.length > MAX_ARGS) throw invalid('args must be an array of at most 8 values');
  const args = o.args.map((a) => fromWire(a, 1));
  if (keys === 'args,call') {
    if (!(ADAPTER_METHODS as readonly unknown[]).includes(o.call)) throw invalid(`unknown method ${String(o.call).slice(0, 40)}`);
    return { kind: 'call', method: o.call as AdapterMethod, args };
  }
  if (keys === 'args,event') {
    if (!(ADAPTER_EVENTS as readonly unknown[]).includes(o.event)) throw invalid(`unknown event ${String(o.event).slice(0, 40)}`);
    return { kind: 'event', event: o.event as AdapterEvent, args };
  }
  throw invalid('expected exactly {call, args} or {event, args}');
}

/**
 * Splits a byte stream into lines, bounded: a line over {@link ADAPTER_LINE_MAX} is an error
 * (the connection should be closed).
 */
export class AdapterLineSplitter {
  #buffer = '';

  /**
   * Feeds a chunk; returns the complete lines it finished.
   * @throws {@link ProtocolError} `BLE_ADAPTER_WIRE_INVALID` once a line grows past the bound
   */
  push(chunk: string): string[] {
    this.#buffer += chunk;
    const parts = this.#buffer.split('\n');
    this.#buffer = parts.pop() ?? '';
    if (this.#buffer.length > ADAPTER_LINE_MAX) throw invalid('a line over the bound');
    return parts.filter((p) => p.length > 0);
  }
}
