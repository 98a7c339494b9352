/**
 * Connecting to a Key from the CLI: the shared `--port/--baud/--timeout` options.
 * @module
 */
import { KeyClient, transportFromAddress } from '@enigm/key-firmware-host';
import { int, type ParsedArgs, str, UsageError } from '../cli.ts';

/** Help text of the port options. */
export const PORT_HELP = `  --port ADDR     serial device path (e.g. /dev/ttyACM0, .sim-state/ttyKEY0) or tcp://host:port
  --baud N        serial baud rate (default 115200)
  --timeout MS    per-request timeout (default 2000)`;

/** Port options. */
export const portOptions = {
  port: { type: 'string', short: 'p' },
  baud: { type: 'string' },
  timeout: { type: 'string' },
} as const;

/** Connects a KeyClient to --port. */
export async function connect(args: ParsedArgs): Promise<KeyClient> {
  const port = str(args, 'port');
  if (!port) throw new UsageError('--port is required');
  const transport = transportFromAddress(port, { baudRate: int(args, 'baud', 115200, 50, 12_000_000) });
  return KeyClient.connect(transport, { timeoutMs: int(args, 'timeout', 2000, 1, 600_000) });
}
