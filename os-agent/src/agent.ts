/**
 * The Enigm OS posture agent: collects signals (the collectors of `collect/`), evaluates the held
 * policy, builds signed quote-bound reports, publishes them through the durable outbox, answers
 * challenges and policy updates from the broker, and serves the local API.
 *
 * Reports are made: at start; every `reportIntervalS` plus a uniform jitter in [0, `jitterS`]
 * (so a fleet that restarts together spreads out); when a change check (every `changeCheckS`)
 * sees a signal's status or value differ from the last report; and for each challenge that
 * arrives on the device's challenge topic (at most 4 waiting, more are dropped). One report is
 * made at a time. Nothing here throws to the event loop: a failed report is logged and the next
 * one is tried on schedule.
 *
 * Logs are JSON lines with an event name and counters — never signal values, reasons, payloads,
 * paths, hostnames or key material.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseAssociationHandle } from '@enigm/attestation';
import { toHex } from '@enigm/protocols/bytes';
import { encode } from '@enigm/protocols/cbor';
import { sealUplink } from '@enigm/protocols/mqtt';
import { ReportSignal, SIGNAL_VALUE_TYPE, type SignalValue } from '@enigm/protocols/posture';
import { ApiServer } from './api/server.ts';
import { activeDefenseCollector, linuxCollectors, osdCollector } from './collect/index.ts';
import type { AgentConfig } from './config.ts';
import { AgentError } from './errors.ts';
import { evaluatePolicy, GraceTracker } from './policy/evaluate.ts';
import { PolicyStore } from './policy/store.ts';
import { PosturePublisher, type PublisherEvent } from './publish/publisher.ts';
import { type BuiltReport, buildReport, toReportSignal } from './report/report.ts';
import { type Collector, collectAll, type PcrBank, type Signal } from './signals.ts';
import { AgentState } from './state.ts';
import { type QuoteSource, TpmQuoteSource } from './tpm/quote-source.ts';
import { AGENT_VERSION } from './version.ts';

/** A log line: an event name and small fields (counts, codes, states). */
export type LogLine = { readonly event: string } & Readonly<Record<string, string | number | boolean>>;

/** Log levels of the agent, quietest first (the same names as the simulator's and the CLI's). */
export const AGENT_LOG_LEVELS = ['silent', 'error', 'warn', 'info', 'debug'] as const;

/** A log level; `silent` logs nothing. */
export type AgentLogLevel = (typeof AGENT_LOG_LEVELS)[number];

/** Events not at `info`. */
const EVENT_LEVELS: Readonly<Record<string, Exclude<AgentLogLevel, 'silent'>>> = {
  'report-failed': 'error',
  'broker-retry': 'warn',
  'broker-disconnected': 'warn',
  'outbox-dropped': 'warn',
  'policy-refused': 'warn',
  'policy-set-aside': 'warn',
  'challenge-dropped': 'warn',
  'broker-delivered': 'debug',
};

/**
 * The level of a log line: failures `error`, bounds and refusals `warn`, each delivery `debug`,
 * the rest `info`; a certificate line is `warn` unless its status is `ok` or `none`.
 * @throws never
 */
export function logLineLevel(line: LogLine): Exclude<AgentLogLevel, 'silent'> {
  if (line.event === 'certificate') return line.status === 'ok' || line.status === 'none' ? 'info' : 'warn';
  return EVENT_LEVELS[line.event] ?? 'info';
}

/**
 * A log sink writing the lines at `level` and below as JSON lines `{ t, level, event, … }`.
 * @param level - e.g. from `enigm posture agent --log-level`; the config's `log: quiet` is `silent`
 * @param write - receives each line with its newline (default stderr)
 * @example PostureAgent.start(config, { log: jsonLogSink('debug') })
 */
export function jsonLogSink(
  level: AgentLogLevel,
  write: (text: string) => void = (text) => void process.stderr.write(text),
): (line: LogLine) => void {
  const rank = AGENT_LOG_LEVELS.indexOf(level);
  return (line) => {
    const at = logLineLevel(line);
    if (AGENT_LOG_LEVELS.indexOf(at) <= rank) write(`${JSON.stringify({ t: new Date().toISOString(), level: at, ...line })}\n`);
  };
}

/** Injected dependencies (all optional). */
export interface AgentDeps {
  /** Wall clock, ms (default Date.now). */
  readonly now?: () => number;
  /** Monotonic clock, ms (default performance.now). */
  readonly mono?: () => number;
  /** Random bytes (default crypto.randomBytes). */
  readonly random?: (n: number) => Uint8Array;
  /** Uniform in [0, 1) for jitter (default Math.random). */
  readonly rand?: () => number;
  /** Collectors (default: the Enigm OS daemon collector when configured, and the Linux collectors). */
  readonly collectors?: readonly Collector[];
  /** The TPM (default from `config.tpm`; `null` disables binding). */
  readonly quotes?: QuoteSource | null;
  /** Log sink (default JSON lines on stderr, unless `log: quiet`). */
  readonly log?: (line: LogLine) => void;
  /** Do not start the timers (tests drive `reportNow`). */
  readonly manual?: boolean;
}

/** The latest report and what it was made from. */
interface Latest {
  readonly built: BuiltReport;
  readonly signals: readonly Signal[];
}

/** Fingerprint of what a change check compares: status and value of every signal. */
function fingerprint(signals: readonly Signal[]): string {
  return signals
    .map(
      (s) => `${s.name}:${s.status}:${s.status === 'ok' ? toHex(encode(SIGNAL_VALUE_TYPE.toCbor(s.value as SignalValue))) : ''}`,
    )
    .join('|');
}

/** The running agent. */
export class PostureAgent {
  readonly config: AgentConfig;
  readonly state: AgentState;
  readonly #d: Required<Omit<AgentDeps, 'quotes' | 'manual'>> & { quotes: QuoteSource | undefined; manual: boolean };
  readonly #handle: Uint8Array;
  readonly #policy: PolicyStore;
  readonly #grace = new GraceTracker();
  #publisher: PosturePublisher | undefined;
  #api: ApiServer | undefined;
  #latest: Latest | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #waiting = 0;
  #timers = new Set<NodeJS.Timeout>();
  #stopped = false;
  #reports = 0;

  private constructor(config: AgentConfig, deps: AgentDeps) {
    this.config = config;
    this.#handle = parseAssociationHandle(config.handle);
    const random = deps.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
    this.state = AgentState.open(config.stateDir, random);
    this.#policy = new PolicyStore(this.state.path('policy'), config.policyKeys);
    const quotes =
      deps.quotes === null || (deps.quotes === undefined && config.tpm === 'off')
        ? undefined
        : (deps.quotes ?? new TpmQuoteSource({ spec: config.tpm, akBlobPath: this.state.path('ak'), pcrs: config.pcrs }));
    this.#d = {
      now: deps.now ?? Date.now,
      mono: deps.mono ?? (() => Math.floor(performance.now())),
      random,
      rand: deps.rand ?? Math.random,
      collectors: deps.collectors ?? defaultCollectors(config, quotes instanceof TpmQuoteSource ? quotes : undefined),
      quotes,
      log: deps.log ?? jsonLogSink(config.log === 'quiet' ? 'silent' : 'info'),
      manual: deps.manual === true,
    };
  }

  /**
   * Starts the agent: state, policy, publisher, local API, the first report and the timers.
   * @throws {@link AgentError} `STATE_*`, `PUBLISH_FAILED` (outbox), `API_UNAVAILABLE`
   */
  static async start(config: AgentConfig, deps: AgentDeps = {}): Promise<PostureAgent> {
    const agent = new PostureAgent(config, deps);
    const why = agent.#policy.load();
    agent.#log({ event: 'start', version: AGENT_VERSION, seq: agent.state.seq, policy: agent.#policy.policy !== undefined });
    if (why) agent.#log({ event: 'policy-set-aside' });
    try {
      if (config.mqtt) agent.#publisher = await agent.#openPublisher(config.mqtt);
      agent.#api = await ApiServer.start(config.apiSocket, (op, nonce) => agent.#answer(op, nonce));
    } catch (e) {
      await agent.stop();
      throw e;
    }
    if (!agent.#d.manual) {
      void agent.reportNow('start');
      agent.#schedulePeriodic();
      agent.#scheduleChangeCheck();
    }
    return agent;
  }

  async #openPublisher(m: NonNullable<AgentConfig['mqtt']>): Promise<PosturePublisher> {
    const file = (p: string | undefined) => (p === undefined ? undefined : readFileSync(p, 'utf8'));
    const tls = { ca: file(m.ca), cert: file(m.cert), key: file(m.key) };
    return PosturePublisher.open({
      link: {
        url: m.url,
        // the broker username is the handle (under mutual TLS the certificate CN, which is the handle)
        username: this.config.handle,
        tls: Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined)),
        certWarnDays: m.certWarnDays,
        now: this.#d.now,
      },
      handle: this.config.handle,
      outboxPath: this.state.path('outbox'),
      ...this.config.outbox,
      random: this.#d.rand,
      now: this.#d.now,
      certWarnDays: m.certWarnDays,
      onChallenge: (nonce) => this.#challenge(nonce),
      onPolicy: (doc) => this.#offerPolicy(doc),
      onEvent: (e) => this.#publisherEvent(e),
    });
  }

  #log(line: LogLine): void {
    try {
      this.#d.log(line);
    } catch {
      // logging never stops the agent
    }
  }

  #publisherEvent(e: PublisherEvent): void {
    if (e.kind === 'certificate') this.#log({ event: 'certificate', status: e.state.status, daysLeft: e.state.daysLeft ?? -1 });
    else if (e.kind === 'retry') this.#log({ event: 'broker-retry', delayMs: e.delayMs, code: e.code });
    else if (e.kind === 'dropped') this.#log({ event: 'outbox-dropped', count: e.count, reason: e.reason });
    else if (e.kind === 'delivered') this.#log({ event: 'broker-delivered', pending: e.pending });
    else this.#log({ event: `broker-${e.kind}` });
  }

  #challenge(nonce: Uint8Array): void {
    if (this.#waiting >= 4) {
      this.#log({ event: 'challenge-dropped' });
      return;
    }
    this.#log({ event: 'challenge' });
    void this.reportNow('challenge', nonce);
  }

  #offerPolicy(doc: Uint8Array): void {
    const r = this.#policy.offer(doc);
    if (r.accepted) {
      this.#grace.reset();
      this.#log({ event: 'policy-accepted', version: r.policy.version });
      void this.reportNow('change');
    } else this.#log({ event: 'policy-refused' });
  }

  /**
   * Offers a policy document (from a file or the broker). The previous policy stays on refusal.
   * @returns whether it was accepted, and why not
   */
  offerPolicy(doc: Uint8Array): { accepted: boolean; reason?: string } {
    const r = this.#policy.offer(doc);
    if (r.accepted) this.#grace.reset();
    return r.accepted ? { accepted: true } : { accepted: false, reason: r.reason };
  }

  #later(ms: number, fn: () => void): void {
    if (this.#stopped) return;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #schedulePeriodic(): void {
    const intervalS = this.#policy.policy?.reportIntervalS ?? this.config.reportIntervalS;
    const ms = intervalS * 1000 + Math.floor(this.#d.rand() * this.config.jitterS * 1000);
    this.#later(ms, () => {
      void this.reportNow('periodic').finally(() => this.#schedulePeriodic());
    });
  }

  #scheduleChangeCheck(): void {
    this.#later(this.config.changeCheckS * 1000, () => {
      void this.#changeCheck().finally(() => this.#scheduleChangeCheck());
    });
  }

  async #changeCheck(): Promise<void> {
    const signals = await this.#collect();
    if (this.#latest && fingerprint(signals) !== fingerprint(this.#latest.signals))
      await this.reportNow('change', undefined, signals);
  }

  #collect(): Promise<Signal[]> {
    return collectAll(this.#d.collectors, { now: this.#d.mono, timeoutMs: this.config.collectTimeoutMs });
  }

  /**
   * Makes one report now (after any report in progress), queues it for publishing and keeps it
   * as the latest. Never rejects: a failure is logged and returns undefined.
   */
  reportNow(
    trigger: 'start' | 'periodic' | 'change' | 'challenge' | 'request',
    nonce?: Uint8Array,
    collected?: Signal[],
  ): Promise<BuiltReport | undefined> {
    this.#waiting++;
    const run = this.#chain.then(async () => {
      this.#waiting--;
      if (this.#stopped) return undefined;
      try {
        return await this.#report(trigger, nonce, collected);
      } catch (e) {
        this.#log({ event: 'report-failed', code: (e as { code?: string }).code ?? 'error' });
        return undefined;
      }
    });
    this.#chain = run;
    return run;
  }

  async #report(
    trigger: 'start' | 'periodic' | 'change' | 'challenge' | 'request',
    nonce: Uint8Array | undefined,
    collected: Signal[] | undefined,
  ): Promise<BuiltReport> {
    const signals = collected ?? (await this.#collect());
    const mono = this.#d.mono();
    const policy = this.#policy.policy;
    const compliance = evaluatePolicy(policy, signals, mono, this.#grace);
    const cert = this.#publisher?.status().certificate;
    const reasons = [...compliance.reasons];
    if (cert && cert.status !== 'ok' && cert.status !== 'none')
      reasons.push({ signal: 'mqtt.certificate', code: cert.status, message: `client certificate ${cert.status}` });
    const built = await buildReport(
      {
        signals,
        monoMs: mono,
        wallMs: this.#d.now(),
        runId: this.state.runId,
        seq: this.state.nextSeq(),
        id: this.#d.random(16),
        trigger,
        version: AGENT_VERSION,
        compliance: { decision: compliance.decision, reasons: reasons.slice(0, 64) },
        ...(policy ? { policy: { id: policy.id, version: policy.version } } : {}),
        ...(nonce ? { nonce } : {}),
      },
      { seed: this.state.seed, publicKey: this.state.publicKey, handle: this.#handle },
      this.#d.quotes,
    );
    this.#latest = { built, signals };
    this.#reports++;
    if (this.#publisher) await this.#publisher.enqueue(built.evidence, built.claims.id);
    this.#log({
      event: 'report',
      seq: built.claims.seq,
      trigger,
      tpm: built.binding,
      decision: built.claims.compliance.decision,
      queued: this.#publisher !== undefined,
    });
    if (this.#publisher) await this.#publishRisk(built, signals, mono);
    return built;
  }

  async #publishRisk(built: BuiltReport, signals: readonly Signal[], mono: number): Promise<void> {
    const allowed = new Set(this.#policy.policy?.riskSignals ?? []);
    if (allowed.size === 0 || !this.#publisher) return;
    const risk = signals.filter((s) => allowed.has(s.name)).map((s) => ReportSignal.toMap(toReportSignal(s, mono)));
    if (risk.length === 0) return;
    const id = this.#d.random(16);
    const payload = sealUplink(
      { id, seq: built.claims.seq, time: built.claims.wallMs, kind: 'posture.risk', priority: 'normal', body: encode(risk) },
      this.config.handle,
      'risk',
      { seed: this.state.seed },
    );
    await this.#publisher.enqueue(payload, id, 'risk');
  }

  /** The view the local API serves. */
  #answer(op: 'status' | 'report' | 'challenge', nonce?: Uint8Array): unknown {
    if (op === 'challenge') return this.#answerChallenge(nonce as Uint8Array);
    const l = this.#latest;
    if (op === 'report') {
      if (!l) throw new AgentError('REPORT_NOT_READY', 'no report made yet');
      return { evidence: l.built.evidence };
    }
    const c = l?.built.claims;
    const policy = this.#policy.policy;
    return {
      handle: this.config.handle,
      version: AGENT_VERSION,
      reports: this.#reports,
      policy: policy ? { id: policy.id, version: policy.version } : null,
      compliance: c ? { decision: c.compliance.decision, reasons: c.compliance.reasons } : null,
      lastReport: c ? { seq: c.seq, trigger: c.trigger, wallMs: c.wallMs, tpm: c.tpm.binding } : null,
      signals: c ? c.signals : [],
      publisher: this.#publisher ? this.#publisher.status() : null,
    };
  }

  async #answerChallenge(nonce: Uint8Array): Promise<unknown> {
    if (this.#waiting >= 4) throw new AgentError('REPORT_NOT_READY', 'too many reports waiting; try again');
    this.#log({ event: 'challenge', from: 'api' });
    const built = await this.reportNow('challenge', nonce);
    if (!built) throw new AgentError('REPORT_FAILED', 'the report could not be made');
    return { evidence: built.evidence };
  }

  /** The local API's status body (last report, compliance, policy, signals, publisher). */
  status(): Record<string, unknown> {
    return this.#answer('status') as Record<string, unknown>;
  }

  /** The publisher, when MQTT is configured. */
  get publisher(): PosturePublisher | undefined {
    return this.#publisher;
  }

  /** Stops timers, waits for the report in progress, closes the API and the publisher. Bounded. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await Promise.race([this.#chain, new Promise((r) => setTimeout(r, 15_000).unref())]);
    await this.#api?.close();
    await this.#publisher?.close();
    this.#log({ event: 'stop' });
  }
}

/**
 * The collectors for a configuration: the Enigm OS daemon (when configured), every plain-Linux
 * collector (under `linuxRoot`; PCR banks from the TPM when one is configured) and Active Defense
 * findings (when a findings file is configured).
 */
export function defaultCollectors(config: AgentConfig, tpm?: TpmQuoteSource): Collector[] {
  const out: Collector[] = [];
  if (config.daemonSocket !== null) out.push(osdCollector({ socketPath: config.daemonSocket }));
  out.push(
    ...linuxCollectors({
      root: config.linuxRoot,
      ...(tpm ? { pcrBanks: async () => (await tpm.pcrBanks()) as PcrBank[] } : {}),
    }),
  );
  if (config.activeDefenseFile) out.push(activeDefenseCollector({ path: config.activeDefenseFile }));
  return out;
}
