/**
 * The simulator runtime's error class (one per layer): a stable code, the layer name and a human
 * reason. The firmware model answers with wire errors instead; this class is for starting and
 * running the simulator itself.
 * @module
 */
import { EnigmError } from '@enigm/protocols/errors';

/** Codes of {@link SimulatorError}. */
export const SIMULATOR_ERROR_CODES = [
  /** serial ports were asked for but socat is not installed */
  'SIM_SOCAT_MISSING',
  /** another live simulator owns the state folder */
  'SIM_STATE_LOCKED',
  /** a Key's TCP port is taken (another simulator, or another program); nothing was started or written */
  'SIM_PORT_IN_USE',
  /** a control named a Key index the simulator does not have */
  'SIM_NO_SUCH_KEY',
  /** a control got invalid input (gesture, battery level, GNSS track, radio state, speed, time); nothing changed */
  'SIM_BAD_INPUT',
] as const;

/** A {@link SimulatorError} code. */
export type SimulatorErrorCode = (typeof SIMULATOR_ERROR_CODES)[number];

/**
 * An error of the simulator runtime.
 * @example throw new SimulatorError('SIM_SOCAT_MISSING', 'socat is required for serial ports');
 */
export class SimulatorError extends EnigmError<SimulatorErrorCode> {
  override readonly name: string = 'SimulatorError';
}
