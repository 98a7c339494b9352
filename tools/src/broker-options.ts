/**
 * The CLI's MQTT options, shared by every command that talks to a broker: `--broker URL` with
 * `--ca`, `--cert`, `--key` (PEM files for `mqtts://` and mutual TLS) and `--client NAME` (the
 * broker username; under mutual TLS the certificate CN), and, for Key commands whose `--port` is
 * `mqtt[s]://broker/HANDLE`, the same TLS files as `--mqtt-ca`, `--mqtt-cert`, `--mqtt-key`,
 * `--mqtt-client` (so they do not clash with a command's own `--key` or `--ca`).
 * @module
 */
import type { MqttTls } from '@enigm/mqtt';
import { type ParsedArgs, readTextFile, str, UsageError } from './cli.ts';

/** Help text of the broker options. */
export const BROKER_HELP = `  --broker URL    the MQTT broker: mqtt://host[:port] or mqtts://host[:port]
  --ca F          CA certificate (PEM) that signed the broker's certificate (mqtts)
  --cert F        this client's certificate (PEM) for mutual TLS; its CN is the broker username
  --key F         this client's private key (PEM) for mutual TLS
  --client NAME   broker username when there is no client certificate (default: a random host-… name)`;

/** Broker options. */
export const brokerOptions = {
  broker: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  client: { type: 'string' },
} as const;

/** Help text of the MQTT options of Key commands. */
export const MQTT_PORT_HELP = `  --mqtt-ca F, --mqtt-cert F, --mqtt-key F
                  TLS files for a --port mqtts://broker/HANDLE (as --ca/--cert/--key of enigm broker)
  --mqtt-client NAME  this host's broker name for a --port mqtt://… (default: the certificate CN,
                  else $ENIGM_MQTT_CLIENT, else a random host-… name)`;

/** MQTT options of Key commands. */
export const mqttPortOptions = {
  'mqtt-ca': { type: 'string' },
  'mqtt-cert': { type: 'string' },
  'mqtt-key': { type: 'string' },
  'mqtt-client': { type: 'string' },
} as const;

/**
 * Reads the TLS files named by `ca`, `cert`, `key` (option names given with their prefix).
 * @returns the TLS material, or undefined when none is given
 * @throws {@link UsageError} for a certificate without its key or the reverse; the CLI's input errors for unreadable files
 */
export function tlsFiles(args: ParsedArgs, prefix = ''): MqttTls | undefined {
  const ca = str(args, `${prefix}ca`);
  const cert = str(args, `${prefix}cert`);
  const key = str(args, `${prefix}key`);
  if ((cert === undefined) !== (key === undefined)) throw new UsageError(`--${prefix}cert and --${prefix}key go together`);
  if (ca === undefined && cert === undefined) return undefined;
  return {
    ...(ca !== undefined ? { ca: readTextFile(ca, `--${prefix}ca`) } : {}),
    ...(cert !== undefined ? { cert: readTextFile(cert, `--${prefix}cert`) } : {}),
    ...(key !== undefined ? { key: readTextFile(key, `--${prefix}key`) } : {}),
  };
}

/**
 * `--broker` and its TLS options.
 * @throws {@link UsageError} without --broker (when required), or with TLS files for a plain mqtt:// URL
 */
export function brokerFromArgs(args: ParsedArgs): { url: string; tls?: MqttTls; client?: string } {
  const url = str(args, 'broker');
  if (url === undefined) throw new UsageError('--broker URL is required (mqtt://host:port or mqtts://host:port)');
  const tls = tlsFiles(args);
  if (tls?.cert !== undefined && url.startsWith('mqtt://'))
    throw new UsageError('a client certificate needs an mqtts:// broker URL');
  const client = str(args, 'client');
  return { url, ...(tls ? { tls } : {}), ...(client !== undefined ? { client } : {}) };
}
