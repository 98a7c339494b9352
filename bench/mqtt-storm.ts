/**
 * The reconnect storm: 1,000 {@link MqttLink} clients on the embedded broker (aedes, in a child
 * process of its own: `mqtt-storm-broker.ts`), which is then stopped and, `downMs` later,
 * restarted on the same port. Every reconnect attempt (the time of a `reconnecting` event plus its
 * `delayMs`) and every successful connect (the time of the `connected` event) is recorded from
 * the moment the broker was told to stop.
 *
 * Two runs with the same 1,000 clients, one after the other:
 * - `full-jitter`: the link's defaults (capped exponential backoff with full jitter, base 1 s,
 *   cap 30 s);
 * - `fixed-period` (the baseline): what mqtt.js does by default (`reconnectPeriod` 1000 ms: every
 *   client retries after the same period), simulated with `backoff: { baseMs: 1000, capMs: 1000 }`
 *   and `random: () => 0.999` (every delay 999 ms).
 *
 * Reported: successful reconnects and attempts per 250 ms bin, the most connections in any 1 s
 * (sliding window), and the time until all 1,000 are back (after the restart). The histograms go
 * into the JSON output, and an SVG plot of them is rendered to PNG with the machine's Chromium
 * (through playwright-core, as the dashboard browser test drives it).
 *
 * The embedded broker rather than mosquitto: no per-client certificates to issue for 1,000
 * clients, and it can be stopped and restarted on the same port in-process of its child.
 * @module
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MqttLink, type MqttLinkOptions } from '@enigm/mqtt';
import type { BenchResult } from './harness.ts';
import { result } from './harness.ts';
import type { StormBrokerCommand, StormBrokerReply } from './mqtt-storm-broker.ts';

/** Width of a histogram bin, ms. */
export const BIN_MS = 250;

/** Options of {@link runStorm}. */
export interface StormOptions {
  /** Clients (default 1,000). */
  clients?: number;
  /**
   * How long the broker stays down, ms (default 2,500: a broker restart). Not a multiple of the
   * baseline's 1 s period, so its retry wave does not straddle the restart.
   */
  downMs?: number;
  /** Give up waiting for the last clients after this long, ms (default 60,000). */
  maxWaitMs?: number;
  /** Where the PNG (and its SVG source) go (default docs/img/mqtt-reconnect-storm.png). */
  pngPath?: string;
}

/** What one storm measured; times are ms since the broker was told to stop. */
export interface StormRun {
  name: string;
  clients: number;
  /** When the broker was listening again. */
  restartMs: number;
  /** When each client's connection dropped. */
  drops: number[];
  /** Every reconnect attempt (scheduled time: event time + delayMs). */
  attempts: number[];
  /** Every successful reconnect. */
  connects: number[];
  /** Clients not back within maxWaitMs. */
  missing: number;
}

/** Histogram and figures of one run. */
export interface StormSummary {
  name: string;
  restartMs: number;
  /** When the last client saw its connection drop. */
  lastDropMs: number;
  back: number;
  missing: number;
  attemptsTotal: number;
  /** Successful reconnects per bin, from t = 0 (stop). */
  connectsPerBin: number[];
  /** Reconnect attempts per bin (successful or refused). */
  attemptsPerBin: number[];
  maxPerSecond: number;
  maxPerBin: number;
  /** Last client back, ms after the restart. */
  allBackAfterRestartMs: number;
  /** Median client back, ms after the restart. */
  medianBackAfterRestartMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class BrokerChild {
  readonly #child: ChildProcess;
  #waiters: ((m: StormBrokerReply) => void)[] = [];
  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (m: StormBrokerReply) => this.#waiters.shift()?.(m));
  }
  static start(): BrokerChild {
    const script = fileURLToPath(new URL('./mqtt-storm-broker.ts', import.meta.url));
    // fork inherits this process' execArgv: the tsx loader comes along.
    return new BrokerChild(fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  }
  async send(m: StormBrokerCommand): Promise<StormBrokerReply> {
    const answer = new Promise<StormBrokerReply>((r) => this.#waiters.push(r));
    this.#child.send(m);
    const a = await answer;
    if (a.op === 'error') throw new Error(`storm broker: ${a.message}`);
    return a;
  }
  async exit(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const gone = new Promise((r) => this.#child.once('exit', r));
    this.#child.send({ op: 'exit' } satisfies StormBrokerCommand);
    await Promise.race([gone, sleep(5000)]);
    if (this.#child.exitCode === null && this.#child.pid !== undefined) this.#child.kill('SIGKILL');
  }
}

async function inBatches<T>(n: number, batch: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch)
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => make(i + j)))));
  return out;
}

/** One storm: connect `clients` links, stop the broker, restart it `downMs` later, wait for all. */
async function storm(
  name: string,
  broker: BrokerChild,
  port: number,
  linkOptions: Partial<MqttLinkOptions>,
  o: Required<Omit<StormOptions, 'pngPath'>>,
): Promise<StormRun> {
  let t0 = Number.POSITIVE_INFINITY;
  let armed = false;
  const run: StormRun = { name, clients: o.clients, restartMs: 0, drops: [], attempts: [], connects: [], missing: 0 };
  const back = new Set<number>();
  let allBack: (() => void) | undefined;
  const links = await inBatches(o.clients, 50, async (i) => {
    const link = await MqttLink.connect({
      url: `mqtt://127.0.0.1:${port}`,
      username: `storm-host-${String(i).padStart(4, '0')}`,
      protocol: 4, // aedes speaks 3.1.1: no 5 → 3.1.1 fallback doubling each attempt
      ...linkOptions,
    });
    link.onState((e) => {
      if (!armed) return;
      const now = performance.now() - t0;
      if (e.state === 'disconnected') run.drops.push(now);
      else if (e.state === 'reconnecting') run.attempts.push(now + e.delayMs);
      else if (e.state === 'connected') {
        run.connects.push(now);
        back.add(i);
        if (back.size === o.clients) allBack?.();
      }
    });
    return link;
  });
  try {
    await sleep(500);
    const done = new Promise<void>((r) => {
      allBack = r;
    });
    armed = true;
    t0 = performance.now();
    await broker.send({ op: 'stop' });
    const wait = o.downMs - (performance.now() - t0);
    if (wait > 0) await sleep(wait);
    await broker.send({ op: 'start', port });
    run.restartMs = performance.now() - t0;
    await Promise.race([done, sleep(o.maxWaitMs)]);
    run.missing = o.clients - back.size;
    armed = false;
  } finally {
    await Promise.all(links.map((l) => l.close()));
  }
  return run;
}

function bins(times: number[], count: number): number[] {
  const out = new Array<number>(count).fill(0);
  for (const t of times) {
    const b = Math.floor(t / BIN_MS);
    if (b >= 0 && b < count) out[b] = (out[b] ?? 0) + 1;
  }
  return out;
}

/** The most events in any window of `windowMs` (sliding, starting at an event). */
export function maxInWindow(times: number[], windowMs: number): number {
  const s = [...times].sort((a, b) => a - b);
  let max = 0;
  for (let i = 0, j = 0; i < s.length; i++) {
    while ((s[i] as number) - (s[j] as number) >= windowMs) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}

function summarize(run: StormRun, binCount: number): StormSummary {
  const after = run.connects.map((t) => t - run.restartMs).sort((a, b) => a - b);
  const connectsPerBin = bins(run.connects, binCount);
  return {
    name: run.name,
    restartMs: Math.round(run.restartMs),
    lastDropMs: Math.round(Math.max(0, ...run.drops)),
    back: run.connects.length,
    missing: run.missing,
    attemptsTotal: run.attempts.length,
    connectsPerBin,
    attemptsPerBin: bins(run.attempts, binCount),
    maxPerSecond: maxInWindow(run.connects, 1000),
    maxPerBin: Math.max(0, ...connectsPerBin),
    allBackAfterRestartMs: Math.round(after[after.length - 1] ?? Number.NaN),
    medianBackAfterRestartMs: Math.round(after[Math.floor(after.length / 2)] ?? Number.NaN),
  };
}

/** An SVG plot of the two runs: one panel each, bars = reconnects per bin, line = attempts per bin. */
export function stormSvg(runs: StormSummary[], clients: number): string {
  const W = 960;
  const panelH = 230;
  const top = 76;
  const left = 64;
  const right = 24;
  const gap = 84;
  const H = top + runs.length * panelH + (runs.length - 1) * gap + 56;
  const binCount = Math.max(...runs.map((r) => r.connectsPerBin.length));
  const plotW = W - left - right;
  const bw = plotW / binCount;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`,
    `<title>Reconnect storm: full jitter against a fixed reconnect period</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(`Reconnect storm: ${clients.toLocaleString('en')} MqttLink clients, embedded broker stopped at t = 0 and restarted`)}</text>`,
    `<text x="${W / 2}" y="42" text-anchor="middle" fill="#555">bars: successful reconnects per ${BIN_MS} ms · line: reconnect attempts per ${BIN_MS} ms (refused while the broker is down) · dashed: broker listening again</text>`,
  ];
  const xTickEvery = binCount * BIN_MS > 20_000 ? 5000 : binCount * BIN_MS > 8000 ? 2000 : 1000;
  runs.forEach((r, k) => {
    const y0 = top + k * (panelH + gap) + 24;
    const h = panelH - 24;
    const peak = Math.max(1, ...r.connectsPerBin, ...r.attemptsPerBin);
    const step = niceStep(peak / 4);
    const yMax = Math.ceil(peak / step) * step;
    const y = (v: number) => y0 + h - (v / yMax) * h;
    const title =
      r.name === 'fixed-period'
        ? 'Baseline: fixed period (mqtt.js default reconnectPeriod 1000 ms: every client retries after 1 s)'
        : 'MqttLink: capped exponential backoff with full jitter (base 1 s, cap 30 s)';
    parts.push(`<text x="${left}" y="${y0 - 26}" font-size="13" font-weight="bold">${esc(title)}</text>`);
    parts.push(
      `<text x="${left}" y="${y0 - 9}" fill="#333">${esc(`${r.back} reconnects, ${r.attemptsTotal} attempts · at most ${r.maxPerSecond} in any 1 s (${r.maxPerBin} in one ${BIN_MS} ms bin) · median back ${(r.medianBackAfterRestartMs / 1000).toFixed(2)} s, all back ${(r.allBackAfterRestartMs / 1000).toFixed(2)} s after the restart${r.missing ? ` · ${r.missing} missing` : ''}`)}</text>`,
    );
    for (let v = 0; v <= yMax; v += step) {
      parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#e4e4e4"/>`);
      parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#444">${v}</text>`);
    }
    r.connectsPerBin.forEach((c, i) => {
      if (c > 0)
        parts.push(
          `<rect x="${(left + i * bw + 0.5).toFixed(1)}" y="${y(c).toFixed(1)}" width="${Math.max(1, bw - 1).toFixed(1)}" height="${(y0 + h - y(c)).toFixed(1)}" fill="${r.name === 'fixed-period' ? '#d9534f' : '#2a7ab9'}"/>`,
        );
    });
    const pts = r.attemptsPerBin.map(
      (a, i) => `${(left + i * bw).toFixed(1)},${y(a).toFixed(1)} ${(left + (i + 1) * bw).toFixed(1)},${y(a).toFixed(1)}`,
    );
    parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="#222" stroke-width="1" opacity="0.75"/>`);
    const rx = left + (r.restartMs / BIN_MS) * bw;
    parts.push(
      `<line x1="${rx}" x2="${rx}" y1="${y0}" y2="${y0 + h}" stroke="#2e8b57" stroke-width="1.5" stroke-dasharray="5,4"/>`,
    );
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y0 + h}" y2="${y0 + h}" stroke="#000"/>`);
    for (let t = 0; t <= binCount * BIN_MS; t += xTickEvery) {
      const x = left + (t / BIN_MS) * bw;
      parts.push(`<line x1="${x}" x2="${x}" y1="${y0 + h}" y2="${y0 + h + 4}" stroke="#000"/>`);
      parts.push(`<text x="${x}" y="${y0 + h + 17}" text-anchor="middle" fill="#444">${t / 1000}</text>`);
    }
    parts.push(
      `<text x="16" y="${y0 + h / 2}" transform="rotate(-90 16 ${y0 + h / 2})" text-anchor="middle" fill="#444">per ${BIN_MS} ms</text>`,
    );
  });
  parts.push(
    `<text x="${left + plotW / 2}" y="${H - 12}" text-anchor="middle" fill="#444">seconds since the broker was stopped</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Renders `svg` to a PNG with Chromium headless; returns why not if it cannot. */
async function renderPng(svg: string, width: number, height: number, pngPath: string): Promise<string | undefined> {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium, or CHROMIUM_PATH)`;
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'enigm-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width, height },
    deviceScaleFactor: 2,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.setContent(`<!doctype html><html><body style="margin:0;background:#fff">${svg}</body></html>`);
    await page.screenshot({ path: pngPath, clip: { x: 0, y: 0, width, height } });
    return undefined;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Runs both storms and returns the results (with the histograms in the JSON) and writes the plot. */
export async function benchStorm(options: StormOptions = {}): Promise<BenchResult[]> {
  const o = { clients: options.clients ?? 1000, downMs: options.downMs ?? 2500, maxWaitMs: options.maxWaitMs ?? 60_000 };
  const pngPath = options.pngPath ?? fileURLToPath(new URL('../docs/img/mqtt-reconnect-storm.png', import.meta.url));
  const broker = BrokerChild.start();
  const runs: StormRun[] = [];
  try {
    const first = await broker.send({ op: 'start', port: 0 });
    const port = first.op === 'ready' ? first.port : 0;
    runs.push(await storm('fixed-period', broker, port, { backoff: { baseMs: 1000, capMs: 1000 }, random: () => 0.999 }, o));
    runs.push(await storm('full-jitter', broker, port, {}, o));
  } finally {
    await broker.exit();
  }
  const lastMs = Math.max(...runs.flatMap((r) => [...r.connects, r.restartMs]));
  const binCount = Math.ceil((lastMs + 500) / BIN_MS);
  const [fixed, jitter] = runs.map((r) => summarize(r, binCount)) as [StormSummary, StormSummary];
  const svg = stormSvg([fixed, jitter], o.clients);
  mkdirSync(dirname(pngPath), { recursive: true });
  writeFileSync(pngPath.replace(/\.png$/, '.svg'), svg);
  const m = /width="(\d+)" height="(\d+)"/.exec(svg);
  let why: string | undefined;
  try {
    why = await renderPng(svg, Number(m?.[1]), Number(m?.[2]), pngPath);
  } catch (e) {
    why = (e as Error).message;
  }
  process.stderr.write(why ? `mqtt storm: PNG not rendered: ${why}\n` : `mqtt storm: plot written to ${pngPath}\n`);
  const name = `mqtt.storm.${o.clients}-clients.down-${o.downMs / 1000}s`;
  const histogram = {
    ...result(`${name}.histogram`, binCount, 'bins'),
    binMs: BIN_MS,
    origin: 'broker told to stop',
    attemptTimes: 'scheduled: time of the reconnecting event + its delayMs',
    connectTimes: 'time of the connected event',
    plot: why ? `not rendered: ${why}` : pngPath,
    runs: [fixed, jitter],
  };
  return [
    result(`${name}.max-reconnects-in-1s`, jitter.maxPerSecond, 'conn', fixed.maxPerSecond),
    result(`${name}.max-reconnects-in-${BIN_MS}ms`, jitter.maxPerBin, 'conn', fixed.maxPerBin),
    result(`${name}.all-back-after-restart`, jitter.allBackAfterRestartMs / 1000, 's', fixed.allBackAfterRestartMs / 1000),
    result(
      `${name}.median-back-after-restart`,
      jitter.medianBackAfterRestartMs / 1000,
      's',
      fixed.medianBackAfterRestartMs / 1000,
    ),
    result(`${name}.attempts`, jitter.attemptsTotal, 'attempts', fixed.attemptsTotal),
    result(`${name}.back`, jitter.back, 'clients', fixed.back),
    histogram,
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const r of await benchStorm()) process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}
