/**
 * A revocation list to add a Key to, from two command-line options (the list file and its signing
 * key, a PKCS#8 PEM file — never a key on the command line): `enigm account replace --revocation
 * F --revocation-key KEY.pem` and `enigm key retire --add-to-list F --list-key KEY.pem`. The list
 * must verify under the key's public key (a stale list is fine: adding an entry renews it); the
 * new list is written atomically.
 * @module
 */
import {
  AttestationError,
  type RevocationList,
  type RevocationSigner,
  revocationSignerFromSeed,
  verifyRevocationList,
} from '@enigm/attestation';
import { ed25519PrivateKeyFromPem } from '@enigm/protocols/crypto';
import { type ParsedArgs, readInputFile, readTextFile, str, UsageError, writeOutputFile } from './cli.ts';

/** A verified list, its signer and how to write the next one (the shape the libraries take). */
export interface RevocationUpdate {
  list: RevocationList;
  signer: RevocationSigner;
  write: (bytes: Uint8Array) => void;
}

/**
 * The list named by option `fileOption`, signed by the key in `keyOption`; undefined when neither
 * is given.
 * @throws {@link UsageError} when only one of the two is given; AttestationError when the list does
 *   not verify under the key (tampered, another signer, malformed) — stale is accepted
 */
export function revocationUpdate(args: ParsedArgs, fileOption: string, keyOption: string): RevocationUpdate | undefined {
  const file = str(args, fileOption);
  const keyFile = str(args, keyOption);
  if (file === undefined && keyFile === undefined) return undefined;
  if (file === undefined || keyFile === undefined)
    throw new UsageError(`--${fileOption} F and --${keyOption} KEY.pem go together`);
  const seed = ed25519PrivateKeyFromPem(readTextFile(keyFile, `--${keyOption}`));
  let signer: RevocationSigner;
  try {
    signer = revocationSignerFromSeed(seed);
  } finally {
    seed.fill(0);
  }
  const r = verifyRevocationList(readInputFile(file, 'revocation list'), { trustedKeys: [signer.publicKey], now: Date.now() });
  if (!r.ok && !(r.code === 'REVOCATION_STALE' && r.list)) throw new AttestationError(r.code, r.message);
  const list = r.ok ? r.list : (r.list as RevocationList);
  return { list, signer, write: (bytes) => writeOutputFile(file, bytes, 'revocation list') };
}
