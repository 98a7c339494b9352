/**
 * Test support: the broker behind the simulated Keys' uplink in the outage and kill -9 tests, so
 * each runs against both brokers the issue names: the embedded one (aedes, plain TCP) and
 * mosquitto with mutual TLS, client certificates from a fresh provisioning CA (a Key's CN is its
 * handle, as in production) and the ACL from `mosquittoAcl`. An outage stops the broker and starts
 * it again behind the same addresses (mosquitto: with the same certificates and ACL).
 *
 * The Keys reach the broker through a gate, a TCP relay (`@enigm/mqtt/testing`) on a port of its
 * own, which the test can hold shut after an outage until the backend consumer has subscribed again
 * (records published to nobody are gone on any broker); the consumers reach it through a second
 * gate that is never held. Both gates listen from `make` to `close`, so the addresses the Keys and
 * consumers know never change hands; the broker itself listens on a port the kernel gives it at
 * each start (a port released at the outage and bound again later could be taken meanwhile by any
 * process on the machine, e.g. as the local port of an outgoing connection or one of its TIME_WAIT
 * sockets). While the broker is down a gate drops new connections at once, as a stopped broker
 * refuses them. Without mosquitto its variants are skipped, except under `CI=true`, where they
 * fail.
 * @module
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createTlsKeyPair, issueTlsCertificate, type ProvisioningCa } from '@enigm/attestation';
import { MqttLink, type MqttTls } from '@enigm/mqtt';
import {
  type EmbeddedBroker,
  type Mosquitto,
  mosquittoAvailability,
  startEmbeddedBroker,
  startMosquitto,
} from '@enigm/mqtt/broker';
import { startTcpRelay } from '@enigm/mqtt/testing';
import { mosquittoAcl } from '@enigm/protocols/mqtt';

/** Which broker. */
export type BrokerKind = 'embedded' | 'mosquitto';

/** Both kinds, for `for (const kind of BROKER_KINDS)` around a test. */
export const BROKER_KINDS: readonly BrokerKind[] = ['embedded', 'mosquitto'];

/** Backends the mosquitto ACL names (the consumers' usernames / certificate CNs). */
const BACKENDS = ['backend-1', 'backend-2'];

/** A broker for one test, with the Keys behind a gate. */
export interface UplinkBroker {
  readonly kind: BrokerKind;
  /** Where consumers connect (the broker, through a gate that is never held). */
  readonly url: string;
  /** Where the Keys connect (the gate). */
  readonly keyUrl: string;
  /** The simulator's `mqtt` option for this broker (through the gate; per-Key certificates under mosquitto). */
  simMqtt(backoff: { baseMs: number; capMs: number }): {
    broker: string;
    backoff: { baseMs: number; capMs: number };
    tlsFor?: (handle: string) => Promise<MqttTls>;
  };
  /** For a simulator in another process: the CA file and the folder its Keys' `<handle>.crt/.key` appear in. */
  readonly certFiles?: { caFile: string; certDir: string };
  /** Issues Key `handle`'s client certificate into {@link UplinkBroker.certFiles} (mosquitto; no-op otherwise). */
  issueKey(handle: string): Promise<void>;
  /** A backend consumer (`backend-1` or `backend-2`), through the consumers' gate (never held). */
  consumer(name: string): Promise<MqttLink>;
  /** Starts the broker (again), behind the same gates. */
  start(): Promise<void>;
  /** Stops the broker (the outage); the Keys' forwarded connections are cut. */
  stop(): Promise<void>;
  /** Holds the gate shut (new Key connections are dropped at once) or opens it. */
  holdKeys(hold: boolean): void;
  /** Stops everything; idempotent. */
  close(): Promise<void>;
}

/** The parts of ava's `test` used. */
export interface Registrar<F> {
  readonly serial: F & { readonly skip: F };
  before(fn: () => Promise<void> | void): void;
  readonly after: { always(fn: () => Promise<void> | void): void };
}

/** A test file's brokers: `brokerTest(kind)` is `test.serial`, or `.skip` for mosquitto when it is missing outside CI. */
export interface UplinkBrokers<F> {
  brokerTest(kind: BrokerKind): F;
  /**
   * A broker of `kind` (not started yet), closed after the file's tests; `keyNotAfter` sets the
   * end of the Keys' certificates (mosquitto).
   */
  make(kind: BrokerKind, options?: { keyNotAfter?: Date }): Promise<UplinkBroker>;
}

interface Pki {
  ca: ProvisioningCa;
  dir: string;
  caPem: string;
  caFile: string;
  server: { certFile: string; keyFile: string };
}

async function issue(pki: Pki, cn: string, usage: 'server' | 'client', dir: string, notAfter?: Date) {
  const keys = await createTlsKeyPair();
  const cert = await issueTlsCertificate(pki.ca, {
    commonName: cn,
    usage,
    publicKey: keys.publicKey,
    ...(notAfter ? { notAfter } : {}),
  });
  mkdirSync(dir, { recursive: true });
  const keyFile = join(dir, `${cn}.key`);
  const certFile = join(dir, `${cn}.crt`);
  writeFileSync(keyFile, keys.privateKeyPem, { mode: 0o600 });
  // The certificate last and by rename: a process polling for it sees the pair complete.
  writeFileSync(`${certFile}.tmp`, cert.chainPem);
  renameSync(`${certFile}.tmp`, certFile);
  return { cert: cert.chainPem, key: keys.privateKeyPem, certFile, keyFile };
}

/** Registers the brokers of a test file on `test` (a test CA made in `before` when mosquitto runs). */
export function useUplinkBrokers<F>(test: Registrar<F>): UplinkBrokers<F> {
  const availability = mosquittoAvailability();
  const made: UplinkBroker[] = [];
  let pki: Pki | undefined;
  let root: string | undefined;
  let count = 0;
  test.before(async () => {
    if (availability.mode !== 'run') return;
    root = mkdtempSync(join(tmpdir(), 'enigm-uplink-mosquitto-'));
    const caStart = new Date(Date.now() - 86_400_000);
    const ca = await createCa({ now: () => caStart });
    const caPem = ca.root.certificate.pem + ca.intermediate.certificate.pem;
    const caFile = join(root, 'ca.pem');
    writeFileSync(caFile, caPem);
    const partial = { ca, dir: root, caPem, caFile, server: { certFile: '', keyFile: '' } };
    partial.server = await issue(partial, 'mqtt-broker', 'server', join(root, 'server'));
    pki = partial;
  });
  test.after.always(async () => {
    for (const b of made.splice(0)) await b.close().catch(() => undefined);
    if (root) rmSync(root, { recursive: true, force: true });
  });
  return {
    brokerTest(kind) {
      if (kind === 'embedded' || availability.mode === 'run') return test.serial;
      if (availability.mode === 'skip') return test.serial.skip;
      // CI=true without mosquitto: the test runs and fails (make() throws).
      return test.serial;
    },
    async make(kind, options = {}) {
      if (kind === 'mosquitto' && availability.mode !== 'run') throw new Error(`CI=true but ${availability.reason}`);
      let embedded: EmbeddedBroker | undefined;
      let mosquitto: Mosquitto | undefined;
      // Two relays that keep their ports for the whole test: the Keys' gate (which can be held
      // shut) and the consumers' (never held). With the broker down, both drop new connections.
      const g = await startTcpRelay();
      const consumers = await startTcpRelay();
      let held = false;
      const route = () => {
        const port = embedded?.port ?? mosquitto?.port;
        const to = port === undefined ? undefined : { host: '127.0.0.1', port };
        g.target = held ? undefined : to;
        consumers.target = to;
      };
      const dir = join(root ?? tmpdir(), `broker-${count++}`);
      const certDir = join(dir, 'keys');
      const keyTls = new Map<string, MqttTls>();
      const backendTls = new Map<string, MqttTls>();
      const need = () => {
        if (!pki) throw new Error('no test CA');
        return pki;
      };
      const b: UplinkBroker = {
        kind,
        url: `${kind === 'mosquitto' ? 'mqtts' : 'mqtt'}://127.0.0.1:${consumers.port}`,
        keyUrl: `${kind === 'mosquitto' ? 'mqtts' : 'mqtt'}://127.0.0.1:${g.port}`,
        ...(kind === 'mosquitto' ? { certFiles: { caFile: need().caFile, certDir } } : {}),
        simMqtt(backoff) {
          if (kind === 'embedded') return { broker: b.keyUrl, backoff };
          return {
            broker: b.keyUrl,
            backoff,
            tlsFor: async (handle) => {
              if (!keyTls.has(handle)) await b.issueKey(handle);
              return keyTls.get(handle) as MqttTls;
            },
          };
        },
        async issueKey(handle) {
          if (kind === 'embedded' || keyTls.has(handle)) return;
          const id = await issue(need(), handle, 'client', certDir, options.keyNotAfter);
          keyTls.set(handle, { ca: need().caPem, cert: id.cert, key: id.key });
        },
        async consumer(name) {
          const backoff = { baseMs: 50, capMs: 300 };
          if (kind === 'embedded') return MqttLink.connect({ url: b.url, username: name, backoff });
          let tls = backendTls.get(name);
          if (!tls) {
            const id = await issue(need(), name, 'client', join(dir, 'backends'));
            tls = { ca: need().caPem, cert: id.cert, key: id.key };
            backendTls.set(name, tls);
          }
          return MqttLink.connect({ url: b.url, tls, backoff });
        },
        async start() {
          if (kind === 'embedded') embedded = await startEmbeddedBroker();
          else
            mosquitto = await startMosquitto({
              dir: join(dir, 'mosquitto'),
              tls: { caFile: need().caFile, certFile: need().server.certFile, keyFile: need().server.keyFile },
              aclText: mosquittoAcl({ backends: BACKENDS }),
            });
          route();
        },
        async stop() {
          const [e, m] = [embedded, mosquitto];
          embedded = undefined;
          mosquitto = undefined;
          route(); // from here the gates drop new connections
          g.dropAll();
          consumers.dropAll();
          await e?.close();
          await m?.stop();
        },
        holdKeys: (h) => {
          held = h;
          route();
        },
        async close() {
          await b.stop();
          await g.close();
          await consumers.close();
        },
      };
      made.push(b);
      return b;
    },
  };
}
