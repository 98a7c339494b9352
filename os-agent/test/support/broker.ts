/**
 * Test support: a private mosquitto with mutual TLS for the posture agent's tests (as
 * mqtt/test/support/mosquitto.ts does for the MQTT package): a fresh CA from `@enigm/attestation`,
 * the broker's server certificate, client identities on demand (the agent's CN is its handle, so
 * the ACL's `%u` rules apply), the ACL from `mosquittoAcl`. Without mosquitto the tests skip,
 * except under CI=true where the `before` hook fails them.
 * @module
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createTlsKeyPair, issueTlsCertificate, type ProvisioningCa } from '@enigm/attestation';
import { type Mosquitto, type MosquittoOptions, mosquittoAvailability, startMosquitto } from '@enigm/mqtt/broker';
import { mosquittoAcl } from '@enigm/protocols/mqtt';

/** PEM texts and files of one TLS identity. */
export interface Identity {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** The parts of ava's `test` used. */
export interface Registrar<F> {
  readonly serial: F & { readonly skip: F };
  before(fn: () => Promise<void> | void): void;
  readonly after: { always(fn: () => Promise<void> | void): void };
}

/** A test file's broker. */
export interface BrokerFixture<F> {
  readonly mode: 'run' | 'skip' | 'fail';
  readonly brokerTest: F;
  readonly broker: Mosquitto;
  readonly dir: string;
  readonly caPem: string;
  readonly caFile: string;
  /** Issues a client identity (CN = `cn`). */
  client(cn: string, validity?: { notBefore?: Date; notAfter?: Date }): Promise<Identity>;
  /** Starts a mosquitto (on `port`, if given), stopped with the fixture. */
  start(more?: Partial<MosquittoOptions>): Promise<Mosquitto>;
}

/** Registers a private mosquitto (mutual TLS, ACL) on `test`. */
export function useBroker<F>(test: Registrar<F>, options: { backends?: string[] } = {}): BrokerFixture<F> {
  const availability = mosquittoAvailability();
  const mode = availability.mode;
  const started: Mosquitto[] = [];
  let dir: string | undefined;
  let ca: ProvisioningCa | undefined;
  let caPem = '';
  let count = 0;
  const aclText = mosquittoAcl({ hosts: ['host-1'], backends: options.backends ?? ['backend-1'] });
  const issue = async (cn: string, usage: 'server' | 'client', validity: { notBefore?: Date; notAfter?: Date } = {}) => {
    if (!dir || !ca) throw new Error('broker fixture not set up');
    const keys = await createTlsKeyPair();
    const cert = await issueTlsCertificate(ca, { commonName: cn, usage, publicKey: keys.publicKey, ...validity });
    const base = join(dir, `${cn}-${count++}`);
    writeFileSync(`${base}.crt`, cert.chainPem);
    writeFileSync(`${base}.key`, keys.privateKeyPem, { mode: 0o600 });
    return { cert: cert.chainPem, key: keys.privateKeyPem, certFile: `${base}.crt`, keyFile: `${base}.key` };
  };
  let server: Identity | undefined;
  const start = async (more: Partial<MosquittoOptions> = {}) => {
    if (!dir || !server) throw new Error('broker fixture not set up');
    const m = await startMosquitto({
      dir: join(dir, `broker-${count++}`),
      tls: { caFile: join(dir, 'ca.pem'), certFile: server.certFile, keyFile: server.keyFile },
      aclText,
      ...more,
    });
    started.push(m);
    return m;
  };
  test.before(async () => {
    if (mode === 'fail') throw new Error(`CI=true but ${availability.reason}`);
    if (mode === 'skip') return;
    dir = mkdtempSync(join(tmpdir(), 'enigm-agent-broker-'));
    mkdirSync(dir, { recursive: true });
    const startAt = new Date(Date.now() - 3 * 86_400_000);
    ca = await createCa({ now: () => startAt });
    caPem = ca.root.certificate.pem + ca.intermediate.certificate.pem;
    writeFileSync(join(dir, 'ca.pem'), caPem);
    server = await issue('mqtt-broker', 'server');
    await start();
  });
  test.after.always(async () => {
    for (const m of started.splice(0)) await m.stop().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    mode,
    brokerTest: mode === 'skip' ? test.serial.skip : test.serial,
    get broker() {
      const m = started[0];
      if (!m) throw new Error(`mosquitto is not running (mode ${mode})`);
      return m;
    },
    get dir() {
      if (!dir) throw new Error('no folder');
      return dir;
    },
    get caPem() {
      return caPem;
    },
    get caFile() {
      return join(this.dir, 'ca.pem');
    },
    client: (cn, validity) => issue(cn, 'client', validity),
    start,
  };
}
