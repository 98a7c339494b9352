/**
 * docs/security.md "Who can do what", row "a second host hijacking or dropping an update in
 * progress" and "Known limits" (issue 16 finding 2): the update belongs to the host that began it;
 * another paired owner's `enigm fw flash` is refused (`UPDATE_BUSY`, exit 1) with the hint that an
 * owner can take it over with `--takeover`, and with `--takeover` it succeeds (the first host's
 * upload is dropped). Two owner hosts, each with its own ENIGM_HOME (host key, known Keys), run the
 * CLI in-process against one simulated Key over TCP. The facade's `takeover` option is checked
 * underneath: it is what `fw.begin` carries.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openKey } from '@enigm/key-firmware-host';
import { Simulator } from '@enigm/sim';
import test from 'ava';
import { fwImageCommands } from '../src/commands/fw.ts';
import { fwFlashCommands, TAKEOVER_HINT } from '../src/commands/fw-flash.ts';
import { keySessionCommands } from '../src/commands/key-session.ts';
import { signFirmware } from './cli-steps.ts';
import { runCommand } from './run-command.ts';

const commands = [...keySessionCommands, ...fwImageCommands, ...fwFlashCommands];

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs `enigm ARGV` in-process as the host whose ENIGM_HOME is `home`. */
async function as(home: string, ...argv: string[]) {
  const before = process.env.ENIGM_HOME;
  process.env.ENIGM_HOME = home;
  try {
    return await runCommand(commands, argv);
  } finally {
    if (before === undefined) delete process.env.ENIGM_HOME;
    else process.env.ENIGM_HOME = before;
  }
}

/** A simulated Key paired with two owner hosts A and B (two ENIGM_HOME folders), and signed images. */
async function twoOwners(t: import('ava').ExecutionContext) {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-fw-takeover-'));
  dirs.push(dir);
  const sim = await Simulator.start({ keys: 1, serial: false, tcp: true, stateDir: join(dir, 'sim') });
  t.teardown(() => sim.stop());
  const port = sim.keys()[0]?.tcp as string;
  const homeA = join(dir, 'home-a');
  const homeB = join(dir, 'home-b');
  mkdirSync(homeA);
  mkdirSync(homeB);
  const pairA = await as(homeA, 'key', 'pair', '--port', port, '--role', 'owner');
  t.is(pairA.code, 0, pairA.stderr);
  sim.firmware(0).openPairingWindow(60_000);
  const pairB = await as(homeB, 'key', 'pair', '--port', port, '--role', 'owner');
  t.is(pairB.code, 0, pairB.stderr);
  writeFileSync(join(dir, 'app.bin'), Buffer.alloc(24_000, 0x5a));
  const image = async (version: string, counter: number) => {
    const out = join(dir, `app-${version}.ekfw`);
    const signed = await signFirmware((...argv) => runCommand(commands, argv), {
      key: sim.signingKeyPath,
      version,
      counter,
      out,
      payload: join(dir, 'app.bin'),
    });
    t.is(signed.code, 0, signed.stderr);
    return out;
  };
  return { sim, port, homeA, homeB, imageA: await image('2.0.0', 2), imageB: await image('2.1.0', 2) };
}

test.serial(
  "a second owner's fw flash during the first owner's update: UPDATE_BUSY, exit 1, with the --takeover hint; with --takeover it succeeds",
  async (t) => {
    const { sim, port, homeA, homeB, imageA, imageB } = await twoOwners(t);
    // Host A begins an update and leaves it there (uploaded and checked, not test-booted).
    const begun = await as(homeA, 'fw', 'flash', '--port', port, imageA, '--upload-only');
    t.is(begun.code, 0, begun.stderr);
    t.is(sim.firmware(0).firmwareVersion, '1.0.0');

    const busy = await as(homeB, 'fw', 'flash', '--port', port, imageB, '--json');
    t.is(busy.code, 1, busy.stderr);
    t.regex(busy.stderr, /UPDATE_BUSY/);
    t.true(busy.stderr.includes(TAKEOVER_HINT), busy.stderr);
    t.is(TAKEOVER_HINT, "another host's update is in progress; an owner can take it over with --takeover");
    const rows = busy.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ok?: boolean; error?: { remote?: { name?: string } } });
    t.like(rows.at(-1), { ok: false, error: { remote: { name: 'UPDATE_BUSY' } } });

    const status = await as(homeA, 'fw', 'status', '--port', port, '--json');
    t.is(status.code, 0, status.stderr);
    t.regex(status.stdout, /"version":"2\.0\.0"/, "host A's update is untouched by the refusal");

    const help = await as(homeB, 'fw', 'flash', '--help');
    t.regex(help.stdout, /--takeover {6}owner only/);

    const taken = await as(homeB, 'fw', 'flash', '--port', port, imageB, '--takeover');
    t.is(taken.code, 0, taken.stderr);
    t.regex(taken.stdout, /confirmed 2\.1\.0; security counter is now 2/);
    t.is(sim.firmware(0).firmwareVersion, '2.1.0');
  },
);

test.serial("the facade: Key.flash({ takeover }) sends fw.begin with takeover; host A's upload is then refused", async (t) => {
  const { sim, port, homeA, homeB, imageA, imageB } = await twoOwners(t);
  t.is((await as(homeA, 'fw', 'flash', '--port', port, imageA, '--upload-only')).code, 0);
  const open = (home: string) => openKey(port, { hostKey: join(home, 'host-key.pem'), known: join(home, 'known-keys.json') });
  const b = await open(homeB);
  t.teardown(() => b.close());
  const bytes = new Uint8Array(readFileSync(imageB));
  const refused = await t.throwsAsync(b.flash(bytes, { until: 'upload' }));
  t.like(refused, { code: 'KEY_REJECTED', remote: { name: 'UPDATE_BUSY' } });
  const r = await b.flash(bytes, { until: 'upload', takeover: true });
  t.is(r.done, 'upload');
  t.is((await b.fwStatus()).secondary?.version, '2.1.0');
  // host A, whose update was taken over, is now the one refused (without takeover)
  const a = await open(homeA);
  t.teardown(() => a.close());
  const again = await t.throwsAsync(a.flash(new Uint8Array(readFileSync(imageA)), { until: 'upload' }));
  t.like(again, { code: 'KEY_REJECTED', remote: { name: 'UPDATE_BUSY' } });
  t.is(sim.firmware(0).firmwareVersion, '1.0.0');
});
