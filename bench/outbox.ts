/**
 * The durable MQTT outbox (`@enigm/mqtt/outbox`): records appended per second with fsync
 * 'always' (one write + fsync per append, appends awaited one after another) and 'batch' (32
 * appends issued in the same tick, one write + fsync for them), and records recovered per second
 * when opening a 10,000-entry log. Baselines in the same run, same folder: a bare `writeSync` +
 * `fsyncSync` of the same bytes — one put entry per sync for 'always', 32 entries in one write
 * and one sync for 'batch' — the disk's floor for each mode.
 * @module
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '@enigm/mqtt/outbox';
import { type BenchResult, result } from './harness.ts';

const TOPIC = 'enigm/v1/0123456789abcdef/up';
const PAYLOAD = new Uint8Array(128).fill(0x5a);
const BATCH = 32;

/** Runs `round` (which does `perRound` records) for about `ms` after a short warm-up; records/s. */
async function rate(round: () => Promise<void> | void, perRound: number, ms: number): Promise<number> {
  const warm = performance.now() + Math.min(200, ms / 4);
  while (performance.now() < warm) await round();
  let n = 0;
  const t0 = performance.now();
  let now = t0;
  while (now - t0 < ms) {
    await round();
    n += perRound;
    now = performance.now();
  }
  return n / ((now - t0) / 1000);
}

/** Runs the outbox benchmark. */
export async function benchOutbox(ms = 1500): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-bench-outbox-'));
  try {
    const big = { maxRecords: 10_000_000, maxBytes: 1 << 30 };
    // the bytes of one put entry, as the outbox writes them
    const probe = await Outbox.open(join(dir, 'probe.log'));
    await probe.append({ topic: TOPIC, payload: PAYLOAD });
    const entryBytes = probe.stats().fileBytes;
    await probe.close();
    const entry = new Uint8Array(readFileSync(join(dir, 'probe.log')));

    const always = await Outbox.open(join(dir, 'always.log'), { ...big, fsync: 'always' });
    const alwaysRate = await rate(
      async () => {
        await always.append({ topic: TOPIC, payload: PAYLOAD });
      },
      1,
      ms,
    );
    await always.close();

    const batch = await Outbox.open(join(dir, 'batch.log'), { ...big, fsync: 'batch' });
    const batchRate = await rate(
      async () => {
        await Promise.all(Array.from({ length: BATCH }, () => batch.append({ topic: TOPIC, payload: PAYLOAD })));
      },
      BATCH,
      ms,
    );
    await batch.close();

    const fd = openSync(join(dir, 'raw.bin'), 'a');
    const rawOne = await rate(
      () => {
        writeSync(fd, entry);
        fsyncSync(fd);
      },
      1,
      ms,
    );
    const many = Buffer.concat(Array.from({ length: BATCH }, () => entry));
    const rawBatch = await rate(
      () => {
        writeSync(fd, many);
        fsyncSync(fd);
      },
      BATCH,
      ms,
    );
    closeSync(fd);

    // recovery: open (read, scan, CRC, decode, rebuild) of a 10,000-entry log
    const recPath = join(dir, 'recover.log');
    const fill = await Outbox.open(recPath, { ...big, fsync: 'batch' });
    for (let i = 0; i < 10_000; i += 500) {
      await Promise.all(Array.from({ length: 500 }, () => fill.append({ topic: TOPIC, payload: PAYLOAD })));
    }
    await fill.close();
    let openMs = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const ob = await Outbox.open(recPath, big);
      openMs = Math.min(openMs, performance.now() - t0);
      if (ob.report.recovered !== 10_000) throw new Error(`recovered ${ob.report.recovered}`);
      await ob.close();
    }
    return [
      result('outbox.append-always', alwaysRate, 'records/s', rawOne),
      result('outbox.append-batch32', batchRate, 'records/s', rawBatch),
      result('outbox.batch-vs-always', batchRate / alwaysRate, 'x'),
      result('outbox.open-recover', (10_000 / openMs) * 1000, 'records/s'),
      result('outbox.entry-bytes', entryBytes, 'bytes'),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchOutbox()) process.stdout.write(`${JSON.stringify(r)}\n`);
}
