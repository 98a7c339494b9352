/**
 * The Key's one dispatch table: a handler per request name in a map the compiler checks for
 * completeness ({@link HANDLERS}: a request in the catalogue without a handler does not compile).
 * Session commands are in the same map; they act on the link's sessions ({@link LinkPort}).
 * Each handler gets its request's typed body and returns an {@link Outcome}: a typed response
 * body or a wire error value. Access (`access.ts`) and lifecycle (`lifecycle.ts`) checks run
 * before any handler, in {@link dispatch}.
 *
 * Adding a Key command end to end: a record and a catalogue entry (`@enigm/protocols/messages`),
 * a row in `COMMAND_ACCESS` and `COMMAND_STATES`, a handler here, `npm run docs:protocol`, and a
 * host call. `sim/test/command-table.test.ts` fails while any of these is missing.
 * @module
 */

import { bytesEqual } from '@enigm/protocols/bytes';
import {
  type BodyOf,
  chooseVersion,
  type HostRole,
  type LifecycleState,
  type Message,
  PROTOCOL_VERSIONS,
  RESPONSE_OF,
  type RequestName,
  stateRefusal,
  TIME_SET_BOUNDS,
} from '@enigm/protocols/messages';
import type { PrologueInput } from '@enigm/protocols/session';
import { COMMAND_ACCESS, checkAccess, type SessionRole } from './access.ts';
import type { EmergencyEngine } from './emergency-engine.ts';
import { CHUNK_OVERHEAD, type FwResult, type KeyFlash, type UpdateHost } from './key-flash.ts';
import { commandAllowed, commandAllowedNames, type LifecycleEvent } from './lifecycle.ts';
import { type Answer, isWireError, type Outcome, type WireError, wireError } from './result.ts';
import { type LinkSessions, SESSION_FAILED_REASON } from './sessions.ts';
import type { Persistent } from './storage.ts';

/** Features this Key reports in `hello`. */
export const KEY_FEATURES = ['dedup-retry', 'state-events', 'noise-xx', 'noise-ik', 'attest'] as const;

/** What command handlers may see and do on the Key (the firmware provides it). */
export interface KeyOps {
  readonly model: string;
  readonly hardware: string;
  readonly maxFrame: number;
  readonly window: number;
  readonly batteryPct: number;
  /** The battery is critical and not charging: firmware updates are refused (`BATTERY_CRITICAL`). */
  readonly batteryCritical?: boolean;
  readonly state: LifecycleState;
  readonly handle: Uint8Array;
  readonly bootCount: number;
  readonly firmwareVersion: string;
  /** Whether a new host may pair now (no host yet, or the pairing window open). */
  readonly pairable: boolean;
  /** The updatable flash, if the Key has one. */
  readonly flash: KeyFlash | undefined;
  uptimeMs(): number;
  hosts(): Persistent['hosts'];
  /** Applies a lifecycle event; `undefined` if the table refuses it. */
  transition(event: LifecycleEvent): LifecycleState | undefined;
  /** Pairs `hostKey` (or finds it paired): the granted role, or the refusal. */
  pair(hostKey: Uint8Array, role: HostRole, label: string | undefined): HostRole | WireError;
  /** Signed evidence for `nonce`, asked by a host with `role`. */
  evidence(nonce: Uint8Array, role: HostRole): Uint8Array;
  /** Reboots after the current answer has gone out. */
  rebootSoon(): void;
  /** A PKCS#10 request for the identity key, signed inside the secure element. */
  csr(): Uint8Array;
  /** Checks and durably stores the Key's certificate chain (leaf first); the leaf's notAfter, or the refusal. */
  installChain(chain: readonly Uint8Array[]): { notAfter: number } | WireError;
  /** Sets the Key's wall clock (ms since the Unix epoch) until its next boot. */
  setTime(unixMs: number): void;
  /** The paired host with this key id (first 8 bytes of SHA-256 of its public key), if any. */
  hostByKeyId(keyId: Uint8Array): Persistent['hosts'][number] | undefined;
  /** Unpairs `hostKey`: the role it held and the hosts left, or the refusal. */
  removeHost(hostKey: Uint8Array): { role: HostRole; hosts: number } | WireError;
  /** `retire`: → retired (unless already), then the crypto-wipe back to `factory`; the state left, or the refusal. */
  retire(): LifecycleState | WireError;
  /** The emergency events and the contact set. */
  readonly emergency: EmergencyEngine;
}

/** The link a plain request arrived on: its sessions and negotiation (absent inside a session). */
export interface LinkPort {
  /** The link's sessions (handlers in `sessions.ts`). */
  readonly sessions: LinkSessions;
  /** Negotiation bound into session prologues, once `hello` completed. */
  readonly prologue: PrologueInput | undefined;
  /** Records a completed `hello` (frame limit and prologue). */
  negotiated(request: BodyOf<'hello'>, response: BodyOf<'hello.response'>): void;
  /** Opens a `secure` request, runs its inner request and returns the sealed, encoded answer. */
  secure(body: BodyOf<'secure'>): Uint8Array;
}

/** The session a request runs in, if any. */
export interface SessionContext {
  readonly hostKey: Uint8Array;
  readonly role: SessionRole;
}

/** Everything a handler gets besides its body. */
export interface CommandEnv {
  readonly key: KeyOps;
  readonly session?: SessionContext;
  readonly link?: LinkPort;
}

/** The handler of request `K`. */
export type Handler<K extends RequestName> = (body: BodyOf<K>, env: CommandEnv) => Outcome<K>;

/** A request with its typed body. */
export type RequestOf<K extends RequestName> = { readonly name: K; readonly body: BodyOf<K> };

const failed = (): WireError => wireError('SESSION_FAILED', SESSION_FAILED_REASON);
const onLinkOnly = (name: string): WireError =>
  wireError('INVALID_ARGUMENT', `${name} is sent on a link, never inside a session`);

/** The session (access checks guarantee it for non-public commands). */
function sessionOf(env: CommandEnv): SessionContext {
  if (!env.session) throw new Error('internal: a session command ran without a session');
  return env.session;
}

function pairedRole(env: CommandEnv): HostRole {
  const r = sessionOf(env).role;
  if (r === 'unpaired') throw new Error('internal: an unpaired host passed the access table');
  return r;
}

const updateHost = (env: CommandEnv): UpdateHost => ({ key: sessionOf(env).hostKey, mayTakeOver: env.session?.role === 'owner' });

/** Runs an `fw.*` operation on the flash, or refuses on a Key without updatable flash. */
function onFlash<B>(env: CommandEnv, op: (f: KeyFlash) => FwResult<B>): FwResult<B> {
  const f = env.key.flash;
  return f ? op(f) : wireError('INVALID_STATE', 'this Key has no updatable flash');
}

/** Applies `event` through the transition table; the new state, or the table's refusal. */
function lifecycleOp(env: CommandEnv, event: LifecycleEvent): { body: { state: LifecycleState } } | WireError {
  const from = env.key.state;
  const to = env.key.transition(event);
  return to ? { body: { state: to } } : wireError(stateRefusal(from), `${event} is not allowed in state ${from}`);
}

const chunkMax = (env: CommandEnv) => env.key.maxFrame - CHUNK_OVERHEAD;

/** The dispatch table: one handler per request (the compiler checks completeness). */
export const HANDLERS: { readonly [K in RequestName]: Handler<K> } = {
  hello: (body, env) => {
    const version = chooseVersion(PROTOCOL_VERSIONS, body.versions);
    if (version === undefined)
      return wireError('UNSUPPORTED_VERSION', `no common protocol version (Key speaks ${PROTOCOL_VERSIONS.join(', ')})`);
    const k = env.key;
    const res: BodyOf<'hello.response'> = {
      version,
      versions: [...PROTOCOL_VERSIONS],
      maxFrame: k.maxFrame,
      window: k.window,
      features: [...KEY_FEATURES],
      model: k.model,
      firmware: k.firmwareVersion,
      state: k.state,
    };
    env.link?.negotiated(body, res);
    return { body: res };
  },
  ping: (body, env) => ({ body: { uptimeMs: env.key.uptimeMs(), ...(body.data ? { data: body.data } : {}) } }),
  info: (_body, { key: k, session }) => {
    // The handle only to a paired host's session, or while the Key is pairable (no host yet, or
    // the pairing window open): otherwise anyone on the link could track the Key by it.
    const shown = k.pairable || (session !== undefined && session.role !== 'unpaired');
    return {
      body: {
        model: k.model,
        hardware: k.hardware,
        firmware: k.firmwareVersion,
        state: k.state,
        ...(shown ? { handle: k.handle } : {}),
        bootCount: k.bootCount,
        uptimeMs: k.uptimeMs(),
        batteryPct: k.batteryPct,
      },
    };
  },
  activate: (_body, env) => {
    const to = env.key.transition('activate');
    return to ? { body: { state: to } } : wireError('INVALID_STATE', `activate is not allowed in state ${env.key.state}`);
  },
  reboot: (_body, env) => {
    env.key.rebootSoon();
    return { body: {} };
  },
  'session.start': (body, env) => {
    if (!env.link) return onLinkOnly('session.start');
    if (!env.link.prologue) return failed(); // hello first
    const res = env.link.sessions.start(body, env.link.prologue);
    return res ? { body: res } : failed();
  },
  'session.finish': (body, env) => {
    if (!env.link) return onLinkOnly('session.finish');
    return env.link.sessions.finish(body) ? { body: {} } : failed();
  },
  'session.close': (body, env) => {
    if (!env.link) return onLinkOnly('session.close');
    env.link.sessions.close(body.session);
    return { body: {} };
  },
  secure: (body, env) => (env.link ? { frame: env.link.secure(body) } : onLinkOnly('secure')),
  pair: (body, env) => {
    const role = env.key.pair(sessionOf(env).hostKey, body.role, body.label);
    return typeof role === 'string' ? { body: { role }, role } : role;
  },
  attest: (body, env) => ({ body: { evidence: env.key.evidence(body.nonce, pairedRole(env)) } }),
  'hosts.list': (_body, env) => ({
    body: {
      hosts: env.key.hosts().map(({ publicKey, role, label }) => ({ publicKey, role, ...(label ? { label } : {}) })),
    },
  }),
  'hosts.remove': (body, env) => {
    const s = sessionOf(env);
    const host = env.key.hostByKeyId(body.keyId);
    const rule = COMMAND_ACCESS['hosts.remove'];
    // A `self` grant (provisioning, service) reaches its own entry only; it learns nothing of others.
    if (rule !== 'public' && rule[s.role] === 'self' && !(host && bytesEqual(host.publicKey, s.hostKey)))
      return wireError('FORBIDDEN', `the ${s.role} role may remove only its own entry`);
    if (!host) return wireError('HOST_NOT_FOUND');
    const r = env.key.removeHost(host.publicKey);
    return isWireError(r) ? r : { body: r };
  },
  suspend: (_body, env) => lifecycleOp(env, 'suspend'),
  resume: (_body, env) => lifecycleOp(env, 'resume'),
  revoke: (_body, env) => lifecycleOp(env, 'revoke'),
  retire: (_body, env) => {
    const r = env.key.retire();
    return typeof r === 'string' ? { body: { state: r } } : r;
  },
  'fw.begin': (body, env) =>
    env.key.batteryCritical ? wireError('BATTERY_CRITICAL') : onFlash(env, (f) => f.begin(body, updateHost(env), chunkMax(env))),
  'fw.chunk': (body, env) => onFlash(env, (f) => f.chunk(body, updateHost(env), chunkMax(env))),
  'fw.finish': (body, env) => onFlash(env, (f) => f.finish(body, updateHost(env))),
  'fw.test': (_body, env) =>
    onFlash(env, (f) => {
      const r = f.test(updateHost(env));
      if (!isWireError(r)) env.key.rebootSoon(); // test-boot after the answer has gone out
      return r;
    }),
  'fw.confirm': (_body, env) => onFlash(env, (f) => f.confirm()),
  'fw.revert': (_body, env) => onFlash(env, (f) => f.revert(updateHost(env))),
  'fw.status': (_body, env) => onFlash(env, (f) => f.status()),
  csr: (_body, env) => ({ body: { csr: env.key.csr() } }),
  'cert.install': (body, env) => {
    const r = env.key.installChain(body.chain);
    return isWireError(r) ? r : { body: { notAfter: r.notAfter } };
  },
  'time.set': (body, env) => {
    if (body.unixMs < TIME_SET_BOUNDS.min || body.unixMs > TIME_SET_BOUNDS.max)
      return wireError(
        'INVALID_ARGUMENT',
        `time ${body.unixMs} is outside ${new Date(TIME_SET_BOUNDS.min).toISOString()} … ${new Date(TIME_SET_BOUNDS.max).toISOString()}`,
      );
    env.key.setTime(body.unixMs);
    return { body: {} };
  },
  'emergency.cancel': (_body, env) => bodyOr(env.key.emergency.end('cancel')),
  'emergency.resolve': (_body, env) => bodyOr(env.key.emergency.end('resolve')),
  'emergency.ack': (body, env) => bodyOr(env.key.emergency.ack(body.ack)),
  'contacts.set': (body, env) => bodyOr(env.key.emergency.setContacts(body.set)),
  'contacts.get': (_body, env) => ({ body: env.key.emergency.getContacts() }),
  'emergency.log': (_body, env) => ({ body: env.key.emergency.readLog() }),
};

/** A result or its refusal, as an answer. */
function bodyOr<B extends object>(r: B | WireError): { body: B } | WireError {
  return isWireError(r) ? r : { body: r };
}

/** Whether `name` is a request of the catalogue. */
export function isRequestName(name: string): name is RequestName {
  return Object.hasOwn(RESPONSE_OF, name);
}

/** What {@link dispatch} returns: the answer with its response name, an encoded link frame, or a wire error. */
export type DispatchResult =
  | (Answer<RequestName> & { readonly name: (typeof RESPONSE_OF)[RequestName] })
  | { readonly frame: Uint8Array }
  | WireError;

/**
 * Runs one request: the access table, then the lifecycle table, then its handler.
 * @param request - a decoded request (its body validated against the catalogue)
 */
export function dispatch<K extends RequestName>(request: RequestOf<K>, env: CommandEnv): DispatchResult {
  const { name } = request;
  const access = checkAccess(name, env.session?.role, env.key.state);
  if (access !== 'ok') return wireError(access);
  if (!commandAllowed(name, env.key.state))
    return wireError(
      stateRefusal(env.key.state),
      `${name} is not allowed in state ${env.key.state} (allowed in: ${commandAllowedNames(name)})`,
    );
  const handler: Handler<K> = HANDLERS[name];
  const out: Outcome<RequestName> = handler(request.body, env);
  if (isWireError(out) || 'frame' in out) return out;
  return { ...out, name: RESPONSE_OF[name] };
}

/**
 * A decoded message as a request of the catalogue, or `undefined` if it is not a request. The
 * body was validated against the catalogue record of `m.name` by the decoder, which is what makes
 * the narrowing sound.
 */
export function asRequest(m: Message): RequestOf<RequestName> | undefined {
  return isRequestName(m.name) ? (m as RequestOf<RequestName>) : undefined;
}
