/**
 * One send path for TPM 2.0 commands (TPM 2.0 Part 1 §18, Part 3 §5): frames the header,
 * handles and password authorization sessions (`TPM_RS_PW`), checks the response header,
 * decodes non-zero response codes once into `AttestationError`s, and retries RETRY, YIELDED and
 * TESTING with capped exponential backoff and jitter.
 *
 * @module
 */
import { AttestationError } from '../errors.ts';
import { TPM_RH, TPM_ST } from '../structures/constants.ts';
import { TpmReader, TpmWriter } from '../structures/marshal.ts';
import { decodeResponseCode, describeResponseCode } from './rc.ts';
import type { TpmTransport } from './transport.ts';

/**
 * An authorization by a started session (HMAC or policy) rather than a password. Unbound,
 * unsalted policy sessions whose policy needs no authValue carry an empty HMAC.
 */
export interface SessionAuth {
  /** The session handle from `StartAuthSession`. */
  readonly session: number;
  /** `nonceCaller` (default empty). */
  readonly nonce?: Uint8Array;
  /** `TPMA_SESSION` (default 0x01, continueSession: the caller flushes the session). */
  readonly attributes?: number;
  /** The session HMAC (default empty). */
  readonly hmac?: Uint8Array;
}

/** One command to run. */
export interface TpmCommand {
  /** `TPM_CC`. */
  readonly code: number;
  /** Handles in the handle area. */
  readonly handles?: readonly number[];
  /**
   * Authorizations, one per handle needing it (the first `auth.length` handles): a password
   * (`TPM_RS_PW`) or a {@link SessionAuth}; presence selects `TPM_ST_SESSIONS`.
   */
  readonly auth?: readonly (Uint8Array | SessionAuth)[];
  /** Marshalled parameters. */
  readonly params?: Uint8Array;
  /** How many handles the response carries (e.g. 1 for CreatePrimary, Load). */
  readonly responseHandles?: number;
}

/** The successful response of a command. */
export interface TpmResponse {
  /** Handles from the response handle area. */
  readonly handles: readonly number[];
  /** Reader positioned on the response parameters (exactly the parameter area). */
  readonly params: TpmReader;
}

/** Backoff for retryable response codes. Time and randomness are injectable for tests. */
export interface RetryPolicy {
  /** Attempts in all (default 6). */
  attempts?: number;
  /** First delay, ms (default 20). */
  baseMs?: number;
  /** Delay cap, ms (default 1000). */
  maxMs?: number;
  /** Sleeps `ms` (default setTimeout). */
  sleep?: (ms: number) => Promise<void>;
  /** Returns [0, 1) for jitter (default Math.random). */
  random?: () => number;
}

/** Marshals a command. */
export function marshalCommand(cmd: TpmCommand): Uint8Array {
  const w = new TpmWriter();
  const sessions = cmd.auth !== undefined;
  w.u16(sessions ? TPM_ST.SESSIONS : TPM_ST.NO_SESSIONS)
    .u32(0)
    .u32(cmd.code);
  for (const h of cmd.handles ?? []) w.u32(h);
  if (sessions) {
    const area = new TpmWriter();
    for (const a of cmd.auth ?? []) {
      if (a instanceof Uint8Array) area.u32(TPM_RH.PW).tpm2b(new Uint8Array()).u8(0).tpm2b(a);
      else
        area
          .u32(a.session)
          .tpm2b(a.nonce ?? new Uint8Array())
          .u8(a.attributes ?? 0x01)
          .tpm2b(a.hmac ?? new Uint8Array());
    }
    const a = area.finish();
    w.u32(a.length).bytes(a);
  }
  if (cmd.params) w.bytes(cmd.params);
  const out = w.finish();
  new DataView(out.buffer, out.byteOffset).setUint32(2, out.length);
  return out;
}

/**
 * Parses a response, throwing the decoded response code if it is not success.
 * @throws {@link AttestationError} `TPM_RESPONSE` (with `rc`) or `TPM_MARSHAL`
 */
export function parseResponse(bytes: Uint8Array, cmd: TpmCommand): TpmResponse {
  const r = new TpmReader(bytes, 'TPM response');
  const tag = r.u16('the response tag');
  const size = r.u32('the response size');
  const rc = r.u32('the response code');
  if (size !== bytes.length)
    throw new AttestationError('TPM_MARSHAL', `response size field ${size} but ${bytes.length} bytes received`);
  if (rc !== 0) {
    throw new AttestationError('TPM_RESPONSE', `command 0x${cmd.code.toString(16)} failed: ${describeResponseCode(rc)}`, { rc });
  }
  if (tag !== TPM_ST.SESSIONS && tag !== TPM_ST.NO_SESSIONS)
    throw new AttestationError('TPM_MARSHAL', `response tag 0x${tag.toString(16)}`);
  const handles: number[] = [];
  for (let i = 0; i < (cmd.responseHandles ?? 0); i++) handles.push(r.u32('a response handle'));
  if (tag === TPM_ST.NO_SESSIONS) return { handles, params: new TpmReader(r.take(r.left), 'response parameters') };
  const paramSize = r.u32('parameterSize');
  const params = new TpmReader(r.take(paramSize, 'response parameters'), 'response parameters');
  for (let i = 0; i < (cmd.auth?.length ?? 0); i++) {
    r.tpm2b('a session nonce');
    r.u8('session attributes');
    r.tpm2b('a session hmac');
  }
  r.end();
  return { handles, params };
}

/**
 * Sends a command and returns its parsed response, retrying RETRY/YIELDED/TESTING.
 * @throws {@link AttestationError} `TPM_RESPONSE`, `TPM_RETRY_EXHAUSTED`, `TPM_MARSHAL`, `TPM_TRANSPORT`
 */
export async function runCommand(transport: TpmTransport, cmd: TpmCommand, retry: RetryPolicy = {}): Promise<TpmResponse> {
  const attempts = retry.attempts ?? 6;
  const base = retry.baseMs ?? 20;
  const max = retry.maxMs ?? 1000;
  const sleep = retry.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = retry.random ?? Math.random;
  const bytes = marshalCommand(cmd);
  for (let attempt = 1; ; attempt++) {
    const res = await transport.send(bytes);
    try {
      return parseResponse(res, cmd);
    } catch (e) {
      if (!(e instanceof AttestationError) || e.rc === undefined || !decodeResponseCode(e.rc).retryable) throw e;
      if (attempt >= attempts)
        throw new AttestationError('TPM_RETRY_EXHAUSTED', `${e.message}, still after ${attempts} attempts`, {
          cause: e,
          rc: e.rc,
        });
      const cap = Math.min(max, base * 2 ** (attempt - 1));
      await sleep(cap / 2 + random() * (cap / 2));
    }
  }
}
