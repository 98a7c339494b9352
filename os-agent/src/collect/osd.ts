/**
 * The Enigm OS posture daemon client and its collector: asks `enigm-osd` over its Unix socket
 * (protocol: `@enigm/protocols/posture`) for Trust Security Center posture, device-management
 * state, privacy mode, network policy, OTA verification and the remote-attestation outcome.
 *
 * Each collection opens one connection, pipelines one request per query and closes it, so a fault
 * never outlives a collection. Every request has its own time bound. A missing daemon, a slow,
 * silent, malformed or closed answer makes the affected signals unknown with a reason; nothing here
 * throws to the caller or hangs.
 * @module
 */
import { createConnection, type Socket } from 'node:net';
import {
  DAEMON_PROTOCOL_VERSION,
  DAEMON_QUERY_NAMES,
  DaemonFrameReader,
  type DaemonQuery,
  type DaemonResponse,
  type DaemonState,
  decodeDaemonResponse,
  encodeDaemonRequest,
  frameDaemonPayload,
} from '@enigm/protocols/posture';
import { AgentError, type AgentErrorCode } from '../errors.ts';
import {
  type CollectContext,
  type Collector,
  okSignal,
  type Signal,
  type SignalName,
  type SignalValues,
  unknownSignal,
} from '../signals.ts';

/** Default socket path of the Enigm OS posture daemon. */
export const OSD_DEFAULT_SOCKET = '/run/enigm/osd.sock';
/** Default time bound of one daemon request, ms. */
export const OSD_DEFAULT_TIMEOUT_MS = 1500;
/** Source label of the daemon's signals. */
export const OSD_SOURCE = 'enigm-osd';

/** The answer to one query: the daemon's response, or why there is none. */
export type OsdAnswer<Q extends DaemonQuery = DaemonQuery> =
  | { ok: true; response: DaemonResponse<Q> }
  | { ok: false; code: AgentErrorCode; reason: string };

/** Options of {@link queryOsd}. */
export interface QueryOsdOptions {
  /** Socket path (default {@link OSD_DEFAULT_SOCKET}). */
  socketPath?: string;
  /** Time bound of each request, ms (default {@link OSD_DEFAULT_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Cancels every pending request. */
  signal?: AbortSignal;
}

const REASONS: Partial<Record<AgentErrorCode, string>> = {
  DAEMON_UNAVAILABLE: 'no Enigm OS daemon',
  DAEMON_CLOSED: 'the Enigm OS daemon closed the connection before answering',
  DAEMON_PROTOCOL: 'the Enigm OS daemon sent a malformed response',
};

function connectError(err: NodeJS.ErrnoException): AgentError {
  if (err.code === 'EACCES' || err.code === 'EPERM') {
    return new AgentError('DAEMON_UNAVAILABLE', 'the Enigm OS daemon socket is not accessible to the agent');
  }
  return new AgentError('DAEMON_UNAVAILABLE', 'no Enigm OS daemon', { cause: err });
}

/**
 * Asks the daemon for each query in `queries` on one connection. Resolves with one answer per
 * query; never rejects and never waits longer than about `timeoutMs`.
 */
export function queryOsd(queries: readonly DaemonQuery[], opts: QueryOsdOptions = {}): Promise<Map<DaemonQuery, OsdAnswer>> {
  const timeoutMs = opts.timeoutMs ?? OSD_DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError('timeoutMs must be a positive number');
  const answers = new Map<DaemonQuery, OsdAnswer>();
  const pending = new Map<number, DaemonQuery>();
  const unique = [...new Set(queries)];
  if (unique.length === 0) return Promise.resolve(answers);
  return new Promise((resolve) => {
    let socket: Socket | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = () => {
      if (pending.size > 0) return;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket?.destroy();
      resolve(answers);
    };
    const failAll = (code: AgentErrorCode, reason: string) => {
      for (const q of pending.values()) if (!answers.has(q)) answers.set(q, { ok: false, code, reason });
      pending.clear();
      finish();
    };
    const onAbort = () => failAll('DAEMON_TIMEOUT', 'collection cancelled');
    if (opts.signal?.aborted) {
      for (const q of unique) answers.set(q, { ok: false, code: 'DAEMON_TIMEOUT', reason: 'collection cancelled' });
      resolve(answers);
      return;
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    unique.forEach((q, i) => {
      pending.set(i + 1, q);
    });
    // All requests start together, so one timer bounds each of them.
    timer = setTimeout(() => failAll('DAEMON_TIMEOUT', `the Enigm OS daemon did not answer within ${timeoutMs} ms`), timeoutMs);
    const reader = new DaemonFrameReader();
    const s = createConnection({ path: opts.socketPath ?? OSD_DEFAULT_SOCKET });
    socket = s;
    let connected = false;
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (connected) return failAll('DAEMON_CLOSED', REASONS.DAEMON_CLOSED as string);
      const e = connectError(err);
      failAll(e.code, e.message);
    });
    s.on('close', () => failAll('DAEMON_CLOSED', REASONS.DAEMON_CLOSED as string));
    s.on('connect', () => {
      connected = true;
      const frames = [...pending].map(([id, query]) =>
        frameDaemonPayload(encodeDaemonRequest({ version: DAEMON_PROTOCOL_VERSION, id, query })),
      );
      s.write(Buffer.concat(frames));
    });
    s.on('data', (chunk: Buffer) => {
      let responses: DaemonResponse[];
      try {
        responses = reader.push(chunk).map(decodeDaemonResponse);
      } catch (err) {
        const code = err instanceof Error && 'code' in err ? String((err as { code: unknown }).code) : 'error';
        failAll('DAEMON_PROTOCOL', `${REASONS.DAEMON_PROTOCOL} (${code})`);
        return;
      }
      for (const r of responses) {
        const q = pending.get(r.id);
        if (q === undefined || q !== r.query) {
          failAll('DAEMON_PROTOCOL', `${REASONS.DAEMON_PROTOCOL} (an answer to no pending request)`);
          return;
        }
        pending.delete(r.id);
        answers.set(q, { ok: true, response: r });
      }
      finish();
    });
  });
}

/** Which signal each daemon query gives, and how its state becomes the signal's value. */
export const OSD_SIGNALS: {
  readonly [Q in DaemonQuery]: { signal: SignalName; value(state: DaemonState<Q>): SignalValues[SignalName] };
} = {
  tsc: { signal: 'tsc.posture', value: (s) => s.level },
  mdm: { signal: 'mdm.state', value: (s) => s.state },
  privacy: { signal: 'privacy.mode', value: (s) => s.mode },
  network: {
    signal: 'network.policy',
    value: (s) => ({ vpn: s.vpn, proxy: s.proxy, torGateway: s.torGateway, esimProfile: s.esimProfile }),
  },
  ota: { signal: 'ota.verified', value: (s) => s.state },
  attestation: { signal: 'attestation.outcome', value: (s) => s.outcome },
};

/**
 * Turns one daemon answer into its signal. An `ok` state gives an `ok` signal whose `collectedAt`
 * is `now − ageMs` (the daemon's view may be older than the request); anything else gives an
 * unknown signal with the reason.
 */
export function osdSignal(query: DaemonQuery, answer: OsdAnswer | undefined, now: number): Signal {
  const { signal } = OSD_SIGNALS[query];
  const opts = { source: OSD_SOURCE, now };
  if (!answer) return unknownSignal(signal, 'no answer from the Enigm OS daemon', opts);
  if (!answer.ok) return unknownSignal(signal, answer.reason, opts);
  const r = answer.response;
  if (r.status !== 'ok' || r.state === undefined) {
    const why = r.status === 'unavailable' ? 'state unavailable' : 'error';
    return unknownSignal(signal, `Enigm OS daemon: ${why}${r.reason ? ` (${r.reason})` : ''}`, opts);
  }
  try {
    const value = (OSD_SIGNALS[query].value as (s: unknown) => never)(r.state);
    return okSignal(signal, value, { source: OSD_SOURCE, now: now - (r.ageMs ?? 0) });
  } catch {
    return unknownSignal(signal, 'the Enigm OS daemon sent a state this agent cannot represent', opts);
  }
}

/** Options of {@link osdCollector}. */
export interface OsdCollectorOptions {
  /** Socket path (default {@link OSD_DEFAULT_SOCKET}). */
  socketPath?: string;
  /** Time bound of each request, ms (default {@link OSD_DEFAULT_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Queries to ask (default all six). */
  queries?: readonly DaemonQuery[];
}

/** The collector of the Enigm OS daemon's signals (`tsc.posture`, `mdm.state`, `privacy.mode`, `network.policy`, `ota.verified`, `attestation.outcome`). */
export function osdCollector(opts: OsdCollectorOptions = {}): Collector {
  const queries = opts.queries ?? DAEMON_QUERY_NAMES;
  return {
    name: 'osd',
    signals: queries.map((q) => OSD_SIGNALS[q].signal),
    async collect(ctx: CollectContext): Promise<Signal[]> {
      const answers = await queryOsd(queries, {
        ...(opts.socketPath !== undefined ? { socketPath: opts.socketPath } : {}),
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      const now = ctx.now();
      return queries.map((q) => osdSignal(q, answers.get(q), now));
    },
  };
}
