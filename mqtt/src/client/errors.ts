/**
 * The one error class of the MQTT client layer.
 * @module
 */
import { EnigmError } from '@enigm/protocols/errors';

/** Codes of {@link MqttError}, each with its human meaning. */
export const MQTT_ERROR_CODES = {
  MQTT_BAD_URL: 'a broker URL that is not mqtt://host[:port] or mqtts://host[:port]',
  MQTT_BAD_INPUT: 'an argument outside its allowed range (the message names it)',
  MQTT_CONNECT_FAILED: 'the broker could not be reached, or refused the connection',
  MQTT_NOT_AUTHORIZED: 'the broker refused the client: bad or missing credentials or certificate',
  MQTT_TLS_FILES: 'a CA, certificate or key file could not be read or parsed',
  MQTT_CERT_EXPIRED: 'the client certificate has expired',
  MQTT_CERT_NOT_YET_VALID: 'the client certificate is not valid yet (check the clock)',
  MQTT_NOT_CONNECTED: 'the client is not connected to the broker right now; nothing was sent',
  MQTT_PUBLISH_FAILED: 'the broker did not accept a publish (refused, or the connection dropped before its acknowledgement)',
  MQTT_SUBSCRIBE_REFUSED: 'the broker refused a subscription (not authorized by its ACL, or invalid)',
  MQTT_CLOSED: 'the client was closed',
} as const;

/** Symbolic code of an {@link MqttError}. */
export type MqttErrorCode = keyof typeof MQTT_ERROR_CODES;

/** The one error class of `@enigm/mqtt`'s client. */
export class MqttError extends EnigmError<MqttErrorCode> {
  override readonly name = 'MqttError';
  /** The broker's numeric answer when it refused something (SUBACK / PUBACK / CONNACK code), if any. */
  reason?: number;

  /** Attaches the broker's numeric refusal code. */
  withReason(reason: number | undefined): this {
    if (reason !== undefined) this.reason = reason;
    return this;
  }
}
