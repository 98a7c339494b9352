/**
 * The whole firmware update flow against one Key, resumable at every step:
 *
 * 1. `upload`  — `fw.begin` (the Key verifies the signed manifest first and answers where to
 *    start: an interrupted upload of the same image resumes at the Key's offset), then pipelined
 *    chunks ({@link uploadPayload}). A lost link reconnects with backoff and resumes.
 * 2. `finish`  — the Key checks the payload digest.
 * 3. `test`    — the Key reboots into the new image on test; the link's sessions end. A link
 *    lost around `fw.test` is not a failure: after reconnecting, an image still waiting in the
 *    other slot is asked for again.
 * 4. `health`  — reconnect (capped exponential backoff with jitter) and check, in a new session,
 *    that the Key runs the new image on test.
 * 5. `confirm` — the Key keeps the image; its security counter advances.
 *
 * Running the flow again after any interruption continues it: the upload resumes from the Key's
 * offset, and a Key already running the image on test goes straight to `health`.
 * @module
 */
import { bytesEqual, toHex } from '@enigm/protocols/bytes';
import { type ManifestValue, manifestId, parseImage } from '@enigm/protocols/firmware';
import type { BodyOf } from '@enigm/protocols/messages';
import { KeyError } from '../client/errors.ts';
import { type UploadProgress, type UploadResult, uploadPayload } from '../flash/upload.ts';
import type { SecureSession } from '../session/secure-session.ts';
import { TransportError } from '../transport/transport.ts';
import { KeyFacadeError } from './errors.ts';

/** Firmware slots and update state, as the Key reports them (`fw.status`). */
export type FirmwareStatus = BodyOf<'fw.status.response'>;

/** Steps of the update flow, in order. */
export type FlashStep = 'upload' | 'finish' | 'test' | 'health' | 'confirm';

/** Where the flow stops: after the upload, after the health check, or confirmed (default). */
export type FlashUntil = 'upload' | 'test' | 'confirm';

/** Options of `Key.flash`. */
export interface FlashOptions {
  /** Last step to run (default `confirm`). */
  until?: FlashUntil;
  /** Upload progress. */
  onProgress?: (p: UploadProgress) => void;
  /** Called as each step starts. */
  onStep?: (step: FlashStep) => void;
  /** Called when the upload has completed (before `finish`). */
  onUploaded?: (r: UploadResult) => void;
  /** Aborts the flow (`KEY_ABORTED`); running it again resumes. */
  signal?: AbortSignal;
  /** Reconnects allowed during the upload after a lost link (default 3). */
  uploadReconnects?: number;
  /**
   * Owner only: take over another host's update in progress (`fw.begin` with `takeover`; that
   * host's next chunk gets `UPDATE_BUSY`). Without it such a Key refuses with `UPDATE_BUSY`.
   */
  takeover?: boolean;
}

/** Result of the update flow. */
export interface FlashResult {
  /** Update id: SHA-256 of the signed manifest. */
  id: Uint8Array;
  /** The image's (untrusted until the Key verified it) manifest. */
  manifest: ManifestValue;
  /** The last step completed. */
  done: FlashUntil;
  /** The upload, unless the Key already ran the image on test (resumed at `health`). */
  upload?: UploadResult;
  /** Set when the flow resumed past the upload because the Key runs the image on test. */
  resumedAt?: 'health';
  /** Installed security counter after `confirm`. */
  securityCounter?: number;
  /** The Key's firmware status at the end (after `health` or `confirm`). */
  status?: FirmwareStatus;
}

/** A parsed image (see `parseImage` in `@enigm/protocols/firmware`). */
export interface ParsedImage {
  signedManifest: Uint8Array;
  manifest: ManifestValue;
  payload: Uint8Array;
}

/** What the flow needs from the Key object. */
export interface FlashHost {
  /** The open known-host session (opened if needed). */
  session(): Promise<SecureSession>;
  /** The Key's window (requests in flight). */
  window(): number;
  /** Drops the link (the Key rebooted). */
  drop(): Promise<void>;
  /** Reconnects with backoff and opens a session. */
  reconnect(signal?: AbortSignal): Promise<void>;
}

/**
 * Parses a signed image file's bytes for {@link runFlash}.
 * @throws {@link KeyFacadeError} `KEY_IMAGE_INVALID` (the protocol error as `cause`)
 * @example const image = readImage(new Uint8Array(readFileSync('app.ekfw')));
 */
export function readImage(bytes: Uint8Array): ParsedImage & { id: Uint8Array } {
  try {
    const p = parseImage(bytes);
    return { ...p, id: manifestId(p.signedManifest) };
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new KeyFacadeError(
      'KEY_IMAGE_INVALID',
      `not a valid firmware image: ${code ? `${code}: ` : ''}${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}

/**
 * Whether an error is a lost or silent link (worth a reconnect): a timeout, a closed link, a
 * session that ended without an authenticated answer. A refusal by the Key is not.
 * @example if (isLinkFailure(e)) await key.reconnect();
 */
export function isLinkFailure(e: unknown): boolean {
  if (e instanceof TransportError) return e.code !== 'TRANSPORT_BAD_ADDRESS';
  if (e instanceof KeyError)
    return (
      e.code === 'KEY_TIMEOUT' ||
      e.code === 'KEY_CLOSED' ||
      // no authenticated answer (e.g. the session ended): an upload is keyed by offset, so re-running is safe
      e.code === 'KEY_OUTCOME_UNKNOWN' ||
      (e.code === 'KEY_REJECTED' && e.remote?.name === 'SESSION_FAILED')
    );
  return false;
}

/**
 * Runs the update flow (see the module documentation).
 * @throws {@link KeyFacadeError} `KEY_IMAGE_INVALID`, `KEY_HEALTH_FAILED`, `KEY_ABORTED` (with
 *   `step`), `KEY_RECONNECT_FAILED`; KeyError `KEY_REJECTED` when the Key refuses (e.g.
 *   `FIRMWARE_REJECTED: FIRMWARE_DOWNGRADE …`)
 * @example
 * const r = await runFlash(host, readImage(bytes), { onStep: (s) => console.log(s) });
 */
export async function runFlash(
  host: FlashHost,
  image: ParsedImage | Uint8Array,
  options: FlashOptions = {},
): Promise<FlashResult> {
  const img = image instanceof Uint8Array ? readImage(image) : { ...image, id: manifestId(image.signedManifest) };
  const until = options.until ?? 'confirm';
  const signal = options.signal;
  let step: FlashStep = 'upload';
  let progress: UploadProgress | undefined;
  const enter = (s: FlashStep) => {
    checkAbort(signal, step, progress);
    step = s;
    options.onStep?.(s);
  };
  const req = signal ? { signal } : {};
  try {
    const base = { id: img.id, manifest: img.manifest };
    if (until !== 'upload') {
      const st = await (await host.session()).request('fw.status', {}, req);
      if (st.testing && bytesEqual(st.running.id, img.id)) {
        enter('health');
        return await healthAndConfirm(host, { ...base, resumedAt: 'health' }, until, st, req, enter);
      }
    }
    enter('upload');
    const onProgress = (p: UploadProgress) => {
      progress = p;
      options.onProgress?.(p);
    };
    const takeover = options.takeover ? { takeover: true } : {};
    const upload = await uploadWithReconnects(host, img, { onProgress, ...req, ...takeover }, options.uploadReconnects ?? 3);
    options.onUploaded?.(upload);
    enter('finish');
    await (await host.session()).request('fw.finish', {}, req);
    if (until === 'upload') return { ...base, done: 'upload', upload };
    enter('test');
    await testBoot(host, req);
    enter('health');
    let st = await (await host.session()).request('fw.status', {}, req);
    if (!(st.testing && bytesEqual(st.running.id, img.id)) && awaitsTestBoot(st, img.id)) {
      // The test request (or the Key's reboot) was lost on the way: the image is still waiting in
      // the other slot. Ask once more; the health check below tells the truth either way.
      await testBoot(host, req);
      st = await (await host.session()).request('fw.status', {}, req);
    }
    return await healthAndConfirm(host, { ...base, upload }, until, st, req, enter);
  } catch (e) {
    if (signal?.aborted) throw abortError(step, progress, e);
    throw e;
  }
}

/**
 * Asks for the test boot, then reconnects to the rebooted Key. A lost link around `fw.test` is
 * not a failure: the Key may have acted on it before the link went (the health check decides).
 */
async function testBoot(host: FlashHost, req: { signal?: AbortSignal }): Promise<void> {
  try {
    await (await host.session()).request('fw.test', {}, req);
  } catch (e) {
    if (req.signal?.aborted || !isLinkFailure(e)) throw e;
  }
  await host.drop();
  await host.reconnect(req.signal);
}

/** Whether the other slot holds image `id`, complete, not yet test-booted. */
function awaitsTestBoot(st: FirmwareStatus, id: Uint8Array): boolean {
  const s = st.secondary;
  return s !== undefined && bytesEqual(s.id, id) && (s.state === 'ready' || s.state === 'pending-test');
}

async function healthAndConfirm(
  host: FlashHost,
  base: Omit<FlashResult, 'done'>,
  until: FlashUntil,
  st: FirmwareStatus,
  req: { signal?: AbortSignal },
  enter: (s: FlashStep) => void,
): Promise<FlashResult> {
  if (!bytesEqual(st.running.id, base.id) || !st.testing)
    throw new KeyFacadeError(
      'KEY_HEALTH_FAILED',
      `health check failed: the Key runs ${st.running.version} (${toHex(st.running.id).slice(0, 16)}…), testing=${st.testing}; it did not boot the new image on test`,
      { step: 'health' },
    );
  if (until !== 'confirm') return { ...base, done: 'test', status: st };
  enter('confirm');
  const s = await host.session();
  const c = await s.request('fw.confirm', {}, req);
  const status = await s.request('fw.status', {}, req);
  return { ...base, done: 'confirm', securityCounter: c.securityCounter, status };
}

async function uploadWithReconnects(
  host: FlashHost,
  img: ParsedImage,
  options: { onProgress: (p: UploadProgress) => void; signal?: AbortSignal; takeover?: boolean },
  reconnects: number,
): Promise<UploadResult> {
  const started = performance.now();
  let resumedFrom: number | undefined;
  const onProgress = (p: UploadProgress) => {
    resumedFrom ??= p.resumedFrom;
    options.onProgress(p);
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await uploadPayload(await host.session(), img.signedManifest, img.payload, host.window(), {
        ...options,
        onProgress,
      });
      const from = resumedFrom ?? r.resumedFrom;
      return { ...r, resumedFrom: from, bytes: img.payload.length - from, ms: performance.now() - started };
    } catch (e) {
      if (options.signal?.aborted || !isLinkFailure(e) || attempt >= reconnects) throw e;
      await host.reconnect(options.signal);
    }
  }
}

function checkAbort(signal: AbortSignal | undefined, step: FlashStep, progress?: UploadProgress): void {
  if (signal?.aborted) throw abortError(step, progress);
}

function abortError(step: FlashStep, progress?: UploadProgress, cause?: unknown): KeyFacadeError {
  if (cause instanceof KeyFacadeError && cause.code === 'KEY_ABORTED' && cause.step) return cause;
  const at = step === 'upload' && progress ? ` at ${progress.acked}/${progress.total} B` : '';
  return new KeyFacadeError(
    'KEY_ABORTED',
    `update interrupted during ${step}${at}; running it again resumes (the Key keeps what it has)`,
    { step, ...(cause ? { cause } : {}) },
  );
}
