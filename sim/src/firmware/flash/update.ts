/**
 * The update engine of the running firmware: receives an update into the secondary slot and
 * drives the state table in `states.ts`; the bootloader (`bootloader.ts`) does the swaps.
 *
 * Flow: {@link UpdateEngine.begin} (manifest verified and policy applied before any flash write)
 * → {@link UpdateEngine.write} chunks in order → {@link UpdateEngine.finish} (payload digest) →
 * {@link UpdateEngine.markTest} → reboot (the bootloader swaps, the new image test-boots) →
 * {@link UpdateEngine.confirm} (the security counter advances now), or
 * {@link UpdateEngine.revert} / any reboot without confirming (the old image comes back).
 *
 * Everything the engine knows survives a power loss: the state, upload offset and installed
 * security counter are in the status ring, re-read at every call. After a reboot, an upload is
 * resumed by calling `begin` again with the same signed manifest; it answers with the offset to
 * continue from (the recorded one, or the start of its page if a torn write left bytes after it).
 *
 * Long operations and keepalives: `begin` erases one page and `write` erases at most one page per
 * page it enters, so each call is short. A caller that wants the slot erased up front calls
 * {@link UpdateEngine.eraseStep} until it returns `false`, sending a keepalive (busy) to the host
 * between calls, instead of one long silent erase.
 *
 * @module
 */
import { type Flash, FlashError } from './flash.ts';
import {
  bytesEqual,
  encodeSlotHeader,
  type ImageInfo,
  type ImageVerifier,
  inspectSlot,
  manifestInfo,
  maxManifestSize,
  readSlotManifest,
} from './image.ts';
import { checkLayout, type FlashLayout, imagePages, maxPayloadSize } from './layout.ts';
import { allowedStates, nextSlotState, type UpdateEvent } from './states.ts';
import {
  NO_IMAGE_ID,
  type PrimaryState,
  type SecondaryState,
  type SlotStatus,
  type StatusChange,
  StatusJournal,
} from './status.ts';

/** What the running firmware tells the engine. */
export interface UpdatePolicy {
  /** This Key's model; a manifest for another model is refused. */
  model: string;
  /**
   * A floor for the installed security counter kept elsewhere (optional; the engine uses the
   * larger of this and the one in the status ring). The Key firmware passes none: its counter
   * lives in the status ring only.
   */
  installedSecurityCounter?: () => number;
}

/** The secondary slot as {@link UpdateEngine.status} reports it. */
export type SecondaryInfo = ImageInfo & {
  state: Exclude<SecondaryState, 'empty'>;
  /** Payload bytes received (while `uploading`). */
  offset?: number;
};

/** Result of {@link UpdateEngine.status}. */
export interface UpdateStatus {
  /** The image in the primary slot (manifest fields; the bootloader verified its digest). */
  running: ImageInfo;
  /** What the secondary slot holds, if anything usable. */
  secondary?: SecondaryInfo;
  /** Installed security counter (never decreases). */
  installedSecurityCounter: number;
  /** Whether the running image is a test image (confirm it, or the next boot reverts it). */
  testing: boolean;
  /** State of the running image: `confirmed`, `testing`, or `reverting` (the next boot goes back). */
  primary: PrimaryState;
}

/**
 * Receives and manages a firmware update (see the module documentation). One instance per boot.
 * @example
 * const engine = new UpdateEngine(flash, DEFAULT_LAYOUT, verifier, { model: 'enigm-key-1', installedSecurityCounter: () => 3 });
 * let { offset } = engine.begin(signedManifest);
 * while (offset < payload.length) ({ offset } = engine.write(offset, payload.subarray(offset, offset + 4096)));
 * engine.finish(); engine.markTest(); // reboot: boot() swaps; then engine.confirm()
 */
export class UpdateEngine {
  readonly #flash: Flash;
  readonly #layout: FlashLayout;
  readonly #verifier: ImageVerifier;
  readonly #policy: UpdatePolicy;
  /** The upload `begin` opened during this boot: its id and verified manifest. */
  #session: { id: Uint8Array; info: ImageInfo } | undefined;
  /** Slot page `eraseStep` looks at next. */
  #eraseCursor = 0;
  /** The status ring as last read or written by this engine, and `flash.ops` at that moment. */
  #cache: { journal: StatusJournal; ops: number } | undefined;

  /**
   * @param flash - the Key's flash
   * @param layout - its partitioning
   * @param verifier - manifest verification and SHA-256 (injected)
   * @param policy - this Key's model and installed security counter
   * @throws {RangeError} if `layout` does not fit `flash`
   */
  constructor(flash: Flash, layout: FlashLayout, verifier: ImageVerifier, policy: UpdatePolicy) {
    checkLayout(flash, layout);
    this.#flash = flash;
    this.#layout = layout;
    this.#verifier = verifier;
    this.#policy = policy;
  }

  /**
   * Starts, or resumes, the upload of the image `signedManifest` describes. The manifest is
   * verified and the policy applied (model, then security counter, then size) before anything
   * is written. The same manifest as the upload in progress resumes it; a complete one (ready or
   * pending test) answers its full size; anything else starts afresh, dropping the secondary slot.
   * @returns `offset`: the next payload byte to send; `id`: the manifest id
   * @throws whatever the verifier throws (e.g. `FIRMWARE_BAD_SIGNATURE`)
   * @throws {@link FlashError} `FIRMWARE_WRONG_MODEL`, `FIRMWARE_DOWNGRADE`, `FIRMWARE_TOO_LARGE`;
   *   `UPDATE_STATE` while a test image runs (confirm or revert it first)
   */
  begin(signedManifest: Uint8Array): { offset: number; id: Uint8Array } {
    if (!(signedManifest instanceof Uint8Array)) throw new TypeError('signedManifest must be a Uint8Array');
    const info = manifestInfo(this.#verifier, signedManifest);
    const journal = this.#journal();
    const st = journal.current;
    if (info.model !== this.#policy.model)
      throw new FlashError(
        'FIRMWARE_WRONG_MODEL',
        `image is for model ${JSON.stringify(info.model)}, this is ${JSON.stringify(this.#policy.model)}`,
      );
    const installed = Math.max(st.securityCounter, this.#floor());
    if (info.securityCounter < installed)
      throw new FlashError(
        'FIRMWARE_DOWNGRADE',
        `image security counter ${info.securityCounter} is below the installed ${installed}`,
      );
    if (info.payloadSize > maxPayloadSize(this.#layout))
      throw new FlashError(
        'FIRMWARE_TOO_LARGE',
        `payload of ${info.payloadSize} bytes exceeds the ${maxPayloadSize(this.#layout)}-byte slot`,
      );
    if (signedManifest.length > maxManifestSize(this.#layout))
      throw new FlashError('FIRMWARE_TOO_LARGE', `signed manifest of ${signedManifest.length} bytes exceeds the slot header`);
    const to = this.#allowed(st, 'begin');
    const id = info.manifestId;

    if (this.#isSameUpload(st, id, signedManifest)) {
      this.#session = { id, info };
      if (st.secondary !== 'uploading') return { offset: info.payloadSize, id };
      const offset = this.#resumeOffset(st.uploadOffset);
      if (offset !== st.uploadOffset) this.#commit(journal, { uploadOffset: offset });
      this.#eraseCursor = this.#pageOf(offset);
      return { offset, id };
    }

    // Fresh upload: forget the slot's content first, then write the header, then open the upload.
    this.#session = undefined;
    if (st.secondary !== 'empty') this.#commit(journal, { secondary: 'empty', imageId: NO_IMAGE_ID, uploadOffset: 0 });
    const { secondary } = this.#layout;
    this.#flash.erase(secondary.firstPage);
    this.#flash.write(secondary.start, encodeSlotHeader(this.#layout, signedManifest));
    this.#commit(journal, { primary: to.primary, secondary: to.secondary, imageId: id, uploadOffset: 0 });
    this.#session = { id, info };
    this.#eraseCursor = 1;
    return { offset: 0, id };
  }

  /**
   * Erases one more page of the secondary slot ahead of the upload (never a page holding received
   * bytes). Optional: `write` erases lazily anyway. Use it to erase up front without going silent:
   * `while (engine.eraseStep()) sendKeepalive();`
   * @returns `true` while pages remain to be looked at, `false` when the rest of the slot the
   *   payload needs is erased
   * @throws {@link FlashError} `UPDATE_STATE` if no upload was begun during this boot
   */
  eraseStep(): boolean {
    const { info } = this.#requireUpload(this.#journal().current);
    const last = imagePages(this.#layout, info.payloadSize) - 1;
    const { secondary, pageSize } = this.#layout;
    while (this.#eraseCursor <= last && this.#flash.isErased(secondary.start + this.#eraseCursor * pageSize, pageSize))
      this.#eraseCursor++;
    if (this.#eraseCursor > last) return false;
    this.#flash.erase(secondary.firstPage + this.#eraseCursor);
    this.#settled();
    this.#eraseCursor++;
    return this.#eraseCursor <= last;
  }

  /**
   * Stores a chunk of payload at `offset`, which must be the next expected offset. A resent chunk
   * (starting before it) is compared with what is stored: identical bytes are acknowledged
   * without rewriting (only a tail past the next expected offset is written).
   * @returns `offset`: the next expected offset (cumulative acknowledgement)
   * @throws {RangeError} if `offset` is not a non-negative integer
   * @throws {@link FlashError} `OUT_OF_ORDER` if `offset` is past the next expected one;
   *   `FIRMWARE_TOO_LARGE` if the chunk ends past the payload size; `CHUNK_MISMATCH` if a resent
   *   chunk differs from the stored bytes; `UPDATE_STATE` if no upload was begun during this boot
   */
  write(offset: number, bytes: Uint8Array): { offset: number } {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`offset must be a non-negative integer, got ${offset}`);
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
    const journal = this.#journal();
    const st = journal.current;
    const { info } = this.#requireUpload(st);
    const next = st.uploadOffset;
    if (offset > next) throw new FlashError('OUT_OF_ORDER', `chunk at ${offset}, expected ${next}`);
    if (offset + bytes.length > info.payloadSize)
      throw new FlashError(
        'FIRMWARE_TOO_LARGE',
        `chunk [${offset}, ${offset + bytes.length}) ends past the ${info.payloadSize}-byte payload`,
      );
    const base = this.#layout.secondary.start + this.#layout.pageSize;
    const overlap = Math.min(offset + bytes.length, next) - offset;
    if (overlap > 0 && !bytesEqual(this.#flash.read(base + offset, overlap), bytes.subarray(0, overlap)))
      throw new FlashError('CHUNK_MISMATCH', `resent chunk at ${offset} differs from the stored bytes`);
    const tail = bytes.subarray(overlap);
    if (tail.length === 0) return { offset: next };
    this.#program(next, tail);
    const end = next + tail.length;
    this.#commit(journal, { uploadOffset: end });
    this.#eraseCursor = Math.max(this.#eraseCursor, this.#pageOf(end - 1) + 1);
    return { offset: end };
  }

  /**
   * Checks the received payload against the manifest digest and marks the update `ready`. On a
   * mismatch the upload is discarded (a new `begin` starts afresh). Repeating it when ready is a
   * no-op.
   * @throws {@link FlashError} `UPDATE_INCOMPLETE` if bytes are missing; `FIRMWARE_DIGEST_MISMATCH`;
   *   `UPDATE_STATE` if nothing is being uploaded
   */
  finish(): void {
    const journal = this.#journal();
    const st = journal.current;
    const to = this.#allowed(st, 'finish');
    const check = inspectSlot(this.#flash, this.#layout, this.#layout.secondary, this.#verifier, false);
    if (!check.ok || !bytesEqual(check.info.manifestId, st.imageId)) {
      throw new FlashError('UPDATE_STATE', 'the secondary slot header does not match the upload (begin again)');
    }
    const size = check.info.payloadSize;
    if (st.secondary === 'uploading' && st.uploadOffset < size)
      throw new FlashError('UPDATE_INCOMPLETE', `received ${st.uploadOffset} of ${size} bytes`);
    const payload = this.#flash.read(this.#layout.secondary.start + this.#layout.pageSize, size);
    if (!bytesEqual(this.#verifier.sha256(payload), check.info.payloadDigest)) {
      const d = this.#allowed(st, 'discard');
      this.#commit(journal, { primary: d.primary, secondary: d.secondary, imageId: NO_IMAGE_ID, uploadOffset: 0 });
      this.#session = undefined;
      throw new FlashError(
        'FIRMWARE_DIGEST_MISMATCH',
        'the received payload does not match the manifest digest; upload discarded',
      );
    }
    if (st.secondary !== to.secondary) this.#commit(journal, { secondary: to.secondary });
  }

  /**
   * Marks the ready update for a test boot: at the next boot the bootloader swaps it in, once.
   * Repeating it is a no-op.
   * @throws {@link FlashError} `UPDATE_STATE` unless an update is ready
   */
  markTest(): void {
    const journal = this.#journal();
    const st = journal.current;
    const to = this.#allowed(st, 'markTest');
    if (st.secondary !== to.secondary) this.#commit(journal, { secondary: to.secondary });
  }

  /**
   * Confirms the running test image: it stays, and the installed security counter advances to
   * its counter (never decreasing) in the same status record. It also withdraws a revert that was
   * requested but not yet booted. On a confirmed image it is a no-op.
   * @returns the installed security counter (the larger of the status ring's and the policy's)
   */
  confirm(): { securityCounter: number } {
    const journal = this.#journal();
    const st = journal.current;
    const policy = this.#floor();
    if (st.primary === 'confirmed') return { securityCounter: Math.max(st.securityCounter, policy) };
    const to = this.#allowed(st, 'confirm');
    const securityCounter = Math.max(st.securityCounter, this.#running().securityCounter);
    this.#commit(journal, { primary: to.primary, secondary: to.secondary, securityCounter });
    return { securityCounter: Math.max(securityCounter, policy) };
  }

  /**
   * Reverts: a running test image is replaced by the old one at the next boot; otherwise an
   * upload in progress, ready or pending test is cancelled.
   * @throws {@link FlashError} `UPDATE_STATE` if there is nothing to revert
   */
  revert(): void {
    const journal = this.#journal();
    const st = journal.current;
    const event: UpdateEvent = st.primary === 'confirmed' ? 'cancel' : 'revert';
    const to = this.#allowed(st, event);
    this.#session = undefined;
    if (to.primary === st.primary && to.secondary === st.secondary) return;
    this.#commit(journal, {
      primary: to.primary,
      secondary: to.secondary,
      ...(to.secondary === 'empty' ? { imageId: NO_IMAGE_ID, uploadOffset: 0 } : {}),
    } satisfies StatusChange);
  }

  /**
   * The running image, the secondary slot, the installed security counter and whether the
   * running image is a test image.
   * @throws {@link FlashError} `NO_VALID_IMAGE` if the primary slot has no readable manifest
   */
  status(): UpdateStatus {
    const st = this.#journal().current;
    const out: UpdateStatus = {
      running: this.#running(),
      installedSecurityCounter: Math.max(st.securityCounter, this.#floor()),
      testing: st.primary === 'testing',
      primary: st.primary,
    };
    if (st.secondary !== 'empty') {
      const sec = inspectSlot(this.#flash, this.#layout, this.#layout.secondary, this.#verifier, false);
      if (sec.ok) {
        out.secondary = {
          ...sec.info,
          state: st.secondary,
          ...(st.secondary === 'uploading' ? { offset: st.uploadOffset } : {}),
        };
      }
    }
    return out;
  }

  /**
   * The status ring, re-read unless nothing touched the flash since this engine last used it
   * (any erase or write, torn ones included, changes `flash.ops`).
   */
  #journal(): StatusJournal {
    const c = this.#cache;
    if (c !== undefined && c.ops === this.#flash.ops) return c.journal;
    const journal = StatusJournal.load(this.#flash, this.#layout);
    this.#cache = { journal, ops: this.#flash.ops };
    return journal;
  }

  /**
   * Commits through `journal`, then records that every flash change so far went through this
   * engine (so the cached journal is still current). A power loss skips the recording.
   */
  #commit(journal: StatusJournal, change: StatusChange): void {
    journal.commit(change);
    this.#settled();
  }

  #floor(): number {
    return this.#policy.installedSecurityCounter?.() ?? 0;
  }

  #settled(): void {
    if (this.#cache !== undefined) this.#cache.ops = this.#flash.ops;
  }

  #allowed(st: SlotStatus, event: UpdateEvent) {
    const to = nextSlotState(st, event);
    if (to === undefined)
      throw new FlashError(
        'UPDATE_STATE',
        `${event} is not allowed in state ${st.primary}/${st.secondary} (allowed in: ${allowedStates(event).join(', ')})`,
      );
    return to;
  }

  #running(): ImageInfo {
    const signed = readSlotManifest(this.#flash, this.#layout, this.#layout.primary);
    if (signed === undefined) throw new FlashError('NO_VALID_IMAGE', 'the primary slot has no image header');
    return manifestInfo(this.#verifier, signed);
  }

  #isSameUpload(st: SlotStatus, id: Uint8Array, signedManifest: Uint8Array): boolean {
    if (st.secondary !== 'uploading' && st.secondary !== 'ready' && st.secondary !== 'pending-test') return false;
    if (!bytesEqual(st.imageId, id)) return false;
    const stored = readSlotManifest(this.#flash, this.#layout, this.#layout.secondary);
    return stored !== undefined && bytesEqual(stored, signedManifest);
  }

  #requireUpload(st: SlotStatus): { id: Uint8Array; info: ImageInfo } {
    const s = this.#session;
    if (st.secondary !== 'uploading' || s === undefined || !bytesEqual(s.id, st.imageId))
      throw new FlashError('UPDATE_STATE', 'no upload in progress during this boot (call begin, again after a reboot)');
    return s;
  }

  /** Slot page (header = 0) holding payload byte `offset`. */
  #pageOf(offset: number): number {
    return 1 + Math.floor(offset / this.#layout.pageSize);
  }

  /**
   * Where a resumed upload continues: `recorded` if the rest of its page is still erased, else
   * the start of that page (a torn write left bytes past the recorded offset).
   */
  #resumeOffset(recorded: number): number {
    const ps = this.#layout.pageSize;
    const inPage = recorded % ps;
    if (inPage === 0) return recorded;
    const at = this.#layout.secondary.start + ps + recorded;
    return this.#flash.isErased(at, ps - inPage) ? recorded : recorded - inPage;
  }

  /** Programs payload bytes at `offset` (the next expected), erasing each page it enters at its start. */
  #program(offset: number, data: Uint8Array): void {
    const ps = this.#layout.pageSize;
    const base = this.#layout.secondary.start + ps;
    let done = 0;
    while (done < data.length) {
      const at = offset + done;
      const n = Math.min(data.length - done, ps - (at % ps));
      if (at % ps === 0 && !this.#flash.isErased(base + at, ps))
        this.#flash.erase(this.#pageOf(at) + this.#layout.secondary.firstPage);
      this.#flash.write(base + at, data.subarray(done, done + n));
      done += n;
    }
  }
}
