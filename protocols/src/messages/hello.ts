/**
 * Capability negotiation (`hello`): pure functions both sides use to agree on link parameters.
 *
 * The host sends the versions it speaks and the largest frame it accepts; the Key answers with the
 * chosen version, its own versions, its largest accepted frame, its request window, features,
 * model, firmware version and lifecycle state. Each side then sends frames no larger than the
 * other's maximum and the host keeps at most `window` requests in flight. Nothing about link
 * sizes is configured by hand.
 *
 * @module
 */
import type { BodyOf } from './catalogue.ts';
import { MIN_FRAME_PAYLOAD } from './constants.ts';

/**
 * The highest version both sides speak, or `undefined` if none.
 * @example chooseVersion([1, 2], [2, 3]) === 2
 */
export function chooseVersion(ours: readonly number[], theirs: readonly number[]): number | undefined {
  let best: number | undefined;
  for (const v of ours) if (theirs.includes(v) && (best === undefined || v > best)) best = v;
  return best;
}

/** Link parameters the host uses after `hello`. */
export interface LinkParameters {
  /** Negotiated protocol version. */
  version: number;
  /** Largest frame payload the host may send to the Key. */
  sendMaxFrame: number;
  /** Requests the host may keep in flight. */
  window: number;
}

/**
 * Derives the host's link parameters from a `hello.response`.
 * @throws RangeError if the Key advertises a frame smaller than {@link MIN_FRAME_PAYLOAD} or a
 *   window of 0 (a Key that cannot take one request is broken)
 */
export function linkParametersFrom(hello: BodyOf<'hello.response'>): LinkParameters {
  if (hello.maxFrame < MIN_FRAME_PAYLOAD)
    throw new RangeError(`Key advertises maxFrame ${hello.maxFrame} < ${MIN_FRAME_PAYLOAD}`);
  if (hello.window < 1) throw new RangeError('Key advertises a window of 0');
  return { version: hello.version, sendMaxFrame: hello.maxFrame, window: hello.window };
}
