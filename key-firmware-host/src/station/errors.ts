/**
 * The error class of the provisioning station, each code with its meaning. Errors of the layers
 * below (Key facade, client, transport, CA) are reported with their own codes.
 * @module
 */
import { EnigmError } from '@enigm/protocols/errors';

/** Codes of {@link StationError}, each with its meaning. */
export const STATION_ERROR_CODES = {
  STATION_BAD_ARGUMENT: 'an option the station cannot use (no ports, a bad concurrency, an account secret of the wrong length)',
  STATION_ABORTED: 'the batch was aborted (its signal fired) before this Key was finished; running the station again resumes it',
  STATION_NOT_FACTORY: 'the Key has left factory state without a certificate chain: a station cannot provision it',
  STATION_FOREIGN_CHAIN: "the Key holds a certificate chain that does not verify to this station's roots for its identity",
  STATION_VERIFY_FAILED: "after installing its chain the Key's evidence does not carry it or does not verify to the root",
  STATION_PORT_LOST: 'the port disappeared or stopped answering mid-provision (unplugged, powered off, link closed)',
  STATION_MANIFEST_INVALID: 'a manifest file that does not parse or has the wrong format',
  STATION_WRITE_FAILED: 'the manifest could not be written',
} as const;

/** Symbolic code of a {@link StationError}. */
export type StationErrorCode = keyof typeof STATION_ERROR_CODES;

/**
 * The one error class of the provisioning station.
 * @example
 * if (e instanceof StationError && e.code === 'STATION_PORT_LOST') console.log('replug it and run again');
 */
export class StationError extends EnigmError<StationErrorCode> {
  override readonly name = 'StationError';
}
