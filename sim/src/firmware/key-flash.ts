/**
 * The Key's updatable flash as the firmware sees it: boots through the bootloader and runs the
 * `fw.*` commands on the update engine, for the host that holds the update.
 *
 * - **Errors are values.** The flash layer throws {@link FlashError}s with typed codes; each code
 *   maps to a wire error through {@link FLASH_WIRE_ERRORS} (no message parsing). The reason keeps
 *   the precise code first (e.g. `FIRMWARE_DOWNGRADE: …`).
 * - **One update, one host.** `fw.begin` records the update id and the session host key that
 *   began it; `fw.chunk`, `fw.finish`, `fw.test` and cancelling the upload are accepted only from
 *   that host (and, when the request names an update id, only for that update). Another host's
 *   `fw.begin` is refused with `UPDATE_BUSY` unless it asks for a takeover and may take over (an
 *   owner). The holder is forgotten at every boot (the upload must be begun again anyway).
 * - **Durable before acknowledged.** `fw.finish`, `fw.test`, `fw.confirm` and `fw.revert` call
 *   {@link FlashDeps.persist} before answering, so an acknowledged state survives a power cut.
 * @module
 */
import { bytesEqual, toHex } from '@enigm/protocols/bytes';
import type { BodyOf, KeyErrorName } from '@enigm/protocols/messages';
import { type BootResult, boot } from './flash/bootloader.ts';
import { type Flash, FlashError, type FlashErrorCode } from './flash/flash.ts';
import type { ImageInfo, ImageVerifier } from './flash/image.ts';
import type { FlashLayout } from './flash/layout.ts';
import { UpdateEngine, type UpdateStatus } from './flash/update.ts';
import { type WireError, wireError } from './result.ts';

/** What the firmware needs to run updates. */
export interface FlashDeps {
  flash: Flash;
  layout: FlashLayout;
  verifier: ImageVerifier;
  /** Called after commands that may have changed the flash (e.g. a debounced save). */
  onChange?: () => void;
  /**
   * Makes the flash durable now (write and fsync), synchronously. Called before the Key answers a
   * command whose effect the host is told about (`fw.finish`, `fw.test`, `fw.confirm`,
   * `fw.revert`). If it throws, the command answers `INTERNAL` (outcome not durable).
   */
  persist?: () => void;
  /**
   * Erase the pages an upload needs up front at `fw.begin` (a long operation the runtime drives
   * page by page, sending keepalives) instead of lazily page by page as chunks arrive.
   */
  eraseAhead?: boolean;
}

/** Result of an `fw.*` operation: a response body (and, for a long operation, `work`) or a wire error. */
export type FwResult<B> = { body: B; work?: () => boolean } | WireError;

/** The host asking: its session static key, and whether it may take over another host's update. */
export interface UpdateHost {
  readonly key: Uint8Array;
  readonly mayTakeOver: boolean;
}

/** Bytes of a frame an `fw.chunk` may not use for payload (envelopes, session, AEAD tag, framing). */
export const CHUNK_OVERHEAD = 128;

/** Wire error of each flash-layer error code (the reason carries the code itself). */
export const FLASH_WIRE_ERRORS: { readonly [C in FlashErrorCode]: KeyErrorName } = {
  WRITE_WITHOUT_ERASE: 'INTERNAL',
  NO_VALID_IMAGE: 'INTERNAL',
  FIRMWARE_MALFORMED: 'FIRMWARE_REJECTED',
  FIRMWARE_UNVERIFIED: 'FIRMWARE_REJECTED',
  FIRMWARE_WRONG_MODEL: 'FIRMWARE_REJECTED',
  FIRMWARE_DOWNGRADE: 'FIRMWARE_REJECTED',
  FIRMWARE_TOO_LARGE: 'FIRMWARE_REJECTED',
  FIRMWARE_DIGEST_MISMATCH: 'FIRMWARE_REJECTED',
  OUT_OF_ORDER: 'INVALID_ARGUMENT',
  CHUNK_MISMATCH: 'INVALID_ARGUMENT',
  UPDATE_INCOMPLETE: 'INVALID_STATE',
  UPDATE_STATE: 'INVALID_STATE',
};

/** The wire error for a flash-layer error: mapped by code through {@link FLASH_WIRE_ERRORS}. */
export function flashWireError(e: FlashError): WireError {
  // FIRMWARE_UNVERIFIED's message already starts with the verifier's own code.
  const reason = e.code === 'FIRMWARE_UNVERIFIED' ? e.message : `${e.code}: ${e.message}`;
  return wireError(FLASH_WIRE_ERRORS[e.code], reason.slice(0, 256));
}

type FwStatusBody = BodyOf<'fw.status.response'>;

const slot = (i: ImageInfo, state: string, offset?: number): FwStatusBody['running'] => ({
  version: i.version,
  securityCounter: i.securityCounter,
  id: i.manifestId,
  state,
  size: i.payloadSize,
  ...(offset !== undefined ? { offset } : {}),
});

/** What the next boot does, in words (for `fw.status`). */
export function nextBootOf(st: UpdateStatus): string {
  const old = st.secondary?.state === 'old' ? st.secondary.version : 'the previous image';
  if (st.primary === 'reverting') return `reverts to ${old} (revert requested; confirm withdraws it)`;
  if (st.primary === 'testing') return `reverts to ${old} unless ${st.running.version} is confirmed`;
  if (st.secondary?.state === 'pending-test') return `test-boots ${st.secondary.version}`;
  return `runs ${st.running.version}`;
}

const short = (id: Uint8Array) => `${toHex(id).slice(0, 16)}…`;

/** The flash of one Key. */
export class KeyFlash {
  readonly #deps: FlashDeps;
  readonly #model: string;
  #engine!: UpdateEngine;
  #boot!: BootResult;
  /** The update begun during this boot and the host that began it. */
  #holder: { id: Uint8Array; host: Uint8Array } | undefined;

  /** Boots the flash (runs the bootloader). */
  constructor(deps: FlashDeps, model: string) {
    this.#deps = deps;
    this.#model = model;
    this.boot();
  }

  /** Runs the bootloader (at power-on, after `fw.test` and on `reboot`); forgets the update holder. */
  boot(): BootResult {
    const { flash, layout, verifier } = this.#deps;
    this.#boot = boot(flash, layout, verifier);
    this.#engine = new UpdateEngine(flash, layout, verifier, { model: this.#model });
    this.#holder = undefined;
    this.#deps.onChange?.();
    return this.#boot;
  }

  /** Whether the Key runs an image on test (not confirmed yet, or a revert pending): an update in progress. */
  get onTest(): boolean {
    const p = this.#engine.status().primary;
    return p === 'testing' || p === 'reverting';
  }

  /** The running image (verified by the bootloader at this boot). */
  get running(): ImageInfo {
    return this.#boot.running;
  }

  /** Installed security counter: the status ring's (never decreases; advanced only by confirm). */
  get securityCounter(): number {
    return this.#engine.status().installedSecurityCounter;
  }

  /** `fw.begin`: starts or resumes an upload for `host`. */
  begin(body: BodyOf<'fw.begin'>, host: UpdateHost, chunkMax: number): FwResult<BodyOf<'fw.begin.response'>> {
    return this.#run(false, () => {
      const st = this.#engine.status();
      if (st.primary === 'reverting')
        return wireError(
          'INVALID_STATE',
          `a revert to ${st.secondary?.version ?? 'the previous image'} is pending: reboot to complete it, or fw.confirm to keep ${st.running.version}`,
        );
      if (st.primary === 'testing')
        return wireError('INVALID_STATE', `${st.running.version} is on test: fw.confirm or fw.revert it before a new update`);
      const h = this.#holder;
      if (h && !bytesEqual(h.host, host.key) && this.#inProgress(st, h.id)) {
        if (!body.takeover)
          return wireError(
            'UPDATE_BUSY',
            `update ${short(h.id)} begun by another host is in progress; an owner may begin with takeover`,
          );
        if (!host.mayTakeOver) return wireError('FORBIDDEN', "only an owner may take over another host's update");
      }
      const e = this.#engine;
      const r = e.begin(body.manifest);
      this.#holder = { id: r.id, host: host.key.slice() };
      const res = { body: { offset: r.offset, chunk: chunkMax, id: r.id } };
      return this.#deps.eraseAhead ? { ...res, work: this.#eraseWork(r.id) } : res;
    });
  }

  /** `fw.chunk`: stores payload bytes for the holder of the update. */
  chunk(body: BodyOf<'fw.chunk'>, host: UpdateHost, chunkMax: number): FwResult<BodyOf<'fw.chunk.response'>> {
    return this.#run<BodyOf<'fw.chunk.response'>>(false, () => {
      const refused = this.#holderCheck(host, body.id);
      if (refused) return refused;
      if (body.data.length > chunkMax) return wireError('TOO_LARGE', `chunk of ${body.data.length} bytes exceeds ${chunkMax}`);
      try {
        return { body: { offset: this.#engine.write(body.offset, body.data).offset, accepted: true } };
      } catch (err) {
        if (!(err instanceof FlashError) || err.code !== 'OUT_OF_ORDER') throw err;
        return { body: { offset: this.#engine.status().secondary?.offset ?? 0, accepted: false } };
      }
    });
  }

  /** `fw.finish`: checks the payload digest. */
  finish(body: BodyOf<'fw.finish'>, host: UpdateHost): FwResult<BodyOf<'fw.finish.response'>> {
    return this.#run(true, () => {
      const refused = this.#holderCheck(host, body.id);
      if (refused) return refused;
      this.#engine.finish();
      return { body: {} };
    });
  }

  /** `fw.test`: marks the ready update for a test boot (the caller reboots after answering). */
  test(host: UpdateHost): FwResult<BodyOf<'fw.test.response'>> {
    return this.#run(true, () => {
      const refused = this.#holderCheck(host, undefined);
      if (refused) return refused;
      this.#engine.markTest();
      return { body: {} };
    });
  }

  /** `fw.confirm`: keeps the running test image; the security counter advances. */
  confirm(): FwResult<BodyOf<'fw.confirm.response'>> {
    return this.#run(true, () => ({ body: this.#engine.confirm() }));
  }

  /** `fw.revert`: reverts a test image at the next boot, or cancels the holder's upload. */
  revert(host: UpdateHost): FwResult<BodyOf<'fw.revert.response'>> {
    return this.#run(true, () => {
      const st = this.#engine.status();
      const h = this.#holder;
      if (st.primary === 'confirmed' && h && !bytesEqual(h.host, host.key) && this.#inProgress(st, h.id))
        return wireError('UPDATE_BUSY', `update ${short(h.id)} belongs to another host; reboot the Key to drop it`);
      this.#engine.revert();
      this.#holder = undefined;
      return { body: {} };
    });
  }

  /** `fw.status`: the slots, the counter, and what the next boot does. */
  status(): FwResult<FwStatusBody> {
    return this.#run(
      false,
      () => {
        const st = this.#engine.status();
        const res: FwStatusBody = {
          running: slot(st.running, st.primary === 'confirmed' ? 'running' : st.primary),
          securityCounter: st.installedSecurityCounter,
          testing: st.testing,
          primary: st.primary,
          nextBoot: nextBootOf(st),
          ...(st.secondary ? { secondary: slot(st.secondary, st.secondary.state, st.secondary.offset) } : {}),
        };
        return { body: res };
      },
      false,
    );
  }

  #inProgress(st: UpdateStatus, id: Uint8Array): boolean {
    const s = st.secondary;
    return s !== undefined && s.state !== 'old' && bytesEqual(s.manifestId, id);
  }

  /** Refuses a request from a host that does not hold the update, or naming another update. */
  #holderCheck(host: UpdateHost, id: Uint8Array | undefined): WireError | undefined {
    const h = this.#holder;
    if (h === undefined) return undefined; // the engine answers "no upload in progress during this boot"
    if (!bytesEqual(h.host, host.key))
      return wireError('UPDATE_BUSY', `update ${short(h.id)} was begun by another host; only that host may continue it`);
    if (id !== undefined && !bytesEqual(id, h.id))
      return wireError('INVALID_STATE', `request for update ${short(id)}, but update ${short(h.id)} is in progress`);
    return undefined;
  }

  /** One erase step per call for the upload `id`; quietly ends when that upload is superseded. */
  #eraseWork(id: Uint8Array): () => boolean {
    return () => {
      if (this.#holder === undefined || !bytesEqual(this.#holder.id, id)) return false;
      try {
        return this.#engine.eraseStep();
      } catch (e) {
        if (e instanceof FlashError && e.code === 'UPDATE_STATE') return false; // superseded meanwhile
        throw e;
      } finally {
        this.#deps.onChange?.();
      }
    };
  }

  /**
   * Runs an operation: flash errors become wire errors by code; with `durable`, a successful
   * result is persisted before it is returned. `changes` says whether to report a change.
   */
  #run<B>(durable: boolean, op: () => FwResult<B>, changes = true): FwResult<B> {
    let r: FwResult<B>;
    try {
      r = op();
    } catch (e) {
      if (e instanceof FlashError) r = flashWireError(e);
      else throw e; // a bug or a simulated power loss: not a refusal to report
    } finally {
      if (changes) this.#deps.onChange?.();
    }
    if (durable && !('error' in r)) {
      try {
        this.#deps.persist?.();
      } catch (e) {
        return wireError('INTERNAL', `the flash could not be made durable: ${(e as Error).message}`.slice(0, 256));
      }
    }
    return r;
  }
}
