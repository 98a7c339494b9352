/**
 * Issue 11 "a certificate not yet valid because the fresh Key's clock is wrong (handle it: the
 * station sets or bounds the Key's time)": the station sets the Key's clock, and the Key takes
 * that time when the request arrives, so the Key's clock lags the station's by the transit time.
 * The Key certificate must start at the instant the Key's clock was set to, not at issue time
 * (a later reading of the station's clock), or `cert.install` is refused with CERT_NOT_VALID
 * (2 of 8 Keys in a loaded CI run before `c35e92a`).
 *
 * The lag is made large and certain with an injected station clock that moves 5 s ahead on every
 * reading (a slow link, a loaded machine): every Key must still be provisioned, its certificate's
 * notBefore at or before the Key's own clock.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCaFolder, loadIssuingCa } from '@enigm/attestation';
import { Simulator } from '@enigm/sim';
import test from 'ava';
import { provisionKeys } from '../src/station/index.ts';

const PASS = 'station clock test passphrase';
const STEP_MS = 5000;

test('the station clock runs ahead of the Key by the transit time: no CERT_NOT_VALID, notBefore = the Key set time', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-station-clock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await initCaFolder(join(dir, 'ca'), PASS);
  const ca = await loadIssuingCa(join(dir, 'ca'), PASS);
  mkdirSync(join(dir, 'home'));
  const sim = await Simulator.start({ keys: 2, stateDir: join(dir, 'sim'), serial: false, tcp: true });
  t.teardown(() => sim.stop());
  // Each reading of the station's clock is 5 s later than the last: by the time the station
  // issues, its clock is ahead of the time it gave the Key (which moves at the real rate).
  let clock = Date.now();
  const readings: number[] = [];
  const now = () => {
    clock += STEP_MS;
    readings.push(clock);
    return clock;
  };
  const ports = sim.keys().map((k) => k.tcp as string);
  // The Key's own clock right after the station set it (read at the next step: csr).
  const keyClockAtCsr = new Map<number, number>();
  const entries = await provisionKeys({
    ports,
    onEvent: (e) => {
      const i = ports.indexOf(e.port);
      if (e.type === 'step' && e.step === 'csr') keyClockAtCsr.set(i, sim.firmware(i).wallClockMs as number);
    },
    ca,
    roots: ca.rootPem,
    now,
    key: {
      hostKey: join(dir, 'home', 'host-key.pem'),
      known: join(dir, 'home', 'known-keys.json'),
      timeoutMs: 5000,
    },
  });
  for (const e of entries) t.is(e.outcome, 'provisioned', JSON.stringify(e));
  for (const [i, e] of entries.entries()) {
    const notBefore = new Date(new X509Certificate(e.certificatePem as string).validFrom);
    const keyClock = keyClockAtCsr.get(i) as number;
    t.true(Number.isFinite(keyClock), 'the station set the Key clock');
    t.true(notBefore.getTime() <= keyClock, `${notBefore.toISOString()} ≤ the Key's ${new Date(keyClock).toISOString()}`);
  }
  t.true((readings.at(-1) as number) - (keyClockAtCsr.get(0) as number) >= STEP_MS, 'the station clock was ahead');
});
