/**
 * Test helper: a private mosquitto per test file with mutual TLS — a fresh CA from
 * `@enigm/attestation` in a temp folder, the broker's server certificate, client identities on
 * demand, the ACL from `mosquittoAcl` — stopped and removed in `after.always`. Without mosquitto
 * the tests are skipped, except under `CI=true`, where the `before` hook fails them.
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Mosquitto, type MosquittoOptions, mosquittoAvailability, startMosquitto } from '@enigm/mqtt/broker';
import { mosquittoAcl } from '@enigm/protocols/mqtt';
import type { IClientOptions } from 'mqtt';
import { createTestPki, type TestPki, type TlsIdentity } from './certs.ts';

/** The parts of ava's `test` the fixture uses (typed structurally). */
export interface TestRegistrar<F> {
  readonly serial: F & { readonly skip: F };
  before(fn: () => Promise<void> | void): void;
  readonly after: { always(fn: () => Promise<void> | void): void };
}

/** A test file's mosquitto. */
export interface MosquittoFixture<F> {
  readonly mode: 'run' | 'skip' | 'fail';
  /** `test.serial`, or `test.serial.skip` when mosquitto is missing outside CI. */
  readonly brokerTest: F;
  /** The running broker (throws before the `before` hook or when skipped). */
  readonly broker: Mosquitto;
  readonly pki: TestPki;
  /** A scratch folder removed after the tests. */
  readonly dir: string;
  /** mqtt.js options for a client identity: `ca`, `cert`, `key`. */
  tlsOptions(id: TlsIdentity): IClientOptions;
  /** Starts another mosquitto with the same certificates (stopped with the fixture). */
  startAnother(options?: Partial<MosquittoOptions>): Promise<Mosquitto>;
}

/** Options of {@link useMosquitto}. */
export interface MosquittoFixtureOptions {
  hosts?: readonly string[];
  backends?: readonly string[];
  maxQueuedMessages?: number;
  protocolLog?: boolean;
  /** Runs in the `before` hook once the broker is up (ava runs `before` hooks concurrently: set up here). */
  setup?(fixture: MosquittoFixture<unknown>): Promise<void> | void;
}

/** Registers the `before` / `after.always` hooks of a private mosquitto on `test`. */
export function useMosquitto<F>(test: TestRegistrar<F>, options: MosquittoFixtureOptions = {}): MosquittoFixture<F> {
  const availability = mosquittoAvailability();
  const mode = availability.mode;
  const started: Mosquitto[] = [];
  let dir: string | undefined;
  let pki: TestPki | undefined;
  let count = 0;
  const aclText = mosquittoAcl({ hosts: options.hosts ?? ['host-1'], backends: options.backends ?? ['backend-1'] });
  const start = async (more: Partial<MosquittoOptions> = {}) => {
    if (!dir || !pki) throw new Error('the mosquitto fixture is not set up');
    const m = await startMosquitto({
      dir: join(dir, `broker-${count++}`),
      tls: { caFile: pki.caFile, certFile: pki.server.certFile, keyFile: pki.server.keyFile },
      aclText,
      ...(options.maxQueuedMessages ? { maxQueuedMessages: options.maxQueuedMessages } : {}),
      ...(options.protocolLog ? { protocolLog: true } : {}),
      ...more,
    });
    started.push(m);
    return m;
  };
  test.before(async () => {
    if (mode === 'fail') throw new Error(`CI=true but ${availability.reason}`);
    if (mode === 'skip') return;
    dir = mkdtempSync(join(tmpdir(), 'enigm-mosquitto-'));
    pki = await createTestPki(join(dir, 'pki'));
    await start();
    await options.setup?.(fixture as MosquittoFixture<unknown>);
  });
  test.after.always(async () => {
    const errors: unknown[] = [];
    for (const m of started.splice(0)) await m.stop().catch((e: unknown) => errors.push(e));
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (errors.length > 0) throw errors[0];
  });
  const fixture: MosquittoFixture<F> = {
    mode,
    brokerTest: mode === 'skip' ? test.serial.skip : test.serial,
    get broker() {
      const m = started[0];
      if (!m) throw new Error(`mosquitto is not running (mode ${mode})`);
      return m;
    },
    get pki() {
      if (!pki) throw new Error(`no test PKI (mode ${mode})`);
      return pki;
    },
    get dir() {
      if (!dir) throw new Error(`no scratch folder (mode ${mode})`);
      return dir;
    },
    tlsOptions(id) {
      if (!pki) throw new Error('no test PKI');
      return { ca: pki.caPem, cert: id.cert, key: id.key };
    },
    startAnother: start,
  };
  return fixture;
}
