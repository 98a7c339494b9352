/**
 * Loads `@peculiar/x509` on first use. The library resolves its ASN.1 and algorithm providers
 * through `tsyringe`, which needs the `reflect-metadata` polyfill installed before it loads, and
 * it signs through WebCrypto: both are set up here, once, and only when a PKI function runs — a
 * process that imports `@enigm/attestation` without issuing or verifying Key certificates never
 * loads either (nor gets the global `Reflect` metadata functions).
 * @module
 */
import type * as X509Lib from '@peculiar/x509';

/** The `@peculiar/x509` module namespace. */
export type X509Module = typeof X509Lib;

let loading: Promise<X509Module> | undefined;

async function load(): Promise<X509Module> {
  await import('reflect-metadata');
  const lib = await import('@peculiar/x509');
  const { webcrypto } = await import('node:crypto');
  lib.cryptoProvider.set(webcrypto as unknown as Crypto);
  return lib;
}

/**
 * `@peculiar/x509`, with the reflect polyfill and Node's WebCrypto installed.
 * @example const x509 = await loadX509(); new x509.X509Certificate(der);
 */
export function loadX509(): Promise<X509Module> {
  loading ??= load();
  return loading;
}
