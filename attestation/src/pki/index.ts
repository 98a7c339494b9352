/**
 * The provisioning PKI: an offline root, the intermediate "Key provisioning CA", Key
 * certificates for Ed25519 identity keys (directly or from a CSR), chain verification, and the
 * CA folder with passphrase-encrypted keys, and TLS server and client certificates for the MQTT
 * brokers (`tls.ts`). See `docs/pki.md`.
 * @module
 */
export * from './ca.ts';
export * from './certs.ts';
export * from './keyfile.ts';
export * from './profile.ts';
export * from './store.ts';
export * from './tls.ts';
export * from './verify.ts';
