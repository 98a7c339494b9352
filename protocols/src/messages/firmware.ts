/**
 * Records of the firmware update messages (catalogue entries 0x30–0x3d): begin or resume an
 * upload, chunks and their cumulative acknowledgement, finish, confirm, and the slots of
 * `fw.status.response`. `FwEmpty` is also the body of the `keepalive` event.
 * @module
 */
import { defineRecord, field, t } from './record.ts';

/** Body of `fw.begin`: start (or resume) an update with its signed manifest. */
export const FwBegin = defineRecord('fw.begin', {
  manifest: field(1, t.bytes(64, 2048), false, 'signed manifest (COSE_Sign1)'),
  takeover: field(
    2,
    t.bool(),
    true,
    "owner only: drop another host's update in progress and start this one (otherwise UPDATE_BUSY)",
  ),
});

/** Body of `fw.begin.response`: where to (re)start. */
export const FwBeginResponse = defineRecord('fw.begin.response', {
  offset: field(1, t.uint(), false, 'payload offset to send next (0, or where an interrupted upload stopped)'),
  chunk: field(2, t.uint(65536), false, 'largest chunk payload the Key accepts in one fw.chunk'),
  id: field(3, t.bytes(32, 32), false, 'update id: SHA-256 of the signed manifest (the resume key)'),
});

/** Body of `fw.chunk`. */
export const FwChunk = defineRecord('fw.chunk', {
  offset: field(1, t.uint(), false, 'payload offset of these bytes'),
  data: field(2, t.bytes(1, 65536), false, 'payload bytes'),
  id: field(3, t.bytes(32, 32), true, 'update id from fw.begin.response; if present, a chunk for another update is refused'),
});

/** Body of `fw.chunk.response`: cumulative acknowledgement. */
export const FwChunkResponse = defineRecord('fw.chunk.response', {
  offset: field(1, t.uint(), false, 'next payload offset the Key expects (everything before is stored)'),
  accepted: field(2, t.bool(), false, 'false if the chunk was out of order and dropped: resend from offset'),
});

/** Empty bodies of the update control requests and responses. */
export const FwEmpty = defineRecord('fw.empty', {});

/** Body of `fw.finish`. */
export const FwFinish = defineRecord('fw.finish', {
  id: field(1, t.bytes(32, 32), true, 'update id from fw.begin.response; if present, must be the update in progress'),
});

/** Body of `fw.confirm.response`. */
export const FwConfirmResponse = defineRecord('fw.confirm.response', {
  securityCounter: field(1, t.uint(), false, 'installed security counter after confirming'),
});

/** One slot in `fw.status.response`. */
export const FwSlot = defineRecord('fw.slot', {
  version: field(1, t.text(32), false, 'firmware version'),
  securityCounter: field(2, t.uint(), false, 'security counter of the image'),
  id: field(3, t.bytes(32, 32), false, 'update id (SHA-256 of the signed manifest)'),
  state: field(
    4,
    t.text(16),
    false,
    'running image: running | testing | reverting; other slot: uploading | ready | pending-test | old',
  ),
  offset: field(5, t.uint(), true, 'bytes stored so far (uploading)'),
  size: field(6, t.uint(), false, 'payload size'),
});

/** Body of `fw.status.response`. */
export const FwStatusResponse = defineRecord('fw.status.response', {
  running: field(1, t.record(FwSlot), false, 'the running image'),
  secondary: field(2, t.record(FwSlot), true, 'the other slot, if it holds an image or an upload'),
  securityCounter: field(3, t.uint(), false, 'installed security counter'),
  testing: field(4, t.bool(), false, 'the running image is on test and must be confirmed (or it reverts at the next boot)'),
  primary: field(5, t.text(16), false, 'state of the running image: confirmed | testing | reverting (revert requested)'),
  nextBoot: field(6, t.text(128), false, 'what the next boot does, e.g. "runs 1.0.0" or "reverts to 1.0.0"'),
});
