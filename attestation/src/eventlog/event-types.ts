/**
 * TCG PC Client event types (PC Client Platform Firmware Profile, §10.4.1) and their names.
 *
 * @module
 */

/** `EV_NO_ACTION`: informational, never extended into a PCR. */
export const EV_NO_ACTION = 0x00000003;
/** `EV_SEPARATOR`: the boundary between pre-OS and OS measurements. */
export const EV_SEPARATOR = 0x00000004;
/** `EV_ACTION`: a fixed action string, digest = H(string). */
export const EV_ACTION = 0x00000005;
/** `EV_IPL`: initial program loader measurements (command lines, kernels). */
export const EV_IPL = 0x0000000d;
/** `EV_EFI_VARIABLE_DRIVER_CONFIG`: a UEFI variable read by firmware (Secure Boot databases). */
export const EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001;
/** `EV_EFI_ACTION`: a fixed UEFI action string, digest = H(string). */
export const EV_EFI_ACTION = 0x80000007;
/** `EV_EFI_VARIABLE_AUTHORITY`: the Secure Boot db entry that authorised an image. */
export const EV_EFI_VARIABLE_AUTHORITY = 0x800000e0;

const NAMES: Readonly<Record<number, string>> = {
  0: 'EV_PREBOOT_CERT',
  1: 'EV_POST_CODE',
  2: 'EV_UNUSED',
  3: 'EV_NO_ACTION',
  4: 'EV_SEPARATOR',
  5: 'EV_ACTION',
  6: 'EV_EVENT_TAG',
  7: 'EV_S_CRTM_CONTENTS',
  8: 'EV_S_CRTM_VERSION',
  9: 'EV_CPU_MICROCODE',
  10: 'EV_PLATFORM_CONFIG_FLAGS',
  11: 'EV_TABLE_OF_DEVICES',
  12: 'EV_COMPACT_HASH',
  13: 'EV_IPL',
  14: 'EV_IPL_PARTITION_DATA',
  15: 'EV_NONHOST_CODE',
  16: 'EV_NONHOST_CONFIG',
  17: 'EV_NONHOST_INFO',
  18: 'EV_OMIT_BOOT_DEVICE_EVENTS',
  19: 'EV_POST_CODE2',
  2147483648: 'EV_EFI_EVENT_BASE',
  2147483649: 'EV_EFI_VARIABLE_DRIVER_CONFIG',
  2147483650: 'EV_EFI_VARIABLE_BOOT',
  2147483651: 'EV_EFI_BOOT_SERVICES_APPLICATION',
  2147483652: 'EV_EFI_BOOT_SERVICES_DRIVER',
  2147483653: 'EV_EFI_RUNTIME_SERVICES_DRIVER',
  2147483654: 'EV_EFI_GPT_EVENT',
  2147483655: 'EV_EFI_ACTION',
  2147483656: 'EV_EFI_PLATFORM_FIRMWARE_BLOB',
  2147483657: 'EV_EFI_HANDOFF_TABLES',
  2147483658: 'EV_EFI_PLATFORM_FIRMWARE_BLOB2',
  2147483659: 'EV_EFI_HANDOFF_TABLES2',
  2147483660: 'EV_EFI_VARIABLE_BOOT2',
  2147483661: 'EV_EFI_GPT_EVENT2',
  2147483664: 'EV_EFI_HCRTM_EVENT',
  2147483872: 'EV_EFI_VARIABLE_AUTHORITY',
  2147483873: 'EV_EFI_SPDM_FIRMWARE_BLOB',
  2147483874: 'EV_EFI_SPDM_FIRMWARE_CONFIG',
};

/**
 * The spec name of an event type, or `EV_UNKNOWN_0x…` for an unassigned value.
 * @example eventTypeName(4) === 'EV_SEPARATOR'
 */
export function eventTypeName(type: number): string {
  return NAMES[type] ?? `EV_UNKNOWN_0x${(type >>> 0).toString(16).padStart(8, '0')}`;
}
