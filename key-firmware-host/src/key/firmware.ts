/**
 * The firmware operations besides flashing, as the Key facade runs them in a session: confirm the
 * image on test (or withdraw a pending revert of it) and revert (a test image, an upload, or an
 * uploaded image not yet test-booted). Each reads `fw.status` first and asks the Key only when
 * there is something to do. Flashing itself is `runFlash` (flash.ts).
 * @module
 */
import type { SecureSession } from '../session/secure-session.ts';
import type { FirmwareStatus } from './flash.ts';

/** Result of {@link Key.confirm}. */
export interface ConfirmResult {
  /** False when nothing was on test (nothing to confirm; the Key was not asked). */
  confirmed: boolean;
  /** Installed security counter. */
  securityCounter: number;
  /** Firmware status afterwards. */
  status: FirmwareStatus;
}

/** What {@link Key.revert} did. */
export type RevertAction = 'test-image' | 'upload' | 'already-pending' | 'nothing';

/** Result of {@link Key.revert}. */
export interface RevertResult {
  /**
   * `test-image`: the previous image boots next; `upload`: the upload or the uploaded image not
   * yet test-booted was cancelled; `already-pending`: a revert was already requested (it completes
   * at the next boot: {@link Key.reboot}); `nothing`: nothing was pending. The Key is asked only
   * for the first two.
   */
  action: RevertAction;
  /** Firmware status afterwards. */
  status: FirmwareStatus;
}

/**
 * `fw.confirm` unless a confirmed image runs with nothing on test (then the Key is not asked).
 * @throws KeyError `KEY_REJECTED`
 */
export async function confirmFirmware(session: SecureSession): Promise<ConfirmResult> {
  const before = await session.request('fw.status', {});
  if (before.primary === 'confirmed' && !before.testing)
    return { confirmed: false, securityCounter: before.securityCounter, status: before };
  const { securityCounter } = await session.request('fw.confirm', {});
  return { confirmed: true, securityCounter, status: await session.request('fw.status', {}) };
}

/**
 * `fw.revert` of a test image or a pending upload; with nothing pending, or a revert already
 * requested, the Key is not asked.
 * @throws KeyError `KEY_REJECTED`
 */
export async function revertFirmware(session: SecureSession): Promise<RevertResult> {
  const before = await session.request('fw.status', {});
  const pendingUpload = before.secondary !== undefined && before.secondary.state !== 'old';
  const action: RevertAction =
    before.primary === 'reverting' ? 'already-pending' : before.testing ? 'test-image' : pendingUpload ? 'upload' : 'nothing';
  if (action === 'nothing' || action === 'already-pending') return { action, status: before };
  await session.request('fw.revert', {});
  return { action, status: await session.request('fw.status', {}) };
}
