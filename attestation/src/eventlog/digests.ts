/**
 * Checks that event data matches its digest, for the event types whose digest is defined as the
 * hash of the logged data. For every other type the data is a free-form description that the
 * digest does not cover, so it stays untrusted even after a successful replay.
 *
 * Rules (after go-attestation's `ParseSecurebootState` and the PC Client Firmware Profile §10.4.1):
 * - `separator`: `EV_SEPARATOR`, any PCR — digest = H(data) (data is 0x00000000 or 0xFFFFFFFF);
 * - `action`: `EV_ACTION`, any PCR — digest = H(action string);
 * - `efi-action`: `EV_EFI_ACTION`, any PCR — digest = H(action string);
 * - `efi-variable-driver-config`: `EV_EFI_VARIABLE_DRIVER_CONFIG` on PCR 7 — digest = H(UEFI_VARIABLE_DATA);
 * - `efi-variable-authority`: `EV_EFI_VARIABLE_AUTHORITY` on PCR 7 — digest = H(UEFI_VARIABLE_DATA),
 *   with the named workaround `shim-authority-trailing-byte` (old shim logs one byte too many;
 *   tried only after the plain check fails).
 *
 * Not checked: `EV_IPL` (boot loaders hash strings without their logged terminator, or UTF-16
 * forms), `EV_EFI_VARIABLE_BOOT` (firmware disagrees on what is hashed), code-measuring types
 * (the digest covers a PE image, not the data), `EV_NO_ACTION` (never extended).
 *
 * @module
 */
import { bytesEqual, digest, hashById } from '../hash.ts';
import {
  EV_ACTION,
  EV_EFI_ACTION,
  EV_EFI_VARIABLE_AUTHORITY,
  EV_EFI_VARIABLE_DRIVER_CONFIG,
  EV_SEPARATOR,
  eventTypeName,
} from './event-types.ts';
import type { EventLog, TcgEvent } from './parse.ts';

/** Name of a digest rule. */
export type DigestRule = 'separator' | 'action' | 'efi-action' | 'efi-variable-driver-config' | 'efi-variable-authority';

/** Outcome of one event's data-vs-digest check. */
export interface DigestCheck {
  /** Position of the event in the log. */
  readonly seq: number;
  /** PCR the event claims. */
  readonly pcr: number;
  /** Event type name. */
  readonly type: string;
  /** The rule applied. */
  readonly rule: DigestRule;
  /** True when every supported digest equals the hash of the data. */
  readonly ok: boolean;
  /** `TPM_ALG_ID`s whose digest does not match. */
  readonly mismatchedAlgs: readonly number[];
  /** The workaround that made it match, if any. */
  readonly workaround: string | undefined;
}

/** The rule that applies to an event, or undefined if its data is not bound to its digest. */
export function digestRuleFor(e: Pick<TcgEvent, 'type' | 'pcr'>): DigestRule | undefined {
  switch (e.type) {
    case EV_SEPARATOR:
      return 'separator';
    case EV_ACTION:
      return 'action';
    case EV_EFI_ACTION:
      return 'efi-action';
    case EV_EFI_VARIABLE_DRIVER_CONFIG:
      return e.pcr === 7 ? 'efi-variable-driver-config' : undefined;
    case EV_EFI_VARIABLE_AUTHORITY:
      return e.pcr === 7 ? 'efi-variable-authority' : undefined;
    default:
      return undefined;
  }
}

function mismatches(e: TcgEvent, data: Uint8Array): number[] {
  const bad: number[] = [];
  for (const d of e.digests) {
    const alg = hashById(d.alg);
    if (alg && !bytesEqual(digest(alg, data), d.digest)) bad.push(d.alg);
  }
  return bad;
}

/**
 * Checks data against digests for every event a rule covers, in log order. Pure; reports, never
 * throws. A failing check means the logged data is not what was measured.
 *
 * @example checkEventDigests(parseEventLog(bytes)).filter((c) => !c.ok)
 */
export function checkEventDigests(log: EventLog): DigestCheck[] {
  const out: DigestCheck[] = [];
  for (const e of log.events) {
    const rule = digestRuleFor(e);
    if (!rule) continue;
    let bad = mismatches(e, e.data);
    let workaround: string | undefined;
    if (bad.length > 0 && rule === 'efi-variable-authority' && e.data.length > 0) {
      const retry = mismatches(e, e.data.subarray(0, e.data.length - 1));
      if (retry.length === 0) {
        bad = retry;
        workaround = 'shim-authority-trailing-byte';
      }
    }
    out.push({
      seq: e.seq,
      pcr: e.pcr,
      type: eventTypeName(e.type),
      rule,
      ok: bad.length === 0,
      mismatchedAlgs: bad,
      workaround,
    });
  }
  return out;
}
