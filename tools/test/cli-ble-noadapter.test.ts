/**
 * Issue 15 "an adapter that is off: named errors", as a user sees it: on a machine without a
 * Bluetooth adapter (this one, and CI), `enigm key list --ble` and `enigm key info --port
 * ble:NAME` with no ENIGM_BLE_ADAPTER go to noble's platform bindings, which print their own
 * "noble warning: adapter does not support Bluetooth Low Energy …" lines; the CLI prints only its
 * typed TRANSPORT_ADAPTER_UNSUPPORTED message (one line on stderr, nothing on stdout) and exits 1.
 * On a machine that has an adapter (/sys/class/bluetooth lists one) there is nothing to check and
 * the test says so.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { type Bundle, buildBundle } from './bundle.ts';

const exec = promisify(execFile);
const ADAPTERS = '/sys/class/bluetooth';
const hasAdapter = existsSync(ADAPTERS) && readdirSync(ADAPTERS).length > 0;

let bundle: Bundle | undefined;
let work = '';

test.before(async () => {
  bundle = await buildBundle('repo');
  work = mkdtempSync(join(tmpdir(), 'enigm-cli-ble-noadapter-'));
});

test.after.always(() => {
  bundle?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function enigm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { ENIGM_BLE_ADAPTER: _unset, ...env } = process.env;
  try {
    const r = await exec(process.execPath, [bundle?.cli as string, ...args], {
      cwd: work,
      env: { ...env, ENIGM_HOME: join(work, 'home') },
      timeout: 30_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

const OURS = (cmd: string) =>
  `enigm ${cmd}: TRANSPORT_ADAPTER_UNSUPPORTED: no usable Bluetooth LE adapter (state unsupported); for the simulator's virtual adapter set ENIGM_BLE_ADAPTER=sim (enigm sim start --ble)\n`;

for (const [cmd, args] of [
  ['key list', ['key', 'list', '--ble', '--scan', '200']],
  ['key info', ['key', 'info', '--port', 'ble:Enigm-K0']],
] as const) {
  test(`enigm ${args.join(' ')} without an adapter and without ENIGM_BLE_ADAPTER: only our message, exit 1`, async (t) => {
    if (hasAdapter) {
      t.log(`skipped: this machine has a Bluetooth adapter (${readdirSync(ADAPTERS).join(', ')})`);
      return t.pass();
    }
    const r = await enigm(...args);
    t.is(r.code, 1, r.stderr);
    t.is(r.stdout, '', 'nothing on stdout (noble prints its warning with console.log)');
    t.is(r.stderr, OURS(cmd));
    t.false(/noble/.test(r.stdout + r.stderr), 'no line of noble’s');
  });
}
