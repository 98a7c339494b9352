/**
 * The host's client for one Key over any {@link Transport}: frames, request ids, link-aware
 * timeouts, safe retries, cancellation and flow control by the Key's advertised window.
 *
 * Timeouts follow the link: an attempt's deadline is the time its bytes, and those queued ahead
 * of it, need to cross the link at the measured rate, plus the per-request timeout
 * ({@link LinkBudget}). Progress of the Key (a response to an earlier request, a keepalive)
 * extends the deadlines of the requests still waiting behind. So the default timeout holds on a
 * 115200-baud UART with a full window of 4 KiB chunks as on TCP; nobody tunes it per link.
 *
 * Safety of retries: a retry re-sends the same request id and bytes. Keys that report the
 * `dedup-retry` feature answer a repeated id from a cache instead of running the command again,
 * so every request may be retried; with a Key that lacks it, only requests marked idempotent are.
 *
 * @module
 */
import { encodeFrame, FrameDecoder } from '@enigm/protocols/framing';
import {
  type BodyOf,
  decodeMessage,
  encodeMessage,
  type LinkParameters,
  linkParametersFrom,
  MAX_FRAME_PAYLOAD,
  MAX_REQUEST_ID,
  type Message,
  MIN_FRAME_PAYLOAD,
  PROTOCOL_VERSION,
  PROTOCOL_VERSIONS,
  RESPONSE_OF,
  type RequestName,
  type ResponseOf,
} from '@enigm/protocols/messages';
import type { Transport, TransportError } from '../transport/transport.ts';
import { KeyError } from './errors.ts';
import { LinkBudget, type LinkTicket } from './link-budget.ts';
import { LATE_TIMER_MS, realTimers, type Timers } from './timers.ts';
import { Window } from './window.ts';

export type { Timers } from './timers.ts';

/** Options of {@link KeyClient}. */
export interface KeyClientOptions {
  /**
   * Per-attempt timeout, ms (default 2000): how long the Key may take once the attempt's bytes
   * (and those queued ahead of it) have crossed the link; the link time is added by the client.
   */
  timeoutMs?: number;
  /** Retries after a timeout (default 2). */
  retries?: number;
  /** Largest frame payload the host accepts (default {@link MAX_FRAME_PAYLOAD}). */
  maxFrame?: number;
  /** Timers and clock (default: real). */
  timers?: Timers;
  /** First request id (default random); ids then increase and wrap at 2^32. */
  firstId?: number;
  /**
   * Requests that may wait for a slot in the Key's window (default 4096); one more is refused
   * with `KEY_BUSY`, so a caller that outruns the Key cannot grow the host without bound.
   */
  maxWaiting?: number;
}

/** Options of one request. */
export interface RequestOptions {
  /** Per-attempt timeout after the link time, ms (default: the client's). */
  timeoutMs?: number;
  /** Retries after a timeout (default: the client's; 0 for non-idempotent requests without dedup). */
  retries?: number;
  /** Cancels the request (`KEY_CANCELLED`). */
  signal?: AbortSignal;
  /** Expected size of the response, bytes, when it is large (e.g. a ping echo): counted as link time. */
  responseBytes?: number;
  /** Whether running the command twice is harmless (allows retries on Keys without dedup). */
  idempotent?: boolean;
  /**
   * Builds the body for a retry (same request id). Session messages use it to seal the retry
   * again with a fresh counter, so a retry never reuses a nonce; without it a retry re-sends the
   * identical bytes.
   */
  refresh?: () => unknown;
}

/** Link counters, for diagnostics. */
export interface ClientStats {
  framesSent: number;
  framesReceived: number;
  badFrames: number;
  strayResponses: number;
  retries: number;
  keepalives: number;
}

interface Pending {
  name: string;
  /** The current attempt's bytes on the link. */
  ticket: LinkTicket | undefined;
  /** The Key showed progress: push the deadline to now + remaining link time + timeout. */
  extend(): void;
  resolve(m: Message): void;
  reject(e: KeyError): void;
}

/** Framing overhead of a frame on the wire beyond its payload (COBS, CRC, delimiter), approximately. */
const FRAME_OVERHEAD = 8;

interface ExchangeOptions {
  timeoutMs: number;
  retries: number;
  /** Expected response bytes on the wire. */
  responseBytes: number;
  signal?: AbortSignal;
  nextFrame?: () => Uint8Array;
}

const IDEMPOTENT: ReadonlySet<RequestName> = new Set(['hello', 'ping', 'info']);

/** A connected Key. Create with {@link KeyClient.connect}. */
export class KeyClient {
  readonly #transport: Transport;
  readonly #timers: Timers;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #maxFrame: number;
  readonly #maxWaiting: number;
  readonly #decoder: FrameDecoder;
  readonly #pending = new Map<number, Pending>();
  readonly #eventListeners = new Set<(m: Message) => void>();
  readonly #window = new Window(1);
  readonly #budget: LinkBudget;
  #nextId: number;
  #closed: KeyError | undefined;
  #link: LinkParameters = { version: PROTOCOL_VERSION, sendMaxFrame: MIN_FRAME_PAYLOAD, window: 1 };
  #hello: BodyOf<'hello.response'> | undefined;
  /** Counters. */
  readonly stats: ClientStats = { framesSent: 0, framesReceived: 0, badFrames: 0, strayResponses: 0, retries: 0, keepalives: 0 };

  private constructor(transport: Transport, options: KeyClientOptions) {
    this.#transport = transport;
    this.#timers = options.timers ?? realTimers;
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#retries = options.retries ?? 2;
    this.#maxFrame = Math.min(options.maxFrame ?? MAX_FRAME_PAYLOAD, MAX_FRAME_PAYLOAD);
    this.#maxWaiting = options.maxWaiting ?? 4096;
    if (!Number.isInteger(this.#maxWaiting) || this.#maxWaiting < 0)
      throw new RangeError(`maxWaiting must be a non-negative integer, got ${this.#maxWaiting}`);
    this.#decoder = new FrameDecoder({ maxPayload: this.#maxFrame });
    this.#nextId = (options.firstId ?? Math.floor(Math.random() * MAX_REQUEST_ID)) >>> 0;
    this.#budget = new LinkBudget(transport.nominalBytesPerSecond);
  }

  /**
   * Opens the transport and negotiates capabilities with `hello`.
   * @throws {@link KeyError} `KEY_INCOMPATIBLE`, `KEY_TIMEOUT`, `KEY_CLOSED`; TransportError if the
   *   transport cannot open
   */
  static async connect(transport: Transport, options: KeyClientOptions = {}): Promise<KeyClient> {
    const c = new KeyClient(transport, options);
    await transport.open({ data: (b) => c.#onData(b), closed: (e) => c.#onClosed(e) });
    try {
      await c.negotiate();
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  /** The Key's `hello.response` (capabilities). */
  get hello(): BodyOf<'hello.response'> {
    if (!this.#hello) throw new KeyError('KEY_INCOMPATIBLE', 'hello has not completed');
    return this.#hello;
  }

  /** Negotiated link parameters. */
  get link(): LinkParameters {
    return this.#link;
  }

  /** Description of the underlying transport (e.g. `serial:/dev/ttyACM0`, `tcp://…`). */
  get transportDescription(): string {
    return this.#transport.description;
  }

  /**
   * The link rate deadlines assume, bytes/s: the best measured lower bound, or the transport's
   * nominal rate before any measurement (see {@link LinkBudget}).
   */
  get linkBytesPerSecond(): number {
    return this.#budget.bytesPerSecond;
  }

  /** Bytes sent whose requests have not been answered yet. */
  get queuedBytes(): number {
    return this.#budget.queuedBytes;
  }

  /** Requests now in flight (never more than the Key's window). */
  get inFlight(): number {
    return this.#window.inFlight;
  }

  /** The `hello` body this client sends (bound, with the answer, into session prologues). */
  get helloRequest(): BodyOf<'hello'> {
    return { versions: [...PROTOCOL_VERSIONS], maxFrame: this.#maxFrame };
  }

  /** Runs `hello` (again) and applies the Key's limits. */
  async negotiate(): Promise<BodyOf<'hello.response'>> {
    const h = await this.request('hello', this.helloRequest);
    if (!(PROTOCOL_VERSIONS as readonly number[]).includes(h.version))
      throw new KeyError('KEY_INCOMPATIBLE', `Key chose protocol version ${h.version}, which this host does not speak`);
    try {
      this.#link = linkParametersFrom(h);
    } catch (e) {
      throw new KeyError('KEY_INCOMPATIBLE', (e as Error).message, { cause: e });
    }
    this.#hello = h;
    this.#window.resize(this.#link.window);
    return h;
  }

  /** Subscribes to events from the Key. Returns the unsubscribe function. */
  onEvent(listener: (event: Message) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  /**
   * Sends a request and waits for its response.
   * @throws {@link KeyError}: `KEY_REJECTED` (with `remote`), `KEY_TIMEOUT`, `KEY_CANCELLED`,
   *   `KEY_CLOSED`, `KEY_BAD_RESPONSE`, `KEY_TOO_LARGE`, `KEY_BUSY` (more than `maxWaiting`
   *   requests already wait for the window), `KEY_OUTCOME_UNKNOWN` (a retry could not be rebuilt)
   */
  async request<N extends RequestName>(name: N, body: BodyOf<N>, options: RequestOptions = {}): Promise<BodyOf<ResponseOf<N>>> {
    if (this.#closed) throw this.#closed;
    const signal = options.signal;
    if (this.#window.inFlight >= this.#window.size && this.#window.waiting >= this.#maxWaiting)
      throw new KeyError(
        'KEY_BUSY',
        `${name} refused: ${this.#window.waiting} requests already wait for the Key's window (bound ${this.#maxWaiting})`,
      );
    let release: () => void;
    try {
      release = await this.#window.acquire(signal);
    } catch {
      throw new KeyError('KEY_CANCELLED', `${name} cancelled before it was sent`);
    }
    try {
      const id = this.#allocateId();
      const bytes = encodeMessage({ version: this.#link.version, name, id, body });
      if (bytes.length > this.#link.sendMaxFrame)
        throw new KeyError('KEY_TOO_LARGE', `${name} is ${bytes.length} bytes; the Key accepts ${this.#link.sendMaxFrame}`);
      const frame = encodeFrame(bytes);
      const dedup = this.#hello?.features.includes('dedup-retry') ?? false;
      const retries = dedup || options.idempotent || IDEMPOTENT.has(name) ? (options.retries ?? this.#retries) : 0;
      const refresh = options.refresh;
      const next = refresh
        ? () => encodeFrame(encodeMessage({ version: this.#link.version, name, id, body: refresh() as BodyOf<N> }))
        : undefined;
      const res = await this.#exchange(id, name, frame, {
        timeoutMs: options.timeoutMs ?? this.#timeoutMs,
        retries,
        responseBytes: (options.responseBytes ?? 0) + FRAME_OVERHEAD,
        ...(signal ? { signal } : {}),
        ...(next ? { nextFrame: next } : {}),
      });
      return this.#expect(res, name) as BodyOf<ResponseOf<N>>;
    } finally {
      release();
    }
  }

  /**
   * Pings the Key.
   * @returns round-trip time in ms and the Key's uptime
   */
  async ping(data?: Uint8Array, options?: RequestOptions): Promise<{ rttMs: number; uptimeMs: number }> {
    const t0 = this.#timers.now();
    const r = await this.request('ping', data ? { data } : {}, { responseBytes: data?.length ?? 0, ...options });
    const rttMs = this.#timers.now() - t0;
    if (data && (!r.data || Buffer.compare(Buffer.from(r.data), Buffer.from(data)) !== 0))
      throw new KeyError('KEY_BAD_RESPONSE', 'ping echo differs from what was sent');
    return { rttMs, uptimeMs: r.uptimeMs };
  }

  /** Reads the Key's public info. */
  info(options?: RequestOptions): Promise<BodyOf<'info.response'>> {
    return this.request('info', {}, options);
  }

  /** Closes the link; pending requests fail with `KEY_CLOSED`. Idempotent. */
  async close(): Promise<void> {
    this.#fail(new KeyError('KEY_CLOSED', 'the client was closed'));
    await this.#transport.close();
  }

  #allocateId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = (this.#nextId + 1) >>> 0;
      if (!this.#pending.has(id)) return id;
    }
  }

  #exchange(id: number, name: string, first: Uint8Array, o: ExchangeOptions): Promise<Message> {
    const { timeoutMs, retries, responseBytes, signal, nextFrame } = o;
    const timers = this.#timers;
    return new Promise<Message>((resolve, reject) => {
      if (signal?.aborted) return reject(new KeyError('KEY_CANCELLED', `${name} cancelled`));
      let frame = first;
      let timer: unknown;
      let deadline = 0;
      let attempt = 0;
      let firstSentAt = 0;
      const clear = () => {
        if (timer !== undefined) timers.clearTimeout(timer);
        timer = undefined;
      };
      const dropTicket = () => {
        if (pending.ticket) this.#budget.drop(pending.ticket);
        pending.ticket = undefined;
      };
      const done = (onTheLine = false) => {
        this.#pending.delete(id);
        clear();
        // A cancelled attempt's bytes were sent and the Key will still take them in: they stay
        // queued ahead of later requests until a later answer shows they left the line.
        if (onTheLine) pending.ticket = undefined;
        else dropTicket();
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        done(true);
        reject(new KeyError('KEY_CANCELLED', `${name} cancelled`));
      };
      let graced = false;
      const armAt = (at: number, now: number) => {
        clear();
        deadline = at;
        graced = false;
        timer = timers.setTimeout(onTimer, Math.max(0, at - now));
      };
      // Extensions only move `deadline`; the timer catches up when it fires (no timer churn per
      // response on a busy pipeline).
      const onTimer = () => {
        timer = undefined;
        const now = timers.now();
        if (now < deadline) timer = timers.setTimeout(onTimer, deadline - now);
        else if (!graced && now - deadline >= LATE_TIMER_MS) {
          // The host was not running (a stalled process runs due timers before the I/O that came
          // meanwhile): listen as long as it was away (at most the timeout) before calling it silent.
          graced = true;
          timer = timers.setTimeout(onTimer, Math.min(now - deadline, timeoutMs));
        } else onTimeout();
      };
      const onTimeout = () => {
        dropTicket();
        if (attempt <= retries) {
          this.stats.retries++;
          if (nextFrame) {
            // Rebuilding the retry can fail (e.g. the session ended meanwhile): the request ends
            // with that reason instead of throwing out of a timer.
            try {
              frame = nextFrame();
            } catch (e) {
              this.#pending.get(id)?.reject(
                new KeyError('KEY_OUTCOME_UNKNOWN', `${name} got no response and cannot be retried: ${(e as Error).message}`, {
                  cause: e,
                }),
              );
              return;
            }
          }
          send();
        } else {
          const rate = Math.round(this.#budget.bytesPerSecond);
          this.#pending
            .get(id)
            ?.reject(
              new KeyError(
                'KEY_TIMEOUT',
                `${name} got no response in ${Math.round(timers.now() - firstSentAt)} ms (${attempt} attempt${attempt > 1 ? 's' : ''}; ${timeoutMs} ms after its bytes could cross the link at ${rate} B/s)`,
              ),
            );
        }
      };
      const pending: Pending = {
        name,
        ticket: undefined,
        extend: () => {
          const ticket = pending.ticket;
          if (ticket === undefined || ticket.done) return;
          const now = timers.now();
          const at = now + this.#budget.transitMs(ticket, responseBytes) + timeoutMs;
          if (at > deadline) deadline = at;
        },
        resolve: (m) => {
          done();
          resolve(m);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      this.#pending.set(id, pending);
      signal?.addEventListener('abort', onAbort, { once: true });
      const send = () => {
        attempt++;
        const now = timers.now();
        if (attempt === 1) firstSentAt = now;
        const ticket = this.#budget.enqueue(frame.length, now, attempt > 1);
        pending.ticket = ticket;
        armAt(now + this.#budget.transitMs(ticket, responseBytes) + timeoutMs, now);
        this.#sendFrame(frame).catch((e: TransportError) =>
          this.#pending.get(id)?.reject(
            // A full outgoing queue: the Key is not reading, which is a silent Key, not a closed link.
            e.code === 'TRANSPORT_BUSY'
              ? new KeyError('KEY_TIMEOUT', `${name}: the Key is not reading: ${e.message}`, { cause: e })
              : new KeyError('KEY_CLOSED', `${name}: ${e.message}`, { cause: e }),
          ),
        );
      };
      send();
    });
  }

  async #sendFrame(frame: Uint8Array): Promise<void> {
    const max = this.#transport.maxPayload;
    for (let off = 0; off < frame.length; off += max) await this.#transport.send(frame.subarray(off, off + max));
    this.stats.framesSent++;
  }

  #expect(m: Message, request: RequestName): unknown {
    if (m.name === 'error') {
      const b = m.body as BodyOf<'error'>;
      throw new KeyError('KEY_REJECTED', `Key rejected ${request}: ${b.name} (${b.code}): ${b.reason}`, { remote: b });
    }
    if (m.name !== RESPONSE_OF[request]) throw new KeyError('KEY_BAD_RESPONSE', `Key answered ${request} with ${m.name}`);
    return m.body;
  }

  #onData(chunk: Uint8Array): void {
    for (const ev of this.#decoder.push(chunk)) {
      if (ev.kind === 'error') {
        this.stats.badFrames++;
        continue;
      }
      this.stats.framesReceived++;
      let m: Message;
      try {
        m = decodeMessage(ev.payload);
      } catch (e) {
        const id = (e as { requestId?: number }).requestId;
        const p = id === undefined ? undefined : this.#pending.get(id);
        if (p) p.reject(new KeyError('KEY_BAD_RESPONSE', `invalid response to ${p.name}: ${(e as Error).message}`, { cause: e }));
        else this.stats.badFrames++;
        continue;
      }
      if (m.id === undefined) {
        // A busy Key (e.g. erasing flash) is alive: extend every waiting request's deadline.
        if (m.name === 'keepalive') {
          this.stats.keepalives++;
          for (const p of this.#pending.values()) p.extend();
        }
        for (const l of this.#eventListeners) l(m);
        continue;
      }
      const p = this.#pending.get(m.id);
      if (!p) {
        // An answer to a request this client no longer waits for (e.g. sent by a process that was
        // killed mid-flash): the Key is working through older bytes ahead of ours, so the
        // requests waiting behind them get the time their bytes still need from now on.
        this.stats.strayResponses++;
        for (const q of this.#pending.values()) q.extend();
        continue;
      }
      // Everything sent up to this request has left the line: the requests behind it get the time
      // their bytes still need from now on.
      if (p.ticket) this.#budget.answered(p.ticket, this.#timers.now(), ev.payload.length + FRAME_OVERHEAD);
      p.resolve(m);
      for (const q of this.#pending.values()) q.extend();
    }
  }

  #onClosed(error?: TransportError): void {
    this.#fail(new KeyError('KEY_CLOSED', error ? `link closed: ${error.message}` : 'link closed', { cause: error }));
  }

  #fail(e: KeyError): void {
    if (!this.#closed) this.#closed = e;
    for (const p of [...this.#pending.values()]) p.reject(e);
  }
}
