/**
 * Crash safety of the outbox (docs/mqtt-outbox.md "Durability"): a child process appends (and
 * acks, and compacts) continuously, printing every seq once its append resolved; the test
 * SIGKILLs it at random moments, round after round, alternating fsync 'always' and 'batch'. After
 * every kill the outbox reopens with every seq the child reported durable and did not report
 * acked, no seq it reported acked, no duplicates, in order, and nothing that was never appended.
 * And the lock across processes: a live child's lock makes this process's open OUTBOX_LOCKED
 * naming its PID, this process's lock makes the child's open OUTBOX_LOCKED, and a killed child's
 * lock is stale and taken over.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Outbox } from '@enigm/mqtt/outbox';
import test from 'ava';

const fixture = fileURLToPath(new URL('./fixtures/outbox-appender.ts', import.meta.url));

interface Run {
  child: ChildProcess;
  /** Complete lines printed so far. */
  lines: string[];
  /** Resolves with the first line. */
  first: Promise<string>;
  exited: Promise<void>;
}

/** Starts the appender with a hard kill timer, so the test never hangs on it. */
function start(path: string, mode: 'always' | 'batch'): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, path, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  const lines: string[] = [];
  let buf = '';
  let err = '';
  let gotFirst: (l: string) => void = () => {};
  const first = new Promise<string>((resolve, reject) => {
    gotFirst = resolve;
    // 'close', not 'exit': after 'exit' the child's last line (e.g. 'error OUTBOX_LOCKED') may still be unread.
    child.once('close', (code, sig) => reject(new Error(`appender exited (${code ?? sig}) before its first line: ${err}`)));
  });
  first.catch(() => {});
  child.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      if (lines.length === 1) gotFirst(lines[0]!);
    }
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<void>((resolve) =>
    child.once('close', () => {
      clearTimeout(killer);
      resolve();
    }),
  );
  return { child, lines, first, exited };
}

test('kill -9 at random moments: every seq reported durable is pending or acked, no duplicates, no loss', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-outbox-crash-'));
  const path = join(dir, 'outbox.log');
  const durable = new Map<number, string>(); // seq → payload text
  const acked = new Set<number>();
  const survivors = new Set<number>(); // appended but killed before reporting, yet on disk
  let totalDurable = 0;
  try {
    for (let round = 0; round < 8; round++) {
      const mode = round % 2 === 0 ? 'always' : 'batch';
      const run = start(path, mode);
      t.regex(await run.first, /^ready \d+ \d+ 0 \d+$/, `round ${round}: opened, nothing quarantined`);
      // A few appends reported first (a loaded machine can keep the child off the CPU for a while:
      // a fixed sleep alone sometimes saw none), then a kill at a random moment mid-stream.
      const until = Date.now() + 15_000;
      while (run.lines.filter((l) => l.startsWith('d ')).length < 3 && run.child.exitCode === null && Date.now() < until)
        await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, Math.random() * 400));
      run.child.kill('SIGKILL');
      await run.exited;
      let maxReported = -1;
      let acking: number | undefined; // an ack in flight at the kill: its entry may be gone
      for (const line of run.lines.slice(1)) {
        const [k, s, text] = line.split(' ');
        const seq = Number(s);
        if (k === 'd') {
          t.false(durable.has(seq), `round ${round}: seq ${seq} reported twice`);
          durable.set(seq, text!);
          maxReported = Math.max(maxReported, seq);
          totalDurable++;
        } else if (k === 'acking') acking = seq;
        else if (k === 'a') {
          acked.add(seq);
          acking = undefined;
        }
      }
      const ob = await Outbox.open(path);
      const pending = ob.pending();
      const seqs = pending.map((e) => e.seq);
      t.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        `round ${round}: in order`,
      );
      t.is(new Set(seqs).size, seqs.length, `round ${round}: no duplicates`);
      const here = new Set(seqs);
      for (const [seq] of durable) {
        if (acked.has(seq)) continue;
        if (seq === acking && !here.has(seq))
          acked.add(seq); // the ack reached the disk
        else t.true(here.has(seq), `round ${round}: durable seq ${seq} lost`);
      }
      for (const e of pending) {
        t.false(acked.has(e.seq), `round ${round}: acked seq ${e.seq} came back`);
        const text = durable.get(e.seq);
        if (text !== undefined) t.is(new TextDecoder().decode(e.payload), text);
        else {
          // killed between the sync and the report: only the last appends of this round qualify
          t.true(survivors.has(e.seq) || e.seq > maxReported, `round ${round}: seq ${e.seq} was never appended`);
          survivors.add(e.seq);
        }
      }
      await ob.close();
    }
    t.log(`8 rounds, ${totalDurable} appends reported durable, ${acked.size} acks`);
    t.true(totalDurable > 20, 'the child got to append');
    const size = statSync(path).size;
    t.log(`log file ${size} bytes at the end`);
    // at most ~41 live entries of ~80 bytes: without the compactions (4 KiB floor) it would hold every entry
    if (totalDurable > 400) t.true(size < 16 * 1024, `compaction ran under the kills (${size} bytes)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lock across processes: a live child holds it (OUTBOX_LOCKED here), ours holds it for the child, a killed child is taken over', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-outbox-lock-'));
  const path = join(dir, 'outbox.log');
  try {
    const run = start(path, 'always');
    const ready = await run.first;
    t.regex(ready, /^ready \d+/);
    const e = await t.throwsAsync(Outbox.open(path, { lockTimeoutMs: 100 }), { code: 'OUTBOX_LOCKED' });
    t.regex(e?.message ?? '', new RegExp(`process ${run.child.pid}\\b`));
    run.child.kill('SIGKILL');
    await run.exited;
    const ob = await Outbox.open(path); // the dead child's lock is stale
    t.true(ob.size > 0);
    const blocked = start(path, 'always');
    t.is(await blocked.first, 'error OUTBOX_LOCKED');
    await blocked.exited;
    t.is(blocked.child.exitCode, 2);
    await ob.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
