/**
 * The Key firmware model: pure logic, no I/O. It boots from injected storage, keeps the lifecycle
 * state, and answers request frames through per-link contexts. Time and randomness are injected,
 * so tests are deterministic and the simulator can run faster than real time.
 *
 * @module
 */
import { ProtocolError } from '../../../protocols/src/errors.ts';
import {
  type BodyOf,
  chooseVersion,
  decodeBody,
  decodeEnvelope,
  encodeMessage,
  KEY_ERRORS,
  type KeyErrorName,
  type LifecycleState,
  type Message,
  MIN_FRAME_PAYLOAD,
  PROTOCOL_VERSION,
  PROTOCOL_VERSIONS,
  RESPONSE_OF,
  type RequestName,
} from '../../../protocols/src/messages/index.ts';
import { commandAllowed, commandAllowedNames, type LifecycleEvent, nextState } from './lifecycle.ts';
import { type KeyStorage, loadPersistent, type Persistent, savePersistent } from './storage.ts';

/** Injected monotonic clock, milliseconds. */
export interface Clock {
  now(): number;
}

/** Injected randomness: `n` random bytes. */
export type RandomSource = (n: number) => Uint8Array;

/** Static facts and limits of a simulated Key. */
export interface FirmwareConfig {
  model: string;
  hardware: string;
  firmware: string;
  /** Largest frame payload this Key accepts (advertised in hello). */
  maxFrame: number;
  /** Requests this Key buffers (advertised in hello). */
  window: number;
  /** Battery charge reported in info, percent. */
  batteryPct: number;
}

/** Defaults of the reference Key. */
export const DEFAULT_FIRMWARE_CONFIG: FirmwareConfig = {
  model: 'enigm-key-1',
  hardware: 'rev-b',
  firmware: '1.0.0',
  maxFrame: 4096,
  window: 8,
  batteryPct: 100,
};

/** Dependencies of the firmware model. */
export interface FirmwareDeps {
  storage: KeyStorage;
  clock: Clock;
  random: RandomSource;
  config?: Partial<FirmwareConfig>;
}

/** How many recent responses a link remembers for de-duplicating retried request ids. */
export const DEDUP_CACHE_SIZE = 64;

/** Listener for encoded event messages (sent on every link). */
export type EventListener = (eventBytes: Uint8Array) => void;

/** A simulated Key's firmware. */
export class KeyFirmware {
  readonly config: FirmwareConfig;
  readonly #storage: KeyStorage;
  readonly #clock: Clock;
  #persistent: Persistent;
  readonly #bootedAt: number;
  readonly #listeners = new Set<EventListener>();

  /**
   * Boots the Key: loads its persistent record (or manufactures a new identity on a blank
   * Key) and counts the boot.
   * @throws ProtocolError if stored state is corrupt
   */
  constructor(deps: FirmwareDeps) {
    this.config = { ...DEFAULT_FIRMWARE_CONFIG, ...deps.config };
    if (this.config.maxFrame < MIN_FRAME_PAYLOAD) throw new RangeError(`maxFrame must be ≥ ${MIN_FRAME_PAYLOAD}`);
    if (this.config.window < 1) throw new RangeError('window must be ≥ 1');
    this.#storage = deps.storage;
    this.#clock = deps.clock;
    const stored = loadPersistent(deps.storage);
    this.#persistent = stored
      ? { ...stored, bootCount: stored.bootCount + 1 }
      : { handle: deps.random(16), state: 'factory', bootCount: 1 };
    savePersistent(this.#storage, this.#persistent);
    this.#bootedAt = this.#clock.now();
  }

  /** Current lifecycle state. */
  get state(): LifecycleState {
    return this.#persistent.state;
  }

  /** The device handle (public, privacy-preserving). */
  get handle(): Uint8Array {
    return this.#persistent.handle.slice();
  }

  /** Boots since manufacture. */
  get bootCount(): number {
    return this.#persistent.bootCount;
  }

  /** Milliseconds since boot. */
  uptimeMs(): number {
    return Math.max(0, Math.floor(this.#clock.now() - this.#bootedAt));
  }

  /** Subscribes to encoded event messages. Returns the unsubscribe function. */
  onEvent(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Opens a link context (one per connection): it holds the link's de-duplication cache. */
  connect(): LinkContext {
    return new LinkContext(this);
  }

  /**
   * Applies a lifecycle event, persists it and announces it.
   * @returns the new state, or `undefined` if the transition table does not allow it
   */
  transition(event: LifecycleEvent): LifecycleState | undefined {
    const from = this.#persistent.state;
    const to = nextState(from, event);
    if (!to) return undefined;
    this.#persistent = { ...this.#persistent, state: to };
    savePersistent(this.#storage, this.#persistent);
    const ev = encodeMessage({ version: PROTOCOL_VERSION, name: 'lifecycle.changed', body: { from, to } });
    for (const l of this.#listeners) l(ev);
    return to;
  }

  /** Runs one validated request; returns the response body or a wire error. */
  execute(request: Message): { name: string; body: unknown } | WireError {
    const name = request.name as RequestName;
    if (!commandAllowed(name, this.state)) {
      return wireError(
        'INVALID_STATE',
        `${name} is not allowed in state ${this.state} (allowed in: ${commandAllowedNames(name)})`,
      );
    }
    switch (name) {
      case 'hello': {
        const body = request.body as BodyOf<'hello'>;
        const version = chooseVersion(PROTOCOL_VERSIONS, body.versions);
        if (version === undefined)
          return wireError('UNSUPPORTED_VERSION', `no common protocol version (Key speaks ${PROTOCOL_VERSIONS.join(', ')})`);
        const res: BodyOf<'hello.response'> = {
          version,
          versions: [...PROTOCOL_VERSIONS],
          maxFrame: this.config.maxFrame,
          window: this.config.window,
          features: ['dedup-retry', 'state-events'],
          model: this.config.model,
          firmware: this.config.firmware,
          state: this.state,
        };
        return { name: RESPONSE_OF.hello, body: res };
      }
      case 'ping': {
        const body = request.body as BodyOf<'ping'>;
        const res: BodyOf<'ping.response'> = { uptimeMs: this.uptimeMs(), ...(body.data ? { data: body.data } : {}) };
        return { name: RESPONSE_OF.ping, body: res };
      }
      case 'info': {
        const res: BodyOf<'info.response'> = {
          model: this.config.model,
          hardware: this.config.hardware,
          firmware: this.config.firmware,
          state: this.state,
          handle: this.handle,
          bootCount: this.bootCount,
          uptimeMs: this.uptimeMs(),
          batteryPct: this.config.batteryPct,
        };
        return { name: RESPONSE_OF.info, body: res };
      }
      case 'activate': {
        const to = this.transition('activate');
        if (!to) return wireError('INVALID_STATE', `activate is not allowed in state ${this.state}`);
        return { name: RESPONSE_OF.activate, body: { state: to } };
      }
      default:
        return wireError('UNKNOWN_TYPE', `${name} has no handler`);
    }
  }
}

/** A wire error produced by the firmware. */
export interface WireError {
  error: KeyErrorName;
  reason: string;
}

function wireError(error: KeyErrorName, reason?: string): WireError {
  return { error, reason: reason ?? KEY_ERRORS[error].reason };
}

/** Per-link state of the firmware: request de-duplication. */
export class LinkContext {
  readonly #fw: KeyFirmware;
  readonly #recent = new Map<number, Uint8Array>();
  /** Largest frame payload the host accepts: {@link MIN_FRAME_PAYLOAD} until its hello says more. */
  #peerMaxFrame = MIN_FRAME_PAYLOAD;

  /** @internal use {@link KeyFirmware.connect} */
  constructor(fw: KeyFirmware) {
    this.#fw = fw;
  }

  /**
   * Handles one received frame payload and returns the encoded response, or `undefined` when no
   * response is owed (an event or response sent to the Key, which it ignores, or garbage without a
   * readable request id).
   */
  handle(payload: Uint8Array): Uint8Array | undefined {
    if (payload.length > this.#fw.config.maxFrame) return undefined; // framing enforces; defensive
    let id: number | undefined;
    let out: Uint8Array;
    try {
      const env = decodeEnvelope(payload);
      id = env.id;
      if (env.kind !== 'request') return id === undefined ? undefined : this.#error(id, 'NOT_A_REQUEST');
      const cached = id === undefined ? undefined : this.#recent.get(id);
      if (cached) return cached; // a retry: answer again, do not run twice
      let msg: Message;
      try {
        msg = decodeBody(env);
      } catch (e) {
        return this.#remember(id as number, this.#error(id as number, 'INVALID_ARGUMENT', (e as Error).message));
      }
      const r = this.#fw.execute(msg);
      if (msg.name === 'hello' && !('error' in r)) this.#peerMaxFrame = (msg.body as BodyOf<'hello'>).maxFrame;
      out =
        'error' in r
          ? this.#error(id as number, r.error, r.reason)
          : encodeMessage({ version: env.version, name: r.name as never, id, body: r.body as never });
      if (out.length > this.#peerMaxFrame)
        out = this.#error(
          id as number,
          'TOO_LARGE',
          `response of ${out.length} bytes exceeds the host's maxFrame ${this.#peerMaxFrame}`,
        );
      return this.#remember(id as number, out);
    } catch (e) {
      const reqId = (e as { requestId?: number }).requestId ?? id;
      if (reqId === undefined) return undefined;
      const code = e instanceof ProtocolError ? e.code : undefined;
      const name: KeyErrorName =
        code === 'MESSAGE_UNKNOWN_TYPE'
          ? 'UNKNOWN_TYPE'
          : code === 'MESSAGE_VERSION'
            ? 'UNSUPPORTED_VERSION'
            : code
              ? 'MALFORMED'
              : 'INTERNAL';
      return this.#error(reqId, name, e instanceof ProtocolError ? e.message : undefined);
    }
  }

  #error(id: number, name: KeyErrorName, reason?: string): Uint8Array {
    return encodeMessage({
      version: PROTOCOL_VERSION,
      name: 'error',
      id,
      body: { code: KEY_ERRORS[name].code, name, reason: (reason ?? KEY_ERRORS[name].reason).slice(0, 256) },
    });
  }

  #remember(id: number, response: Uint8Array): Uint8Array {
    this.#recent.set(id, response);
    if (this.#recent.size > DEDUP_CACHE_SIZE) {
      const oldest = this.#recent.keys().next().value as number;
      this.#recent.delete(oldest);
    }
    return response;
  }
}
