/**
 * Makes the dashboard's screenshots in `docs/img/` (never by hand): starts a real simulator with
 * six Keys and its control server in a temporary state folder, opens the dashboard in Debian's
 * Chromium (playwright-core), drives the Keys through the control API — a long hold opening a
 * pairing window, a low battery, no radio coverage, a pulled power, a charging Key, an emergency
 * started by the triple press — and captures the page.
 *
 * Usage: npx tsx scripts/screenshots.ts [--out DIR]   (default docs/img; needs /usr/bin/chromium
 * or CHROMIUM_PATH)
 * @module
 */
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { contactKeygen, signContactSet } from '@enigm/protocols/emergency';
import { Simulator } from '@enigm/sim';
import { ControlClient, ControlServer } from '@enigm/sim/control';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const { values } = parseArgs({ options: { out: { type: 'string' } } });
const out = values.out ?? 'docs/img';
if (!existsSync(CHROMIUM)) {
  console.error(`screenshots: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  process.exit(1);
}
mkdirSync(out, { recursive: true });

const dir = await mkdtemp(join(tmpdir(), 'enigm-screenshots-'));
const profile = await mkdtemp(join(tmpdir(), 'enigm-chromium-'));
const sim = await Simulator.start({ keys: 6, serial: false, ble: true, stateDir: join(dir, 'state') });
const server = await ControlServer.start(sim);
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: ARGS,
  viewport: { width: 1440, height: 900 },
  colorScheme: 'light',
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(server.dashboardUrl);
  await page.locator('[data-testid="connection"]', { hasText: 'live' }).waitFor();
  await page.locator('.row[data-key="5"] [data-field="lifecycle"]').filter({ hasText: /\w/ }).waitFor();
  const api = new ControlClient(server.url, server.token);
  await api.request('POST', '/api/keys/1/battery', { level: 12 });
  await api.request('POST', '/api/keys/2/radio', { state: 'no-coverage' });
  await api.request('POST', '/api/keys/3/power', { on: false });
  await api.request('POST', '/api/keys/4/usb', { attached: true });
  await api.request('POST', '/api/keys/5/gesture', { kind: 'double' });
  // Key 5: dormant with one emergency contact, an emergency started by the triple press
  const contact = contactKeygen();
  const set = {
    version: 1,
    issuedAt: Date.now(),
    contacts: [{ alias: 'c0', hpkeKey: contact.publicKey, signKey: contact.signKey }],
  };
  sim.firmware(5).transition('activate');
  sim.firmware(5).emergency.setContacts(signContactSet(set, new Uint8Array(32).fill(7)));
  await api.request('POST', '/api/keys/5/gnss/track', {
    fixes: Array.from({ length: 60 }, (_, i) => ({ atMs: i * 1000, lat: 47.3769 + i * 1e-5, lon: 8.5417 })),
  });
  await api.request('POST', '/api/keys/5/gesture', { kind: 'triple' });
  await api.request('POST', '/api/clock', { advanceMs: 45_000 });
  await api.request('POST', '/api/keys/0/gnss/track', {
    fixes: [0, 1, 2, 3].map((i) => ({ atMs: i * 60_000, lat: 48.137 + i * 0.001, lon: 11.575 + i * 0.0015 })),
  });
  // the long hold through the page itself, on the selected Key 0
  await page.locator('button[data-action="hold-8"]').click();
  await page.locator('.row[data-key="0"] [data-field="pairing"]', { hasText: /^open/ }).waitFor();
  await page.locator('[data-testid="timeline"] li[data-type="pairing-window"]').waitFor();
  await page.waitForTimeout(1200); // one tick of the clock and rate counters
  const file = join(out, 'dashboard.png');
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshots: wrote ${file}`);
} finally {
  await context.close();
  await server.close();
  await sim.stop();
  await rm(dir, { recursive: true, force: true });
  await rm(profile, { recursive: true, force: true });
}
