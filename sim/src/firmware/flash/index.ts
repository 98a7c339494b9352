/**
 * The simulated Key's flash and two-slot, power-fail-safe firmware update: NOR flash with power
 * loss injection (sparse: erased pages take no memory), its compact file format, layout, status
 * ring, swap, bootloader and update engine. Pure logic.
 *
 * @module
 */
export { type BootResult, boot, flashFactoryImage } from './bootloader.ts';
export { ERASED, FLASH_ERROR_CODES, Flash, FlashError, type FlashErrorCode, type FlashOptions, PowerLoss } from './flash.ts';
export type { ImageInfo, ImageVerifier, ManifestFields } from './image.ts';
export {
  decodeFlashFile,
  encodeFlashFile,
  FLASH_FILE_MAGIC,
  FLASH_FILE_VERSION,
  isFlashFile,
  type StoredPages,
} from './image-file.ts';
export {
  checkLayout,
  computeLayout,
  DEFAULT_LAYOUT,
  type FlashLayout,
  imagePages,
  type LayoutOptions,
  maxPayloadSize,
  type Region,
} from './layout.ts';
export { UPDATE_TRANSITIONS, type UpdateEvent, type UpdateTransition } from './states.ts';
export type { PrimaryState, SecondaryState, SwapKind } from './status.ts';
export { type SecondaryInfo, UpdateEngine, type UpdatePolicy, type UpdateStatus } from './update.ts';
