/**
 * Broker URLs (`mqtt://`, `mqtts://`) parsed strictly, and CONNACK refusals named, for
 * `MqttLink` (link.ts).
 * @module
 */
import { MqttError } from './errors.ts';

const DEFAULT_PORTS: Record<string, number> = { mqtt: 1883, mqtts: 8883 };

/** A parsed broker URL. */
export interface BrokerAddress {
  protocol: 'mqtt' | 'mqtts';
  host: string;
  port: number;
  /** What follows the authority, without the leading `/` (e.g. a Key handle), or ''. */
  path: string;
}

/**
 * Parses `mqtt://host[:port][/path]` or `mqtts://…` strictly.
 * @throws {@link MqttError} `MQTT_BAD_URL` naming what is wrong (never echoing credentials)
 * @example parseBrokerUrl('mqtt://127.0.0.1:1883/eh1-…') // { protocol: 'mqtt', host: '127.0.0.1', port: 1883, path: 'eh1-…' }
 */
export function parseBrokerUrl(url: string): BrokerAddress {
  const m = /^(mqtts?):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(?:\/(.*))?$/.exec(
    typeof url === 'string' ? url : '',
  );
  if (m === null) {
    const why =
      typeof url !== 'string' || url === ''
        ? 'empty'
        : /@/.test(url)
          ? 'credentials do not belong in the URL'
          : 'expected mqtt://host[:port] or mqtts://host[:port]';
    throw new MqttError('MQTT_BAD_URL', `bad broker URL: ${why}`);
  }
  const protocol = m[1] as 'mqtt' | 'mqtts';
  const port = m[3] === undefined ? (DEFAULT_PORTS[protocol] as number) : Number(m[3]);
  if (port < 1 || port > 65535) throw new MqttError('MQTT_BAD_URL', `bad broker URL: port ${port} is outside 1..65535`);
  return { protocol, host: (m[2] as string).replace(/^\[|\]$/g, ''), port, path: m[4] ?? '' };
}

/** Names a CONNACK refusal (3.1.1 return codes and MQTT 5 reason codes); `version`: the broker refused the MQTT version. */
export function refusal(code: number | undefined): {
  code: 'MQTT_NOT_AUTHORIZED' | 'MQTT_CONNECT_FAILED';
  why: string;
  version: boolean;
} {
  switch (code) {
    case 1:
    case 0x84:
      return { code: 'MQTT_CONNECT_FAILED', why: 'the broker does not speak this MQTT version', version: true };
    case 2:
    case 0x85:
      return { code: 'MQTT_CONNECT_FAILED', why: 'the broker refused the client id', version: false };
    case 4:
    case 5:
    case 0x86:
    case 0x87:
    case 0x8c:
      return { code: 'MQTT_NOT_AUTHORIZED', why: 'the broker refused these credentials (not authorized)', version: false };
    default:
      return {
        code: 'MQTT_CONNECT_FAILED',
        why: code === undefined ? 'cannot connect to the broker' : `the broker refused the connection (code ${code})`,
        version: false,
      };
  }
}
