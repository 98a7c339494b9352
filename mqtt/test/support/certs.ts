/**
 * Test helper: a fresh provisioning CA (from `@enigm/attestation`'s PKI) with TLS certificates for
 * the brokers and their clients, written as PEM files into a folder. Shared by the broker tests and
 * anyone who needs mutual TLS against a real mosquitto.
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, createTlsKeyPair, issueTlsCertificate, type ProvisioningCa, type TlsAltName } from '@enigm/attestation';

/** PEM texts and file paths of one TLS identity. */
export interface TlsIdentity {
  readonly commonName: string;
  /** Leaf then intermediate (PEM). */
  readonly cert: string;
  /** PKCS#8 private key (PEM). */
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** A test CA in a folder: its trust anchors and a way to issue more identities. */
export interface TestPki {
  readonly dir: string;
  readonly ca: ProvisioningCa;
  /** Root then intermediate (PEM): what a broker or client trusts. */
  readonly caPem: string;
  readonly caFile: string;
  /** The broker's server identity (`CN=mqtt-broker`, SAN localhost, 127.0.0.1, ::1). */
  readonly server: TlsIdentity;
  /** Issues a client identity and writes it as `<name>.crt` / `<name>.key` (name defaults to the CN). */
  client(commonName: string, options?: { notBefore?: Date; notAfter?: Date; fileName?: string }): Promise<TlsIdentity>;
}

/** Days the test CA is back-dated, so expired client certificates can be issued under it. */
export const BACKDATE_DAYS = 3;

async function identity(
  dir: string,
  ca: ProvisioningCa,
  commonName: string,
  usage: 'server' | 'client',
  options: { notBefore?: Date; notAfter?: Date; fileName?: string; subjectAltNames?: readonly TlsAltName[] } = {},
): Promise<TlsIdentity> {
  const keys = await createTlsKeyPair();
  const cert = await issueTlsCertificate(ca, {
    commonName,
    usage,
    publicKey: keys.publicKey,
    ...(options.notBefore ? { notBefore: options.notBefore } : {}),
    ...(options.notAfter ? { notAfter: options.notAfter } : {}),
    ...(options.subjectAltNames ? { subjectAltNames: options.subjectAltNames } : {}),
  });
  const base = options.fileName ?? commonName;
  const certFile = join(dir, `${base}.crt`);
  const keyFile = join(dir, `${base}.key`);
  writeFileSync(certFile, cert.chainPem);
  writeFileSync(keyFile, keys.privateKeyPem, { mode: 0o600 });
  return { commonName, cert: cert.chainPem, key: keys.privateKeyPem, certFile, keyFile };
}

/**
 * Creates a CA (back-dated {@link BACKDATE_DAYS} days) in `dir` with `ca.pem` (root +
 * intermediate) and the broker's `server.crt` / `server.key`.
 */
export async function createTestPki(dir: string): Promise<TestPki> {
  mkdirSync(dir, { recursive: true });
  const start = new Date(Date.now() - BACKDATE_DAYS * 86_400_000);
  const ca = await createCa({ now: () => start });
  const caPem = ca.root.certificate.pem + ca.intermediate.certificate.pem;
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, caPem);
  const server = await identity(dir, ca, 'mqtt-broker', 'server', { fileName: 'server' });
  return {
    dir,
    ca,
    caPem,
    caFile,
    server,
    client: (commonName, options = {}) => identity(dir, ca, commonName, 'client', options),
  };
}

/** An expired client identity: valid from the CA's start for one day, expired {@link BACKDATE_DAYS}-1 days ago. */
export function expiredValidity(): { notBefore: Date; notAfter: Date } {
  const notBefore = new Date(Date.now() - (BACKDATE_DAYS - 0.5) * 86_400_000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + 86_400_000) };
}
