/**
 * `enigm posture challenge | watch` (tools/src/commands/posture-backend.ts) against a real broker
 * (the embedded aedes broker, ACL enforced) and a running posture agent: the backend challenges the
 * device over MQTT, the agent answers with a fresh report carrying the nonce, `watch` (its own
 * process) drops a duplicate delivery by report id and appraises the answer as trusted with the
 * challenge consumed; an unknown device is reported unknown; usage errors exit 2.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttLink } from '@enigm/mqtt';
import { type EmbeddedBroker, startEmbeddedBroker } from '@enigm/mqtt/broker';
import { PostureAgent, parseAgentConfig, queryAgent, signPolicy } from '@enigm/os-agent/service';
import { toHex } from '@enigm/protocols/bytes';
import { ed25519Generate } from '@enigm/protocols/crypto';
import { formatAssociationHandle } from '@enigm/protocols/handle';
import { keyTopic } from '@enigm/protocols/mqtt';
import test from 'ava';
import { postureCommands } from '../src/commands/posture.ts';
import { runCommand, runCommandProcess } from './run-command.ts';

const dir = mkdtempSync(join(tmpdir(), 'enigm-posture-backend-'));
let broker: EmbeddedBroker | undefined;
const stops: (() => Promise<unknown>)[] = [];
test.before(async () => {
  broker = await startEmbeddedBroker();
});
test.after.always(async () => {
  for (const s of stops.reverse()) await s().catch(() => undefined);
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});
const handle = formatAssociationHandle(new Uint8Array(16).fill(0x61));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.serial(
  'challenge over MQTT is answered by the agent; watch de-duplicates and appraises it as trusted, challenge consumed',
  async (t) => {
    const url = broker?.url as string;
    const command = ed25519Generate();
    const config = parseAgentConfig({
      handle,
      stateDir: join(dir, 'agent'),
      tpm: 'off',
      daemonSocket: null,
      mqtt: { url },
      policyKeys: [toHex(command.publicKey)],
      log: 'quiet',
    });
    const agent = await PostureAgent.start(config, { manual: true, log: () => {} });
    stops.push(() => agent.stop());
    const rules = [{ signal: 'tsc.posture', allowed: ['secure'], graceMs: 0, unknownAllowed: true }];
    t.true(
      agent.offerPolicy(signPolicy({ id: 'b', version: 1, issuedAt: Date.now(), rules }, command.seed, command.publicKey))
        .accepted,
    );
    const end = Date.now() + 20_000;
    while (!agent.publisher?.status().connected && Date.now() < end) await sleep(50);
    const agents = join(dir, 'agents.json');
    writeFileSync(agents, JSON.stringify({ [handle]: { agentKey: toHex(agent.state.publicKey) } }));
    const state = join(dir, 'verifier.json');
    // watch runs until Ctrl-C (SIGINT), sent once its debug log says a duplicate was dropped: it
    // waits on what the watcher says, not on a clock (a 6 s --for window, which the answer had to
    // reach in time, and a fixed pause for its SUBSCRIBE were guesses a loaded machine could outlast).
    // --for 40 only bounds it if the test fails before the SIGINT.
    let watchErr = '';
    const interrupt = new AbortController();
    const watch = runCommandProcess(
      new URL('../src/commands/posture.ts', import.meta.url),
      'postureCommands',
      [
        'posture',
        'watch',
        '--broker',
        url,
        '--client',
        'backend-1',
        '--agents',
        agents,
        '--state',
        state,
        '--for',
        '40',
        '--log-level',
        'debug',
        '--json',
      ],
      {
        timeoutMs: 55_000,
        onStderr: (text) => {
          watchErr += text;
        },
        interrupt: interrupt.signal,
      },
    );
    stops.push(() => {
      interrupt.abort();
      return watch;
    });
    let watchEnded = false;
    void watch.then(() => {
      watchEnded = true;
    });
    const watchSays = async (re: RegExp, what: string) => {
      const by = Date.now() + 30_000;
      while (!re.test(watchErr) && !watchEnded && Date.now() < by) await sleep(20);
      if (!re.test(watchErr)) throw new Error(`posture watch did not say ${what}: ${watchErr}`);
    };
    await watchSays(/posture watch: watching /, 'it is subscribed');
    const ch = await runCommand(postureCommands, [
      'posture',
      'challenge',
      '--broker',
      url,
      '--client',
      'backend-1',
      '--handle',
      handle,
      '--state',
      state,
      '--json',
    ]);
    t.is(ch.code, 0, ch.stderr);
    const nonce = (JSON.parse(ch.stdout) as { nonce: string }).nonce;
    // The answer, then the same bytes again and again (at-least-once duplicates, published as the
    // device) until watch has dropped one: it sees the report, and only once.
    const until = Date.now() + 20_000;
    while ((agent.status().lastReport as { trigger?: string } | null)?.trigger !== 'challenge' && Date.now() < until)
      await sleep(50);
    await agent.publisher?.idle();
    const dup = await MqttLink.connect({ url, username: handle, clientId: 'dup-sender' });
    stops.push(() => dup.close());
    const { evidence } = (await queryAgent(config.apiSocket, 'report')) as { evidence: Uint8Array };
    let ended = false;
    const resend = (async () => {
      while (!ended) {
        await dup.publish(keyTopic(handle, 'posture'), evidence).catch(() => undefined);
        await sleep(300);
      }
    })();
    await watchSays(/posture watch: a duplicate report dropped/, 'it dropped a duplicate');
    interrupt.abort();
    const r = await watch;
    ended = true;
    await resend;
    t.regex(r.stderr, /posture watch: 1 report appraised, [1-9]\d* duplicates? dropped/);
    const lines = r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { handle: string; decision: string; checks: { name: string; status: string }[] });
    t.is(lines.length, 1, `one report, the duplicate dropped: ${r.stdout}${r.stderr}`);
    t.is(lines[0]?.decision, 'trusted', JSON.stringify(lines[0]?.checks));
    t.is(lines[0]?.checks.find((c) => c.name === 'challenge')?.status, 'affirming');
    t.is(r.code, 0);
    t.is(nonce.length, 64);
  },
);

test.serial('usage errors exit 2', async (t) => {
  t.is((await runCommand(postureCommands, ['posture', 'challenge', '--broker', 'mqtt://127.0.0.1:1'])).code, 2);
  t.is((await runCommand(postureCommands, ['posture', 'watch', '--broker', 'mqtt://127.0.0.1:1'])).code, 2);
  const bad = join(dir, 'bad-agents.json');
  writeFileSync(bad, JSON.stringify({ nothandle: { agentKey: '00' } }));
  const r = await runCommand(postureCommands, ['posture', 'watch', '--broker', 'mqtt://127.0.0.1:1', '--agents', bad]);
  t.is(r.code, 1);
  t.regex(r.stderr, /INPUT_INVALID/);
});
