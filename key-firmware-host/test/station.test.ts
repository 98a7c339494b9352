/**
 * The provisioning station over 8 simulated Keys on 8 real pseudo-terminals: a CA folder
 * (`initCaFolder`), `provisionKeys` provisions all of them; every certificate in the manifest
 * passes `openssl verify` to the root; the audit log verifies; a second run finds every Key
 * `already-provisioned`; an aborted run is completed by the next (a Key left with a CSR and no
 * chain is resumed); a Key whose port disappears mid-batch fails only that port
 * (`STATION_PORT_LOST`), and is completed by the next run once the port is back (the simulator
 * restarted on its state folder); a Key paired with a station that lost its pins is
 * `KEY_NOT_PAIRABLE` until its pairing window is opened (the documented reset path); no private
 * key material in the manifest.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuditLog,
  auditSignerFromSeed,
  initCaFolder,
  loadIssuingCa,
  readCaCertificates,
  verifyAuditLog,
} from '@enigm/attestation';
import { ed25519Generate } from '@enigm/protocols/crypto';
import { hasSocat, Simulator } from '@enigm/sim';
import test, { type ExecutionContext } from 'ava';
import { type ManifestEntry, type ProvisionOptions, provisionKeys, writeManifest } from '../src/station/index.ts';

const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;
const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const PASS = 'station test passphrase';
const PRIVATE_MARKER = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

async function setup(keys: number) {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-station-'));
  dirs.push(dir);
  const caDir = join(dir, 'ca');
  await initCaFolder(caDir, PASS);
  const ca = await loadIssuingCa(caDir, PASS);
  const { rootPem, intermediatesPem } = readCaCertificates(caDir);
  writeFileSync(join(dir, 'root.pem'), rootPem);
  writeFileSync(join(dir, 'intermediate.pem'), intermediatesPem);
  mkdirSync(join(dir, 'home'));
  const sim = await Simulator.start({ keys, stateDir: join(dir, 'sim'), serial: true, tcp: false });
  const ports = sim.keys().map((k) => k.serial as string);
  const base: ProvisionOptions = {
    ports,
    ca,
    roots: rootPem,
    concurrency: 8,
    key: {
      hostKey: join(dir, 'home', 'host-key.pem'),
      known: join(dir, 'home', 'known-keys.json'),
      // 8 Keys share one busy process (simulator, station, CA): on a loaded 2-core machine an answer
      // can wait seconds behind the others' work. No test here waits for a timeout.
      timeoutMs: 10_000,
      retries: 1,
      reconnect: { attempts: 6, baseMs: 50, maxMs: 500 },
    },
  };
  return { dir, sim, ports, base };
}

function opensslVerify(t: ExecutionContext, dir: string, entries: readonly ManifestEntry[]): void {
  for (const [i, e] of entries.entries()) {
    t.truthy(e.certificatePem, `${e.port} has a certificate`);
    const f = join(dir, `leaf-${i}.pem`);
    writeFileSync(f, e.certificatePem as string);
    const out = execFileSync(
      'openssl',
      ['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'intermediate.pem'), f],
      {
        encoding: 'utf8',
        stdio: 'pipe',
      },
    );
    t.regex(out, /: OK/);
  }
}

realTest(
  '8 Keys on 8 ptys: provisioned, openssl accepts every certificate, audit verifies, a second run finds them provisioned',
  async (t) => {
    const { dir, sim, ports, base } = await setup(8);
    try {
      const auditSeed = ed25519Generate();
      const signer = auditSignerFromSeed('station', auditSeed.seed);
      const audit = await AuditLog.open(join(dir, 'audit.log'), { signer, clock: Date.now });
      const accountSecret = new Uint8Array(32).fill(7);
      const events: string[] = [];
      let entries: ManifestEntry[];
      try {
        entries = await provisionKeys({
          ...base,
          audit,
          account: { secret: accountSecret },
          onEvent: (e) => events.push(e.type === 'step' ? `${e.port}:${e.step}` : `${e.port}:done`),
        });
      } finally {
        audit.close();
      }
      t.is(entries.length, 8);
      t.deepEqual(
        entries.map((e) => e.outcome),
        ports.map(() => 'provisioned'),
        JSON.stringify(entries.filter((e) => e.outcome !== 'provisioned')),
      );
      t.deepEqual(
        entries.map((e) => e.port),
        ports,
      );
      for (const e of entries) {
        t.regex(e.handle ?? '', /^eh1-[a-z2-7]{26}$/);
        t.is(e.model, 'enigm-key-1');
        t.truthy(e.firmware);
        t.regex(e.serial ?? '', /^[0-9a-f]+$/);
      }
      t.is(new Set(entries.map((e) => e.handle)).size, 8);
      // Every port went through every step, in order.
      for (const p of ports)
        t.deepEqual(
          events.filter((x) => x.startsWith(`${p}:`)).map((x) => x.slice(p.length + 1)),
          ['open', 'pair', 'check', 'time', 'csr', 'issue', 'install', 'reboot', 'verify', 'done'],
        );
      opensslVerify(t, dir, entries);

      const { json, csv } = writeManifest(join(dir, 'manifest'), entries);
      const jsonText = readFileSync(json, 'utf8');
      const csvText = readFileSync(csv, 'utf8');
      t.notRegex(jsonText, PRIVATE_MARKER);
      t.notRegex(csvText, PRIVATE_MARKER);
      t.is(csvText.split('\r\n')[0], 'handle,port,outcome,error,step,model,firmware,serial,not_after,time,certificate_pem');
      t.is(JSON.parse(jsonText).entries.length, 8);

      // The audit log: 8 station records, signed, chained, with the association handles.
      const report = verifyAuditLog(readFileSync(join(dir, 'audit.log')), { trustedKeys: [signer.publicKey] });
      t.true(report.ok, JSON.stringify(report.problem));
      t.is(report.records.length, 8);
      for (const r of report.records) {
        t.is(r.record.role, 'station');
        t.is(r.record.op, 'key.provision');
        t.is(r.record.decision, 'allowed');
      }
      t.deepEqual(report.records.map((r) => r.record.handle).sort(), entries.map((e) => e.handle as string).sort());

      // Second run: nothing to do, same certificates.
      const again = await provisionKeys(base);
      t.deepEqual(
        again.map((e) => e.outcome),
        ports.map(() => 'already-provisioned'),
        JSON.stringify(again.filter((e) => e.outcome !== 'already-provisioned')),
      );
      t.deepEqual(
        again.map((e) => e.serial),
        entries.map((e) => e.serial),
      );
      // Without an account the handle is the device handle.
      for (const e of again) t.regex(e.handle ?? '', /^[0-9a-f]{32}$/);
    } finally {
      await sim.stop();
    }
  },
);

realTest('an aborted batch is completed by the next run (a Key with a CSR and no chain is resumed)', async (t) => {
  const { sim, ports, base } = await setup(8);
  try {
    const ac = new AbortController();
    const first = await provisionKeys({
      ...base,
      signal: ac.signal,
      onEvent: (e) => {
        if (e.type === 'step' && e.step === 'install') ac.abort();
      },
    });
    const aborted = first.filter((e) => e.outcome === 'aborted');
    t.true(aborted.length > 0, JSON.stringify(first.map((e) => e.outcome)));
    for (const e of aborted) t.is(e.error, 'STATION_ABORTED');
    t.false(
      first.some((e) => e.outcome === 'failed'),
      JSON.stringify(first),
    );
    const second = await provisionKeys(base);
    for (const e of second) t.true(e.outcome === 'provisioned' || e.outcome === 'already-provisioned', JSON.stringify(e));
    t.true(
      second.some((e) => e.resumed === true),
      JSON.stringify(second.map((e) => [e.outcome, e.resumed])),
    );
    // The Key that was at `install` when the batch stopped kept its chain: already provisioned.
    t.true(second.some((e) => e.outcome === 'already-provisioned'));
    t.deepEqual(
      second.map((e) => e.port),
      ports,
    );
  } finally {
    await sim.stop();
  }
});

realTest('a port that disappears mid-batch fails only that port (STATION_PORT_LOST)', async (t) => {
  const { sim, ports, base } = await setup(8);
  try {
    const victim = ports[3] as string;
    // The socat process behind the victim's pty: killing it removes the port (hang-up, link gone).
    const pid = sim.socatPids().find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(victim));
    t.truthy(pid, 'found the socat process of the victim port');
    let killed = false;
    const entries = await provisionKeys({
      ...base,
      onEvent: (e) => {
        if (!killed && e.type === 'step' && e.port === victim && e.step === 'csr') {
          killed = true;
          process.kill(pid as number, 'SIGTERM');
        }
      },
    });
    t.true(killed);
    const lost = entries[3] as ManifestEntry;
    t.is(lost.outcome, 'failed');
    t.is(lost.error, 'STATION_PORT_LOST', JSON.stringify(lost));
    t.regex(lost.handle ?? '', /^[0-9a-f]{32}$/);
    t.falsy(lost.certificatePem);
    for (const [i, e] of entries.entries()) if (i !== 3) t.is(e.outcome, 'provisioned', JSON.stringify(e));
  } finally {
    await sim.stop();
  }
});

realTest('a Key whose audit record cannot be written stops the batch; the next run records and completes it', async (t) => {
  const { dir, sim, base } = await setup(8);
  try {
    const signer = auditSignerFromSeed('station', ed25519Generate().seed);
    const audit = await AuditLog.open(join(dir, 'audit.log'), { signer, clock: Date.now });
    audit.close(); // every append now throws
    const started = new Set<string>();
    await t.throwsAsync(
      provisionKeys({
        ...base,
        audit,
        concurrency: 2,
        onEvent: (e) => {
          if (e.type === 'step' && e.step === 'open') started.add(e.port);
        },
      }),
      { message: /closed/ },
    );
    t.true(started.size < 8, `the batch stopped early (${started.size} started)`);
    const log = await AuditLog.open(join(dir, 'audit.log'), { signer, clock: Date.now });
    let entries: ManifestEntry[];
    try {
      entries = await provisionKeys({ ...base, audit: log });
    } finally {
      log.close();
    }
    t.true(entries.every((e) => e.outcome === 'provisioned' || e.outcome === 'already-provisioned'));
    t.true(entries.some((e) => e.outcome === 'already-provisioned'));
    const report = verifyAuditLog(readFileSync(join(dir, 'audit.log')), { trustedKeys: [signer.publicKey] });
    t.true(report.ok);
    t.is(report.records.length, 8);
  } finally {
    await sim.stop();
  }
});

realTest(
  'a port lost mid-batch comes back (the simulator restarted on its state folder): the next run completes that Key',
  async (t) => {
    const { dir, sim, ports, base } = await setup(4);
    let restarted: Simulator | undefined;
    try {
      const victim = ports[1] as string;
      const pid = sim.socatPids().find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(victim));
      t.truthy(pid, 'found the socat process of the victim port');
      let killed = false;
      const first = await provisionKeys({
        ...base,
        onEvent: (e) => {
          if (!killed && e.type === 'step' && e.port === victim && e.step === 'csr') {
            killed = true;
            process.kill(pid as number, 'SIGTERM');
          }
        },
      });
      t.like(first[1], { outcome: 'failed', error: 'STATION_PORT_LOST' });
      t.is(sim.firmware(1).certificateChain, undefined, 'the lost Key has no chain');
      t.is(sim.firmware(1).hosts().length, 1, 'but it is paired with the station');
      await sim.stop();
      // The Key is plugged in again: the same Keys (state folder), new ptys.
      restarted = await Simulator.start({ keys: 4, stateDir: join(dir, 'sim'), serial: true, tcp: false });
      const again = await provisionKeys({ ...base, ports: restarted.keys().map((k) => k.serial as string) });
      t.like(again[1], { outcome: 'provisioned', resumed: true });
      for (const i of [0, 2, 3]) t.like(again[i], { outcome: 'already-provisioned' });
      for (let i = 0; i < 4; i++) t.truthy(restarted.firmware(i).certificateChain, `Key ${i} holds its chain`);
      opensslVerify(t, dir, again);
    } finally {
      await (restarted ?? sim).stop();
    }
  },
);

realTest(
  'a Key paired with a station that lost its pins: refused until its pairing window is opened, then provisioned',
  async (t) => {
    const { dir, sim, ports, base } = await setup(2);
    try {
      const victim = ports[0] as string;
      const pid = sim.socatPids().find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(victim));
      let killed = false;
      const first = await provisionKeys({
        ...base,
        onEvent: (e) => {
          if (!killed && e.type === 'step' && e.port === victim && e.step === 'csr') {
            killed = true;
            process.kill(pid as number, 'SIGTERM');
          }
        },
      });
      t.like(first[0], { outcome: 'failed', error: 'STATION_PORT_LOST' });
      await sim.stop();
      // The station loses its known-Keys store (a new machine, a wiped home folder).
      rmSync(join(dir, 'home', 'known-keys.json'));
      const back = await Simulator.start({ keys: 2, stateDir: join(dir, 'sim'), serial: true, tcp: false });
      try {
        const options = { ...base, ports: back.keys().map((k) => k.serial as string) };
        const refused = await provisionKeys(options);
        t.like(refused[0], { outcome: 'failed', error: 'KEY_NOT_PAIRABLE', step: 'pair' });
        t.is(back.firmware(0).certificateChain, undefined, 'nothing half-written: paired, no chain');
        // The reset path (docs/station.md): the operator opens the Key's pairing window (a long hold
        // on a real Key; the simulator's gesture here), and the next run pairs again and provisions.
        back.firmware(0).openPairingWindow(60_000);
        const done = await provisionKeys(options);
        t.like(done[0], { outcome: 'provisioned' });
        t.truthy(back.firmware(0).certificateChain);
        opensslVerify(t, dir, done.slice(0, 1));
        // The other Key was finished in the first run; without its pin this station cannot look at
        // it (it is not pairable): it says so, and the Key keeps its chain.
        t.like(done[1], { outcome: 'failed', error: 'KEY_NOT_PAIRABLE' });
        t.truthy(back.firmware(1).certificateChain);
      } finally {
        await back.stop();
      }
    } finally {
      await sim.stop();
    }
  },
);
