/**
 * The error class of the broker launchers.
 * @module
 */
import { EnigmError } from '@enigm/protocols/errors';

/** Codes of {@link BrokerError}, each with its human meaning. */
export const BROKER_ERROR_CODES = {
  BROKER_MISSING: 'the broker binary (mosquitto) is not installed; the message says how to install it',
  BROKER_CONFIG_INVALID: 'a launcher option is invalid (port, files, ACL text, queue limit)',
  BROKER_START_FAILED: 'the broker exited or refused its configuration while starting; the message holds its log tail',
  BROKER_TIMEOUT: 'the broker did not accept TLS connections in time, or did not stop in time',
} as const;

/** Symbolic code of a {@link BrokerError}. */
export type BrokerErrorCode = keyof typeof BROKER_ERROR_CODES;

/** A broker could not be found, started or stopped. */
export class BrokerError extends EnigmError<BrokerErrorCode> {
  override readonly name = 'BrokerError';
}
