/**
 * The Linux TPM resource-manager device (`/dev/tpmrm0`): write one command, read one response.
 * Not exercised by the test suite (no device in CI); kept minimal.
 *
 * @module
 */
import { open } from 'node:fs/promises';
import { AttestationError } from '../errors.ts';
import { MAX_RESPONSE_BYTES, type TpmTransport } from './transport.ts';

/**
 * Opens a TPM character device.
 * @param path - default `/dev/tpmrm0`
 * @throws {@link AttestationError} `TPM_TRANSPORT` if the device cannot be opened
 */
export async function openTpmDevice(path = '/dev/tpmrm0'): Promise<TpmTransport> {
  const fh = await open(path, 'r+').catch((e: Error) => {
    throw new AttestationError('TPM_TRANSPORT', `cannot open ${path}: ${e.message}`, { cause: e });
  });
  let queue: Promise<unknown> = Promise.resolve();
  const exchange = async (command: Uint8Array): Promise<Uint8Array> => {
    await fh.write(command, 0, command.length, null);
    const buf = Buffer.alloc(MAX_RESPONSE_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    return new Uint8Array(buf.subarray(0, bytesRead));
  };
  return {
    send(command) {
      const p = queue.then(() => exchange(command));
      queue = p.catch(() => undefined);
      return p;
    },
    close: () => fh.close(),
  };
}
