/**
 * Issue 11, provisioning station: "live per-port progress (a TTY view; plain lines otherwise)".
 * `enigm station provision` runs as its own process over simulated Keys on real pseudo-terminals:
 * once with its output on a real terminal (`script(1)` gives it a pty), where the per-port rows
 * are redrawn in place with ANSI cursor movement and the screen ends with one row per port in its
 * final state; once with its output on pipes, where progress is plain lines without any escape.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCaFolder } from '@enigm/attestation';
import { hasSocat, Simulator } from '@enigm/sim';
import { killAfter, stopChild } from '@enigm/sim/testing';
import test from 'ava';

const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;
const PASS = 'station tty passphrase';
const ENIGM = new URL('../src/enigm.ts', import.meta.url).pathname;
const ESC = '\x1b';
const dirs: string[] = [];
const children: ChildProcess[] = [];
test.after.always(async () => {
  for (const c of children) await stopChild(c, { signal: 'SIGKILL', graceMs: 5000 });
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Single-quotes a word for sh. */
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs a child to completion (SIGKILLed after 45 s), collecting stdout and stderr. */
function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
  children.push(child);
  const cancel = killAfter(child, 45_000);
  let out = '';
  let err = '';
  // Decoded as streams: the rows hold '…' (3 bytes in UTF-8), which a pty may hand over split
  // between two reads; decoding each read alone would turn it into replacement characters.
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    err += c;
  });
  return new Promise((resolve) =>
    child.once('close', (code) => {
      cancel();
      resolve({ code: code ?? -1, out, err });
    }),
  );
}

/**
 * What a terminal shows after `text`: the rows of a screen that understands what the station
 * writes — printable characters, CR, LF (as CR LF, the pty's onlcr), `ESC[nA` (cursor up n) and
 * `ESC[2K` (erase the line). Any other escape sequence is an error.
 */
function screen(text: string): string[] {
  const rows: string[][] = [[]];
  let row = 0;
  let col = 0;
  for (let i = 0; i < text.length; ) {
    if (text[i] === ESC) {
      const m = /^.\[(\d*)([AK])/.exec(text.slice(i, i + 12));
      if (!m) throw new Error(`unexpected escape sequence ${JSON.stringify(text.slice(i, i + 8))}`);
      if (m[2] === 'A') row = Math.max(0, row - Number(m[1] || '1'));
      else if (m[1] === '2') rows[row] = [];
      else throw new Error(`unexpected erase ${JSON.stringify(m[0])}`);
      i += m[0].length;
      continue;
    }
    const c = text[i++] as string;
    if (c === '\r') col = 0;
    else if (c === '\n') {
      row++;
      col = 0;
      rows[row] ??= [];
    } else {
      const line = rows[row] as string[];
      while (line.length < col) line.push(' ');
      line[col++] = c;
    }
  }
  return rows.map((r) => r.join('').trimEnd());
}

realTest('station provision: a live per-port table on a terminal, plain lines on a pipe or a TERM=dumb terminal', async (t) => {
  const hasScript = spawnSync('script', ['--version']).status === 0;
  if (!hasScript) {
    if (process.env.CI === 'true') return t.fail('script(1) from util-linux is missing');
    return t.pass('script(1) is not installed');
  }
  const dir = mkdtempSync(join(tmpdir(), 'enigm-cli-station-tty-'));
  dirs.push(dir);
  const p = (f: string) => join(dir, f);
  await initCaFolder(p('ca'), PASS);
  writeFileSync(p('pass'), `${PASS}\n`, { mode: 0o600 });
  const sim = await Simulator.start({ keys: 6, stateDir: p('sim'), serial: true, tcp: false });
  const env: NodeJS.ProcessEnv = { ...process.env, ENIGM_HOME: p('home'), TERM: 'xterm' };
  delete env.ENIGM_CA_PASSPHRASE;
  const ports = sim.keys().map((k) => k.serial as string);
  const argv = (two: string[], manifest: string) => [
    '--import',
    'tsx',
    ENIGM,
    'station',
    'provision',
    ...['--ca', p('ca'), '--passphrase-file', p('pass'), '--ports', two.join(','), '--manifest', p(manifest)],
    ...['--host-key', p('host-key.pem'), '--known', p('known.json')],
  ];
  try {
    // On a terminal: two Keys, their rows redrawn in place.
    const tty = ports.slice(0, 2);
    const cmd = [process.execPath, ...argv(tty, 'tty')].map(sq).join(' ');
    const a = await run('script', ['-qfec', cmd, '/dev/null'], env);
    t.is(a.code, 0, a.out + a.err);
    const raw = a.out;
    const redraws = raw.split(`${ESC}[${tty.length}A`).length - 1;
    t.true(redraws >= 2 * 5, `the table is redrawn at every step (${redraws} times)`);
    t.regex(raw, new RegExp(`${ESC}\\[2K {2}${tty[0]}\\s+csr…`), 'an intermediate state of a row');
    t.regex(raw, new RegExp(`${ESC}\\[2K {2}${tty[1]}\\s+verify…`), 'an intermediate state of a row');
    const shown = screen(raw);
    // What the terminal shows at the end: the header, exactly one row per port in its final state,
    // then the summary — no stale intermediate rows left behind.
    const rows = shown.filter((l) => tty.some((port) => l.includes(port)));
    t.is(rows.length, tty.length, shown.join('\n'));
    for (const [i, port] of tty.entries()) t.regex(rows[i] as string, new RegExp(`^ {2}${port}\\s+provisioned\\s+\\S+$`));
    const at = (re: RegExp) => shown.findIndex((l) => re.test(l));
    t.true(at(/^provisioning 2 ports \(2 at a time\)/) < at(new RegExp(tty[0] as string)));
    t.true(at(new RegExp(tty[1] as string)) < at(/^2 provisioned, 0 already provisioned, 0 failed, 0 aborted$/));
    t.false(
      shown.some((l) => /…/.test(l)),
      'no row is left in an intermediate state',
    );

    // On pipes: two other Keys, one plain line per step, no escape sequence anywhere.
    const piped = ports.slice(2, 4);
    const b = await run(process.execPath, argv(piped, 'pipe'), env);
    t.is(b.code, 0, b.out + b.err);
    t.false(b.out.includes(ESC) || b.err.includes(ESC), JSON.stringify(b.out + b.err));
    const lines = b.out.trimEnd().split('\n');
    for (const port of piped) {
      const mine = lines.filter((l) => l.startsWith(port));
      t.true(mine.length >= 5, mine.join('\n'));
      t.true(
        mine.slice(0, -1).every((l) => /^\S+\s+[a-z]+…$/.test(l)),
        mine.join('\n'),
      );
      t.regex(mine.at(-1) as string, /^\S+\s+provisioned\s+\S+$/);
    }
    t.regex(b.out, /^2 provisioned, 0 already provisioned, 0 failed, 0 aborted$/m);

    // A terminal that cannot move its cursor (TERM=dumb): plain lines as on a pipe, no escape.
    const dumb = ports.slice(4, 6);
    const c = await run('script', ['-qfec', [process.execPath, ...argv(dumb, 'dumb')].map(sq).join(' '), '/dev/null'], {
      ...env,
      TERM: 'dumb',
    });
    t.is(c.code, 0, c.out + c.err);
    t.false(c.out.includes(`${ESC}[`), JSON.stringify(c.out));
    t.regex(c.out, /^2 provisioned, 0 already provisioned, 0 failed, 0 aborted\r?$/m);
  } finally {
    await sim.stop();
  }
});
