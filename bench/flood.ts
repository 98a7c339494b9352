/**
 * Flood soak of the Key simulator (issue 9 finding 4): runs `enigm sim start` as its own process
 * (the product's path), opens `--flooders` TCP connections to Key 0 (at most the per-Key bound),
 * each sending a valid `hello` and then 3,000-byte pings as fast as the socket takes them, and
 * meanwhile samples the simulator's resident set size and pings Key 1 every 250 ms.
 *
 * Modes:
 * - `never-read` (default): the flooders never read a byte. A bounded simulator stops reading once
 *   its per-connection queues are full, so the flooders' writes block: the run tries to push
 *   `--bytes` for at most `--seconds` and reports how many bytes the simulator accepted.
 * - `read`: the flooders read (and discard) every response, so `--bytes` really crosses the
 *   simulator: memory must stay flat over the whole volume (no leak per request).
 * - `idle` (issue 16 finding 8): `--flooders` connections (e.g. 400) each send `hello` and 64
 *   pings of 3,900 bytes, read the answers (filling the Key's response cache), then stay idle
 *   until `--seconds` have passed. Reports how many connections the Key accepted.
 *
 * Pass: peak RSS below `--max-rss-mb` (default 100) and Key 1 answered every ping. Prints one
 * JSON line per figure to stdout and a summary to stderr; exit code 1 on failure.
 *
 * Long run (documented in docs/benchmarks.md):
 *   npx tsx bench/flood.ts --bytes 1G --seconds 600
 *   npx tsx bench/flood.ts --mode read --bytes 1G --seconds 600
 * The simulator is the bundled CLI built from this checkout into a temporary folder (as users run
 * it; tsx alone adds ~30 MB). Before/after comparison: `--cli PATH` runs another checkout's
 * `tools/src/enigm.ts` (through tsx) or a bundle (`.mjs`).
 * @module
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KeyClient, TcpTransport } from '@enigm/key-firmware-host';
import { encodeFrame } from '@enigm/protocols/framing';
import { encodeMessage, PROTOCOL_VERSION, PROTOCOL_VERSIONS } from '@enigm/protocols/messages';

const { values } = parseArgs({
  options: {
    bytes: { type: 'string', default: '64M' },
    seconds: { type: 'string', default: '20' },
    flooders: { type: 'string', default: '4' },
    mode: { type: 'string', default: 'never-read' },
    'max-rss-mb': { type: 'string', default: '100' },
    cli: { type: 'string' },
  },
});

function size(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)$/i.exec(s);
  if (!m) throw new Error(`bad size ${s} (e.g. 300M, 1G)`);
  return Math.round(Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase()));
}

const totalBytes = size(values.bytes as string);
const seconds = Number(values.seconds);
const flooders = Number(values.flooders);
const mode = values.mode as 'never-read' | 'read' | 'idle';
const maxRssMb = Number(values['max-rss-mb']);
const repo = fileURLToPath(new URL('..', import.meta.url));
if (mode !== 'never-read' && mode !== 'read' && mode !== 'idle') throw new Error('--mode is never-read, read or idle');

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** 20 pings of 3,000 bytes (with a hello first when `id` is 1), as one buffer of frames. */
function batch(id: number): Buffer {
  const frames: Uint8Array[] = [];
  if (id === 1)
    frames.push(
      encodeFrame(
        encodeMessage({
          version: PROTOCOL_VERSION,
          name: 'hello',
          id: 1,
          body: { versions: [...PROTOCOL_VERSIONS], maxFrame: 4096 },
        }),
      ),
    );
  for (let i = 0; i < 20; i++)
    frames.push(
      encodeFrame(
        encodeMessage({ version: PROTOCOL_VERSION, name: 'ping', id: id + 1 + i, body: { data: new Uint8Array(3000) } }),
      ),
    );
  return Buffer.concat(frames);
}

const dir = mkdtempSync(join(tmpdir(), 'enigm-flood-bench-'));
// The simulator runs as users run it: the bundled CLI (built here from this checkout), unless
// --cli names another entry point (`.ts` runs through tsx, `.mjs` directly).
let cli = values.cli;
if (cli === undefined) {
  cli = join(dir, 'enigm.mjs');
  execFileSync(process.execPath, [join(repo, 'scripts/build.mjs'), '--outfile', cli], { cwd: repo, stdio: 'ignore' });
}
const sim = spawn(
  process.execPath,
  [
    ...(cli.endsWith('.ts') ? ['--import=tsx'] : []),
    cli,
    'sim',
    'start',
    '--no-serial',
    '--keys',
    '2',
    '--json',
    '--state-dir',
    dir,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const ready = await new Promise<{ keys: { tcp: string }[] }>((resolve, reject) => {
  createInterface({ input: sim.stdout as NodeJS.ReadableStream }).once('line', (l) => resolve(JSON.parse(l)));
  sim.once('exit', (code) => reject(new Error(`simulator exited (${code}) before it was ready`)));
});
const addr = (i: number) => {
  const u = new URL(ready.keys[i]?.tcp as string);
  return { host: u.hostname, port: Number(u.port) };
};
const pid = sim.pid as number;
const rssStart = rssOf(pid);
let rssPeak = rssStart;
let accepted = 0; // bytes the simulator's side took (written minus what still waits in our buffers)
let written = 0;
let responses = 0;
let done = false;
const started = performance.now();
const deadline = started + seconds * 1000;

async function flood(): Promise<void> {
  const s: Socket = await new Promise((res, rej) => {
    const c = connect(addr(0), () => res(c));
    c.once('error', rej);
  });
  s.on('error', () => {});
  if (mode === 'read') s.on('data', (d: Buffer) => void (responses += d.length));
  else s.pause();
  let id = 1;
  while (!done && written < totalBytes && performance.now() < deadline && !s.destroyed) {
    const b = batch(id);
    id = id + 21 > 0xffff_fff0 ? 2 : id + 21;
    written += b.length;
    if (!s.write(b))
      await new Promise<void>((r) => {
        const t = setInterval(() => {
          if (done || performance.now() > deadline || s.destroyed) {
            clearInterval(t);
            r();
          }
        }, 100);
        s.once('drain', () => {
          clearInterval(t);
          r();
        });
      });
  }
  accepted += s.bytesWritten;
  s.destroy();
}

let acceptedConnections = 0;

/** One idle connection: hello + 64 big pings, read the answers, then hold the connection. */
async function idle(): Promise<void> {
  const s: Socket | undefined = await new Promise((res) => {
    const c = connect(addr(0), () => res(c));
    c.once('error', () => res(undefined));
  });
  if (!s) return;
  s.on('error', () => {});
  let got = 0;
  s.on('data', (d: Buffer) => {
    got += d.length;
    responses += d.length;
  });
  const frames: Uint8Array[] = [
    encodeFrame(
      encodeMessage({
        version: PROTOCOL_VERSION,
        name: 'hello',
        id: 1,
        body: { versions: [...PROTOCOL_VERSIONS], maxFrame: 4096 },
      }),
    ),
  ];
  for (let i = 0; i < 64; i++)
    frames.push(
      encodeFrame(encodeMessage({ version: PROTOCOL_VERSION, name: 'ping', id: 2 + i, body: { data: new Uint8Array(3900) } })),
    );
  const b = Buffer.concat(frames);
  written += b.length;
  s.write(b);
  await new Promise((r) => setTimeout(r, 2000));
  if (got > 0 && !s.destroyed) acceptedConnections++;
  accepted += s.bytesWritten;
  while (!done && performance.now() < deadline && !s.destroyed) await new Promise((r) => setTimeout(r, 200));
  s.destroy();
}

let pings = 0;
let pingFailures = 0;
let pingMaxMs = 0;
const other = await KeyClient.connect(new TcpTransport(addr(1)), { timeoutMs: 2000 });
const monitor = setInterval(() => {
  rssPeak = Math.max(rssPeak, rssOf(pid));
  const t0 = performance.now();
  other.request('ping', { data: new Uint8Array(8) }).then(
    () => {
      pings++;
      pingMaxMs = Math.max(pingMaxMs, performance.now() - t0);
    },
    () => void pingFailures++,
  );
}, 250);
await Promise.all(Array.from({ length: flooders }, () => (mode === 'idle' ? idle() : flood())));
done = true;
await new Promise((r) => setTimeout(r, 500));
clearInterval(monitor);
rssPeak = Math.max(rssPeak, rssOf(pid));
const rssEnd = rssOf(pid);
await other.close();
sim.kill('SIGTERM');
await new Promise((r) => sim.once('exit', r));
rmSync(dir, { recursive: true, force: true });

const elapsed = (performance.now() - started) / 1000;
const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
const figures = {
  mode,
  flooders,
  triedBytes: mode === 'idle' ? written : totalBytes,
  ...(mode === 'idle' ? { acceptedConnections: acceptedConnections } : {}),
  acceptedMiB: mb(accepted),
  responsesMiB: mb(responses),
  seconds: Math.round(elapsed * 10) / 10,
  rssStartMiB: mb(rssStart),
  rssPeakMiB: mb(rssPeak),
  rssEndMiB: mb(rssEnd),
  otherKeyPings: pings,
  otherKeyPingFailures: pingFailures,
  otherKeyPingMaxMs: Math.round(pingMaxMs),
};
const ok = rssPeak < maxRssMb * 2 ** 20 && pingFailures === 0 && pings > 0;
process.stdout.write(`${JSON.stringify({ bench: 'sim.flood', ok, ...figures })}\n`);
process.stderr.write(
  `flood (${mode}, ${flooders} connections${mode === 'idle' ? `, ${acceptedConnections} accepted by the Key` : ''}): accepted ${figures.acceptedMiB} MiB in ${figures.seconds} s; simulator RSS ${figures.rssStartMiB} → peak ${figures.rssPeakMiB} → end ${figures.rssEndMiB} MiB (bound ${maxRssMb}); other Key: ${pings} pings, ${pingFailures} failed, max ${figures.otherKeyPingMaxMs} ms → ${ok ? 'PASS' : 'FAIL'}\n`,
);
process.exit(ok ? 0 : 1);
