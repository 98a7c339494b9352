/**
 * The Key's provisioning commands over the wire protocol (sealed requests in Noise sessions):
 * `csr`, `cert.install` and `time.set` — who may run them and when (role and lifecycle tables),
 * what the Key checks before it stores a chain (its own key, signatures in order, validity at
 * the station-set time, size), that a failed write stores nothing, that a factory reset drops the
 * chain, and that evidence carries the chain in its protected header. Issue 11 "a replayed
 * provisioning response": a captured sealed `cert.install` frame replayed (same id, another id,
 * another link, a later session) runs nothing and stores nothing; a Key holding a chain refuses
 * an older or same-second one (`CERT_STALE`) and takes a newer one (docs/station.md).
 */
import { createCa, issueFromCsr, issueKeyCertificate } from '@enigm/attestation';
import { decodeSign1, verifySign1 } from '@enigm/protocols/cose';
import { ed25519Generate } from '@enigm/protocols/crypto';
import { HEADER_IDENTITY_KEY, HEADER_X5CHAIN } from '@enigm/protocols/evidence';
import { decodeMessage, encodeMessage } from '@enigm/protocols/messages';
import { parseEd25519Csr } from '@enigm/protocols/x509';
import test from 'ava';
import { MemoryStorage } from '../src/firmware/storage.ts';
import { makeTestKey } from '../src/testing.ts';
import { WireHost } from './support/wire-host.ts';

const MODEL = 'enigm-key-1';
const ca = createCa();

function rig(storage?: MemoryStorage) {
  const k = makeTestKey(storage ? { storage } : {});
  const owner = new WireHost(k.fw, 21).connect().pair('owner');
  const join = (seed: number, role: 'provisioning' | 'service') => {
    k.fw.openPairingWindow(60_000);
    return new WireHost(k.fw, seed).connect().pair(role);
  };
  return { ...k, owner, station: join(22, 'provisioning'), service: join(23, 'service') };
}

async function issued(r: ReturnType<typeof rig>) {
  const c = await ca;
  const csr = r.station.ok('csr', {}).csr;
  const leaf = await issueFromCsr(c, csr, { model: MODEL, expectedIdentityKey: r.fw.secureElement.identityPublicKey });
  return { leaf, chain: [leaf.der, c.intermediate.certificate.der], ca: c };
}

test('the CSR is signed by the identity key; owner and provisioning may ask in factory state, service never', (t) => {
  const r = rig();
  t.deepEqual(parseEd25519Csr(r.station.ok('csr', {}).csr).publicKey, r.fw.secureElement.identityPublicKey);
  t.true(r.owner.request('csr', {}).ok);
  t.like(r.service.request('csr', {}), { ok: false, name: 'FORBIDDEN' });
  t.like(r.service.request('cert.install', { chain: [new Uint8Array(100)] }), { ok: false, name: 'FORBIDDEN' });
  t.like(r.owner.request('cert.install', { chain: [new Uint8Array(100)] }), { ok: false, name: 'FORBIDDEN' });
  t.like(r.service.request('time.set', { unixMs: Date.now() }), { ok: false, name: 'FORBIDDEN' });
  r.owner.ok('activate', {});
  for (const h of [r.owner, r.station]) t.like(h.request('csr', {}), { ok: false, name: 'FORBIDDEN' });
  t.like(r.station.request('cert.install', { chain: [new Uint8Array(100)] }), { ok: false, name: 'FORBIDDEN' });
  t.like(r.station.request('time.set', { unixMs: Date.now() }), { ok: false, name: 'FORBIDDEN' });
  t.deepEqual(r.owner.ok('time.set', { unixMs: Date.now() }), {});
});

test('time.set is bounded; cert.install checks time, key, order, size and validity at the Key time', async (t) => {
  const r = rig();
  const { leaf, chain, ca: c } = await issued(r);
  t.like(r.station.request('time.set', { unixMs: 0 }), { ok: false, name: 'INVALID_ARGUMENT' });
  t.like(r.station.request('time.set', { unixMs: Date.UTC(2200, 0, 1) }), { ok: false, name: 'INVALID_ARGUMENT' });
  t.like(r.station.request('cert.install', { chain }), { ok: false, name: 'TIME_NOT_SET' });
  r.station.ok('time.set', { unixMs: leaf.notBefore.getTime() - 60_000 });
  t.like(r.station.request('cert.install', { chain }), { ok: false, name: 'CERT_NOT_VALID' });
  r.station.ok('time.set', { unixMs: leaf.notAfter.getTime() + 1000 });
  t.like(r.station.request('cert.install', { chain }), { ok: false, name: 'CERT_NOT_VALID' });
  r.station.ok('time.set', { unixMs: Date.now() });
  const other = await issueKeyCertificate(c, { identityPublicKey: ed25519Generate().publicKey, model: MODEL });
  t.like(r.station.request('cert.install', { chain: [other.der, c.intermediate.certificate.der] }), {
    ok: false,
    name: 'CERT_KEY_MISMATCH',
  });
  t.like(r.station.request('cert.install', { chain: [c.intermediate.certificate.der, leaf.der] }), {
    ok: false,
    name: 'CERT_KEY_MISMATCH',
  });
  t.like(r.station.request('cert.install', { chain: [leaf.der, c.root.certificate.der] }), { ok: false, name: 'CERT_INVALID' });
  const garbage = leaf.der.slice();
  garbage[garbage.length - 70] = (garbage[garbage.length - 70] as number) ^ 0xff;
  t.like(r.station.request('cert.install', { chain: [garbage, c.intermediate.certificate.der] }), {
    ok: false,
    name: 'CERT_INVALID',
  });
  t.like(r.station.request('cert.install', { chain: [leaf.der, new Uint8Array(1000), new Uint8Array(1000)] }), {
    ok: false,
    name: 'CERT_INVALID',
  });
  t.is(r.fw.certificateChain, undefined, 'nothing stored by a refusal');
  t.deepEqual(r.station.ok('cert.install', { chain }), { notAfter: leaf.notAfter.getTime() });
  t.deepEqual(r.fw.certificateChain, chain);
});

test('a failed write stores nothing; the stored chain is in the evidence (protected x5chain) and a factory reset drops it', async (t) => {
  const storage = new MemoryStorage();
  const r = rig(storage);
  const { chain } = await issued(r);
  r.station.ok('time.set', { unixMs: Date.now() });
  const write = storage.write.bind(storage);
  storage.write = () => {
    throw new Error('power lost');
  };
  const before = storage.bytes?.slice();
  t.like(r.station.request('cert.install', { chain }), { ok: false, name: 'INTERNAL' });
  storage.write = write;
  t.deepEqual(storage.bytes, before);
  t.is(r.fw.certificateChain, undefined);
  r.station.ok('cert.install', { chain });
  const ev = r.station.ok('attest', { nonce: new Uint8Array(32).fill(7) }).evidence;
  const s = verifySign1(ev, r.fw.secureElement.identityPublicKey);
  t.deepEqual(s.protectedHeaders.get(HEADER_X5CHAIN), chain);
  t.false(s.unprotectedHeaders.has(HEADER_X5CHAIN));
  t.deepEqual(s.unprotectedHeaders.get(HEADER_IDENTITY_KEY), r.fw.secureElement.identityPublicKey);
  r.fw.reboot();
  t.deepEqual(r.fw.certificateChain, chain, 'a reboot keeps it');
  t.not(r.fw.factoryReset(), undefined);
  t.is(r.fw.certificateChain, undefined, 'a factory reset (new identity) drops it');
  t.false(
    decodeSign1(
      new WireHost(r.fw, 24)
        .connect()
        .pair('owner')
        .ok('attest', { nonce: new Uint8Array(32) }).evidence,
    ).protectedHeaders.has(HEADER_X5CHAIN),
  );
});

test('a replayed cert.install frame ends the session and changes nothing; an older or same-time chain is CERT_STALE', async (t) => {
  const storage = new MemoryStorage();
  const r = rig(storage);
  const c = await ca;
  const hour = 3_600_000;
  const t0 = Date.now();
  const issueAt = async (at: number) =>
    issueFromCsr(c, r.station.ok('csr', {}).csr, {
      model: MODEL,
      expectedIdentityKey: r.fw.secureElement.identityPublicKey,
      now: () => new Date(at),
    });
  const a = await issueAt(t0 + 2 * hour);
  const chainA = [a.der, c.intermediate.certificate.der];
  r.station.ok('time.set', { unixMs: t0 + 3 * hour });
  r.station.ok('cert.install', { chain: chainA });
  const captured = r.station.lastFrame; // the sealed `secure` request carrying cert.install
  let stored = storage.bytes?.slice();

  // The same frame again on its link is a retry (same request id): the remembered answer, not a second run.
  const first = r.station.replay(captured);
  t.is(first?.name, 'secure.response');
  t.deepEqual(storage.bytes, stored);
  // Replayed by another party on another link: no such session there; the station's session goes on.
  const attacker = new WireHost(r.fw, 99);
  t.like(attacker.replay(captured), { name: 'error', body: { name: 'SESSION_FAILED' } });
  t.true(r.station.request('attest', { nonce: new Uint8Array(32) }).ok);
  t.deepEqual(storage.bytes, stored);
  // The same sealed request under a fresh outer id: its counter was used, the session ends.
  const outer = decodeMessage(captured);
  t.like(r.station.replay(encodeMessage({ ...outer, id: 9999 })), { name: 'error', body: { name: 'SESSION_FAILED' } });
  t.like(r.station.request('attest', { nonce: new Uint8Array(32) }), { ok: false, name: 'SESSION_FAILED' });
  t.deepEqual(storage.bytes, stored);
  // Replayed into a new session of the same host: sealed under the old session's keys, refused.
  r.station.connect(); // (an IK session start stores the host's handshake timestamp)
  const reconnected = storage.bytes?.slice();
  t.like(r.station.replay(captured), { name: 'error', body: { name: 'SESSION_FAILED' } });
  t.deepEqual(storage.bytes, reconnected);
  t.deepEqual(r.fw.certificateChain, chainA);

  // Re-provisioning a Key that holds a chain: only a newer certificate replaces it.
  r.station.connect();
  r.station.ok('time.set', { unixMs: t0 + 3 * hour });
  stored = storage.bytes?.slice();
  const older = await issueAt(t0 + hour);
  t.like(r.station.request('cert.install', { chain: [older.der, c.intermediate.certificate.der] }), {
    ok: false,
    name: 'CERT_STALE',
  });
  const sameSecond = await issueAt(t0 + 2 * hour);
  t.notDeepEqual(sameSecond.der, a.der, 'another certificate (serial) for the same instant');
  t.like(r.station.request('cert.install', { chain: [sameSecond.der, c.intermediate.certificate.der] }), {
    ok: false,
    name: 'CERT_STALE',
  });
  t.deepEqual(storage.bytes, stored, 'a refused chain writes nothing');
  t.deepEqual(r.station.ok('cert.install', { chain: chainA }), { notAfter: a.notAfter.getTime() }, 'the same chain: a no-op');
  t.deepEqual(storage.bytes, stored, 'the same chain again writes nothing');
  const newer = await issueAt(t0 + 4 * hour);
  r.station.ok('time.set', { unixMs: t0 + 5 * hour });
  r.station.ok('cert.install', { chain: [newer.der, c.intermediate.certificate.der] });
  t.deepEqual(r.fw.certificateChain, [newer.der, c.intermediate.certificate.der]);
});
