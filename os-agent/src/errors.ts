/**
 * The one error class of `os-agent/`: collectors, the Enigm OS daemon client, reports, publishing
 * and the local API.
 *
 * COORDINATION: this file is shared by the collection half (signals, collectors, daemon client) and
 * the reports half (reports, signing, TPM binding, publishing, local API, CLI). Add new codes to the
 * one {@link AGENT_ERROR_CODES} object below (keep one code per line, grouped by area); do not create
 * a second error class in this package.
 *
 * Argument guards throw `TypeError`/`RangeError` naming the field, as elsewhere in the suite.
 *
 * @module
 */
import { EnigmError } from '@enigm/protocols/errors';

/**
 * Codes of {@link AgentError}, each with its human meaning. The meaning is documentation; the thrown
 * message says what exactly was wrong (never a path of the device, a hostname or user content).
 */
export const AGENT_ERROR_CODES = {
  // Signals and collectors.
  SIGNAL_INVALID: 'a signal whose name is not in the signal table, or whose value does not fit its declared type',
  COLLECTOR_TIMEOUT: 'a collector did not finish within its time bound; its signals are reported unknown',
  COLLECTOR_FAILED: 'a collector failed; its signals are reported unknown with the reason',
  SOURCE_UNREADABLE: 'a signal source (a file under /sys, /proc, /etc or /dev, or a findings file) cannot be read',
  SOURCE_MALFORMED: 'a signal source holds something other than what its format says',
  // Enigm OS posture daemon client.
  DAEMON_UNAVAILABLE: 'no Enigm OS posture daemon listens on the socket (absent, refused or not a socket)',
  DAEMON_TIMEOUT: 'the Enigm OS posture daemon did not answer a request within the per-request timeout',
  DAEMON_PROTOCOL: 'the Enigm OS posture daemon sent a frame that does not decode, or a response that does not match the request',
  DAEMON_CLOSED: 'the connection to the Enigm OS posture daemon closed before the response arrived',
  DAEMON_ERROR: 'the Enigm OS posture daemon answered a request with an error status',
  // Reports, signing, TPM binding, publishing, local API: add codes here.
  CONFIG_INVALID:
    'the agent configuration file is missing, not JSON, or has an unknown, missing or malformed field (the message names it)',
  STATE_INVALID: 'a file of the agent state folder (identity key, sequence counter, AK blob) is unreadable or malformed',
  STATE_WRITE_FAILED: 'a file of the agent state folder could not be written',
  REPORT_FAILED: 'a posture report could not be built or signed (a signal that does not fit the report)',
  REPORT_NOT_READY: 'the agent has made no report yet, or too many reports are waiting (ask again shortly)',
  POLICY_REFUSED:
    'a policy document that is unsigned, not signed by a trusted Enigm Command key, malformed, or not newer than the policy held',
  PUBLISH_FAILED: 'a report could not be queued for publishing (outbox full or failed)',
  API_PROTOCOL: 'a local API request or response that does not decode, or is over its size bound',
  API_UNAVAILABLE: 'nothing answers on the local API socket (the agent is not running, or the path is wrong)',
  API_TIMEOUT: 'the local API did not answer within the time bound',
  API_REFUSED: 'the agent answered a local API request with an error (the message names its code)',
} as const;

/** Symbolic code of an {@link AgentError}. */
export type AgentErrorCode = keyof typeof AGENT_ERROR_CODES;

/** The one error class of `os-agent/`. */
export class AgentError extends EnigmError<AgentErrorCode> {
  override readonly name = 'AgentError';
}
