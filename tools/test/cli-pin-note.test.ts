/**
 * docs/security.md "Known limits" (issue 16, finding 4): a host paired with several Keys that
 * names none reaches one of them. A command that changes a Key's state (here `key activate`)
 * then says on stderr which Key it reached, by handle and identity prefix, and how to name one;
 * it says nothing when the Key is named (--handle, --identity) or the host has one pin. The
 * command still runs (compatibility). Simulated Keys over TCP, in-process dispatch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '@enigm/protocols/bytes';
import { Simulator } from '@enigm/sim';
import test from 'ava';
import { keySessionCommands } from '../src/commands/key-session.ts';
import { runCommand } from './run-command.ts';

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const NOTE =
  /^note: reached Key ([0-9a-f]{32}) \(identity ([0-9a-f]{16})…\); this host has (\d+) pinned Keys: name the one you mean with --handle or --identity$/m;

/** Two simulated Keys, and a host (its own key and known-Keys file) under `dir`. */
async function twoKeys(t: import('ava').ExecutionContext) {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-pin-note-'));
  dirs.push(dir);
  const sim = await Simulator.start({ keys: 2, serial: false, tcp: true, stateDir: join(dir, 'sim') });
  t.teardown(() => sim.stop());
  const [k0, k1] = sim.keys();
  const host = (name: string) => ['--host-key', join(dir, name, 'host-key.pem'), '--known', join(dir, name, 'known.json')];
  const run = (name: string, ...argv: string[]) => runCommand(keySessionCommands, [...argv, ...host(name)]);
  return { sim, port0: k0?.tcp as string, port1: k1?.tcp as string, handle0: k0?.handle as string, run };
}

test.serial('key activate on a host with two pinned Keys and no name: a note names the Key reached', async (t) => {
  const { sim, port0, port1, handle0, run } = await twoKeys(t);
  t.is((await run('a', 'key', 'pair', '--port', port0)).code, 0);
  t.is((await run('a', 'key', 'pair', '--port', port1)).code, 0);
  const r = await run('a', 'key', 'activate', '--port', port0);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /Key is now dormant/, 'the command still runs');
  const m = NOTE.exec(r.stderr);
  t.truthy(m, r.stderr);
  t.is(m?.[1], handle0, "Key 0's handle");
  t.is(m?.[2], toHex(sim.firmware(0).secureElement.identityPublicKey).slice(0, 16));
  t.is(m?.[3], '2');
  t.is(sim.firmware(0).state, 'dormant');
});

test.serial('key activate naming the Key (--handle or --identity) prints no note', async (t) => {
  const { sim, port0, port1, handle0, run } = await twoKeys(t);
  t.is((await run('a', 'key', 'pair', '--port', port0)).code, 0);
  t.is((await run('a', 'key', 'pair', '--port', port1)).code, 0);
  const byHandle = await run('a', 'key', 'activate', '--port', port0, '--handle', handle0);
  t.is(byHandle.code, 0, byHandle.stderr);
  t.notRegex(byHandle.stderr, /note: reached/);
  const identity = toHex(sim.firmware(1).secureElement.identityPublicKey);
  const byIdentity = await run('a', 'key', 'activate', '--port', port1, '--identity', identity);
  t.is(byIdentity.code, 0, byIdentity.stderr);
  t.notRegex(byIdentity.stderr, /note: reached/);
});

test.serial('key activate on a host with one pinned Key prints no note', async (t) => {
  const { port0, run } = await twoKeys(t);
  t.is((await run('b', 'key', 'pair', '--port', port0)).code, 0);
  const r = await run('b', 'key', 'activate', '--port', port0);
  t.is(r.code, 0, r.stderr);
  t.notRegex(r.stderr, /note: reached/);
});
