/**
 * The agent configuration (strict: unknown fields, wrong types, out-of-range values refused with
 * CONFIG_INVALID naming the field) and the local API (length-prefixed strict CBOR over a Unix
 * socket): answers status and report; garbage frames close only their connection, never the
 * server; the frame reader is bounded and throws only API_PROTOCOL (fuzz).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import packageJson from '../package.json' with { type: 'json' };
import { ApiServer, queryAgent } from '../src/api/server.ts';
import { FrameReader, frame } from '../src/api/wire.ts';
import { parseAgentConfig, readAgentConfig } from '../src/config.ts';
import { AgentError } from '../src/errors.ts';
import { AGENT_VERSION } from '../src/version.ts';

const dir = mkdtempSync(join(tmpdir(), 'enigm-agent-cfg-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const base = { handle: 'eh1-aaaaaaaaaaaaaaaaaaaaaaaaaa', stateDir: '/var/lib/enigm-posture' };

test('a minimal configuration gets the documented defaults', (t) => {
  const c = parseAgentConfig(base);
  t.is(c.reportIntervalS, 300);
  t.is(c.jitterS, 30);
  t.is(c.tpm, 'device');
  t.deepEqual(c.pcrs, [0, 1, 2, 3, 4, 5, 6, 7]);
  t.is(c.daemonSocket, '/run/enigm/osd.sock');
  t.is(c.apiSocket, '/var/lib/enigm-posture/api.sock');
  t.is(c.mqtt, undefined);
  t.is(AGENT_VERSION, packageJson.version);
});

test('strict: unknown fields, bad types and out-of-range values are CONFIG_INVALID naming the field', (t) => {
  const cases: [unknown, RegExp][] = [
    [{ ...base, extra: 1 }, /extra/],
    [{ ...base, handle: 'host-1' }, /handle/],
    [{ ...base, reportIntervalS: 0 }, /reportIntervalS/],
    [{ ...base, reportIntervalS: '300' }, /reportIntervalS/],
    [{ ...base, tpm: 'tpm0' }, /tpm/],
    [{ ...base, pcrs: [24] }, /pcrs\[0\]/],
    [{ ...base, mqtt: { url: 'http://x' } }, /mqtt.url/],
    [{ ...base, mqtt: { url: 'mqtts://x', cert: '/c' } }, /mqtt.cert/],
    [{ ...base, mqtt: { url: 'mqtts://x', user: 'u' } }, /mqtt.user/],
    [{ ...base, policyKeys: ['00'] }, /policyKeys\[0\]/],
    [{ ...base, outbox: { maxRecords: 0 } }, /outbox.maxRecords/],
    [{ ...base, log: 'debug' }, /log/],
    [[], /configuration/],
  ];
  for (const [v, re] of cases) {
    const e = t.throws(() => parseAgentConfig(v), { instanceOf: AgentError });
    t.is(e?.code, 'CONFIG_INVALID');
    t.regex(e?.message ?? '', re);
  }
  const f = join(dir, 'bad.json');
  writeFileSync(f, '{ not json');
  t.throws(() => readAgentConfig(f), { code: 'CONFIG_INVALID', message: /not JSON/ });
  t.throws(() => readAgentConfig(join(dir, 'missing.json')), { code: 'CONFIG_INVALID', message: /ENOENT/ });
});

test('the local API answers status and report, and an error as API_REFUSED', async (t) => {
  const path = join(dir, 'api.sock');
  const server = await ApiServer.start(path, (op) => {
    if (op === 'report') throw Object.assign(new Error('no report made yet'), { code: 'NO_REPORT' });
    return { handle: base.handle, compliance: { decision: 'compliant', reasons: [] }, seq: 3, evidence: new Uint8Array([1, 2]) };
  });
  t.teardown(() => server.close());
  const s = (await queryAgent(path, 'status')) as Record<string, unknown>;
  t.is(s.handle, base.handle);
  t.deepEqual(s.evidence, new Uint8Array([1, 2]));
  await t.throwsAsync(queryAgent(path, 'report'), { instanceOf: AgentError, code: 'API_REFUSED', message: /NO_REPORT/ });
  await t.throwsAsync(queryAgent(join(dir, 'none.sock'), 'status'), { code: 'API_UNAVAILABLE' });
});

test('garbage on the API socket closes that connection only; the server keeps answering', async (t) => {
  const path = join(dir, 'api2.sock');
  const server = await ApiServer.start(path, () => ({ ok: true }));
  t.teardown(() => server.close());
  for (const junk of [
    Buffer.from([0xff, 0xff, 0xff, 0xff, 1]),
    Buffer.from([0, 0, 0, 2, 0xa1, 0x18]),
    Buffer.from('hello world'),
  ]) {
    await new Promise<void>((resolve) => {
      const s = createConnection(path, () => s.write(junk));
      const done = setTimeout(() => s.destroy(), 1000);
      s.on('close', () => {
        clearTimeout(done);
        resolve();
      });
      s.on('error', () => undefined);
      s.on('data', () => undefined);
    });
  }
  t.deepEqual(await queryAgent(path, 'status'), { ok: true });
});

test('fuzz: the frame reader accepts only whole strict frames and throws only API_PROTOCOL', (t) => {
  const good = frame(new Map([[1, 0]]));
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(good)), { maxLength: 6 }), (chunks) => {
      const r = new FrameReader();
      try {
        for (const c of chunks) r.push(c);
      } catch (e) {
        return e instanceof AgentError && e.code === 'API_PROTOCOL';
      }
      return true;
    }),
    { numRuns: 1000 },
  );
  const r = new FrameReader();
  t.deepEqual(r.push(good.subarray(0, 3)), []);
  t.is(r.push(good.subarray(3)).length, 1);
});

test('challenge over the local API: the nonce reaches the handler; a challenge without a nonce is answered API_PROTOCOL', async (t) => {
  const path = join(dir, 'api3.sock');
  const seen: Uint8Array[] = [];
  const server = await ApiServer.start(path, async (op, nonce) => {
    if (op === 'challenge' && nonce) seen.push(nonce);
    return { evidence: new Uint8Array([9]) };
  });
  t.teardown(() => server.close());
  const nonce = new Uint8Array(16).fill(4);
  t.deepEqual(await queryAgent(path, 'challenge', { nonce }), { evidence: new Uint8Array([9]) });
  t.deepEqual(seen, [nonce]);
  await t.throwsAsync(queryAgent(path, 'challenge', { nonce: new Uint8Array(4) }), { instanceOf: RangeError });
  const answer = await new Promise<Uint8Array>((resolve) => {
    const s = createConnection(path, () => s.write(frame(new Map([[1, 2]]))));
    const reader = new FrameReader();
    s.on('data', (d: Buffer) => {
      const items = reader.push(new Uint8Array(d));
      if (items.length) {
        s.destroy();
        resolve(new TextEncoder().encode(String((items[0] as Map<number, unknown>).get(3))));
      }
    });
  });
  t.is(new TextDecoder().decode(answer), 'API_PROTOCOL');
});
