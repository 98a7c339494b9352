/**
 * Turns a user-given Key address into a {@link Transport}.
 *
 * Accepted forms:
 * - `tcp://host:port` (IPv6 in brackets: `tcp://[::1]:7001`) → {@link TcpTransport}
 * - `serial://<path>`, e.g. `serial:///dev/ttyACM0` → {@link SerialTransport}
 * - a bare path, e.g. `/dev/ttyACM0`, `./key.pty`, `COM3` → {@link SerialTransport}
 * - `mqtt://broker[:port]/HANDLE` or `mqtts://…/HANDLE` → {@link MqttTransport} (the Key through a broker)
 * - `ble:<id, address or name>` → {@link BleTransport} (noble; the adapter from `ENIGM_BLE_ADAPTER`)
 *
 * @module
 */
import type { MqttTls } from '@enigm/mqtt';
import { BleTransport } from './ble/ble.ts';
import type { BleAdapterChoice } from './ble/noble.ts';
import { MqttTransport, parseMqttKeyAddress } from './mqtt.ts';
import { SerialTransport } from './serial.ts';
import { TcpTransport } from './tcp.ts';
import { type Transport, TransportError } from './transport.ts';

/** Options of {@link transportFromAddress}. */
export interface TransportAddressOptions {
  /** Baud rate for serial addresses; default 115200. Ignored for TCP. */
  baudRate?: number;
  /** For `mqtt://` and `mqtts://` addresses: this host's broker name and TLS material. */
  mqtt?: { client?: string; tls?: MqttTls };
  /** For `ble:` addresses: the adapter (default `ENIGM_BLE_ADAPTER`) and scan time. */
  ble?: { adapter?: BleAdapterChoice; scanTimeoutMs?: number };
}

const EXAMPLES =
  'use tcp://host:port (e.g. tcp://127.0.0.1:7001), mqtt://broker:port/HANDLE, ble:NAME (e.g. ble:Enigm-K0), serial:///dev/ttyACM0, or a device path such as /dev/ttyACM0';

function bad(address: string, reason: string): TransportError {
  return new TransportError('TRANSPORT_BAD_ADDRESS', `bad Key address ${JSON.stringify(address)}: ${reason}; ${EXAMPLES}`);
}

function parseTcp(address: string): { host: string; port: number } {
  const rest = address.slice('tcp://'.length);
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:/?#@[\]]+)):(\d{1,5})\/?$/.exec(rest);
  if (match === null) {
    if (/^(\[[^\]]*\]|[^:/]+)\/?$/.test(rest)) throw bad(address, 'a tcp address needs a port');
    throw bad(address, 'expected tcp://host:port with nothing after the port');
  }
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  if (host === '') throw bad(address, 'a tcp address needs a host');
  if (port < 1 || port > 65535) throw bad(address, `port ${port} is outside 1..65535`);
  return { host, port };
}

/**
 * Creates (but does not open) the transport an address names.
 * @param address - `tcp://host:port`, `serial://<path>` or a bare device path
 * @param options - baud rate for serial addresses
 * @returns a closed {@link TcpTransport}, {@link SerialTransport}, {@link MqttTransport} or {@link BleTransport}
 * @throws {@link TransportError} `TRANSPORT_BAD_ADDRESS` for an empty address, an unknown scheme
 *   (e.g. `http://`), an empty or malformed `ble:` target, a TCP address without a valid host or port, an empty serial path, or a bare
 *   `host:port` (which needs `tcp://`); the message shows the accepted forms.
 * @throws RangeError if `options.baudRate` is not a positive integer (serial addresses only)
 */
export function transportFromAddress(address: string, options: TransportAddressOptions = {}): Transport {
  if (typeof address !== 'string' || address.trim() === '') throw bad(String(address), 'the address is empty');
  if (address !== address.trim() || /\p{Cc}/u.test(address)) {
    throw bad(address, 'the address has surrounding spaces or control characters');
  }
  const ble = /^ble:(?:\/\/)?(.*)$/i.exec(address);
  if (ble) {
    const target = ble[1] ?? '';
    if (target === '') throw bad(address, 'a ble address needs a Key id, address or advertised name');
    try {
      return new BleTransport({ target, ...options.ble });
    } catch (e) {
      throw bad(address, (e as Error).message);
    }
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(address)?.[1]?.toLowerCase();
  if (scheme === 'tcp') {
    const { host, port } = parseTcp(address);
    return new TcpTransport({ host, port });
  }
  if (scheme === 'mqtt' || scheme === 'mqtts') {
    let parsed: { broker: string; handle: string };
    try {
      parsed = parseMqttKeyAddress(address);
    } catch (e) {
      throw bad(address, (e as Error).message.replace(/^bad Key address: /, ''));
    }
    const { broker, handle } = parsed;
    return new MqttTransport({
      broker,
      handle,
      ...(options.mqtt?.client ? { client: options.mqtt.client } : {}),
      ...(options.mqtt?.tls ? { tls: options.mqtt.tls } : {}),
    });
  }
  if (scheme === 'serial') {
    const path = address.slice('serial://'.length);
    if (path === '') throw bad(address, 'a serial address needs a device path');
    return new SerialTransport(options.baudRate === undefined ? { path } : { path, baudRate: options.baudRate });
  }
  if (scheme !== undefined) throw bad(address, `unknown transport scheme "${scheme}://"`);
  if (/^[^/\\:]+:\d+$/.test(address) || /^tcp:/i.test(address)) {
    throw bad(address, `it looks like a TCP endpoint; write tcp://${address.replace(/^tcp:/i, '')}`);
  }
  return new SerialTransport(options.baudRate === undefined ? { path: address } : { path: address, baudRate: options.baudRate });
}
