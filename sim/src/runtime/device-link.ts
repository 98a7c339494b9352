/**
 * The device side of one link: bytes from the host go through the frame decoder into the
 * firmware's link context; responses and events go back as frames. Knows nothing about the
 * medium (serial, TCP): it gets a `write` function and is fed chunks.
 *
 * Bounded: decoded requests wait in a queue of at most `maxQueuedBytes` (frames beyond it are
 * discarded and counted, the host retries); while the medium says it cannot take more output
 * (`canSend`), no further request is handled, so a host that never reads makes the Key stop
 * answering it rather than buffer without end. The medium stops reading while
 * {@link DeviceLink.queuedBytes} is high and calls {@link DeviceLink.resume} when it can send
 * again (see `link-flow.ts`).
 *
 * Contained: a request handler that throws is answered with an `INTERNAL` wire error; a long
 * operation runs through the Key's {@link KeyScheduler} and never rejects.
 * @module
 */
import { encodeFrame, FrameDecoder } from '@enigm/protocols/framing';
import { decodeEnvelope, encodeMessage, KEY_ERRORS, PROTOCOL_VERSION } from '@enigm/protocols/messages';
import type { KeyFirmware } from '../firmware/firmware.ts';
import type { LinkContext } from '../firmware/link-context.ts';
import { KeyScheduler, type LongOperationTiming, type LongOutcome, type SchedulerParticipant } from './key-scheduler.ts';
import type { LinkLimits } from './link-flow.ts';
import { describeError, logLimited, RateLimiter, type SimLogger, silentLogger } from './log.ts';

export type { LongOperationTiming } from './key-scheduler.ts';

/** Counters of one device link. */
export interface DeviceLinkStats {
  framesIn: number;
  framesOut: number;
  badFrames: number;
}

/** Default bound of a link's queue of requests waiting to be handled, bytes. */
export const DEFAULT_MAX_QUEUED_BYTES = 256 * 1024;

/** Options of {@link DeviceLink} beyond the positional ones. */
export interface DeviceLinkOptions {
  /** The Key's scheduler, shared by all its links (default: one of the link's own). */
  scheduler?: KeyScheduler;
  /** Whether the medium takes more output now; while false no request is handled (default: always). */
  canSend?: () => boolean;
  /** Bound of the queue of received, unhandled requests, bytes (default {@link DEFAULT_MAX_QUEUED_BYTES}). */
  maxQueuedBytes?: number;
  /** Called after the link handled what it could (the medium re-checks its flow control). */
  onProgress?: () => void;
  /** Log for rejected frames and contained failures (default: silent). */
  log?: SimLogger;
  /** Names the link in log lines, e.g. `key 0 tcp#3`. */
  label?: string;
  /** Whether the Key is powered: while not, input is dropped and nothing is sent (default: always). */
  powered?: () => boolean;
  /** Told of every frame in or out: metadata only (message type name, payload size), never content. */
  onFrame?: (frame: FrameMeta) => void;
  /** Whether anyone watches frames now (default: always when `onFrame` is given); saves decoding when not. */
  framesWanted?: () => boolean;
}

/**
 * What every face of a Key (its serial, TCP and MQTT endpoints) is built with: the Key, its
 * scheduler, and the simulator's bounds, log and hooks.
 */
export interface KeyEndpointOptions {
  firmware: KeyFirmware;
  scheduler: KeyScheduler;
  timing: LongOperationTiming | undefined;
  limits: LinkLimits;
  log: SimLogger;
  /** Names the Key in log lines, e.g. `key 0`. */
  label: string;
  /** Power gate, frame metadata and link events for the simulator's event stream. */
  hooks?: LinkHooks;
}

/** What the simulator watches on a Key's links (power gate, frame metadata, links opened and closed). */
export interface LinkHooks {
  /** Whether the Key is powered (default: always). */
  powered?: () => boolean;
  /** Frame metadata of link `link` (`serial`, `tcp#3`). */
  onFrame?: (link: string, frame: FrameMeta) => void;
  /** Whether anyone watches frames now. */
  framesWanted?: () => boolean;
  /** A link opened or closed. */
  onLink?: (link: string, phase: 'open' | 'closed') => void;
}

/** The {@link DeviceLinkOptions} of `hooks` for the link named `link`. */
export function linkHookOptions(hooks: LinkHooks | undefined, link: string): Partial<DeviceLinkOptions> {
  if (!hooks) return {};
  const onFrame = hooks.onFrame;
  return {
    ...(hooks.powered ? { powered: hooks.powered } : {}),
    ...(onFrame ? { onFrame: (f: FrameMeta) => onFrame(link, f) } : {}),
    ...(hooks.framesWanted ? { framesWanted: hooks.framesWanted } : {}),
  };
}

/** Metadata of one frame on a link (never its content). */
export interface FrameMeta {
  readonly direction: 'in' | 'out';
  /** The envelope's message type name, if the payload decodes as an envelope. */
  readonly messageType?: string;
  /** Payload size, bytes. */
  readonly bytes: number;
}

/** The message type name of an envelope payload, or `undefined` if it does not decode. */
function typeName(payload: Uint8Array): string | undefined {
  try {
    return decodeEnvelope(payload).name;
  } catch {
    return undefined;
  }
}

/** Glue between a byte stream and the firmware. */
export class DeviceLink {
  readonly #decoder: FrameDecoder;
  readonly #ctx: LinkContext;
  readonly #write: (bytes: Uint8Array) => void;
  readonly #unsubscribe: () => void;
  readonly #leave: () => void;
  readonly #firmware: KeyFirmware;
  readonly #timing: LongOperationTiming | undefined;
  readonly #scheduler: KeyScheduler;
  readonly #canSend: () => boolean;
  readonly #maxQueued: number;
  readonly #onProgress: (() => void) | undefined;
  readonly #log: SimLogger;
  readonly #label: string;
  readonly #powered: () => boolean;
  readonly #onFrame: ((frame: FrameMeta) => void) | undefined;
  readonly #framesWanted: () => boolean;
  readonly #badLimiter = new RateLimiter();
  readonly #dropLimiter = new RateLimiter();
  /** Frames waiting (the Key processes requests in order, one long operation at a time). */
  readonly #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #closed = false;
  readonly #self: SchedulerParticipant;
  /** Counters. */
  readonly stats: DeviceLinkStats & { keepalives: number; droppedFrames: number } = {
    framesIn: 0,
    framesOut: 0,
    badFrames: 0,
    keepalives: 0,
    droppedFrames: 0,
  };

  /**
   * @param firmware - the Key
   * @param write - sends bytes to the host (must not throw; drop on a dead link)
   * @param transport - transport name bound into session prologues (`serial`, `tcp`, `memory`)
   * @param timing - modelled time of long operations; without it they complete at once
   * @param options - scheduler shared with the Key's other links, flow control, log
   */
  constructor(
    firmware: KeyFirmware,
    write: (bytes: Uint8Array) => void,
    transport = 'serial',
    timing?: LongOperationTiming,
    options: DeviceLinkOptions = {},
  ) {
    this.#timing = timing;
    this.#ctx = firmware.connect(transport);
    this.#firmware = firmware;
    this.#write = write;
    this.#log = options.log ?? silentLogger;
    this.#label = options.label ?? `link ${transport}`;
    this.#scheduler = options.scheduler ?? new KeyScheduler(this.#log, this.#label);
    this.#canSend = options.canSend ?? (() => true);
    this.#maxQueued = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.#onProgress = options.onProgress;
    this.#powered = options.powered ?? (() => true);
    this.#onFrame = options.onFrame;
    this.#framesWanted = options.framesWanted ?? (() => true);
    this.#decoder = new FrameDecoder({ maxPayload: firmware.config.maxFrame });
    this.#unsubscribe = firmware.onEvent((ev) => this.#send(ev));
    this.#self = {
      pump: () => this.#pump(),
      waiting: () => this.#queue.length > 0,
      keepalive: () => this.#keepalive(),
    };
    this.#leave = this.#scheduler.join(this.#self);
  }

  /** Bytes of received requests waiting to be handled. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Feeds bytes received from the host. */
  receive(chunk: Uint8Array): void {
    if (this.#closed) return;
    if (!this.#powered()) return; // a Key without power hears nothing
    for (const ev of this.#decoder.push(chunk)) {
      if (ev.kind === 'error') {
        this.stats.badFrames++;
        logLimited(this.#log, 'warn', this.#badLimiter, `${this.#label}: rejected a frame (${ev.error.code})`);
        continue;
      }
      this.stats.framesIn++;
      this.#frame('in', ev.payload);
      if (this.#queuedBytes + ev.payload.length > this.#maxQueued) {
        this.stats.droppedFrames++;
        logLimited(
          this.#log,
          'warn',
          this.#dropLimiter,
          `${this.#label}: discarded a request: ${this.#queuedBytes} bytes already wait (bound ${this.#maxQueued})`,
        );
        continue;
      }
      this.#queue.push(ev.payload);
      this.#queuedBytes += ev.payload.length;
    }
    this.#pump();
  }

  /** Handles waiting requests again (the medium can take output again). */
  resume(): void {
    this.#pump();
  }

  /** Handles queued frames in order; a long operation holds every link of the Key. */
  #pump(): void {
    while (!this.#closed && !this.#scheduler.busy && this.#queue.length > 0 && this.#canSend()) {
      const payload = this.#queue.shift() as Uint8Array;
      this.#queuedBytes -= payload.length;
      let res: Uint8Array | undefined;
      let work: (() => boolean) | undefined;
      try {
        res = this.#ctx.handle(payload);
        work = this.#ctx.takeWork();
      } catch (e) {
        // LinkContext answers its own errors; this is a bug caught before it takes the Key down.
        this.#log.error(`${this.#label}: request handler failed and was contained: ${describeError(e)}`);
        res = internalError(payload, 'the Key failed handling this request');
        work = undefined;
      }
      if (!work) {
        if (res) this.#send(res);
        continue;
      }
      if (!this.#timing) {
        const outcome = runNow(work);
        if (outcome.kind === 'failed')
          this.#log.error(`${this.#label}: long operation failed and was contained: ${outcome.code}`);
        this.#answer(payload, res, outcome);
        continue;
      }
      void this.#scheduler.run(work, this.#timing, this.#self, (outcome) => this.#answer(payload, res, outcome));
    }
    this.#onProgress?.();
  }

  /** Sends the response owed for a request whose long operation ended. */
  #answer(payload: Uint8Array, res: Uint8Array | undefined, outcome: LongOutcome): void {
    if (this.#closed || outcome.kind === 'stopped') return;
    if (outcome.kind === 'failed') {
      const err = internalError(payload, `the long operation of this request failed (${outcome.code})`);
      if (err) this.#send(err);
      return;
    }
    if (res) this.#send(res); // done, or superseded: the request itself succeeded
  }

  #keepalive(): void {
    if (this.#closed) return;
    this.#send(encodeMessage({ version: PROTOCOL_VERSION, name: 'keepalive', body: {} }));
    this.stats.keepalives++;
  }

  /** Drops partial input (e.g. when the host reopens the port). */
  reset(): void {
    this.#decoder.reset();
  }

  /**
   * Detaches from the firmware's events and drops waiting requests. A long operation this link
   * started keeps running (it belongs to the update, not the link); its answer is not sent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#unsubscribe();
    this.#leave();
    this.#firmware.disconnect(this.#ctx);
  }

  /** Reports a frame's metadata to a watcher, if any. */
  #frame(direction: 'in' | 'out', payload: Uint8Array): void {
    if (!this.#onFrame || !this.#framesWanted()) return;
    const name = typeName(payload);
    this.#onFrame({ direction, bytes: payload.length, ...(name ? { messageType: name } : {}) });
  }

  #send(payload: Uint8Array): void {
    if (this.#closed || !this.#powered()) return;
    this.stats.framesOut++;
    this.#frame('out', payload);
    this.#write(encodeFrame(payload));
  }
}

function runNow(work: () => boolean): LongOutcome {
  try {
    while (work());
    return { kind: 'done' };
  } catch (e) {
    const code = e !== null && typeof e === 'object' && 'code' in e && typeof e.code === 'string' ? e.code : 'INTERNAL';
    return code === 'UPDATE_STATE' ? { kind: 'superseded' } : { kind: 'failed', code };
  }
}

/** An `INTERNAL` error answering the request in `payload` (by its outer id), if it has a readable id. */
function internalError(payload: Uint8Array, reason: string): Uint8Array | undefined {
  let id: number | undefined;
  try {
    id = decodeEnvelope(payload).id;
  } catch {
    return undefined;
  }
  if (id === undefined) return undefined;
  return encodeMessage({
    version: PROTOCOL_VERSION,
    name: 'error',
    id,
    body: { code: KEY_ERRORS.INTERNAL.code, name: 'INTERNAL', reason },
  });
}
