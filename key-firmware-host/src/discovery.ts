/**
 * Finding Keys: list candidate serial ports and keep those that answer `hello` as a Key.
 *
 * Candidates are the USB CDC-ACM and USB-serial device nodes (`/dev/ttyACM*`, `/dev/ttyUSB*`)
 * plus any paths the caller adds (the CLI adds the simulator's ports). Enumeration reads `/dev`
 * directly rather than through udev, so it works in containers without udevadm.
 * @module
 */
import { readdirSync } from 'node:fs';
import { KeyClient } from './client/key-client.ts';
import { SerialTransport } from './transport/serial.ts';
import type { Transport } from './transport/transport.ts';

/** Serial device nodes that may be Keys. */
export function candidateSerialPorts(devDir = '/dev'): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(devDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^tty(ACM|USB)\d+$/.test(n))
    .sort()
    .map((n) => `${devDir}/${n}`);
}

/** A port that answered as a Key. */
export interface DiscoveredKey {
  port: string;
  model: string;
  firmware: string;
  state: string;
  protocolVersion: number;
}

/** A port that did not answer as a Key, and why. */
export interface SilentPort {
  port: string;
  error: string;
}

/**
 * Probes each port with `hello` (concurrently) and sorts them into Keys and silent ports.
 * @param ports - serial paths or any transport addresses
 * @param open - makes the transport for a port (default: serial at 115200)
 */
export async function probePorts(
  ports: readonly string[],
  options: { timeoutMs?: number; open?: (port: string) => Transport } = {},
): Promise<{ keys: DiscoveredKey[]; silent: SilentPort[] }> {
  const open = options.open ?? ((path: string) => new SerialTransport({ path }));
  const results = await Promise.all(
    [...new Set(ports)].map(async (port) => {
      try {
        const c = await KeyClient.connect(open(port), { timeoutMs: options.timeoutMs ?? 500, retries: 1 });
        const h = c.hello;
        await c.close();
        return { key: { port, model: h.model, firmware: h.firmware, state: h.state, protocolVersion: h.version } };
      } catch (e) {
        return { silent: { port, error: (e as Error).message } };
      }
    }),
  );
  return {
    keys: results.flatMap((r) => (r.key ? [r.key] : [])),
    silent: results.flatMap((r) => (r.silent ? [r.silent] : [])),
  };
}
