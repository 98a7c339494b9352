/**
 * The dashboard end to end in a real browser: Debian's Chromium driven by playwright-core (its
 * own browser download is not used). A real simulator and its control server; the test presses
 * the button in the page and sees the Key's state change and the event appear in the timeline.
 * A second test measures frame time and update rate with 1,000 Keys changing state.
 * Without Chromium the tests skip locally and FAIL under CI=true.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Simulator } from '@enigm/sim';
import { ControlServer } from '@enigm/sim/control';
import test from 'ava';
import { FakeTarget } from './control-fake-target.ts';
import { browser } from './dashboard-chromium.ts';

test('press the button in the page: a long hold opens the pairing window; the row and the timeline show it', async (t) => {
  const b = await browser(t);
  if (!b) return t.pass();
  const { page, problems } = b;
  const dir = await mkdtemp(join(tmpdir(), 'enigm-dashboard-'));
  const sim = await Simulator.start({ keys: 3, serial: false, stateDir: dir });
  const server = await ControlServer.start(sim, { stateDir: dir });
  t.teardown(async () => {
    await server.close();
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await page.goto(server.dashboardUrl);
  const row0 = page.locator('.row[data-key="0"]');
  await row0.locator('[data-field="lifecycle"]').filter({ hasText: /\w+/ }).waitFor();
  await page.locator('[data-testid="connection"]', { hasText: 'live' }).waitFor();
  t.is(await page.locator('.row[data-key]').count(), 3);
  t.false(page.url().includes('token='), 'the token is taken out of the address bar');
  t.is(await row0.locator('[data-field="model"]').textContent(), sim.controls(0).state().model);
  t.is(await row0.locator('[data-field="pairing"]').textContent(), '—');

  // Key 1: select its row, press "Hold 8 s"
  await page.locator('.row[data-key="1"]').click();
  await page.locator('[data-testid="detail"] h2', { hasText: 'Key 1' }).waitFor();
  await page.locator('button[data-action="hold-8"]').click();
  await page.locator('.row[data-key="1"] [data-field="pairing"]', { hasText: /^open \d+ s$/ }).waitFor({ timeout: 20_000 });
  await page.locator('[data-testid="timeline"] li[data-type="pairing-window"][data-key="1"]').waitFor({ timeout: 20_000 });
  await page.locator('[data-testid="timeline"] li[data-type="gesture"][data-key="1"]', { hasText: 'pairing-window' }).waitFor();
  t.true(sim.controls(1).state().pairingWindowUntil !== undefined, 'the real Key opened its pairing window');
  t.is(await row0.locator('[data-field="pairing"]').textContent(), '—', 'Key 0 is untouched');
  t.regex((await page.locator('[data-testid="result"]').textContent()) ?? '', /Hold 8 s: pairing-window/);

  // A change made elsewhere (the API, another tool) reaches the page through the event stream.
  sim.controls(2).setBattery({ level: 9 });
  await page.locator('.row[data-key="2"] [data-field="battery"]', { hasText: /^9%/ }).waitFor({ timeout: 20_000 });
  t.deepEqual(problems, [], 'no page errors, no CSP violations');
});

test('frame time and update rate with 1,000 Keys changing state', async (t) => {
  const b = await browser(t);
  if (!b) return t.pass();
  const { page, problems } = b;
  const KEYS = 1000;
  const target = new FakeTarget(KEYS);
  const server = await ControlServer.start(target);
  t.teardown(() => server.close());
  await page.goto(server.dashboardUrl);
  await page.locator(`.row[data-key="${KEYS - 1}"] [data-field="battery"]`, { hasText: /%/ }).waitFor({ timeout: 30_000 });
  await page.locator('[data-testid="connection"]', { hasText: 'live' }).waitFor();

  // The selected Key's GNSS fixes (events carry them only while the Key may sample) are plotted.
  t.is(await page.locator('svg.plot polyline').count(), 0);
  for (const [i, lat] of [48.137, 48.138, 48.14].entries())
    target.emit({ key: 0, at: i * 1000, type: 'gnss', fix: { atMs: i * 1000, lat, lon: 11.575 + i * 0.001 } });
  target.emit({ key: 0, at: 4000, type: 'gnss', refused: true });
  await page.locator('svg.plot polyline').waitFor();
  t.is(((await page.locator('svg.plot polyline').getAttribute('points')) ?? '').split(' ').length, 3);
  await page.locator('svg.plot text', { hasText: '3 fixes' }).waitFor();

  // Measure in the page: rAF intervals and long tasks, while every Key changes state.
  // (strings, not functions: the test runs through tsx, whose helpers do not exist in the page)
  await page.evaluate(`(() => {
    window.frames_ = [];
    window.long_ = 0;
    let last = performance.now();
    const tick = (now) => {
      window.frames_.push(now - last);
      last = now;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    new PerformanceObserver((l) => { window.long_ += l.getEntries().length; }).observe({ type: 'longtask' });
  })()`);
  const before = (await page.evaluate('window.enigmDashboard.events')) as number;
  const SECONDS = 4;
  const PER_TICK = 100; // Keys changed every 10 ms: 10,000 state changes/s
  // The server drops a client whose unsent backlog passes 1 MiB (by design: a page that stops
  // reading must not hold the simulator's memory). A starved CI machine can render slower than
  // 10,000 changes/s, so the test paces itself on what the page has applied: never more than
  // MAX_AHEAD events (a few hundred KiB) in flight, whatever the machine's speed.
  const MAX_AHEAD = 2000;
  const appliedNow = async () => ((await page.evaluate('window.enigmDashboard.events')) as number) - before;
  let emitted = 0;
  let level = 0;
  let paused = 0;
  const started = performance.now();
  while (performance.now() - started < SECONDS * 1000) {
    if (emitted % (PER_TICK * 10) === 0 && emitted - (await appliedNow()) > MAX_AHEAD) {
      paused++;
      const giveUp = performance.now() + 20_000; // a page that stopped applying fails below, not by hanging
      while (emitted - (await appliedNow()) > MAX_AHEAD / 2 && performance.now() < giveUp)
        await new Promise((r) => setTimeout(r, 20));
    }
    for (let i = 0; i < PER_TICK; i++) {
      const key = (emitted + i) % KEYS;
      level = (level + 7) % 101;
      target.controls(key).setBattery({ level });
    }
    emitted += PER_TICK;
    await new Promise((r) => setTimeout(r, 10));
  }
  const elapsed = (performance.now() - started) / 1000;
  const m = (await page.evaluate(`(() => {
    const f = [...window.frames_].sort((a, b) => a - b);
    const q = (p) => f[Math.min(f.length - 1, Math.floor(p * f.length))] ?? 0;
    return { frames: f.length, p50: q(0.5), p95: q(0.95), max: f[f.length - 1] ?? 0, long: window.long_ };
  })()`)) as { frames: number; p50: number; p95: number; max: number; long: number };
  // the last change reaches the page
  const lastKey = (emitted - 1) % KEYS;
  const lastLevel = target.states[lastKey]?.battery.level;
  await page
    .locator(`.row[data-key="${lastKey}"] [data-field="battery"]`, { hasText: new RegExp(`^${lastLevel}%`) })
    .waitFor({ timeout: 20_000 });
  const after = (await page.evaluate('window.enigmDashboard.events')) as number;
  const applied = after - before;
  t.log(
    `1,000 Keys, ${emitted} state changes in ${elapsed.toFixed(1)} s (${Math.round(emitted / elapsed)}/s): page applied ${applied}; ` +
      `frame interval p50 ${m.p50.toFixed(1)} ms, p95 ${m.p95.toFixed(1)} ms, max ${m.max.toFixed(1)} ms over ${m.frames} frames (${(m.frames / elapsed).toFixed(0)} fps); ${m.long} long tasks; paced ${paused} times`,
  );
  t.is(applied, emitted, 'every event reached the page (none dropped)');
  // The page must keep rendering and never freeze. Frame rate and frame interval (target 60 Hz) are
  // measured by this test's log (docs/benchmarks.md records them), not asserted: they are speeds, and
  // on a 2-core CI machine other browsers and simulators run at the same time (a loaded run saw
  // 8 fps, p50 133 ms). What is asserted holds at any speed: frames were rendered during the run.
  t.true(m.frames >= 2, `the page kept rendering during the run (${m.frames} frames)`);
  t.deepEqual(problems, []);
});
