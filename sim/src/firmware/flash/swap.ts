/**
 * The power-fail-safe slot swap: page by page through one scratch page, every step journaled in
 * the status ring.
 *
 * For page `i` of the `n` pages the swap covers (the larger of the two images):
 *
 * | step | does | its source is intact because |
 * |---|---|---|
 * | 0 | erase scratch; copy primary[i] → scratch | primary[i] changes only in step 1 |
 * | 1 | erase primary[i]; copy secondary[i] → primary[i] | secondary[i] changes only in step 2 |
 * | 2 | erase secondary[i]; copy scratch → secondary[i] | scratch changes only in step 0 of page i+1 |
 *
 * After each step a status record names the next (page, step); the record after the last step
 * of the last page is the swap's target state itself (see `states.ts`). Each step only reads its
 * source and rewrites its destination from scratch (erase, then program), so it is idempotent:
 * after a power loss anywhere, the bootloader redoes the recorded step and carries on. Cost per
 * page: 3 erases, up to 3 writes, 3 status records.
 *
 * @module
 */
import { type Flash, FlashError } from './flash.ts';
import type { FlashLayout } from './layout.ts';
import { nextSlotState, SWAP_EVENTS } from './states.ts';
import { NO_IMAGE_ID, type StatusJournal, type SwapKind } from './status.ts';

/** Steps per swapped page. */
export const SWAP_STEPS = 3;

/**
 * Commits the start of a swap of `pages` pages (the commit point of the decision to swap).
 * @throws {RangeError} if `pages` is not in [1, slot pages]
 */
export function startSwap(journal: StatusJournal, layout: FlashLayout, kind: Exclude<SwapKind, 'none'>, pages: number): void {
  if (!Number.isSafeInteger(pages) || pages < 1 || pages > layout.primary.pages)
    throw new RangeError(`pages must be in [1, ${layout.primary.pages}], got ${pages}`);
  journal.commit({ swap: kind, swapPages: pages, swapPage: 0, swapStep: 0 });
}

/**
 * Runs, or resumes, the swap recorded in `journal.current`, then commits its target state.
 * No-op when no swap is in progress.
 * @throws {@link FlashError} `UPDATE_STATE` if the recorded state has no transition for the swap
 * @throws {@link PowerLoss} from the flash (the next boot resumes)
 */
export function runSwap(flash: Flash, layout: FlashLayout, journal: StatusJournal): void {
  const st = journal.current;
  if (st.swap === 'none') return;
  const target = nextSlotState(st, SWAP_EVENTS[st.swap]);
  if (target === undefined) throw new FlashError('UPDATE_STATE', `no ${st.swap} swap from ${st.primary}/${st.secondary}`);
  let page = st.swapPage;
  let step = st.swapStep;
  while (page < st.swapPages) {
    swapStep(flash, layout, page, step);
    step++;
    if (step === SWAP_STEPS) {
      step = 0;
      page++;
    }
    if (page < st.swapPages) journal.commit({ swapPage: page, swapStep: step });
  }
  journal.commit({
    swap: 'none',
    swapPages: 0,
    swapPage: 0,
    swapStep: 0,
    primary: target.primary,
    secondary: target.secondary,
    imageId: NO_IMAGE_ID,
    uploadOffset: 0,
  });
}

/** Performs one step of the swap table on `page` (see the module documentation). */
function swapStep(flash: Flash, layout: FlashLayout, page: number, step: number): void {
  const ps = layout.pageSize;
  const [fromPage, toPage] =
    step === 0
      ? [layout.primary.firstPage + page, layout.scratch.firstPage]
      : step === 1
        ? [layout.secondary.firstPage + page, layout.primary.firstPage + page]
        : [layout.scratch.firstPage, layout.secondary.firstPage + page];
  const data = flash.read(fromPage * ps, ps);
  flash.erase(toPage);
  if (!data.every((b) => b === 0xff)) flash.write(toPage * ps, data);
}
