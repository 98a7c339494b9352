/**
 * Issue 9 (minor): the simulator logs connections, closed links and rejected frames, rate-limited,
 * and never message content, peer addresses or key material.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame } from '@enigm/protocols/framing';
import test from 'ava';
import { createLogger, describeError, logLimited, RateLimiter } from '../src/runtime/log.ts';
import { startSimProcess } from './support/sim-process.ts';

test('rejected frames are logged by code, rate-limited, without their content', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-log-'));
  const sim = await startSimProcess({ keys: 1, stateDir: dir, serial: false, logLevel: 'info' });
  try {
    const u = new URL(sim.keys[0]?.tcp as string);
    const s: Socket = await new Promise((resolve) => {
      const c = connect({ host: u.hostname, port: Number(u.port) }, () => resolve(c));
    });
    // 200 frames whose CRC is wrong, each carrying a recognisable secret-looking payload.
    const marker = Buffer.from('SECRET-CONTENT-0123456789abcdef');
    const frames: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const f = Buffer.from(encodeFrame(marker));
      f[2] = (f[2] as number) ^ 0x55; // corrupt a body byte: the CRC no longer matches
      frames.push(f);
    }
    await new Promise<void>((r) => s.write(Buffer.concat(frames), () => r()));
    s.end();
    // The close is logged after every frame before it was read: wait for it (it comes through the
    // child's stderr pipe; 20 s on a loaded machine) instead of a fixed sleep.
    const deadline = Date.now() + 20_000;
    while (!/tcp link #1 closed by the host/.test(sim.stderr()) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    s.destroy();
    const log = sim.stderr();
    t.regex(log, /key 0: tcp link #1 opened \(1 of 4\)/);
    const rejected = log.split('\n').filter((l) => /rejected a frame \(FRAME_(CRC|MALFORMED)\)/.test(l));
    t.true(rejected.length >= 1 && rejected.length <= 5, `rate-limited: ${rejected.length} lines for 200 bad frames`);
    t.regex(log, /key 0: tcp link #1 closed by the host/);
    t.false(log.includes('SECRET-CONTENT'), 'no content');
    t.false(log.includes(marker.toString('hex')), 'no content in hex');
    t.notRegex(log, /127\.0\.0\.1/, 'no peer address');
  } finally {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('logger levels, rate limiter and content-free error descriptions', (t) => {
  const lines: string[] = [];
  const log = createLogger(
    'warn',
    (l) => lines.push(l),
    () => 0,
  );
  log.info('not shown');
  log.warn('shown');
  t.deepEqual(lines, ['1970-01-01T00:00:00.000Z warn  shown\n']);
  let now = 0;
  const limiter = new RateLimiter(1000, 2, () => now);
  for (let i = 0; i < 10; i++) logLimited(log, 'warn', limiter, 'bad frame');
  now = 1500;
  logLimited(log, 'warn', limiter, 'bad frame');
  t.is(lines.length, 4);
  t.regex(lines[3] as string, /bad frame \(8 similar suppressed\)/);
  const e = Object.assign(new Error('the secret is 42'), { code: 'FLASH_WORN' });
  t.is(describeError(e), 'Error FLASH_WORN');
});
