/**
 * Dependency-free X.509 pieces for Ed25519: a PKCS#10 request builder and reader, a certificate
 * reader, and the minimal DER codec under them. Enough for a Key to ask for and check its
 * certificate; issuing and chain validation live in `@enigm/attestation`.
 * @module
 */
export * from './cert.ts';
export * from './csr.ts';
export * from './der.ts';
