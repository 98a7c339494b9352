/**
 * `enigm posture challenge|watch`: the backend side of posture over MQTT. `challenge` issues a
 * single-use `device-posture` challenge in the verifier state and sends its nonce on the device's
 * challenge topic; `watch` reads the fleet's posture topic as a backend, drops duplicates by report
 * id, appraises every report with its quote against the enrolled agent keys and the verifier state,
 * and prints the device-trust decision of each. Thin: `@enigm/mqtt` + `@enigm/attestation`.
 * @module
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { appraisePostureReport, defaultVerifierStatePath, isAssociationHandle, VerifierStore } from '@enigm/attestation';
import { Deduplicator, MqttLink } from '@enigm/mqtt';
import { fromHex } from '@enigm/protocols/bytes';
import { fleetFilter, keyTopic, parseKeyTopic } from '@enigm/protocols/mqtt';
import { decodePostureEvidence, peekPostureClaims } from '@enigm/protocols/posture';
import { BROKER_HELP, brokerFromArgs, brokerOptions } from '../broker-options.ts';
import {
  CliError,
  type Command,
  EXIT,
  int,
  logLevel,
  logOptionsHelp,
  type ParsedArgs,
  readJsonFile,
  stderrLogger,
  str,
  UsageError,
} from '../cli.ts';

function stateStore(args: ParsedArgs): VerifierStore {
  const given = str(args, 'state');
  const path = given ?? defaultVerifierStatePath();
  if (!given) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  return VerifierStore.file(path);
}

async function connect(args: ParsedArgs): Promise<MqttLink> {
  const b = brokerFromArgs(args);
  return MqttLink.connect({
    url: b.url,
    ...(b.tls ? { tls: b.tls } : {}),
    username: b.client ?? 'backend-posture',
    connectTimeoutMs: 10_000,
  });
}

const challengeCmd: Command = {
  name: 'posture challenge',
  summary: 'send a device a single-use challenge over MQTT: it answers with a fresh quote-bound report',
  help: `Usage: enigm posture challenge --broker URL [--ca F --cert F --key F] [--client NAME]
                              --handle eh1-… [--ttl S] [--state F] [--json]

Issues a single-use device-posture challenge in the verifier state (as 'enigm attest challenge
--for device-posture') and publishes its nonce on enigm/v1/key/{handle}/challenge. The agent
answers on its posture topic with a report carrying the nonce, bound to a fresh TPM quote; read
it with 'enigm posture watch' (same --state), which consumes the challenge.

${BROKER_HELP}
  --ttl S         how long the challenge stays valid (default 300)

Exit: 0 sent, 1 the broker refused or could not be reached, 2 usage error.

Example:
  enigm posture challenge --broker mqtts://broker:8883 --ca ca.pem --cert backend.crt --key backend.key --handle eh1-…`,
  options: { ...brokerOptions, handle: { type: 'string' }, ttl: { type: 'string' }, state: { type: 'string' } },
  async run(args, out) {
    const handle = str(args, 'handle');
    if (!isAssociationHandle(handle)) throw new UsageError('--handle eh1-… is required');
    const ttlMs = int(args, 'ttl', 300, 1, 86_400) * 1000;
    const link = await connect(args);
    try {
      const c = await stateStore(args).issueChallenge('device-posture', { ttlMs });
      await link.publish(keyTopic(handle, 'challenge'), fromHex(c.nonce), { qos: 1 });
      out.data({ ok: true, handle, nonce: c.nonce, expires: new Date(c.expiresAt).toISOString() });
      out.line(c.nonce);
      if (!out.json) out.warn(`sent to ${handle}; single use, expires ${new Date(c.expiresAt).toISOString()}`);
      return EXIT.ok;
    } finally {
      await link.close();
    }
  },
};

/** The enrolled agents: handle → agent key (and trusted AK Names). */
function agentsArg(args: ParsedArgs): Map<string, { agentKey: Uint8Array; akNames?: string[] }> {
  const file = str(args, 'agents');
  if (!file) throw new UsageError('--agents FILE is required');
  const j = readJsonFile<Record<string, unknown>>(file, '--agents');
  const bad = (why: string) => new CliError('INPUT_INVALID', `--agents: ${why}`);
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw bad('not a JSON object of handle → { agentKey, akNames? }');
  const out = new Map<string, { agentKey: Uint8Array; akNames?: string[] }>();
  for (const [h, v] of Object.entries(j)) {
    const o = v as { agentKey?: unknown; akNames?: unknown };
    if (!isAssociationHandle(h)) throw bad('a key is not a device handle eh1-…');
    if (typeof o?.agentKey !== 'string' || !/^[0-9a-f]{64}$/.test(o.agentKey)) throw bad(`${h}.agentKey is not 64 hex digits`);
    if (
      o.akNames !== undefined &&
      !(Array.isArray(o.akNames) && o.akNames.every((n) => typeof n === 'string' && /^([0-9a-f]{2})+$/.test(n)))
    )
      throw bad(`${h}.akNames is not a list of hex AK Names`);
    out.set(h, { agentKey: fromHex(o.agentKey), ...(o.akNames ? { akNames: o.akNames as string[] } : {}) });
  }
  return out;
}

const watchCmd: Command = {
  name: 'posture watch',
  summary: 'read the fleet’s posture reports over MQTT, de-duplicated, appraised: a trust decision per report',
  help: `Usage: enigm posture watch --broker URL [--ca F --cert F --key F] [--client NAME] --agents FILE
                          [--handle eh1-…] [--require-quote] [--state F] [--count N] [--for S]
                          [--log-level L | --verbose] [--json]

Subscribes as a backend to enigm/v1/key/+/posture (or one --handle's), drops duplicates of
at-least-once delivery by report id, and appraises each report with its quote (as 'enigm posture
verify') against the agent keys in --agents and the verifier state: a challenge it answers is
consumed, each agent's sequence must increase. Prints one line per report (--json: one object).

--agents FILE   JSON { "eh1-…": { "agentKey": "64 hex", "akNames": ["hex", …] }, … }: the enrolled agents
${BROKER_HELP}
  --count N       stop after N reports (default: run until --for or Ctrl-C)
  --for S         stop after S seconds
${logOptionsHelp('info', 'the subscription and a count at the end; debug: duplicates dropped')}

Exit: 0 every report seen was trusted, 1 one was not (or the broker failed), 2 usage error.

Example:
  enigm posture watch --broker mqtts://broker:8883 --ca ca.pem --cert backend.crt --key backend.key --agents agents.json --json`,
  options: {
    ...brokerOptions,
    agents: { type: 'string' },
    handle: { type: 'string' },
    'require-quote': { type: 'boolean' },
    state: { type: 'string' },
    count: { type: 'string' },
    for: { type: 'string' },
  },
  longRunning: true,
  async run(args, out) {
    const log = stderrLogger(logLevel(args, 'info'));
    const agents = agentsArg(args);
    const handle = str(args, 'handle');
    if (handle !== undefined && !isAssociationHandle(handle)) throw new UsageError('--handle must be a device handle eh1-…');
    const count = int(args, 'count', 0, 0, 1_000_000);
    const forMs = int(args, 'for', 0, 0, 7 * 86_400) * 1000;
    const store = stateStore(args);
    const link = await connect(args);
    const dedup = new Deduplicator();
    let seen = 0;
    let duplicates = 0;
    let allTrusted = true;
    let chain: Promise<void> = Promise.resolve();
    let finish: () => void = () => {};
    const done = new Promise<void>((r) => {
      finish = r;
    });
    const handleReport = async (topic: string, payload: Uint8Array) => {
      const parsed = parseKeyTopic(topic);
      if (parsed?.channel !== 'posture') return;
      let id: Uint8Array;
      try {
        id = peekPostureClaims(decodePostureEvidence(payload).report).id;
      } catch {
        id = payload.slice(0, 16);
      }
      if (!dedup.fresh(id)) {
        duplicates++;
        log.debug('posture watch: a duplicate report dropped');
        return;
      }
      const agent = agents.get(parsed.handle);
      seen++;
      if (!agent) {
        allTrusted = false;
        out.data({ handle: parsed.handle, decision: 'unknown', reasons: ['not an enrolled agent'] });
        out.line(`${parsed.handle}  unknown  not an enrolled agent`);
      } else {
        const r = await appraisePostureReport(store, {
          evidence: payload,
          agentKey: agent.agentKey,
          handle: parsed.handle,
          ...(agent.akNames ? { akNames: agent.akNames } : {}),
          ...(args.values['require-quote'] === true ? { requireQuote: true } : {}),
        });
        if (r.trust.decision !== 'trusted') allTrusted = false;
        out.data({
          handle: parsed.handle,
          seq: r.claims?.seq ?? null,
          decision: r.trust.decision,
          reasons: r.trust.reasons,
          checks: r.checks,
        });
        out.line(`${parsed.handle}  seq ${r.claims?.seq ?? '?'}  ${r.trust.decision}  ${r.trust.reasons.join('; ')}`);
      }
      if (count > 0 && seen >= count) finish();
    };
    link.onMessage((topic, payload) => {
      const copy = Uint8Array.from(payload);
      chain = chain.then(() => handleReport(topic, copy)).catch(() => undefined);
    });
    const timer = forMs > 0 ? setTimeout(finish, forMs) : undefined;
    const stop = () => finish();
    process.once('SIGINT', stop);
    try {
      const filter = fleetFilter('posture', handle ? { handle } : {});
      await link.subscribe(filter, 1);
      log.info(`posture watch: watching ${filter} (Ctrl-C to stop)`);
      await done;
      await chain;
    } finally {
      clearTimeout(timer);
      process.off('SIGINT', stop);
      await link.close();
    }
    log.info(
      `posture watch: ${seen} report${seen === 1 ? '' : 's'} appraised, ${duplicates} duplicate${duplicates === 1 ? '' : 's'} dropped`,
    );
    return allTrusted ? EXIT.ok : EXIT.failure;
  },
};

/** The backend commands of `enigm posture`. */
export const postureBackendCommands: Command[] = [challengeCmd, watchCmd];
