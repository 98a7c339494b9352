/**
 * `--port ble:NAME` as a user runs it (issue 15 done-means): the bundled CLI starts
 * `enigm sim start --ble --ble-phy 1M|2M` in one process (the virtual adapter on a loopback port,
 * air time modelled in real time); other CLI processes use the real noble on it through
 * `ENIGM_BLE_ADAPTER=sim:D`: `key list --ble` finds the Key, `key pair` pins it, and
 * `fw flash --port ble:Enigm-K0` with default options uploads, test-boots, checks health and
 * confirms a 64 KiB image. A folder without a simulator is a named error, not a hang.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild } from '@enigm/sim/testing';
import test from 'ava';
import { runBundled, startBleSimulator } from './ble-cli.ts';
import { type Bundle, buildBundle } from './bundle.ts';
import { signFirmware } from './cli-steps.ts';

const IMAGE = 64 * 1024;

let bundle: Bundle | undefined;
const children: ChildProcess[] = [];
const dirs: string[] = [];

test.before(async () => {
  bundle = await buildBundle('repo');
});

test.after.always(async () => {
  for (const c of children) await stopChild(c);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  bundle?.remove();
});

/** The bundled CLI in `work` with `env` (60 s per command). */
const enigm = (work: string, env: NodeJS.ProcessEnv, ...args: string[]) =>
  runBundled(bundle?.cli as string, work, env, args, 60_000);

for (const phy of ['1M', '2M']) {
  test.serial(`fw flash --port ble:Enigm-K0 with default options succeeds at the modelled ${phy} PHY`, async (t) => {
    const work = mkdtempSync(join(tmpdir(), `enigm-cli-ble-${phy}-`));
    dirs.push(work);
    const env = { ...process.env, ENIGM_HOME: join(work, 'home'), ENIGM_BLE_ADAPTER: `sim:${join(work, 'st')}` };
    const { ready } = await startBleSimulator(bundle?.cli as string, work, env, ['--ble-phy', phy], children);
    t.is(ready.keys[0]?.ble, 'ble:Enigm-K0');
    t.regex(ready.bleAdapter ?? '', /^tcp:\/\/127\.0\.0\.1:\d+$/);

    const list = await enigm(work, env, 'key', 'list', '--ble', '--scan', '2000', '--json');
    t.is(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout.trim().split('\n').at(-1) as string) as { keys: { port: string; model: string }[] };
    t.deepEqual(
      listed.keys.map((k) => [k.port, k.model]),
      [['ble:Enigm-K0', 'enigm-key-1']],
    );

    const pair = await enigm(work, env, 'key', 'pair', '--port', 'ble:Enigm-K0');
    t.is(pair.code, 0, pair.stderr);
    writeFileSync(
      join(work, 'fw.bin'),
      new Uint8Array(IMAGE).map((_, i) => Math.imul(i, 2654435761) >>> 24),
    );
    const key = join(work, 'st', 'fw-signing.key');
    const signed = await signFirmware((...a) => enigm(work, env, ...a), {
      key,
      version: '2.0.0',
      counter: 2,
      out: 'fw.ekfw',
      payload: 'fw.bin',
    });
    t.is(signed.code, 0, signed.stderr);

    const flash = await enigm(work, env, 'fw', 'flash', '--port', 'ble:Enigm-K0', 'fw.ekfw', '--json');
    t.is(flash.code, 0, flash.stderr);
    const events = flash.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const uploaded = events.find((e) => e.event === 'uploaded') as { bytes: number };
    t.is(uploaded.bytes, IMAGE);
    const last = events.at(-1) as { ok?: boolean; done?: string };
    t.deepEqual([last.ok, last.done], [true, 'confirm']);
    const status = await enigm(work, env, 'fw', 'status', '--port', 'ble:Enigm-K0', '--json');
    t.is(status.code, 0, status.stderr);
    t.regex(status.stdout, /"version":"2\.0\.0"/);
  });
}

test.serial('--port ble:NAME with ENIGM_BLE_ADAPTER naming a folder without a simulator: a named error, exit 1', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'enigm-cli-ble-none-'));
  dirs.push(work);
  const env = { ...process.env, ENIGM_HOME: join(work, 'home'), ENIGM_BLE_ADAPTER: `sim:${work}` };
  const r = await enigm(work, env, 'key', 'info', '--port', 'ble:Enigm-K0');
  t.not(r.code, 0);
  t.regex(r.stderr, /TRANSPORT_ADAPTER_UNSUPPORTED|no running simulator/);
});
