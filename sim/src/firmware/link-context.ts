/**
 * One link (connection) to the Key: decodes requests, answers plain ones, runs sessions, and
 * dispatches the inner requests of `secure` messages with the session's role. It remembers the
 * last {@link DEDUP_CACHE_SIZE} responses by request id so a retried request is answered again
 * without running twice.
 * @module
 */
import { bytesEqual } from '@enigm/protocols/bytes';
import { ProtocolError } from '@enigm/protocols/errors';
import {
  type BodyOf,
  decodeBody,
  decodeEnvelope,
  encodeMessage,
  KEY_ERRORS,
  type KeyErrorName,
  type Message,
  MIN_FRAME_PAYLOAD,
  PROTOCOL_VERSION,
  type RequestName,
} from '@enigm/protocols/messages';
import type { PrologueInput } from '@enigm/protocols/session';
import { SESSION_COMMANDS } from './access.ts';
import type { CommandResult, KeyFirmware } from './firmware.ts';
import { LinkSessions, SESSION_FAILED_REASON, type Session } from './sessions.ts';

/** How many recent responses a link remembers for de-duplicating retried request ids. */
export const DEDUP_CACHE_SIZE = 64;

/**
 * Bytes of responses a link remembers at most for de-duplication (oldest forgotten first): with
 * {@link DEDUP_CACHE_SIZE} responses of up to a frame each, a link could otherwise hold ~256 KiB.
 */
export const DEDUP_CACHE_BYTES = 64 * 1024;

/** Per-link state of the firmware. */
export class LinkContext {
  readonly #fw: KeyFirmware;
  readonly #transport: string;
  /** Recent responses by request id: bytes, or a function that re-seals a session response. */
  readonly #recent = new Map<number, Uint8Array | (() => Uint8Array)>();
  /** Size of each remembered response (for a re-sealing function: its plaintext), and their sum. */
  readonly #recentSizes = new Map<number, number>();
  #recentBytes = 0;
  #sessions: LinkSessions;
  /** Largest frame payload the host accepts: {@link MIN_FRAME_PAYLOAD} until its hello says more. */
  #peerMaxFrame = MIN_FRAME_PAYLOAD;
  #prologue: PrologueInput | undefined;
  #work: (() => boolean) | undefined;

  /** @internal use {@link KeyFirmware.connect} */
  constructor(fw: KeyFirmware, transport: string) {
    this.#fw = fw;
    this.#transport = transport;
    this.#sessions = new LinkSessions(fw);
  }

  /**
   * The long operation the last handled request started, if any: call it until it returns false
   * (one step per call) before sending that request's response; send keepalives in between.
   */
  takeWork(): (() => boolean) | undefined {
    const w = this.#work;
    this.#work = undefined;
    return w;
  }

  /** Forgets sessions, negotiation and cached responses (the Key rebooted). */
  reset(): void {
    this.#sessions = new LinkSessions(this.#fw);
    this.#recent.clear();
    this.#recentSizes.clear();
    this.#recentBytes = 0;
    this.#prologue = undefined;
    this.#peerMaxFrame = MIN_FRAME_PAYLOAD;
  }

  /** Open sessions on this link. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Handles one received frame payload and returns the encoded response, or `undefined` when no
   * response is owed (an event or response sent to the Key, or garbage without a readable id).
   */
  handle(payload: Uint8Array): Uint8Array | undefined {
    if (payload.length > this.#fw.config.maxFrame) return undefined; // framing enforces; defensive
    let id: number | undefined;
    try {
      const env = decodeEnvelope(payload);
      id = env.id;
      if (env.kind !== 'request') return id === undefined ? undefined : this.#error(id, 'NOT_A_REQUEST');
      const reqId = id as number;
      const cached = this.#recent.get(reqId);
      if (cached) return typeof cached === 'function' ? cached() : cached; // a retry: answer again, do not run twice
      let msg: Message;
      try {
        msg = decodeBody(env);
      } catch (e) {
        return this.#remember(reqId, this.#error(reqId, 'INVALID_ARGUMENT', (e as Error).message));
      }
      const r = this.#dispatch(msg, reqId, env.version);
      if ('frame' in r) return r.frame; // `secure`: sealed and remembered by #secure
      let out =
        'error' in r
          ? this.#error(reqId, r.error, r.reason)
          : encodeMessage({ version: env.version, name: r.name as never, id: reqId, body: r.body as never });
      if (out.length > this.#peerMaxFrame)
        out = this.#error(
          reqId,
          'TOO_LARGE',
          `response of ${out.length} bytes exceeds the host's maxFrame ${this.#peerMaxFrame}`,
        );
      return this.#remember(reqId, out);
    } catch (e) {
      const reqId = (e as { requestId?: number }).requestId ?? id;
      if (reqId === undefined) return undefined;
      return this.#error(reqId, errorNameOf(e), e instanceof ProtocolError ? e.message : undefined);
    }
  }

  /** Runs a plain request through the firmware's dispatch table, with this link's sessions. */
  #dispatch(msg: Message, reqId: number, version: number): CommandResult {
    return this.#fw.execute(msg, {
      link: {
        sessions: this.#sessions,
        prologue: this.#prologue,
        negotiated: (req, res) => {
          this.#peerMaxFrame = req.maxFrame;
          this.#prologue = { hello: req, helloResponse: res, transport: this.#transport };
        },
        secure: (body) => this.#secure(reqId, version, body),
      },
    });
  }

  /**
   * Handles a `secure` request. The inner response is remembered as plaintext: a retry of the
   * same request id is answered by sealing it again with the next counter, so the host sees
   * strictly increasing counters and no nonce is ever used twice.
   */
  #secure(reqId: number, version: number, body: BodyOf<'secure'>): Uint8Array {
    const opened = this.#sessions.openSecure(body);
    if (!opened) return this.#remember(reqId, this.#error(reqId, 'SESSION_FAILED', SESSION_FAILED_REASON));
    const inner = this.#inner(opened.session, opened.plaintext);
    const respond = (): Uint8Array => {
      if (!opened.session.channel.isOpen) return this.#error(reqId, 'SESSION_FAILED', SESSION_FAILED_REASON);
      const out = encodeMessage({
        version,
        name: 'secure.response',
        id: reqId,
        body: this.#sessions.sealSecure(opened.session, inner),
      });
      return out.length > this.#peerMaxFrame
        ? this.#error(reqId, 'TOO_LARGE', `response of ${out.length} bytes exceeds the host's maxFrame ${this.#peerMaxFrame}`)
        : out;
    };
    this.#remember(reqId, respond, inner.length);
    return respond();
  }

  /** Runs an inner (decrypted) request and returns the inner response bytes. */
  #inner(session: Session, plaintext: Uint8Array): Uint8Array {
    let id: number | undefined;
    try {
      const env = decodeEnvelope(plaintext);
      id = env.id;
      if (env.kind !== 'request') return this.#error(id ?? 0, 'NOT_A_REQUEST');
      let msg: Message;
      try {
        msg = decodeBody(env);
      } catch (e) {
        return this.#error(id as number, 'INVALID_ARGUMENT', (e as Error).message);
      }
      if (SESSION_COMMANDS.has(msg.name as RequestName))
        return this.#error(id as number, 'INVALID_ARGUMENT', `${msg.name} cannot be sent inside a session`);
      // Requests run in the order the host issued them: one held back and retried after a later
      // one ran is refused, not run (its refusal is sealed, so the host knows it did not run).
      if ((id as number) <= session.lastInnerId)
        return this.#error(
          id as number,
          'OUT_OF_ORDER',
          `request ${id} is not after request ${session.lastInnerId}, which has run; request ${id} was not run now`,
        );
      session.lastInnerId = id as number;
      // A host unpaired since (hosts.remove, retire) keeps its session but not its role.
      if (session.role !== 'unpaired' && !this.#fw.hosts().some((h) => bytesEqual(h.publicKey, session.hostKey)))
        session.role = 'unpaired';
      const r = this.#fw.execute(msg, { session: { hostKey: session.hostKey, role: session.role } });
      if ('error' in r) return this.#error(id as number, r.error, r.reason);
      if ('frame' in r) return this.#error(id as number, 'INTERNAL'); // unreachable: `secure` is refused above
      if (r.role) session.role = r.role; // pairing changed the session's role
      if (r.work) this.#work = r.work;
      return encodeMessage({ version: env.version, name: r.name as never, id: id as number, body: r.body as never });
    } catch (e) {
      const reqId = (e as { requestId?: number }).requestId ?? id ?? 0;
      return this.#error(reqId, errorNameOf(e), e instanceof ProtocolError ? e.message : undefined);
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

  /** Bytes of responses remembered for de-duplication (at most {@link DEDUP_CACHE_BYTES}). */
  get cachedBytes(): number {
    return this.#recentBytes;
  }

  #remember<T extends Uint8Array | (() => Uint8Array)>(id: number, response: T, size?: number): T {
    const bytes = size ?? (response instanceof Uint8Array ? response.length : 0);
    this.#recentBytes += bytes - (this.#recentSizes.get(id) ?? 0);
    this.#recent.delete(id); // re-inserted as the newest
    this.#recent.set(id, response);
    this.#recentSizes.set(id, bytes);
    while (this.#recent.size > 1 && (this.#recent.size > DEDUP_CACHE_SIZE || this.#recentBytes > DEDUP_CACHE_BYTES)) {
      const oldest = this.#recent.keys().next().value as number;
      this.#recent.delete(oldest);
      this.#recentBytes -= this.#recentSizes.get(oldest) ?? 0;
      this.#recentSizes.delete(oldest);
    }
    return response;
  }
}

function errorNameOf(e: unknown): KeyErrorName {
  const code = e instanceof ProtocolError ? e.code : undefined;
  return code === 'MESSAGE_UNKNOWN_TYPE'
    ? 'UNKNOWN_TYPE'
    : code === 'MESSAGE_VERSION'
      ? 'UNSUPPORTED_VERSION'
      : code
        ? 'MALFORMED'
        : 'INTERNAL';
}
