/**
 * The TLS material of the benchmarks that run mosquitto with mutual TLS: a fresh provisioning CA
 * (`createCa`, root + intermediate) in a folder, and the identities it issues — the broker's
 * server certificate and clients whose CN is their MQTT name — as PEM text, and as files where
 * mosquitto or a child process reads them.
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, createTlsKeyPair, issueTlsCertificate, type ProvisioningCa } from '@enigm/attestation';
import type { MqttTls } from '@enigm/mqtt';

/** An identity {@link BenchPki.identity} issued: PEM text and the files it wrote. */
export interface BenchIdentity {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

/** A CA in a folder and what it issues. */
export interface BenchPki {
  ca: ProvisioningCa;
  /** Root and intermediate certificates (PEM): what clients and the broker trust. */
  caPem: string;
  /** `caPem` as a file (`<dir>/ca.pem`). */
  caFile: string;
  /** Issues `commonName` a fresh P-256 key and certificate, written to `<dir>/<commonName>.crt|.key`. */
  identity(commonName: string, usage?: 'server' | 'client'): Promise<BenchIdentity>;
  /** Issues a client `commonName` a fresh key and certificate, in memory only, as MQTT TLS options. */
  clientTls(commonName: string): Promise<MqttTls>;
}

/** Makes a fresh CA in `dir` (created if missing). */
export async function benchPki(dir: string): Promise<BenchPki> {
  mkdirSync(dir, { recursive: true });
  const ca = await createCa();
  const caPem = ca.root.certificate.pem + ca.intermediate.certificate.pem;
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, caPem);
  const issue = async (commonName: string, usage: 'server' | 'client') => {
    const keys = await createTlsKeyPair();
    const cert = await issueTlsCertificate(ca, { commonName, usage, publicKey: keys.publicKey });
    return { cert: cert.chainPem, key: keys.privateKeyPem };
  };
  return {
    ca,
    caPem,
    caFile,
    async identity(commonName, usage = 'client') {
      const { cert, key } = await issue(commonName, usage);
      const certFile = join(dir, `${commonName}.crt`);
      const keyFile = join(dir, `${commonName}.key`);
      writeFileSync(certFile, cert);
      writeFileSync(keyFile, key, { mode: 0o600 });
      return { cert, key, certFile, keyFile };
    },
    async clientTls(commonName) {
      return { ca: caPem, ...(await issue(commonName, 'client')) };
    },
  };
}
