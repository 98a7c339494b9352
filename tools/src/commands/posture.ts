/**
 * `enigm posture agent|report|status|verify`: run the Enigm OS posture agent, print one report,
 * ask a running agent's local API, and appraise a report with its quote against the verifier
 * state. Thin: parse arguments, call `@enigm/os-agent/service` or `@enigm/attestation`, render.
 * @module
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { appraisePostureReport, defaultVerifierStatePath, isAssociationHandle, VerifierStore } from '@enigm/attestation';
import { jsonLogSink, queryAgent, readAgentConfig, reportOnce, runAgentProcess } from '@enigm/os-agent/service';
import { fromHex, toHex } from '@enigm/protocols/bytes';
import { ed25519PublicKeyFromPem } from '@enigm/protocols/crypto';
import { formatAssociationHandle } from '@enigm/protocols/handle';
import { decodePostureEvidence, handleOfUeid, peekPostureClaims } from '@enigm/protocols/posture';
import {
  type Command,
  EXIT,
  int,
  logLevel,
  logOptionsHelp,
  type Output,
  type ParsedArgs,
  readInputFile,
  readTextFile,
  str,
  UsageError,
  writeOutputFile,
} from '../cli.ts';
import { postureBackendCommands } from './posture-backend.ts';

const DEFAULT_SOCKET = '/run/enigm-posture/api.sock';

function configArg(args: ParsedArgs, required: boolean): string | undefined {
  const c = str(args, 'config');
  if (required && !c) throw new UsageError('--config FILE is required');
  return c;
}

const agentCmd: Command = {
  name: 'posture agent',
  summary: 'run the Enigm OS posture agent (collect, sign, quote, publish, local API) until SIGTERM',
  help: `Usage: enigm posture agent --config FILE [--log-level L | --verbose]

Runs the posture agent in the foreground: collects posture signals (the Enigm OS daemon when
configured, plain-Linux collectors), evaluates the signed policy it holds, makes a signed report
at start, every reportIntervalS (+ jitter) and on change, binds each to a TPM quote, queues it in
the durable outbox and publishes it over MQTT; answers challenges from the broker and serves the
local API. Logs are JSON lines on stderr ({ t, level, event, … }). SIGTERM/SIGINT stop it cleanly.

The configuration is JSON (see os-agent/packaging/posture-agent.example.json and docs/posture.md).

${logOptionsHelp('info', 'starts, reports, policy and broker events; error: failed reports; warn: retries, refusals, drops; debug: each delivery')}
                  (default: the config's "log", info or quiet = silent)

Exit: 0 stopped cleanly, 1 a bad configuration or a failure at start, 2 usage error.

Example:
  enigm posture agent --config /etc/enigm/posture-agent.json`,
  options: { config: { type: 'string' } },
  longRunning: true,
  async run(args) {
    const level = str(args, 'log-level') !== undefined || args.values.verbose === true ? logLevel(args, 'info') : undefined;
    return runAgentProcess(configArg(args, true) as string, level === undefined ? {} : { log: jsonLogSink(level) });
  },
};

function summary(evidence: Uint8Array): Record<string, unknown> {
  const ev = decodePostureEvidence(evidence);
  const c = peekPostureClaims(ev.report);
  return {
    handle: formatAssociationHandle(handleOfUeid(c.ueid)),
    seq: c.seq,
    id: toHex(c.id),
    trigger: c.trigger,
    wallTime: new Date(c.wallMs).toISOString(),
    tpm: c.tpm.binding,
    quote: ev.quote !== undefined,
    policy: c.policy ?? null,
    compliance: c.compliance,
    signals: c.signals,
  };
}

const reportCmd: Command = {
  name: 'posture report',
  summary: 'print one signed posture report (the running agent’s latest, else one made now)',
  help: `Usage: enigm posture report --once --config FILE [--nonce HEX] [--out F] [--json]

Prints one report: the latest of the agent running on the configured API socket, or, when none
runs, one made now with the configured collectors, policy and TPM and signed with the agent's
key from its state folder (not published). --nonce HEX (8..64 bytes, e.g. from 'enigm attest
challenge --for device-posture') asks for a fresh report answering that challenge, quote-bound
to it (from the running agent when there is one). --out F writes the evidence (signed report + quote,
CBOR) for 'enigm posture verify'. --json prints the decoded claims and the evidence in hex.

Exit: 0 a report was printed, 1 it could not be made, 2 usage error.

Examples:
  enigm posture report --once --config agent.json --out report.cbor
  enigm posture report --once --config agent.json --nonce $(enigm attest challenge --for device-posture) --out r.cbor`,
  options: { once: { type: 'boolean' }, config: { type: 'string' }, out: { type: 'string' }, nonce: { type: 'string' } },
  async run(args, out) {
    if (args.values.once !== true) throw new UsageError('--once is required (the agent makes periodic reports itself)');
    const hex = str(args, 'nonce');
    if (hex !== undefined && !/^([0-9a-fA-F]{2}){8,64}$/.test(hex)) throw new UsageError('--nonce must be 8..64 bytes of hex');
    const config = readAgentConfig(configArg(args, true) as string);
    const r = await reportOnce(config, hex ? { nonce: fromHex(hex.toLowerCase()) } : {});
    const file = str(args, 'out');
    if (file) writeOutputFile(file, r.evidence, '--out');
    const s = summary(r.evidence);
    out.data({ ok: true, from: r.from, ...s, evidence: r.evidence, ...(r.agentKey ? { agentKey: r.agentKey } : {}) });
    out.line(`report ${s.seq} for ${s.handle} (${r.from === 'agent' ? 'from the running agent' : 'made now'}), ${s.trigger}`);
    out.line(`  compliance: ${(s.compliance as { decision: string }).decision}; TPM: ${s.tpm}`);
    signalLines(out, s.signals as SignalLine[]);
    if (file) out.line(`evidence written to ${file}`);
    return EXIT.ok;
  },
};

/** A signal as reports and the local API render it (value when ok, the reason when unknown). */
interface SignalLine {
  name: string;
  status: string;
  value?: unknown;
  reason?: string;
}

/** One line per signal: name, then its value or `unknown (reason)`. */
function signalLines(out: Output, signals: readonly SignalLine[]): void {
  for (const sig of signals)
    out.line(`  ${sig.name.padEnd(24)} ${sig.status === 'ok' ? JSON.stringify(sig.value) : `unknown (${sig.reason})`}`);
}

const statusCmd: Command = {
  name: 'posture status',
  summary: 'ask the running posture agent (local API) for the current posture and compliance',
  help: `Usage: enigm posture status [--socket PATH | --config FILE] [--timeout MS] [--json]

Asks the local API of a running agent (a Unix socket, CBOR) for its current posture: the last
report, the compliance decision with reasons, the policy held, each signal, and the publisher
(connected, pending reports, certificate state).

--socket PATH   the API socket (default: apiSocket of --config, else ${DEFAULT_SOCKET})

Exit: 0 the agent answered, 1 no agent answers (or it answered an error), 2 usage error.

Example:
  enigm posture status --config /etc/enigm/posture-agent.json --json`,
  options: { socket: { type: 'string' }, config: { type: 'string' }, timeout: { type: 'string' } },
  async run(args, out) {
    const config = configArg(args, false);
    if (config && str(args, 'socket')) throw new UsageError('give --socket or --config, not both');
    const socket = str(args, 'socket') ?? (config ? readAgentConfig(config).apiSocket : DEFAULT_SOCKET);
    const s = (await queryAgent(socket, 'status', { timeoutMs: int(args, 'timeout', 5000, 100, 60_000) })) as Record<
      string,
      unknown
    >;
    out.data({ ok: true, ...s });
    const c = s.compliance as { decision: string; reasons: { signal: string; code: string; message: string }[] } | null;
    const last = s.lastReport as { seq: number; trigger: string; tpm: string } | null;
    const pub = s.publisher as { connected: boolean; pending: number; certificate: { status: string } } | null;
    out.line(`device ${s.handle} (agent ${s.version}), ${s.reports} report(s) this run`);
    out.line(`compliance: ${c ? c.decision : 'no report yet'}`);
    for (const r of c?.reasons ?? []) out.line(`  ${r.signal}: ${r.code} — ${r.message}`);
    if (last) out.line(`last report: seq ${last.seq}, ${last.trigger}, TPM ${last.tpm}`);
    out.line(
      pub
        ? `broker: ${pub.connected ? 'connected' : 'not connected'}, ${pub.pending} pending, certificate ${pub.certificate.status}`
        : 'broker: not configured',
    );
    if (Array.isArray(s.signals)) {
      out.line('signals:');
      signalLines(out, s.signals as SignalLine[]);
    }
    return EXIT.ok;
  },
};

function agentKeyArg(args: ParsedArgs): Uint8Array {
  const hex = str(args, 'agent-key');
  const file = str(args, 'agent-key-file');
  if ((hex === undefined) === (file === undefined))
    throw new UsageError('give exactly one of --agent-key HEX and --agent-key-file PEM');
  if (hex !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new UsageError('--agent-key must be 64 hex digits (an Ed25519 public key)');
    return fromHex(hex.toLowerCase());
  }
  try {
    return ed25519PublicKeyFromPem(readTextFile(file as string, '--agent-key-file'));
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('INPUT_')) throw e;
    throw new UsageError('--agent-key-file is not an Ed25519 public key PEM');
  }
}

const verifyCmd: Command = {
  name: 'posture verify',
  summary: 'appraise a posture report with its TPM quote: trusted, untrusted or unknown, with every check',
  help: `Usage: enigm posture verify --evidence F (--agent-key HEX | --agent-key-file PEM)
                           [--handle eh1-…] [--ak-name HEX[,HEX]] [--pcrs 0,7] [--require-quote]
                           [--require-challenge] [--max-age S] [--state F] [--json]

Appraises posture evidence (written by 'enigm posture report --once --out F', or received on
enigm/v1/key/{handle}/posture) against the agent's Ed25519 public key and the verifier state.
The signed report and its quote are appraised together: the quote's nonce must be the digest of
the report's claims. A report answering a challenge ('enigm attest challenge --for
device-posture') consumes it; each agent's sequence must increase (replays refused); a report
not bound to a challenge must be younger than --max-age (default 900 s) by the device clock.

Checks: evidence, signature, device, challenge, sequence, freshness, quote, compliance
(see docs/posture.md). The decision: trusted, untrusted (tampering, replay, noncompliance) or
unknown (stale, no policy, quote required but the TPM is absent).

--ak-name HEX   trusted AK Names (from enrolment); without, the AK is not pinned (a warning)
--pcrs LIST     PCRs the quote must cover (default: those it names)
--state F       verifier state (default $ENIGM_HOME/attest-verifier.json), shared with enigm attest

Exit: 0 trusted, 1 untrusted or unknown (or an unreadable input), 2 usage error.

Example:
  enigm posture verify --evidence report.cbor --agent-key-file agent.pub.pem --handle eh1-… --json`,
  options: {
    evidence: { type: 'string' },
    'agent-key': { type: 'string' },
    'agent-key-file': { type: 'string' },
    handle: { type: 'string' },
    'ak-name': { type: 'string' },
    pcrs: { type: 'string' },
    'require-quote': { type: 'boolean' },
    'require-challenge': { type: 'boolean' },
    'max-age': { type: 'string' },
    state: { type: 'string' },
  },
  async run(args, out) {
    const file = str(args, 'evidence');
    if (!file) throw new UsageError('--evidence F is required');
    const agentKey = agentKeyArg(args);
    const handle = str(args, 'handle');
    if (handle !== undefined && !isAssociationHandle(handle)) throw new UsageError('--handle must be a device handle eh1-…');
    const akNames = str(args, 'ak-name')
      ?.split(',')
      .map((s) => s.trim().toLowerCase());
    if (akNames?.some((n) => !/^([0-9a-f]{2})+$/.test(n)))
      throw new UsageError('--ak-name must be hex AK Names, comma-separated');
    const maxAgeMs = int(args, 'max-age', 900, 1, 7 * 86_400) * 1000;
    const pcrText = str(args, 'pcrs');
    const pcrs = pcrText?.split(',').map((p) => Number(p.trim()));
    if (pcrs?.some((p) => !Number.isInteger(p) || p < 0 || p > 23))
      throw new UsageError('--pcrs must be PCR indices 0..23, comma-separated');
    const evidence = readInputFile(file, '--evidence');
    const given = str(args, 'state');
    const path = given ?? defaultVerifierStatePath();
    if (!given) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const r = await appraisePostureReport(VerifierStore.file(path), {
      evidence,
      agentKey,
      maxAgeMs,
      ...(handle ? { handle } : {}),
      ...(akNames ? { akNames } : {}),
      ...(pcrs ? { pcrs } : {}),
      ...(args.values['require-quote'] === true ? { requireQuote: true } : {}),
      ...(args.values['require-challenge'] === true ? { requireChallenge: true } : {}),
    });
    out.data({
      ok: r.trust.decision === 'trusted',
      decision: r.trust.decision,
      reasons: r.trust.reasons,
      status: r.status,
      checks: r.checks,
      handle: r.handle ?? null,
      reportId: r.reportId ?? null,
    });
    out.line(`${r.trust.decision}${r.handle ? ` (${r.handle})` : ''}`);
    for (const c of r.checks) out.line(`  ${c.name.padEnd(11)} ${c.status.padEnd(15)} ${c.reason}`);
    return r.trust.decision === 'trusted' ? EXIT.ok : EXIT.failure;
  },
};

/** Commands under `enigm posture`. */
export const postureCommands: Command[] = [agentCmd, reportCmd, statusCmd, verifyCmd, ...postureBackendCommands];
