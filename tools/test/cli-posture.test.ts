/**
 * Checks `enigm posture report|status|verify` (tools/src/commands/posture.ts) through the CLI
 * plumbing: a report made once from the agent's state folder (no daemon, no TPM) is verified with
 * the agent's public key (unknown without a policy: exit 1; a replay is untrusted: exit 1); status
 * asks a running agent's local API (exit 0) and fails with exit 1 when none runs; usage errors
 * exit 2; --help lists examples.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PostureAgent, parseAgentConfig, queryAgent, signPolicy } from '@enigm/os-agent/service';
import { ed25519Generate, ed25519PublicKeyToPem } from '@enigm/protocols/crypto';
import { formatAssociationHandle } from '@enigm/protocols/handle';
import { killAfter, stopChild } from '@enigm/sim/testing';
import test from 'ava';
import { attestCommands } from '../src/commands/attest.ts';
import { postureCommands } from '../src/commands/posture.ts';
import { runCommand } from './run-command.ts';

const dir = mkdtempSync(join(tmpdir(), 'enigm-posture-cli-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const enigm = (...argv: string[]) => runCommand(postureCommands, argv);
const handle = formatAssociationHandle(new Uint8Array(16).fill(0x21));
const config = {
  handle,
  stateDir: join(dir, 'state'),
  tpm: 'off',
  daemonSocket: null,
  apiSocket: join(dir, 'api.sock'),
  policyKeys: [] as string[],
  log: 'quiet',
};
const configFile = join(dir, 'agent.json');
writeFileSync(configFile, JSON.stringify(config));

test.serial(
  'report --once writes evidence that verify appraises with the agent key; a second appraisal is a replay',
  async (t) => {
    const r = await enigm('posture', 'report', '--once', '--config', configFile, '--out', join(dir, 'r.cbor'), '--json');
    t.is(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as {
      from: string;
      agentKey: string;
      seq: number;
      handle: string;
      compliance: { decision: string };
    };
    t.is(j.from, 'local');
    t.is(j.handle, handle);
    t.is(j.compliance.decision, 'no-policy');
    const pem = join(dir, 'agent.pub.pem');
    writeFileSync(pem, ed25519PublicKeyToPem(Buffer.from(j.agentKey, 'hex')));
    const state = join(dir, 'verifier.json');
    const v = await enigm(
      'posture',
      'verify',
      '--evidence',
      join(dir, 'r.cbor'),
      '--agent-key-file',
      pem,
      '--handle',
      handle,
      '--state',
      state,
      '--json',
    );
    const vj = JSON.parse(v.stdout) as { decision: string; checks: { name: string; status: string }[] };
    t.is(vj.decision, 'unknown', 'no policy on the device: unknown');
    t.is(v.code, 1);
    t.is(vj.checks.find((c) => c.name === 'signature')?.status, 'affirming');
    const again = await enigm(
      'posture',
      'verify',
      '--evidence',
      join(dir, 'r.cbor'),
      '--agent-key',
      j.agentKey,
      '--state',
      state,
      '--json',
    );
    t.is(again.code, 1);
    t.is((JSON.parse(again.stdout) as { decision: string }).decision, 'untrusted');
    const other = ed25519Generate();
    const wrong = await enigm(
      'posture',
      'verify',
      '--evidence',
      join(dir, 'r.cbor'),
      '--agent-key',
      Buffer.from(other.publicKey).toString('hex'),
      '--state',
      state,
    );
    t.is(wrong.code, 1);
    t.regex(wrong.stdout, /^untrusted/);
  },
);

test.serial('status asks the running agent; with none running it fails with exit 1', async (t) => {
  const none = await enigm('posture', 'status', '--socket', join(dir, 'nothing.sock'));
  t.is(none.code, 1);
  t.regex(none.stderr, /API_UNAVAILABLE|nothing answers/);
  const agent = await PostureAgent.start(parseAgentConfig(config), { manual: true, log: () => {} });
  t.teardown(() => agent.stop());
  await agent.reportNow('request');
  const s = await enigm('posture', 'status', '--config', configFile, '--json');
  t.is(s.code, 0, s.stderr);
  const j = JSON.parse(s.stdout) as { handle: string; lastReport: { seq: number } };
  t.is(j.handle, handle);
  t.true(j.lastReport.seq >= 1);
  const human = await enigm('posture', 'status', '--config', configFile);
  t.regex(human.stdout, /compliance: no-policy/);
  t.regex(human.stdout, /^signals:$/m, 'the human status lists each signal');
  t.regex(human.stdout, /^ {2}kernel\.version +(".+"|unknown \(.+\))$/m);
  // report --once with an agent running returns the agent's latest report
  const r = await enigm('posture', 'report', '--once', '--config', configFile, '--json');
  t.is((JSON.parse(r.stdout) as { from: string }).from, 'agent');
});

test.serial(
  'a verifier challenge (enigm attest challenge --for device-posture) answered by the running agent verifies as challenge-bound and is single use',
  async (t) => {
    const command = ed25519Generate();
    const withKeys = {
      ...config,
      stateDir: join(dir, 'state2'),
      apiSocket: join(dir, 'api2.sock'),
      policyKeys: [Buffer.from(command.publicKey).toString('hex')],
    };
    const file = join(dir, 'agent2.json');
    writeFileSync(file, JSON.stringify(withKeys));
    const agent = await PostureAgent.start(parseAgentConfig(withKeys), { manual: true, log: () => {} });
    t.teardown(() => agent.stop());
    const policy = signPolicy(
      {
        id: 'cli',
        version: 1,
        issuedAt: Date.now(),
        rules: [{ signal: 'tsc.posture', allowed: ['secure'], graceMs: 0, unknownAllowed: true }],
      },
      command.seed,
      command.publicKey,
    );
    t.true(agent.offerPolicy(policy).accepted);
    const state = join(dir, 'verifier2.json');
    const ch = await runCommand(attestCommands, ['attest', 'challenge', '--for', 'device-posture', '--state', state, '--json']);
    t.is(ch.code, 0, ch.stderr);
    const nonce = (JSON.parse(ch.stdout) as { nonce: string }).nonce;
    const r = await enigm(
      'posture',
      'report',
      '--once',
      '--config',
      file,
      '--nonce',
      nonce,
      '--out',
      join(dir, 'c.cbor'),
      '--json',
    );
    t.is(r.code, 0, r.stderr);
    t.is((JSON.parse(r.stdout) as { from: string; trigger: string }).trigger, 'challenge');
    const key = Buffer.from(agent.state.publicKey).toString('hex');
    const v = await enigm(
      'posture',
      'verify',
      '--evidence',
      join(dir, 'c.cbor'),
      '--agent-key',
      key,
      '--require-challenge',
      '--state',
      state,
      '--json',
    );
    const vj = JSON.parse(v.stdout) as { decision: string; checks: { name: string; status: string }[] };
    t.is(vj.checks.find((c) => c.name === 'challenge')?.status, 'affirming');
    t.is(vj.decision, 'trusted', JSON.stringify(vj.checks));
    t.is(v.code, 0);
    const again = await enigm(
      'posture',
      'verify',
      '--evidence',
      join(dir, 'c.cbor'),
      '--agent-key',
      key,
      '--state',
      state,
      '--json',
    );
    t.is((JSON.parse(again.stdout) as { decision: string }).decision, 'untrusted');
    t.is((await enigm('posture', 'report', '--once', '--config', file, '--nonce', 'zz')).code, 2);
  },
);

test.serial('usage errors exit 2; --help shows examples', async (t) => {
  t.is((await enigm('posture', 'report', '--config', configFile)).code, 2);
  t.is((await enigm('posture', 'verify', '--evidence', 'x')).code, 2);
  t.is((await enigm('posture', 'verify', '--evidence', 'x', '--agent-key', 'zz')).code, 2);
  t.is((await enigm('posture', 'agent')).code, 2);
  t.is((await enigm('posture', 'status', '--socket', 'a', '--config', 'b')).code, 2);
  const h = await enigm('posture', 'verify', '--help');
  t.is(h.code, 0);
  t.regex(h.stdout, /Example/);
  const bad = await enigm('posture', 'report', '--once', '--config', join(dir, 'missing.json'));
  t.is(bad.code, 1);
  t.regex(bad.stderr, /CONFIG_INVALID/);
});

test.serial(
  'enigm posture agent --config runs the agent as a process: the local API answers, SIGTERM stops it with exit 0',
  async (t) => {
    const own = { ...config, stateDir: join(dir, 'state3'), apiSocket: join(dir, 'api3.sock'), reportIntervalS: 60 };
    const file = join(dir, 'agent3.json');
    writeFileSync(file, JSON.stringify(own));
    const enigmTs = fileURLToPath(new URL('../src/enigm.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', enigmTs, 'posture', 'agent', '--config', file], {
      stdio: 'ignore',
    });
    const cancel = killAfter(child, 60_000);
    t.teardown(async () => {
      cancel();
      await stopChild(child, { graceMs: 5000 }).catch(() => undefined);
    });
    let status: Record<string, unknown> | undefined;
    const end = Date.now() + 30_000;
    while (!status && Date.now() < end) {
      status = (await queryAgent(own.apiSocket, 'status').catch(() => undefined)) as Record<string, unknown> | undefined;
      if (!status?.lastReport) {
        status = undefined;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    t.is(status?.handle, handle);
    t.is((status?.lastReport as { trigger: string } | undefined)?.trigger, 'start');
    t.is(await stopChild(child, { graceMs: 20_000 }), 0);
  },
);
