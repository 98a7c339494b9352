/**
 * Decoding of TPM 2.0 response codes (TPM 2.0 Part 2 §6.6, `TPM_RC`) into stable names, the
 * handle/parameter/session they point at, and whether the command should be retried.
 *
 * @module
 */

const FMT0: Readonly<Record<number, string>> = {
  0: 'SUCCESS',
  30: 'BAD_TAG',
  256: 'INITIALIZE',
  257: 'FAILURE',
  259: 'SEQUENCE',
  267: 'PRIVATE',
  281: 'HMAC',
  288: 'DISABLED',
  289: 'EXCLUSIVE',
  292: 'AUTH_TYPE',
  293: 'AUTH_MISSING',
  294: 'POLICY',
  295: 'PCR',
  296: 'PCR_CHANGED',
  301: 'UPGRADE',
  302: 'TOO_MANY_CONTEXTS',
  303: 'AUTH_UNAVAILABLE',
  304: 'REBOOT',
  305: 'UNBALANCED',
  322: 'COMMAND_SIZE',
  323: 'COMMAND_CODE',
  324: 'AUTHSIZE',
  325: 'AUTH_CONTEXT',
  326: 'NV_RANGE',
  327: 'NV_SIZE',
  328: 'NV_LOCKED',
  329: 'NV_AUTHORIZATION',
  330: 'NV_UNINITIALIZED',
  331: 'NV_SPACE',
  332: 'NV_DEFINED',
  336: 'BAD_CONTEXT',
  337: 'CPHASH',
  338: 'PARENT',
  339: 'NEEDS_TEST',
  340: 'NO_RESULT',
  341: 'SENSITIVE',
  2305: 'CONTEXT_GAP',
  2306: 'OBJECT_MEMORY',
  2307: 'SESSION_MEMORY',
  2308: 'MEMORY',
  2309: 'SESSION_HANDLES',
  2310: 'OBJECT_HANDLES',
  2311: 'LOCALITY',
  2312: 'YIELDED',
  2313: 'CANCELED',
  2314: 'TESTING',
  2336: 'NV_RATE',
  2337: 'LOCKOUT',
  2338: 'RETRY',
  2339: 'NV_UNAVAILABLE',
};

const FMT1: Readonly<Record<number, string>> = {
  1: 'ASYMMETRIC',
  2: 'ATTRIBUTES',
  3: 'HASH',
  4: 'VALUE',
  5: 'HIERARCHY',
  7: 'KEY_SIZE',
  8: 'MGF',
  9: 'MODE',
  10: 'TYPE',
  11: 'HANDLE',
  12: 'KDF',
  13: 'RANGE',
  14: 'AUTH_FAIL',
  15: 'NONCE',
  16: 'PP',
  18: 'SCHEME',
  21: 'SIZE',
  22: 'SYMMETRIC',
  23: 'TAG',
  24: 'SELECTOR',
  26: 'INSUFFICIENT',
  27: 'SIGNATURE',
  28: 'KEY',
  29: 'POLICY_FAIL',
  31: 'INTEGRITY',
  32: 'TICKET',
  33: 'RESERVED_BITS',
  34: 'BAD_AUTH',
  35: 'EXPIRED',
  36: 'POLICY_CC',
  37: 'BINDING',
  38: 'CURVE',
  39: 'ECC_POINT',
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
      rc & 0x40
        ? { kind: 'parameter', index: n }
        : n & 0x8
          ? { kind: 'session', index: n & 7 }
          : { kind: 'handle', index: n & 7 };
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
