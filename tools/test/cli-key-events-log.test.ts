/**
 * `enigm key events` reads the Key's bounded emergency log (request `emergency.log`, issue 13:
 * "what the Key retains about past events is bounded and documented"; docs/emergency.md), run as
 * a user does: the bundled CLI in child processes, against a simulated Key on a real
 * pseudo-terminal (socat). The owner pairs, activates and pushes a contact set over the pty; events
 * are started, cancelled and resolved; `key events` lists them oldest first with their outcomes,
 * shows the running one, keeps only the last 8, never prints a location; a service host is
 * refused (KEY_FORBIDDEN, exit 1); `--follow` still watches live events; `--count` without
 * `--follow` is a usage error (exit 2).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MAX_EMERGENCY_LOG } from '@enigm/protocols/messages';
import { hasSocat, Simulator } from '@enigm/sim';
import test from 'ava';
import { type Bundle, buildBundle } from './bundle.ts';
import { makeContactSet } from './cli-steps.ts';

const exec = promisify(execFile);
const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;
const LAT = 47.37689;
const LON = 8.541694;

let bundle: Bundle | undefined;
let sim: Simulator | undefined;
let work = '';

test.after.always(async () => {
  await sim?.stop();
  bundle?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function enigm(home: string, ...args: string[]): Promise<Run> {
  try {
    const r = await exec(process.execPath, [bundle?.cli as string, ...args], {
      cwd: work,
      env: { ...process.env, ENIGM_HOME: join(work, home) },
      timeout: 60_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

const json = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

realTest(
  'key events: the bounded log over a pty (past events, outcomes, the running one, no location); --follow live',
  async (t) => {
    bundle = await buildBundle('repo');
    work = mkdtempSync(join(tmpdir(), 'enigm-key-events-log-'));
    sim = await Simulator.start({ keys: 1, serial: true, tcp: false, mqtt: false, stateDir: join(work, 'sim') });
    const s = sim;
    const port = s.keys()[0]?.serial as string;
    t.truthy(port, 'the Key has a pty');
    const f = (name: string) => join(work, name);
    const owner = (...a: string[]) => enigm('owner', ...a, '--port', port);

    t.is((await owner('key', 'pair', '--label', 'phone')).code, 0);
    t.is((await owner('key', 'activate')).code, 0);
    await makeContactSet(t, (...a) => enigm('owner', ...a), work);
    t.is((await owner('key', 'contacts', 'set', f('contacts.cose'))).code, 0);

    const empty = await owner('key', 'events', '--json');
    t.is(empty.code, 0, empty.stderr);
    t.like(json(empty.stdout).at(-1), { ok: true, events: 0, running: false });

    // Event 1: cancelled by the button. Event 2: a fix (active), resolved by the owner over the pty.
    const c = s.controls(0);
    const ids: string[] = [];
    const id = () => Buffer.from(s.firmware(0).emergency.eventId as Uint8Array).toString('hex');
    t.like(c.gesture({ kind: 'triple' }), { action: 'emergency-start' });
    ids.push(id());
    t.like(c.gesture({ kind: 'hold', seconds: 10 }), { action: 'emergency-end' });
    t.like(c.gesture({ kind: 'triple' }), { action: 'emergency-start' });
    ids.push(id());
    c.setTrack([{ atMs: 0, lat: LAT, lon: LON, accuracyM: 4 }]);
    const activeBy = Date.now() + 20_000; // the fix is scheduled work: generous under load, quick when idle
    while (Date.now() < activeBy && s.firmware(0).emergency.phase !== 'active') await new Promise((r) => setTimeout(r, 20));
    t.is(s.firmware(0).emergency.phase, 'active');
    const resolved = await owner('key', 'emergency', 'resolve');
    t.is(resolved.code, 0, resolved.stderr);
    // Event 3 keeps running.
    t.like(c.gesture({ kind: 'triple' }), { action: 'emergency-start' });
    ids.push(id());

    const text = await owner('key', 'events');
    t.is(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split('\n');
    t.regex(lines[0] ?? '', new RegExp(`^event ${ids[0]} {2}cancelled +started \\d+ s ago, lasted \\d+ s$`));
    t.regex(lines[1] ?? '', new RegExp(`^event ${ids[1]} {2}resolved +started \\d+ s ago`));
    t.regex(lines[2] ?? '', new RegExp(`^event ${ids[2]} {2}triggered now +started \\d+ s ago, last seq \\d+$`));
    t.regex(lines[3] ?? '', /^2 past events \(the Key keeps the last 8: id, times, outcome; no location\); one running$/);
    t.false(text.stdout.includes(String(LAT)) || text.stdout.includes(String(LON)), 'no location');

    // Bounded: more events than the log keeps; the oldest fall out.
    t.like(c.gesture({ kind: 'hold', seconds: 10 }), { action: 'emergency-end' });
    for (let i = 0; i < MAX_EMERGENCY_LOG; i++) {
      t.like(c.gesture({ kind: 'triple' }), { action: 'emergency-start' });
      ids.push(id());
      t.like(c.gesture({ kind: 'hold', seconds: 10 }), { action: 'emergency-end' });
    }
    const full = await owner('key', 'events', '--json');
    t.is(full.code, 0, full.stderr);
    const rows = json(full.stdout);
    const past = rows.filter((r) => r.type === 'past');
    t.is(past.length, MAX_EMERGENCY_LOG);
    t.deepEqual(
      past.map((r) => r.event),
      ids.slice(-MAX_EMERGENCY_LOG),
    );
    t.true(past.every((r) => r.outcome === 'cancelled'));
    t.deepEqual(Object.keys(past[0] ?? {}).sort(), ['endedAt', 'event', 'outcome', 'startedAt', 'type']);
    t.like(rows.at(-1), { ok: true, events: MAX_EMERGENCY_LOG, running: false });

    // Only the owner reads it.
    s.firmware(0).openPairingWindow(60_000);
    t.is((await enigm('svc', 'key', 'pair', '--role', 'service', '--port', port)).code, 0);
    const svc = await enigm('svc', 'key', 'events', '--port', port);
    t.is(svc.code, 1);
    t.regex(svc.stderr, /KEY_FORBIDDEN/);

    // Live mode is kept, and its options need it.
    const live = await owner('key', 'events', '--follow', '--for', '1', '--json');
    t.is(live.code, 0, live.stderr);
    t.like(json(live.stdout).at(-1), { ok: true });
    t.is((await owner('key', 'events', '--count', '3')).code, 2);
  },
);
