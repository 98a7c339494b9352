/**
 * Opens a TPM transport from a spec string: `swtpm:host=H,port=P` (swtpm TCP data channel) or
 * `device[:PATH]` (default `/dev/tpmrm0`).
 *
 * @module
 */
import { openTpmDevice } from './device.ts';
import { connectSwtpm } from './swtpm.ts';
import type { TpmTransport } from './transport.ts';

/**
 * Parses a TPM spec.
 * @throws TypeError naming what is wrong with the spec
 * @example parseTpmSpec('swtpm:host=127.0.0.1,port=2321')
 */
export function parseTpmSpec(spec: string): { kind: 'swtpm'; host: string; port: number } | { kind: 'device'; path: string } {
  if (spec === 'device' || spec.startsWith('device:')) return { kind: 'device', path: spec.slice(7) || '/dev/tpmrm0' };
  if (!spec.startsWith('swtpm:')) throw new TypeError(`tpm: expected swtpm:host=H,port=P or device[:PATH], got ${spec}`);
  const kv = new Map(
    spec
      .slice(6)
      .split(',')
      .filter(Boolean)
      .map((p) => p.split('=', 2) as [string, string]),
  );
  const host = kv.get('host') ?? '127.0.0.1';
  const port = Number(kv.get('port') ?? 2321);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new TypeError(`tpm: port must be in 1..65535, got ${kv.get('port')}`);
  return { kind: 'swtpm', host, port };
}

/** Opens the transport a spec names. */
export function openTpm(spec: string): Promise<TpmTransport> {
  const s = parseTpmSpec(spec);
  return s.kind === 'swtpm' ? connectSwtpm({ host: s.host, port: s.port }) : openTpmDevice(s.path);
}
