/**
 * End to end over real pseudo-terminals (socat) with the real serialport library on both sides:
 * the host client talks to the simulator's Keys (docs/protocol.md, whole stack). Also TCP, and
 * persistence of identity/state across a simulator restart.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appraiseKeyEvidence } from '@enigm/attestation';
import { x25519Generate } from '@enigm/protocols/crypto';
import { staticKeyFromPrivate } from '@enigm/protocols/noise';
import { hasSocat, Simulator, type SimulatorStateFile, STATE_FILE } from '@enigm/sim';
import test from 'ava';
import { KeyError } from '../src/client/errors.ts';
import { KeyClient } from '../src/client/key-client.ts';
import { probePorts } from '../src/discovery.ts';
import { SecureSession } from '../src/session/secure-session.ts';
import { SerialTransport } from '../src/transport/serial.ts';
import { TcpTransport } from '../src/transport/tcp.ts';

const socat = hasSocat();
// With CI=true a missing socat must fail the suite, never skip it.
const realTest = socat || process.env.CI === 'true' ? test.serial : test.serial.skip;

if (!socat && process.env.CI === 'true') {
  test('socat is installed (required in CI for pseudo-terminal serial tests)', (t) => {
    t.fail('socat not found: .ci/run must apt-get install socat');
  });
}

/** Per-attempt budget of the host's requests: ample for a loaded machine (nothing is lost here). */
const LINK_TIMEOUT_MS = 5000;

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'enigm-sim-'));
  dirs.push(d);
  return d;
};
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

realTest('host ↔ simulated Key over a real pty: pair (XX), reconnect (IK), commands only in the session, attest', async (t) => {
  const sim = await Simulator.start({ keys: 2, stateDir: tempDir() });
  try {
    const keys = sim.keys();
    const port = keys[1]?.serial as string;
    const hostKey = staticKeyFromPrivate(x25519Generate().privateKey);
    let c = await KeyClient.connect(new SerialTransport({ path: port }), { timeoutMs: LINK_TIMEOUT_MS });
    t.is(c.hello.state, 'factory');
    t.true(c.hello.features.includes('noise-xx'));
    const info = await c.info();
    t.is(
      Buffer.from(info.handle as Uint8Array).toString('hex'),
      keys[1]?.handle as string,
      'a fresh Key is pairable: info names it',
    );
    // Outside a session, activate is refused with a named error.
    const plain = await t.throwsAsync(c.request('activate', {}), { instanceOf: KeyError });
    t.is(plain?.remote?.name, 'SESSION_REQUIRED');
    // First contact: XX, identity binding verified, then pair as owner.
    const xx = await SecureSession.firstContact(c, { hostKey });
    t.deepEqual(xx.peer.identity, sim.firmware(1).secureElement.identityPublicKey);
    t.deepEqual(await xx.pair('owner', 'test host'), { role: 'owner' });
    await xx.close();
    await c.close();
    // Reconnect with IK using the pinned static key; run commands inside the session.
    c = await KeyClient.connect(new SerialTransport({ path: port }), { timeoutMs: LINK_TIMEOUT_MS });
    const ik = await SecureSession.reconnect(c, xx.peer.staticKey, { hostKey, identity: xx.peer.identity as Uint8Array });
    const events: unknown[] = [];
    c.onEvent((e) => events.push(e.body));
    t.deepEqual(await ik.request('activate', {}), { state: 'dormant' });
    const again = await t.throwsAsync(ik.request('activate', {}), { instanceOf: KeyError });
    t.is(again?.remote?.name, 'INVALID_STATE');
    const nonce = new Uint8Array(32).fill(9);
    const issuedAt = Date.now();
    const { evidence } = await ik.request('attest', { nonce });
    const appraisal = appraiseKeyEvidence({
      evidence,
      nonce,
      identity: xx.peer.identity as Uint8Array,
      issuedAt,
      receivedAt: Date.now(),
      maxAgeMs: 5000,
      hostRole: 'owner',
      reference: {
        allowedFirmwareDigests: [Buffer.from(sim.firmware(1).firmwareDigest).toString('hex')],
        minSecurityCounter: 1,
        expectedStates: ['dormant'],
      },
    });
    t.is(appraisal.status, 'affirming', JSON.stringify(appraisal.checks));
    t.is(appraisal.claims?.lifecycle, 'dormant');
    // The event frame may come after the answers: wait for it (a fixed 20 ms was short under load).
    for (const end = Date.now() + 10_000; events.length === 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    t.deepEqual(events, [{ from: 'factory', to: 'dormant' }]);
    t.is(sim.firmware(0).state, 'factory', 'Key 0 was not touched');
    await ik.close();
    await c.close();
  } finally {
    await sim.stop();
  }
});

realTest('the host can close and reopen the port; the Key stays up', async (t) => {
  const sim = await Simulator.start({ keys: 1, stateDir: tempDir(), tcp: false });
  try {
    const port = sim.keys()[0]?.serial as string;
    for (let i = 0; i < 3; i++) {
      const c = await KeyClient.connect(new SerialTransport({ path: port }), { timeoutMs: LINK_TIMEOUT_MS });
      await c.ping();
      await c.close();
    }
    t.pass();
  } finally {
    await sim.stop();
  }
});

realTest('pipelined requests over the pty respect the window and all complete', async (t) => {
  const sim = await Simulator.start({ keys: 1, stateDir: tempDir(), tcp: false });
  try {
    const c = await KeyClient.connect(new SerialTransport({ path: sim.keys()[0]?.serial as string }), {
      timeoutMs: LINK_TIMEOUT_MS,
    });
    let maxInFlight = 0;
    const all = Array.from({ length: 200 }, async (_, i) => {
      const p = c.ping(new Uint8Array([i & 0xff, i >> 8]));
      maxInFlight = Math.max(maxInFlight, c.inFlight);
      return p;
    });
    await Promise.all(all);
    t.true(maxInFlight <= c.link.window);
    t.is(c.stats.badFrames, 0);
    await c.close();
  } finally {
    await sim.stop();
  }
});

realTest('garbage on the serial line is skipped; the next frame is answered', async (t) => {
  const sim = await Simulator.start({ keys: 1, stateDir: tempDir(), tcp: false });
  try {
    const port = sim.keys()[0]?.serial as string;
    const raw = new SerialTransport({ path: port });
    await raw.open({ data: () => {}, closed: () => {} });
    await raw.send(new Uint8Array(5000).map((_, i) => (i * 7 + 1) & 0xff)); // noise, with zeros
    await raw.close();
    const c = await KeyClient.connect(new SerialTransport({ path: port }), { timeoutMs: LINK_TIMEOUT_MS });
    t.is((await c.info()).model, 'enigm-key-1');
    await c.close();
  } finally {
    await sim.stop();
  }
});

realTest('TCP exposure, state file, and persistence across a simulator restart', async (t) => {
  const dir = tempDir();
  let sim = await Simulator.start({ keys: 1, stateDir: dir });
  const first = sim.keys()[0];
  const state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as SimulatorStateFile;
  t.is(state.keys[0]?.serial, first?.serial);
  t.regex(first?.tcp ?? '', /^tcp:\/\/127\.0\.0\.1:\d+$/);
  const [host, p] = String(first?.tcp).slice(6).split(':');
  const c = await KeyClient.connect(new TcpTransport({ host: host as string, port: Number(p) }), { timeoutMs: LINK_TIMEOUT_MS });
  const hostKey = staticKeyFromPrivate(x25519Generate().privateKey);
  const s = await SecureSession.firstContact(c, { hostKey });
  await s.pair('provisioning');
  t.deepEqual(await s.request('activate', {}), { state: 'dormant' });
  await c.close();
  await sim.stop();
  sim = await Simulator.start({ keys: 1, stateDir: dir });
  try {
    const again = sim.keys()[0];
    t.is(again?.handle, first?.handle);
    t.is(again?.state, 'dormant');
    t.is(sim.firmware(0).bootCount, 2);
  } finally {
    await sim.stop();
  }
});

realTest('discovery: simulator ports answer as Keys, a silent pty does not', async (t) => {
  const sim = await Simulator.start({ keys: 2, stateDir: tempDir(), tcp: false });
  try {
    const ports = sim.keys().map((k) => k.serial as string);
    const r = await probePorts([...ports, '/nonexistent/ttyACM9'], { timeoutMs: LINK_TIMEOUT_MS }); // a Key answering late on a loaded machine is still a Key
    t.deepEqual(r.keys.map((k) => k.port).sort(), [...ports].sort());
    t.is(r.keys[0]?.model, 'enigm-key-1');
    t.is(r.silent.length, 1);
  } finally {
    await sim.stop();
  }
});
