/**
 * The emulator scripts under examples/osd/ (issue 14: scriptable states so integrators can develop
 * without Enigm OS) parse strictly and are served: each unfaulted query answers the script's first
 * state, read by the agent's daemon client over the Unix socket.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queryOsd } from '@enigm/os-agent/collect';
import { DAEMON_QUERY_NAMES } from '@enigm/protocols/posture';
import test from 'ava';
import { OsdEmulator, parseOsdScript } from '../src/osd/index.ts';

const DIR = new URL('../../examples/osd/', import.meta.url).pathname;
const scripts = readdirSync(DIR).filter((f) => f.endsWith('.json'));

test('there are example scripts', (t) => {
  t.true(scripts.length >= 2);
});

for (const file of scripts) {
  test(`examples/osd/${file} parses strictly and the emulator serves it`, async (t) => {
    const script = parseOsdScript(JSON.parse(readFileSync(join(DIR, file), 'utf8')));
    const dir = mkdtempSync(join(tmpdir(), 'osd-ex-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    // Served without its steps: they change states and faults on real timers (flaky-daemon.json:
    // tsc closes once after 1 s), so a loaded machine that queried later would see them; what is
    // checked here is the initial states the script declares.
    const emu = await OsdEmulator.start({ socketPath: join(dir, 'o.sock'), script: { ...script, steps: [] } });
    t.teardown(() => emu.close());
    const faulted = new Set((script.faults ?? []).flatMap((f) => f.queries ?? DAEMON_QUERY_NAMES));
    const queries = DAEMON_QUERY_NAMES.filter((q) => !faulted.has(q) && script.states?.[q] !== undefined);
    t.true(queries.length > 0);
    const answers = await queryOsd(queries, { socketPath: emu.socketPath, timeoutMs: 20_000 });
    for (const q of queries) {
      const want = script.states?.[q] as Record<string, unknown>;
      const a = answers.get(q);
      if (!a?.ok) return t.fail(`${q}: ${a?.reason}`);
      if ('unavailable' in want) t.like(a.response, { status: 'unavailable', reason: want.unavailable }, q);
      else t.deepEqual(a.response.state, want, q);
    }
  });
}
