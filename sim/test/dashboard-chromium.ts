/**
 * The dashboard browser tests' Chromium: Debian's `/usr/bin/chromium` (or `CHROMIUM_PATH`) driven
 * by playwright-core (its own browser download is not used), one fresh profile per test. Without
 * Chromium a test is skipped locally and FAILS under CI=true.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
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

/**
 * A fresh Chromium profile and page, closed when the test ends; `problems` collects page errors
 * and console errors (CSP violations among them).
 * @returns undefined (the test should pass as skipped) without Chromium, unless CI=true (then the test fails)
 */
export async function browser(
  t: ExecutionContext,
): Promise<{ context: BrowserContext; page: Page; problems: string[] } | undefined> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI === 'true')
      t.fail(`Chromium is missing at ${CHROMIUM}: scripts/setup.sh installs it (apt-get install chromium)`);
    else t.log(`skipped: no Chromium at ${CHROMIUM} (apt-get install chromium; under CI=true this fails)`);
    return undefined;
  }
  const profile = await mkdtemp(join(tmpdir(), 'enigm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  t.teardown(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  return { context, page, problems };
}
