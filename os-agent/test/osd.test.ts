/**
 * Spec: issue 14 "Enigm OS posture daemon client" and "Bad input and faults": the agent's daemon
 * collector against the daemon emulator (@enigm/sim/osd) over a real Unix socket — scripted states,
 * a state change seen, slow/silent/malformed/closed answers and a missing daemon each give unknown
 * signals with a reason, and the collector keeps working after a fault.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OSD_FAULT_KINDS, OSD_HEALTHY_STATES, OsdEmulator, type OsdFaultKind, type OsdScript } from '@enigm/sim/osd';
import test, { type ExecutionContext } from 'ava';
import { osdCollector, queryOsd } from '../src/collect/osd.ts';
import { collectAll, isFresh, type Signal, signalProblem } from '../src/signals.ts';

const DAEMON_SIGNALS = ['tsc.posture', 'mdm.state', 'privacy.mode', 'network.policy', 'ota.verified', 'attestation.outcome'];

/** A temporary folder and a socket path in it, removed at teardown. */
function socketPath(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'osd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'osd.sock');
}

async function emulator(t: ExecutionContext, script: OsdScript, now: () => number = Date.now): Promise<OsdEmulator> {
  const emu = await OsdEmulator.start({ socketPath: socketPath(t), script, now });
  t.teardown(() => emu.close());
  return emu;
}

const byName = (signals: Signal[]) => new Map(signals.map((s) => [s.name, s]));

test('scripted states are collected as ok signals with their values, source enigm-osd and the daemon age', async (t) => {
  let clock = 1_000_000;
  const emu = await emulator(t, { states: OSD_HEALTHY_STATES }, () => clock);
  clock += 2500; // the states are 2.5 s old when asked for
  const signals = await osdCollector({ socketPath: emu.socketPath, timeoutMs: 5000 }).collect({ now: () => clock });
  t.deepEqual(
    signals.map((s) => s.name),
    DAEMON_SIGNALS,
  );
  for (const s of signals) {
    t.is(signalProblem(s), null);
    t.is(s.status, 'ok');
    t.is(s.source, 'enigm-osd');
    t.is(s.collectedAt, 1_000_000);
    t.true(isFresh(s, clock));
  }
  const m = byName(signals);
  t.is(m.get('tsc.posture')?.value, 'secure');
  t.is(m.get('mdm.state')?.value, 'enrolled');
  t.is(m.get('privacy.mode')?.value, 'private');
  t.deepEqual(m.get('network.policy')?.value, { vpn: 'always-on', proxy: false, torGateway: false, esimProfile: 'personal' });
  t.is(m.get('ota.verified')?.value, 'verified');
  t.is(m.get('attestation.outcome')?.value, 'pass');
});

test('a state changed on the daemon is seen changed by the next collection', async (t) => {
  const emu = await emulator(t, { states: OSD_HEALTHY_STATES });
  const collector = osdCollector({ socketPath: emu.socketPath, timeoutMs: 5000 });
  t.is(byName(await collector.collect({ now: Date.now })).get('tsc.posture')?.value, 'secure');
  emu.setStates({ tsc: { level: 'attention' }, ota: { unavailable: 'no update channel' } });
  const after = byName(await collector.collect({ now: Date.now }));
  t.is(after.get('tsc.posture')?.value, 'attention');
  t.is(after.get('ota.verified')?.reason, 'Enigm OS daemon: state unavailable (no update channel)');
  t.is(after.get('mdm.state')?.value, 'enrolled');
});

test('a state scripted to change over time: collections see the old state, then the new one, never back', async (t) => {
  const emu = await emulator(t, {
    states: OSD_HEALTHY_STATES,
    steps: [{ afterMs: 300, states: { tsc: { level: 'at-risk' } } }],
  });
  const collector = osdCollector({ socketPath: emu.socketPath, timeoutMs: 5000 });
  const seen: unknown[] = [];
  for (let i = 0; i < 400 && seen.at(-1) !== 'at-risk'; i++) {
    seen.push(byName(await collector.collect({ now: Date.now })).get('tsc.posture')?.value);
    await new Promise((r) => setTimeout(r, 20));
  }
  for (let i = 0; i < 3; i++) seen.push(byName(await collector.collect({ now: Date.now })).get('tsc.posture')?.value);
  const firstNew = seen.indexOf('at-risk');
  t.true(firstNew >= 0, 'the change was seen');
  t.deepEqual(seen.slice(0, firstNew), new Array(firstNew).fill('secure'));
  t.deepEqual(seen.slice(firstNew), new Array(seen.length - firstNew).fill('at-risk'));
});

test('an unscripted query and an error status give unknown with the reason', async (t) => {
  const emu = await emulator(t, { states: { tsc: { level: 'attention' }, mdm: { error: 'internal' } } });
  const m = byName(await osdCollector({ socketPath: emu.socketPath, timeoutMs: 5000 }).collect({ now: Date.now }));
  t.is(m.get('tsc.posture')?.value, 'attention');
  t.is(m.get('mdm.state')?.reason, 'Enigm OS daemon: error (internal)');
  t.is(m.get('privacy.mode')?.reason, 'Enigm OS daemon: state unavailable (no state scripted)');
});

test('a slow daemon: the signal is unknown with a reason within the request timeout, before the slow answer is sent', async (t) => {
  const emu = await emulator(t, {
    states: OSD_HEALTHY_STATES,
    faults: [{ kind: 'slow', delayMs: 30_000, queries: ['network'] }],
  });
  // the answers that must arrive share the limit: a stall of this process as long as it would
  // time them out too (the timer runs before the pending answers are read), so it is generous
  const m = byName(await osdCollector({ socketPath: emu.socketPath, timeoutMs: 5000 }).collect({ now: Date.now }));
  const net = m.get('network.policy');
  t.is(net?.status, 'unknown');
  t.is(net?.reason, 'the Enigm OS daemon did not answer within 5000 ms');
  // the other queries were answered, the slow one never was
  t.is(m.get('tsc.posture')?.status, 'ok');
  t.is(emu.stats().answers, 5);
});

const FAULT_REASONS: Record<OsdFaultKind, RegExp> = {
  slow: /did not answer within/,
  silent: /did not answer within/,
  malformed: /malformed response \(CBOR_/,
  'wrong-type': /malformed response \(MESSAGE_INVALID\)/,
  oversized: /malformed response \(FRAME_TOO_LARGE\)/,
  close: /closed the connection/,
  'wrong-id': /malformed response \(an answer to no pending request\)/,
};

for (const kind of OSD_FAULT_KINDS) {
  test(`fault ${kind}: the affected signals are unknown with a reason, then the collector works again`, async (t) => {
    const emu = await emulator(t, {
      states: OSD_HEALTHY_STATES,
      faults: [{ kind, queries: ['tsc'], times: 1, ...(kind === 'slow' ? { delayMs: 30_000 } : {}) }],
    });
    // generous for the answers that must arrive (a loaded CI machine); the slow and silent faults cost it once
    const collector = osdCollector({ socketPath: emu.socketPath, timeoutMs: 5000 });
    const faulty = byName(await collector.collect({ now: Date.now }));
    const tsc = faulty.get('tsc.posture');
    t.is(tsc?.status, 'unknown');
    t.regex(tsc?.reason ?? '', FAULT_REASONS[kind]);
    for (const s of faulty.values()) t.is(signalProblem(s), null);
    const again = await collector.collect({ now: Date.now });
    t.deepEqual(
      again.map((s) => s.status),
      DAEMON_SIGNALS.map(() => 'ok'),
    );
  });
}

test('no daemon: a missing socket, a stale socket file and a plain file all give unknown "no Enigm OS daemon"', async (t) => {
  const path = socketPath(t);
  const missing = await osdCollector({ socketPath: path, timeoutMs: 1000 }).collect({ now: Date.now });
  t.deepEqual(
    missing.map((s) => [s.status, s.reason]),
    DAEMON_SIGNALS.map(() => ['unknown', 'no Enigm OS daemon']),
  );
  const emu = await OsdEmulator.start({ socketPath: path, script: { states: OSD_HEALTHY_STATES } });
  await emu.close();
  writeFileSync(`${path}.file`, 'not a socket');
  for (const p of [path, `${path}.file`]) {
    const answers = await queryOsd(['tsc'], { socketPath: p, timeoutMs: 1000 });
    t.deepEqual(answers.get('tsc'), { ok: false, code: 'DAEMON_UNAVAILABLE', reason: 'no Enigm OS daemon' });
  }
});

test('collectAll with the daemon collector and a hung collector: both bounded, daemon signals ok, the hung one unknown', async (t) => {
  const emu = await emulator(t, { states: OSD_HEALTHY_STATES });
  const hung = { name: 'hung', signals: ['secureboot' as const], collect: () => new Promise<Signal[]>(() => {}) };
  const signals = await collectAll([osdCollector({ socketPath: emu.socketPath, timeoutMs: 5000 }), hung], {
    now: Date.now,
    timeoutMs: 6000,
  });
  const m = byName(signals);
  t.is(m.get('tsc.posture')?.status, 'ok');
  t.is(m.get('secureboot')?.status, 'unknown');
  t.is(m.get('secureboot')?.reason, 'hung collector timed out after 6000 ms');
});

test('the emulator refuses a bad request frame by closing that connection only, and keeps serving', async (t) => {
  const emu = await emulator(t, { states: OSD_HEALTHY_STATES });
  const { createConnection } = await import('node:net');
  await new Promise<void>((resolve) => {
    const s = createConnection({ path: emu.socketPath }, () => s.write(Buffer.from([0, 0, 0, 2, 0xff, 0xff])));
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
  t.is(emu.stats().badRequests, 1);
  const answers = await queryOsd(['mdm'], { socketPath: emu.socketPath, timeoutMs: 5000 });
  t.true(answers.get('mdm')?.ok);
});
