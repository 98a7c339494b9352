/**
 * Red-team attacks on Key sessions (issue 16, findings 5, 6, 7), each through a man in the
 * middle on a real TCP link between the host library and the simulator (`redteam-proxy.ts`):
 *
 * - finding 7: rewriting any field of `hello` or `hello.response` makes the next handshake fail
 *   (XX and IK), so the capabilities a host acts on are the ones the Key sent;
 * - finding 6: a forged cleartext error for a session request is "outcome unknown", never the
 *   Key's verdict; forged keepalives cannot hold a session request past its hard deadline;
 * - finding 5: a request held back and retried after a later one is refused, not run.
 *
 * Each test has a control run without the attack, so it cannot pass by failing everything.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256, x25519Generate } from '@enigm/protocols/crypto';
import { signManifest } from '@enigm/protocols/firmware';
import { type BodyOf, encodeMessage, KEY_ERRORS, type Message } from '@enigm/protocols/messages';
import { type StaticKey, staticKeyFromPrivate } from '@enigm/protocols/noise';
import { loadOrCreateSigningKey, Simulator } from '@enigm/sim';
import test, { type ExecutionContext } from 'ava';
import { KeyError } from '../src/client/errors.ts';
import { KeyClient } from '../src/client/key-client.ts';
import { SecureSession } from '../src/session/secure-session.ts';
import { transportFromAddress } from '../src/transport/open.ts';
import { type Mitm, reencode, startMitm } from './redteam-proxy.ts';

interface Rig {
  sim: Simulator;
  stateDir: string;
  mitm: Mitm;
  connect(): Promise<KeyClient>;
  /** A host paired as owner through the (honest) proxy. */
  owner: { hostKey: StaticKey; keyStatic: Uint8Array; identity: Uint8Array };
  /** Strictly growing IK clock. */
  now: () => number;
}

async function rig(t: ExecutionContext): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-redteam-'));
  const sim = await Simulator.start({ keys: 1, serial: false, stateDir: dir });
  const mitm = await startMitm(sim.keys()[0]?.tcp as string);
  const clients: KeyClient[] = [];
  t.teardown(async () => {
    for (const c of clients) await c.close();
    await mitm.close();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const connect = async () => {
    // 1 s per attempt: short enough for the dropped-request cases (finding 5) to retry soon, long
    // enough that a loaded machine does not time out an honest exchange 3 times over.
    const c = await KeyClient.connect(transportFromAddress(mitm.address), { timeoutMs: 1000, retries: 2 });
    clients.push(c);
    return c;
  };
  let clock = Date.now();
  const now = () => ++clock;
  const hostKey = staticKeyFromPrivate(x25519Generate().privateKey);
  const c = await connect();
  const xx = await SecureSession.firstContact(c, { hostKey });
  await xx.pair('owner');
  await xx.close();
  await c.close(); // the simulator allows few links per Key, as a real Key has few
  return { sim, stateDir: dir, mitm, connect, now, owner: { hostKey, keyStatic: xx.peer.staticKey, identity: xx.peer.identity } };
}

/** Rewrites the body of the first message named `name` going `dir`. */
function rewriteOnce(mitm: Mitm, name: string, edit: (body: Record<string, unknown>) => void): { done: boolean } {
  const state = { done: false };
  mitm.hook = (_dir, m) => {
    if (!m || m.name !== name || state.done) return undefined;
    state.done = true;
    const body = { ...(m.body as Record<string, unknown>) };
    edit(body);
    return [reencode({ ...m, body } as Message)];
  };
  return state;
}

const HELLO_TAMPERING: [string, string, (b: Record<string, unknown>) => void][] = [
  ['hello.response', 'features (attest hidden)', (b) => (b.features = (b.features as string[]).filter((f) => f !== 'attest'))],
  ['hello.response', 'window (8 → 1)', (b) => (b.window = 1)],
  ['hello.response', "the Key's maxFrame (4096 → 1024)", (b) => (b.maxFrame = 1024)],
  ['hello.response', 'firmware version (→ 9.9.9)', (b) => (b.firmware = '9.9.9')],
  ['hello.response', 'reported state (factory → dormant)', (b) => (b.state = 'dormant')],
  ['hello.response', 'model', (b) => (b.model = 'enigm-key-0')],
  ['hello', "the host's maxFrame (→ 2048)", (b) => (b.maxFrame = 2048)],
];

test('finding 7: a proxy rewriting any hello field makes XX and IK fail; untouched, both work', async (t) => {
  const r = await rig(t);
  r.sim.firmware(0).openPairingWindow(600_000); // a paired Key runs XX only while pairable
  // Control: through the honest proxy both handshakes work.
  const ok = await r.connect();
  await (await SecureSession.firstContact(ok, { hostKey: staticKeyFromPrivate(x25519Generate().privateKey) })).close();
  const ik = await SecureSession.reconnect(ok, r.owner.keyStatic, { hostKey: r.owner.hostKey, now: r.now });
  t.is((await ik.request('hosts.list', {})).hosts.length, 1);
  await ok.close();
  for (const [name, what, edit] of HELLO_TAMPERING) {
    const rewritten = rewriteOnce(r.mitm, name, edit);
    const c = await r.connect();
    t.true(rewritten.done, `${what}: the proxy rewrote ${name}`);
    r.mitm.hook = () => undefined;
    const xx = await t.throwsAsync(
      SecureSession.firstContact(c, { hostKey: staticKeyFromPrivate(x25519Generate().privateKey) }),
      { instanceOf: KeyError },
      `${what}: XX must fail`,
    );
    t.true(xx?.code === 'KEY_BAD_RESPONSE' || xx?.remote?.name === 'SESSION_FAILED', `${what}: ${xx?.message}`);
    const ikErr = await t.throwsAsync(
      SecureSession.reconnect(c, r.owner.keyStatic, { hostKey: r.owner.hostKey, now: r.now }),
      { instanceOf: KeyError },
      `${what}: IK must fail`,
    );
    t.is(ikErr?.remote?.name, 'SESSION_FAILED', `${what}: ${ikErr?.message}`);
    await c.close();
  }
});

/** Replaces the Key's next `secure.response` with a forged cleartext error. */
function forgeErrorForNextSecure(mitm: Mitm, name: keyof typeof KEY_ERRORS, reason: string): void {
  let armed = true;
  mitm.hook = (dir, m) => {
    if (!armed || dir !== 'toHost' || m?.name !== 'secure.response') return undefined;
    armed = false;
    const body = { code: KEY_ERRORS[name].code, name, reason };
    return [encodeMessage({ version: m.version, name: 'error', id: m.id as number, body })];
  };
}

test('finding 6: a forged cleartext FIRMWARE_REJECTED is reported as outcome unknown, not as the Key’s verdict', async (t) => {
  const r = await rig(t);
  const c = await r.connect();
  const s = await SecureSession.reconnect(c, r.owner.keyStatic, { hostKey: r.owner.hostKey, now: r.now });
  // Control: a real, sealed refusal is the Key's verdict.
  const sealed = await t.throwsAsync(s.request('fw.chunk', { offset: 0, data: new Uint8Array(4) }), { instanceOf: KeyError });
  t.is(sealed?.code, 'KEY_REJECTED');
  forgeErrorForNextSecure(r.mitm, 'FIRMWARE_REJECTED', 'FIRMWARE_DOWNGRADE');
  const e = await t.throwsAsync(s.request('activate', {}), { instanceOf: KeyError });
  t.is(e?.code, 'KEY_OUTCOME_UNKNOWN', e?.message);
  t.is(e?.remote, undefined, 'no unauthenticated verdict is attached as the remote error');
  t.is(r.sim.firmware(0).state, 'dormant', 'the Key did run the command: the forged answer was a lie');
  t.true(s.isOpen, 'the session survives a forged non-session error');
});

test('finding 6: a forged cleartext SESSION_FAILED is outcome unknown and ends the session on the host', async (t) => {
  const r = await rig(t);
  const c = await r.connect();
  const s = await SecureSession.reconnect(c, r.owner.keyStatic, { hostKey: r.owner.hostKey, now: r.now });
  forgeErrorForNextSecure(r.mitm, 'SESSION_FAILED', 'session failed');
  const e = await t.throwsAsync(s.request('activate', {}), { instanceOf: KeyError });
  t.is(e?.code, 'KEY_OUTCOME_UNKNOWN', e?.message);
  t.regex(e?.message ?? '', /outcome unknown/);
  t.false(s.isOpen);
  t.is(r.sim.firmware(0).state, 'dormant', 'it had run');
});

test('finding 6: forged keepalives cannot hold a session request past its hard deadline', async (t) => {
  const r = await rig(t);
  const c = await r.connect();
  const s = await SecureSession.reconnect(c, r.owner.keyStatic, {
    hostKey: r.owner.hostKey,
    now: r.now,
    deadlineMs: 3000, // the control request must fit in it on a loaded machine too
  });
  // Control: with the proxy honest, the request completes.
  t.is((await s.request('hosts.list', {})).hosts.length, 1);
  // Attack: every sealed answer is dropped; a forged cleartext keepalive every 30 ms.
  r.mitm.hook = (dir, m) => (dir === 'toHost' && m?.name === 'secure.response' ? [] : undefined);
  const keepalive = encodeMessage({ version: 1, name: 'keepalive', body: {} });
  const pump = setInterval(() => r.mitm.injectToHost(keepalive), 30);
  t.teardown(() => clearInterval(pump));
  // Held by the keepalives, the request would never end while the pump runs: a bound far past the
  // 3 s deadline tells that apart from a slow machine (no duration is asserted).
  let bound: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    s.request('hosts.list', {}).then(
      () => 'answered',
      (e: unknown) => e,
    ),
    new Promise((res) => {
      bound = setTimeout(() => res('still pending after 20 s'), 20_000);
    }),
  ]);
  clearTimeout(bound);
  clearInterval(pump);
  t.true(outcome instanceof KeyError, `the request must end, got: ${String(outcome)}`);
  t.is((outcome as KeyError).code, 'KEY_TIMEOUT');
  t.regex((outcome as KeyError).message, /hard deadline/);
  // A loaded machine runs the 30 ms pump less often: a few keepalives are enough to prove they
  // reached the client while the request waited (the counter is the client's own).
  t.true(c.stats.keepalives >= 3, `the forged keepalives arrived (${c.stats.keepalives})`);
});

test('finding 5: a request dropped once and retried after a later one ran is refused OUT_OF_ORDER, not run', async (t) => {
  const r = await rig(t);
  const c = await r.connect();
  const s = await SecureSession.reconnect(c, r.owner.keyStatic, { hostKey: r.owner.hostKey, now: r.now });
  // Control: in order, both run.
  t.is((await s.request('hosts.list', {})).hosts.length, 1);
  // Attack: drop the first attempt of A; B passes; the host's retry of A (same request id,
  // re-sealed with a higher counter) then reaches the Key after B.
  let dropped = 0;
  r.mitm.hook = (dir, m) => (dir === 'toKey' && m?.name === 'secure' && dropped++ === 0 ? [] : undefined);
  const a = s.request('activate', {});
  const b = s.request('attest', { nonce: new Uint8Array(32).fill(7) });
  const [ra, rb] = await Promise.allSettled([a, b]);
  t.is(dropped > 1, true, 'A was dropped once, then its retry went through');
  t.is(rb.status, 'fulfilled', 'B ran');
  t.is(ra.status, 'rejected');
  const e = (ra as PromiseRejectedResult).reason as KeyError;
  t.is(e.code, 'KEY_REJECTED', e.message);
  t.is(e.remote?.name, 'OUT_OF_ORDER', 'a sealed refusal: the host knows A did not run');
  t.is(r.sim.firmware(0).state, 'factory', 'A (activate) never ran after B');
  t.true(c.stats.retries >= 1);
  // The session goes on; A can be issued again, now after B, knowingly.
  t.deepEqual(await s.request('activate', {}), { state: 'dormant' });
});

/** Unused type import guard (keeps BodyOf referenced for readers of the hooks). */
export type _Bodies = BodyOf<'hello.response'>;

test('finding 5, as reported: fw.begin(1.0.1) dropped once, fw.begin(1.0.2) through; the retried 1.0.1 does not replace 1.0.2', async (t) => {
  const r = await rig(t);
  const c = await r.connect();
  const s = await SecureSession.reconnect(c, r.owner.keyStatic, { hostKey: r.owner.hostKey, now: r.now });
  const { seed } = loadOrCreateSigningKey(r.stateDir);
  const manifest = (version: string) => {
    const payload = new Uint8Array(8192).fill(version.length + version.charCodeAt(4));
    return signManifest(
      { model: 'enigm-key-1', version, securityCounter: 1, payloadSize: payload.length, payloadDigest: sha256(payload) },
      seed,
    );
  };
  let dropped = 0;
  r.mitm.hook = (dir, m) => (dir === 'toKey' && m?.name === 'secure' && dropped++ === 0 ? [] : undefined);
  const [a, b] = await Promise.allSettled([
    s.request('fw.begin', { manifest: manifest('1.0.1') }),
    s.request('fw.begin', { manifest: manifest('1.0.2') }),
  ]);
  t.is(b.status, 'fulfilled', 'fw.begin(1.0.2) ran');
  t.is(a.status, 'rejected');
  t.is(((a as PromiseRejectedResult).reason as KeyError).remote?.name, 'OUT_OF_ORDER');
  r.mitm.hook = () => undefined;
  const st = await s.request('fw.status', {});
  t.is(st.secondary?.version, '1.0.2', 'the update in progress is the later one');
});
