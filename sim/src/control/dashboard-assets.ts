/**
 * The dashboard's page: one HTML document with its script and style inline (no CDN, nothing
 * fetched but the API), guarded by a Content-Security-Policy that allows exactly those two by
 * hash. The script is TypeScript (`dashboard/main.ts`) built by esbuild: the CLI bundle carries
 * it prebuilt (`scripts/build.mjs` defines `__ENIGM_DASHBOARD__`); from source it is built on
 * first request with a lazily imported esbuild.
 * @module
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The prebuilt assets, defined by the CLI bundle's build (absent when running from source). */
declare const __ENIGM_DASHBOARD__: DashboardAssets | undefined;

/** The dashboard's script and style. */
export interface DashboardAssets {
  readonly js: string;
  readonly css: string;
}

/** The page: HTML and the Content-Security-Policy that goes with it. */
export interface DashboardPage {
  readonly html: string;
  readonly csp: string;
}

/** The dashboard script's entry point (for builds). */
export const DASHBOARD_ENTRY: string = fileURLToPath(new URL('./dashboard/main.ts', import.meta.url));
/** The dashboard's style sheet (for builds). */
export const DASHBOARD_CSS: string = fileURLToPath(new URL('./dashboard/style.css', import.meta.url));

/**
 * The esbuild options of the dashboard script; `scripts/build.mjs` uses the same ones.
 * @returns options for `esbuild.build`
 */
export function dashboardBuildOptions(): Record<string, unknown> {
  return {
    entryPoints: [DASHBOARD_ENTRY],
    bundle: true,
    format: 'iife',
    target: 'chrome110',
    minify: true,
    write: false,
    logLevel: 'silent',
  };
}

/** Builds the assets from source with esbuild (a development dependency, imported on first use). */
async function buildFromSource(): Promise<DashboardAssets> {
  const esbuild = (await import('esbuild')) as {
    build(o: Record<string, unknown>): Promise<{ outputFiles: { text: string }[] }>;
  };
  const r = await esbuild.build(dashboardBuildOptions());
  return { js: r.outputFiles[0]?.text ?? '', css: readFileSync(DASHBOARD_CSS, 'utf8') };
}

let cached: Promise<DashboardPage> | undefined;

/**
 * The dashboard page (built once per process, then cached).
 * @returns HTML and its CSP
 * @throws Error when running from source without esbuild installed
 */
export function dashboardPage(): Promise<DashboardPage> {
  cached ??= (typeof __ENIGM_DASHBOARD__ !== 'undefined' ? Promise.resolve(__ENIGM_DASHBOARD__) : buildFromSource()).then(
    renderPage,
    (e) => {
      cached = undefined;
      throw e;
    },
  );
  return cached;
}

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The HTML document holding `assets`, and a CSP allowing exactly them. */
export function renderPage(assets: DashboardAssets): DashboardPage {
  // `</script` cannot occur in esbuild's output outside strings it escapes; guard anyway.
  const js = assets.js.replaceAll('</script', '<\\/script');
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Enigm Key simulator</title>
<style>${assets.css}</style>
</head>
<body>
<div id="app"><p class="boot">Loading the simulator dashboard…</p></div>
<script>${js}</script>
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `script-src ${hash(js)}`,
    `style-src ${hash(assets.css)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}
