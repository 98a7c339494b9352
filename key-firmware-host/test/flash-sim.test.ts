/**
 * Firmware update end to end over a real pseudo-terminal (docs/firmware.md): signed image →
 * pipelined upload inside a session → digest check → test-boot → health check → confirm; an
 * unconfirmed image reverts at the next boot; bad images are refused before any payload; an
 * interrupted upload resumes from the Key's offset.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519Generate, ed25519PrivateKeyFromPem, sha256, x25519Generate } from '@enigm/protocols/crypto';
import { signManifest } from '@enigm/protocols/firmware';
import { staticKeyFromPrivate } from '@enigm/protocols/noise';
import { hasSocat, Simulator } from '@enigm/sim';
import test from 'ava';
import { KeyError } from '../src/client/errors.ts';
import { KeyClient } from '../src/client/key-client.ts';
import { uploadPayload } from '../src/flash/upload.ts';
import { SecureSession } from '../src/session/secure-session.ts';
import { SerialTransport } from '../src/transport/serial.ts';

const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;
const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function payloadOf(n: number, seed: number): Uint8Array {
  const p = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    p[i] = x >>> 24;
  }
  return p;
}

function image(seed: Uint8Array, version: string, counter: number, size: number, model = 'enigm-key-1') {
  const payload = payloadOf(size, counter * 7 + size);
  const manifest = signManifest(
    { model, version, securityCounter: counter, payloadSize: size, payloadDigest: sha256(payload) },
    seed,
  );
  return { manifest, payload };
}

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-fw-'));
  dirs.push(dir);
  const sim = await Simulator.start({ keys: 1, stateDir: dir, tcp: false });
  const port = sim.keys()[0]?.serial as string;
  const seed = ed25519PrivateKeyFromPem(readFileSync(sim.signingKeyPath, 'utf8'));
  const hostKey = staticKeyFromPrivate(x25519Generate().privateKey);
  let c = await KeyClient.connect(new SerialTransport({ path: port }), { timeoutMs: 5000 });
  const xx = await SecureSession.firstContact(c, { hostKey });
  await xx.pair('provisioning');
  await c.close();
  const open = async () => {
    c = await KeyClient.connect(new SerialTransport({ path: port }), { timeoutMs: 5000 });
    const s = await SecureSession.reconnect(c, xx.peer.staticKey, { hostKey });
    return { c, s };
  };
  return { sim, seed, open };
}

realTest('upload (pipelined) → finish → test-boot → health → confirm; survives a reboot', async (t) => {
  const { sim, seed, open } = await setup();
  try {
    let { c, s } = await open();
    t.is(c.hello.firmware, '1.0.0');
    const img = image(seed, '2.0.0', 2, 200 * 1024 + 123);
    const up = await uploadPayload(s, img.manifest, img.payload, c.link.window);
    t.is(up.bytes, img.payload.length);
    t.true(up.chunk >= 3900, `chunk ${up.chunk} comes from the negotiated frame size`);
    await s.request('fw.finish', {});
    await s.request('fw.test', {});
    await c.close();
    ({ c, s } = await open());
    t.is(c.hello.firmware, '2.0.0', 'the Key runs the new image');
    const st = await s.request('fw.status', {});
    t.true(st.testing);
    t.is(st.securityCounter, 1, 'the counter does not advance before confirm');
    t.deepEqual(await s.request('fw.confirm', {}), { securityCounter: 2 });
    await c.close();
    sim.firmware(0).reboot();
    ({ c, s } = await open());
    const after = await s.request('fw.status', {});
    t.is(after.running.version, '2.0.0');
    t.false(after.testing);
    t.is(after.securityCounter, 2);
    // a downgrade to counter 1 is now refused up front
    const old = image(seed, '1.5.0', 1, 1000);
    const e = await t.throwsAsync(s.request('fw.begin', { manifest: old.manifest }), { instanceOf: KeyError });
    t.is(e?.remote?.name, 'FIRMWARE_REJECTED');
    t.regex(e?.remote?.reason ?? '', /FIRMWARE_DOWNGRADE/);
    await c.close();
  } finally {
    await sim.stop();
  }
});

realTest('an image that is not confirmed reverts at the next boot', async (t) => {
  const { sim, seed, open } = await setup();
  try {
    let { c, s } = await open();
    const img = image(seed, '1.1.0', 1, 30_000);
    await uploadPayload(s, img.manifest, img.payload, c.link.window);
    await s.request('fw.finish', {});
    await s.request('fw.test', {});
    await c.close();
    ({ c, s } = await open());
    t.is(c.hello.firmware, '1.1.0');
    await c.close();
    sim.firmware(0).reboot();
    ({ c, s } = await open());
    t.is(c.hello.firmware, '1.0.0', 'reverted');
    t.false((await s.request('fw.status', {})).testing);
    await c.close();
  } finally {
    await sim.stop();
  }
});

realTest('refused before any payload: wrong signer, wrong model, oversized; digest mismatch at finish', async (t) => {
  const { sim, seed, open } = await setup();
  try {
    const { c, s } = await open();
    const reject = async (manifest: Uint8Array, code: RegExp) => {
      const e = await t.throwsAsync(s.request('fw.begin', { manifest }), { instanceOf: KeyError });
      t.is(e?.remote?.name, 'FIRMWARE_REJECTED');
      t.regex(e?.remote?.reason ?? '', code);
    };
    await reject(image(ed25519Generate().seed, '3.0.0', 5, 100).manifest, /FIRMWARE_UNTRUSTED_SIGNER|FIRMWARE_BAD_SIGNATURE/);
    await reject(image(seed, '3.0.0', 5, 100, 'other-model').manifest, /FIRMWARE_WRONG_MODEL/);
    await reject(image(seed, '3.0.0', 5, 8 * 1024 * 1024).manifest, /FIRMWARE_TOO_LARGE/);
    // the manifest promises one payload, the host sends another
    const img = image(seed, '3.0.0', 5, 5000);
    const other = payloadOf(5000, 99);
    await uploadPayload(s, img.manifest, other, c.link.window);
    const e = await t.throwsAsync(s.request('fw.finish', {}), { instanceOf: KeyError });
    t.regex(e?.remote?.reason ?? '', /FIRMWARE_DIGEST_MISMATCH/);
    t.is(c.hello.firmware, '1.0.0');
    await c.close();
  } finally {
    await sim.stop();
  }
});

realTest('an interrupted upload resumes from the Key offset after a disconnect', async (t) => {
  const { sim, seed, open } = await setup();
  try {
    let { c, s } = await open();
    const img = image(seed, '2.1.0', 3, 150_000);
    const ac = new AbortController();
    const partial = uploadPayload(s, img.manifest, img.payload, c.link.window, {
      signal: ac.signal,
      onProgress: (p) => {
        if (p.acked > 40_000) ac.abort();
      },
    });
    await t.throwsAsync(partial);
    await c.close();
    ({ c, s } = await open());
    const up = await uploadPayload(s, img.manifest, img.payload, c.link.window);
    t.true(up.resumedFrom > 0, `resumed at ${up.resumedFrom}`);
    t.is(up.resumedFrom + up.bytes, img.payload.length);
    await s.request('fw.finish', {});
    await c.close();
  } finally {
    await sim.stop();
  }
});
