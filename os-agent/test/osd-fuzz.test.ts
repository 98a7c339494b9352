/**
 * Spec: issue 14 "Bad input and faults: malformed or slow daemon responses (timeouts; the signal
 * becomes unknown with a reason, the agent keeps running)" — a hostile daemon on a real Unix socket
 * answers with fuzzed bytes (garbage, cut frames, oversized headers, valid frames for other ids,
 * valid answers followed by garbage); the client always resolves with one answer per query, each a
 * decoded response or a typed failure with a reason, and never throws.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DAEMON_QUERY_NAMES, encodeDaemonResponse, frameDaemonPayload } from '@enigm/protocols/posture';
import test from 'ava';
import fc from 'fast-check';
import { osdSignal, queryOsd } from '../src/collect/osd.ts';
import { AGENT_ERROR_CODES } from '../src/errors.ts';
import { signalProblem } from '../src/signals.ts';

test('fuzz: whatever a daemon sends, every query gets an answer or a typed failure and the signals stay valid', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'osd-fuzz-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'hostile.sock');
  let reply: (s: Socket) => void = (s) => s.destroy();
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.once('data', () => reply(s));
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  const validFrame = (id: number) =>
    frameDaemonPayload(encodeDaemonResponse({ version: 1, id, query: 'tsc', status: 'ok', state: { level: 'secure' } }));
  const bytesArb = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.nat(200).map((id) => validFrame(id)),
    fc.tuple(fc.nat(200), fc.nat(40)).map(([id, cut]) => validFrame(id).subarray(0, cut)),
    fc.nat().map((n) => Uint8Array.of(n >>> 24, n >>> 16, n >>> 8, n, 0xa0)),
    fc.tuple(fc.uint8Array({ maxLength: 16 })).map(([g]) => Buffer.concat([validFrame(1), g])),
  );
  await fc.assert(
    fc.asyncProperty(bytesArb, fc.boolean(), async (bytes, close) => {
      reply = (s) => {
        s.write(bytes);
        if (close) s.end();
      };
      const answers = await queryOsd(DAEMON_QUERY_NAMES, { socketPath: path, timeoutMs: 150 });
      t.is(answers.size, DAEMON_QUERY_NAMES.length);
      for (const q of DAEMON_QUERY_NAMES) {
        const a = answers.get(q);
        if (!a) return t.fail(`no answer for ${q}`);
        if (!a.ok) {
          t.true(a.code in AGENT_ERROR_CODES);
          t.true(a.reason.length > 0);
        }
        t.is(signalProblem(osdSignal(q, a, 1000)), null);
      }
    }),
    { numRuns: 40 },
  );
});
