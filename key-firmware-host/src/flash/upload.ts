/**
 * Uploading a firmware payload to a Key inside a session: windowed, pipelined chunks.
 *
 * - `fw.begin` sends the signed manifest; the Key verifies it before accepting any byte and answers
 *   with the offset to start from (0, or where an interrupted upload of the same manifest stopped —
 *   resume is keyed by the manifest, so it survives disconnects and host restarts) and the largest
 *   chunk it takes (derived from its frame size; nothing is configured by hand).
 * - Up to the Key's advertised window of `fw.chunk` requests are in flight. The Key acknowledges
 *   cumulatively (next expected offset). A chunk it could not place (a predecessor was lost)
 *   comes back `accepted: false`; the uploader then goes back to the acknowledged offset
 *   (go-back-N). Lost requests are retried by the client with identical bytes; a corrupted frame
 *   fails its CRC and is retried the same way. No fixed sleeps anywhere.
 * @module
 */
import type { BodyOf } from '@enigm/protocols/messages';
import { KeyError } from '../client/errors.ts';
import type { SecureSession } from '../session/secure-session.ts';

/** Progress of an upload. */
export interface UploadProgress {
  /** Bytes the Key has acknowledged. */
  acked: number;
  /** Payload size. */
  total: number;
  /** Where this run started (non-zero when resuming). */
  resumedFrom: number;
  /** Acknowledged bytes per second since this run started. */
  bytesPerSecond: number;
  /** Estimated seconds to go. */
  etaSeconds: number;
}

/** Result of an upload. */
export interface UploadResult {
  resumedFrom: number;
  bytes: number;
  ms: number;
  chunk: number;
  /** Chunks sent again after a loss or rejection. */
  resent: number;
}

/** Options of {@link uploadPayload}. */
export interface UploadOptions {
  /** Requests in flight (default: the Key's window). */
  window?: number;
  onProgress?: (p: UploadProgress) => void;
  signal?: AbortSignal;
  /** Give up after this many consecutive failed rounds (default 8). */
  maxFailures?: number;
  /**
   * Owner only: if another host's update is in progress, drop it and begin this one (`fw.begin`
   * `takeover`); without it the Key answers `UPDATE_BUSY`. Default false.
   */
  takeover?: boolean;
}

/**
 * Begins (or resumes) an update and sends the whole payload.
 * @throws {@link KeyError} `KEY_REJECTED` with the Key's reason (e.g. a refused manifest:
 *   FIRMWARE_DOWNGRADE…; `UPDATE_BUSY` while another host's update is in progress, unless
 *   `takeover`), `KEY_CANCELLED`, `KEY_TIMEOUT` after `maxFailures` failed rounds
 */
export async function uploadPayload(
  session: SecureSession,
  signedManifest: Uint8Array,
  payload: Uint8Array,
  window: number,
  options: UploadOptions = {},
): Promise<UploadResult> {
  const body = options.takeover ? { manifest: signedManifest, takeover: true } : { manifest: signedManifest };
  const begin = await session.request('fw.begin', body, signalOf(options));
  const chunk = begin.chunk;
  const total = payload.length;
  const w = Math.max(1, options.window ?? window);
  const started = performance.now();
  let acked = begin.offset;
  let next = begin.offset;
  let generation = 0;
  let resent = 0;
  let failures = 0;
  // Each result carries its key and is removed only once the loop has observed it: removing on
  // settlement would lose results that settle together, and leave nothing to wait on.
  const inFlight = new Map<
    number,
    Promise<{ k: number; gen: number; end: number; res?: BodyOf<'fw.chunk.response'>; error?: unknown }>
  >();
  let key = 0;
  const report = () => {
    if (!options.onProgress) return;
    const s = (performance.now() - started) / 1000;
    const rate = s > 0 ? (acked - begin.offset) / s : 0;
    options.onProgress({
      acked,
      total,
      resumedFrom: begin.offset,
      bytesPerSecond: rate,
      etaSeconds: rate > 0 ? (total - acked) / rate : Number.POSITIVE_INFINITY,
    });
  };
  report();
  while (acked < total) {
    if (options.signal?.aborted) throw new KeyError('KEY_CANCELLED', 'upload cancelled');
    while (next < total && inFlight.size < w) {
      const end = Math.min(total, next + chunk);
      const gen = generation;
      const k = key++;
      const p = session.request('fw.chunk', { offset: next, data: payload.subarray(next, end) }, signalOf(options)).then(
        (res) => ({ k, gen, end, res }),
        (error: unknown) => ({ k, gen, end, error }),
      );
      inFlight.set(k, p);
      next = end;
    }
    const r = await Promise.race(inFlight.values());
    inFlight.delete(r.k);
    if (r.res) {
      failures = 0;
      if (r.res.offset > acked) {
        acked = r.res.offset;
        report();
      }
      if (!r.res.accepted && r.gen === generation) {
        // A predecessor was lost: go back to what the Key has.
        generation++;
        resent += Math.ceil((next - acked) / chunk);
        next = acked;
      }
    } else {
      const e = r.error;
      // OUT_OF_ORDER: a chunk held back and retried behind later ones was not run — go back like a loss.
      const fatal = e instanceof KeyError && e.remote?.name !== 'OUT_OF_ORDER';
      if (fatal && (e.code === 'KEY_REJECTED' || e.code === 'KEY_CANCELLED' || e.code === 'KEY_CLOSED')) throw e;
      if (++failures > (options.maxFailures ?? 8)) throw e;
      if (r.gen === generation) {
        generation++;
        resent += Math.ceil((next - acked) / chunk);
        next = acked;
      }
    }
  }
  // Let stragglers settle so no request is left pending on the session.
  await Promise.all(inFlight.values());
  return { resumedFrom: begin.offset, bytes: total - begin.offset, ms: performance.now() - started, chunk, resent };
}

function signalOf(o: UploadOptions): { signal?: AbortSignal } {
  return o.signal ? { signal: o.signal } : {};
}
