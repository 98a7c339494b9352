/**
 * The two-slot update state machine as an explicit table. A state is the pair (primary image
 * state, secondary slot state) kept in the status ring; every command of the update engine and
 * every decision of the bootloader is one event looked up here. Anything not listed is refused
 * (`UPDATE_STATE`).
 *
 * Swaps are transitions too (`boot.test`, `boot.revert`, `boot.promote`): the bootloader journals
 * their page-by-page progress in the status ring and commits the target state when the last page
 * is done (see `swap.ts`).
 *
 * @module
 */
import type { PrimaryState, SecondaryState, SwapKind } from './status.ts';

/** Causes of transitions: engine commands and bootloader decisions. */
export type UpdateEvent =
  | 'begin'
  | 'finish'
  | 'discard'
  | 'markTest'
  | 'cancel'
  | 'confirm'
  | 'revert'
  | 'boot.test'
  | 'boot.reject'
  | 'boot.revert'
  | 'boot.keep'
  | 'boot.promote';

/** A state of the update model. */
export interface SlotState {
  readonly primary: PrimaryState;
  readonly secondary: SecondaryState;
}

/** One row of {@link UPDATE_TRANSITIONS}. */
export interface UpdateTransition {
  readonly from: SlotState;
  readonly event: UpdateEvent;
  readonly to: SlotState;
  /** Why the row exists. */
  readonly note: string;
}

const s = (primary: PrimaryState, secondary: SecondaryState): SlotState => ({ primary, secondary });

/** Every allowed transition. */
export const UPDATE_TRANSITIONS: readonly UpdateTransition[] = [
  ...(['empty', 'uploading', 'ready', 'pending-test', 'old'] as const).map((from) => ({
    from: s('confirmed', from),
    event: 'begin' as const,
    to: s('confirmed', 'uploading'),
    note: 'a verified manifest starts (or resumes) an upload; anything in the secondary slot is dropped',
  })),
  { from: s('confirmed', 'uploading'), event: 'finish', to: s('confirmed', 'ready'), note: 'all bytes in, digest matches' },
  { from: s('confirmed', 'ready'), event: 'finish', to: s('confirmed', 'ready'), note: 'repeated finish (idempotent)' },
  {
    from: s('confirmed', 'pending-test'),
    event: 'finish',
    to: s('confirmed', 'pending-test'),
    note: 'repeated finish after markTest (a host redoing the flow after a reconnect)',
  },
  ...(['uploading', 'ready', 'pending-test'] as const).map((from) => ({
    from: s('confirmed', from),
    event: 'discard' as const,
    to: s('confirmed', 'empty'),
    note: 'digest mismatch at finish',
  })),
  { from: s('confirmed', 'ready'), event: 'markTest', to: s('confirmed', 'pending-test'), note: 'next boot test-boots it' },
  { from: s('confirmed', 'pending-test'), event: 'markTest', to: s('confirmed', 'pending-test'), note: 'repeated markTest' },
  ...(['uploading', 'ready', 'pending-test'] as const).map((from) => ({
    from: s('confirmed', from),
    event: 'cancel' as const,
    to: s('confirmed', 'empty'),
    note: 'revert before any test boot cancels the upload',
  })),
  {
    from: s('confirmed', 'pending-test'),
    event: 'boot.test',
    to: s('testing', 'old'),
    note: 'boot: swap the new image in for its one test boot',
  },
  {
    from: s('confirmed', 'pending-test'),
    event: 'boot.reject',
    to: s('confirmed', 'empty'),
    note: 'boot: the pending image does not verify, or its counter is below the installed one',
  },
  {
    from: s('testing', 'old'),
    event: 'confirm',
    to: s('confirmed', 'old'),
    note: 'the running test image is confirmed; the security counter advances now',
  },
  { from: s('testing', 'old'), event: 'revert', to: s('reverting', 'old'), note: 'the next boot goes back' },
  {
    from: s('reverting', 'old'),
    event: 'confirm',
    to: s('confirmed', 'old'),
    note: 'a revert requested but not yet booted is withdrawn: the running test image is kept after all',
  },
  { from: s('reverting', 'old'), event: 'revert', to: s('reverting', 'old'), note: 'repeated revert' },
  {
    from: s('testing', 'old'),
    event: 'boot.revert',
    to: s('confirmed', 'empty'),
    note: 'boot: a test image that already had its test boot was not confirmed; swap the old one back',
  },
  { from: s('reverting', 'old'), event: 'boot.revert', to: s('confirmed', 'empty'), note: 'boot: revert requested' },
  ...(['testing', 'reverting'] as const).map((from) => ({
    from: s(from, 'old'),
    event: 'boot.keep' as const,
    to: s('confirmed', 'empty'),
    note: 'boot, recovery only: the old image to revert to is invalid; keep the test image (counter not advanced)',
  })),
  ...(['ready', 'pending-test', 'old'] as const).map((from) => ({
    from: s('confirmed', from),
    event: 'boot.promote' as const,
    to: s('confirmed', 'empty'),
    note: 'boot, recovery only: the primary image is invalid, a valid secondary image replaces it',
  })),
];

/**
 * The state after `event` in `from`, or `undefined` if the table has no such row.
 * @example nextSlotState({ primary: 'confirmed', secondary: 'ready' }, 'markTest')?.secondary === 'pending-test'
 */
export function nextSlotState(from: SlotState, event: UpdateEvent): SlotState | undefined {
  return UPDATE_TRANSITIONS.find(
    (t) => t.from.primary === from.primary && t.from.secondary === from.secondary && t.event === event,
  )?.to;
}

/** The states in which `event` is allowed, as `primary/secondary` names (for error messages). */
export function allowedStates(event: UpdateEvent): string[] {
  return UPDATE_TRANSITIONS.filter((t) => t.event === event).map((t) => `${t.from.primary}/${t.from.secondary}`);
}

/** Which transition each swap kind performs when its last page is done. */
export const SWAP_EVENTS: Readonly<Record<Exclude<SwapKind, 'none'>, UpdateEvent>> = {
  test: 'boot.test',
  revert: 'boot.revert',
  promote: 'boot.promote',
};
