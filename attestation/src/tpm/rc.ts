/**
 * Decoding of TPM 2.0 response codes (TPM 2.0 Part 2 §6.6, `TPM_RC`) into stable names, the
 * handle/parameter/session they point at, and whether the command should be retried.
 *
 * @module
 */

const FMT0: Readonly<Record<number, string>> = {
  0x000: 'SUCCESS',
  0x01e: 'BAD_TAG',
  0x100: 'INITIALIZE',
  0x101: 'FAILURE',
  0x103: 'SEQUENCE',
  0x10b: 'PRIVATE',
  0x119: 'HMAC',
  0x120: 'DISABLED',
  0x121: 'EXCLUSIVE',
  0x124: 'AUTH_TYPE',
  0x125: 'AUTH_MISSING',
  0x126: 'POLICY',
  0x127: 'PCR',
  0x128: 'PCR_CHANGED',
  0x12d: 'UPGRADE',
  0x12e: 'TOO_MANY_CONTEXTS',
  0x12f: 'AUTH_UNAVAILABLE',
  0x130: 'REBOOT',
  0x131: 'UNBALANCED',
  0x142: 'COMMAND_SIZE',
  0x143: 'COMMAND_CODE',
  0x144: 'AUTHSIZE',
  0x145: 'AUTH_CONTEXT',
  0x146: 'NV_RANGE',
  0x147: 'NV_SIZE',
  0x148: 'NV_LOCKED',
  0x149: 'NV_AUTHORIZATION',
  0x14a: 'NV_UNINITIALIZED',
  0x14b: 'NV_SPACE',
  0x14c: 'NV_DEFINED',
  0x150: 'BAD_CONTEXT',
  0x151: 'CPHASH',
  0x152: 'PARENT',
  0x153: 'NEEDS_TEST',
  0x154: 'NO_RESULT',
  0x155: 'SENSITIVE',
  0x901: 'CONTEXT_GAP',
  0x902: 'OBJECT_MEMORY',
  0x903: 'SESSION_MEMORY',
  0x904: 'MEMORY',
  0x905: 'SESSION_HANDLES',
  0x906: 'OBJECT_HANDLES',
  0x907: 'LOCALITY',
  0x908: 'YIELDED',
  0x909: 'CANCELED',
  0x90a: 'TESTING',
  0x920: 'NV_RATE',
  0x921: 'LOCKOUT',
  0x922: 'RETRY',
  0x923: 'NV_UNAVAILABLE',
};

const FMT1: Readonly<Record<number, string>> = {
  0x01: 'ASYMMETRIC',
  0x02: 'ATTRIBUTES',
  0x03: 'HASH',
  0x04: 'VALUE',
  0x05: 'HIERARCHY',
  0x07: 'KEY_SIZE',
  0x08: 'MGF',
  0x09: 'MODE',
  0x0a: 'TYPE',
  0x0b: 'HANDLE',
  0x0c: 'KDF',
  0x0d: 'RANGE',
  0x0e: 'AUTH_FAIL',
  0x0f: 'NONCE',
  0x10: 'PP',
  0x12: 'SCHEME',
  0x15: 'SIZE',
  0x16: 'SYMMETRIC',
  0x17: 'TAG',
  0x18: 'SELECTOR',
  0x1a: 'INSUFFICIENT',
  0x1b: 'SIGNATURE',
  0x1c: 'KEY',
  0x1d: 'POLICY_FAIL',
  0x1f: 'INTEGRITY',
  0x20: 'TICKET',
  0x21: 'RESERVED_BITS',
  0x22: 'BAD_AUTH',
  0x23: 'EXPIRED',
  0x24: 'POLICY_CC',
  0x25: 'BINDING',
  0x26: 'CURVE',
  0x27: 'ECC_POINT',
};

/** A decoded response code. */
export interface DecodedRc {
  /** The raw code. */
  readonly rc: number;
  /** `TPM_RC_` name without the prefix, e.g. `RETRY`, `AUTH_FAIL`; `VENDOR_0x…`/`UNKNOWN_0x…` otherwise. */
  readonly name: string;
  /** True for format-0 warnings (bit 11). */
  readonly warning: boolean;
  /** What the code points at, for format-1 codes. */
  readonly subject?: { kind: 'handle' | 'parameter' | 'session'; index: number };
  /** True for RETRY, YIELDED and TESTING: the same command may succeed later. */
  readonly retryable: boolean;
}

/** Response codes worth retrying after a backoff. */
export const RETRYABLE_RC = new Set([0x922, 0x908, 0x90a]);

/**
 * Decodes a `TPM_RC`.
 * @example decodeResponseCode(0x922).name === 'RETRY'
 * @example decodeResponseCode(0x9a2) // { name: 'BAD_AUTH', subject: { kind: 'session', index: 1 } }
 */
export function decodeResponseCode(rc: number): DecodedRc {
  const hex = `0x${rc.toString(16).padStart(3, '0')}`;
  if (rc & 0x80) {
    const name = FMT1[rc & 0x3f] ?? `UNKNOWN_${hex}`;
    const n = (rc >> 8) & 0xf;
    const subject: DecodedRc['subject'] =
      rc & 0x40 ? { kind: 'parameter', index: n } : n & 0x8 ? { kind: 'session', index: n & 7 } : { kind: 'handle', index: n & 7 };
    return { rc, name, warning: false, subject, retryable: false };
  }
  if (rc & 0x400) return { rc, name: `VENDOR_${hex}`, warning: false, retryable: false };
  const base = rc & 0xfff;
  const name = FMT0[base] ?? (base >= 0x910 && base <= 0x91f ? `REFERENCE_${base - 0x910}` : `UNKNOWN_${hex}`);
  return { rc, name, warning: (rc & 0x800) !== 0, retryable: RETRYABLE_RC.has(base) };
}

/** A one-line description, e.g. `TPM_RC_AUTH_FAIL (0x98e) on session 1`. */
export function describeResponseCode(rc: number): string {
  const d = decodeResponseCode(rc);
  const on = d.subject ? ` on ${d.subject.kind} ${d.subject.index}` : '';
  return `TPM_RC_${d.name} (0x${rc.toString(16)})${on}`;
}
