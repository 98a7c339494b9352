/**
 * The Key's bootloader: runs at every (re)boot, repairs what a power loss interrupted, applies
 * what the update engine asked for, and only ever hands over to a verified image.
 *
 * At every boot, in order:
 * 1. **Resume** a swap recorded in the status ring (see `swap.ts`) and finish it. A finished
 *    `test` swap makes this boot the new image's test boot.
 * 2. Otherwise, if the primary image is a test image (`testing`: it already had its one test
 *    boot and was not confirmed; or `reverting`: revert requested), **revert**: swap the old image
 *    back. The new image gets exactly one boot to confirm itself.
 * 3. Otherwise, if an update is `pending-test`, verify it (manifest, payload digest, security
 *    counter ≥ installed) and **test-swap** it in; if it does not verify, discard it.
 * 4. **Verify** the primary image (manifest + payload digest). If it is invalid (impossible from
 *    a legal history), recover from a valid secondary image if there is one, else throw
 *    `NO_VALID_IMAGE`.
 *
 * The decision of each step is one status record (its commit point), so after a power loss at
 * any flash operation the next boot sees either the decision or not, and a swap either resumes
 * or has not started: the Key always ends up booting a valid signed image, old or new.
 *
 * The bootloader does not re-check the model (the update engine refused foreign images before
 * accepting a byte) nor the running confirmed image's counter against the installed one (a
 * confirmed image is the one that set it).
 *
 * @module
 */
import { type Flash, FlashError } from './flash.ts';
import { bytesEqual, encodeSlotHeader, type ImageInfo, type ImageVerifier, inspectSlot, manifestInfo } from './image.ts';
import { checkLayout, type FlashLayout, imagePages, maxPayloadSize } from './layout.ts';
import { nextSlotState } from './states.ts';
import { StatusJournal } from './status.ts';
import { runSwap, startSwap } from './swap.ts';

/** What {@link boot} hands over to. */
export interface BootResult {
  /** The image now in the primary slot, verified (manifest and payload digest). */
  running: ImageInfo;
  /** Whether it runs as a test image: it must be confirmed during this boot or the next boot reverts it. */
  testing: boolean;
  /** What the bootloader repaired or reverted, `; `-separated; absent on an ordinary boot. */
  recovered?: string;
}

/**
 * Boots: resumes or rolls back interrupted work, performs a pending test swap, reverts an
 * unconfirmed test image, and verifies what it boots (see the module documentation).
 * @throws {@link FlashError} `NO_VALID_IMAGE` if no slot holds a bootable image
 * @throws {RangeError} if `layout` does not fit `flash`
 * @throws {@link PowerLoss} from the flash (boot again: the work resumes)
 * @example
 * const { running, testing } = boot(flash, DEFAULT_LAYOUT, verifier);
 */
export function boot(flash: Flash, layout: FlashLayout, verifier: ImageVerifier): BootResult {
  checkLayout(flash, layout);
  const journal = StatusJournal.load(flash, layout);
  const notes: string[] = [];
  let st = journal.current;
  let testBoot = false;

  // 1. an interrupted swap
  if (st.swap !== 'none') {
    notes.push(`finished the ${st.swap} swap interrupted at page ${st.swapPage} of ${st.swapPages}, step ${st.swapStep}`);
    testBoot = st.swap === 'test';
    runSwap(flash, layout, journal);
    st = journal.current;
  }

  // 2. a test image that had its test boot, or whose revert was requested
  if (!testBoot && st.primary !== 'confirmed') {
    notes.push(revert(flash, layout, verifier, journal));
    st = journal.current;
  } else if (!testBoot && st.secondary === 'pending-test') {
    // 3. a pending update
    const cand = inspectSlot(flash, layout, layout.secondary, verifier, true);
    const reason = !cand.ok
      ? cand.reason
      : cand.info.securityCounter < st.securityCounter
        ? `security counter ${cand.info.securityCounter} below the installed ${st.securityCounter}`
        : undefined;
    if (cand.ok && reason === undefined) {
      startSwap(journal, layout, 'test', swapPagesFor(flash, layout, verifier, cand.info.payloadSize));
      runSwap(flash, layout, journal);
      testBoot = true;
    } else {
      commitEvent(journal, 'boot.reject');
      notes.push(`discarded the pending image: ${reason}`);
    }
    st = journal.current;
  }

  // 4. verify what we boot; recover if it is invalid
  let run = inspectSlot(flash, layout, layout.primary, verifier, true);
  if (!run.ok) {
    const bad = run.reason;
    const alt =
      st.secondary === 'ready' || st.secondary === 'pending-test' || st.secondary === 'old'
        ? inspectSlot(flash, layout, layout.secondary, verifier, true)
        : undefined;
    if (alt?.ok && alt.info.securityCounter >= st.securityCounter) {
      if (st.primary === 'confirmed') {
        startSwap(journal, layout, 'promote', imagePages(layout, alt.info.payloadSize));
        runSwap(flash, layout, journal);
        notes.push(`primary image invalid (${bad}); promoted the secondary image`);
      } else {
        notes.push(`primary test image invalid (${bad}); ${revert(flash, layout, verifier, journal)}`);
      }
      testBoot = false;
      run = inspectSlot(flash, layout, layout.primary, verifier, true);
    }
    if (!run.ok) throw new FlashError('NO_VALID_IMAGE', `primary slot: ${run.reason}; no valid image to recover from`);
  }
  return {
    running: run.info,
    testing: testBoot && journal.current.primary === 'testing',
    ...(notes.length > 0 ? { recovered: notes.join('; ') } : {}),
  };
}

/** Swaps the old image (secondary) back in, or keeps the test image if the old one is invalid. */
function revert(flash: Flash, layout: FlashLayout, verifier: ImageVerifier, journal: StatusJournal): string {
  const requested = journal.current.primary === 'reverting';
  const old = inspectSlot(flash, layout, layout.secondary, verifier, true);
  if (!old.ok) {
    commitEvent(journal, 'boot.keep');
    return `the old image is invalid (${old.reason}); kept the test image`;
  }
  startSwap(journal, layout, 'revert', swapPagesFor(flash, layout, verifier, old.info.payloadSize));
  runSwap(flash, layout, journal);
  return requested ? 'reverted the test image as requested' : 'reverted the unconfirmed test image';
}

/** Pages a swap must cover: the larger of the secondary image and the primary one (all if unreadable). */
function swapPagesFor(flash: Flash, layout: FlashLayout, verifier: ImageVerifier, secondaryPayload: number): number {
  const cur = inspectSlot(flash, layout, layout.primary, verifier, false);
  const primaryPages = cur.ok ? imagePages(layout, cur.info.payloadSize) : layout.primary.pages;
  return Math.max(primaryPages, imagePages(layout, secondaryPayload));
}

function commitEvent(journal: StatusJournal, event: 'boot.reject' | 'boot.keep'): void {
  const to = nextSlotState(journal.current, event);
  if (to === undefined)
    throw new FlashError('UPDATE_STATE', `no ${event} from ${journal.current.primary}/${journal.current.secondary}`);
  journal.commit({ primary: to.primary, secondary: to.secondary, imageId: new Uint8Array(32), uploadOffset: 0 });
}

/**
 * Factory provisioning: writes `signedManifest` and `payload` as a confirmed image into the
 * primary slot and resets the status ring (nothing pending, secondary empty). Not power-fail
 * safe (a factory step). With `verifier`, the manifest is verified, the payload checked against
 * it, and the installed security counter set to the image's; without, the counter starts at 0
 * and rises on the first confirmed update.
 * @throws {@link FlashError} `FIRMWARE_TOO_LARGE` if the manifest or payload does not fit;
 *   `FIRMWARE_DIGEST_MISMATCH` if (with `verifier`) the payload does not match the manifest
 * @throws whatever `verifier.verifyManifest` throws
 * @example
 * flashFactoryImage(flash, DEFAULT_LAYOUT, signedManifest, payload, verifier);
 */
export function flashFactoryImage(
  flash: Flash,
  layout: FlashLayout,
  signedManifest: Uint8Array,
  payload: Uint8Array,
  verifier?: ImageVerifier,
): void {
  checkLayout(flash, layout);
  if (payload.length > maxPayloadSize(layout))
    throw new FlashError(
      'FIRMWARE_TOO_LARGE',
      `payload of ${payload.length} bytes exceeds the ${maxPayloadSize(layout)}-byte slot`,
    );
  const header = encodeSlotHeader(layout, signedManifest);
  let securityCounter = 0;
  if (verifier !== undefined) {
    const info = manifestInfo(verifier, signedManifest);
    if (info.payloadSize !== payload.length || !bytesEqual(verifier.sha256(payload), info.payloadDigest))
      throw new FlashError('FIRMWARE_DIGEST_MISMATCH', 'the factory payload does not match its manifest');
    securityCounter = info.securityCounter;
  }
  const { primary, pageSize } = layout;
  for (let p = 0; p < imagePages(layout, payload.length); p++) flash.erase(primary.firstPage + p);
  flash.write(primary.start, header);
  flash.write(primary.start + pageSize, payload);
  StatusJournal.reset(flash, layout, { securityCounter });
}
