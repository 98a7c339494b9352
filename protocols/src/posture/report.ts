/**
 * The posture report of the Enigm OS posture agent: an EAT (RFC 9711) claims set in CBOR, signed
 * as a COSE_Sign1 (EdDSA) by the agent's Ed25519 key, optionally carried together with a TPM quote
 * whose qualifying data binds it to the report.
 *
 * ```
 * PostureEvidence = { 1: bstr COSE_Sign1(PostureClaims), ? 2: QuoteRecord }
 * quote nonce     = SHA-256("enigm-posture-quote-v1" ‖ SHA-256(claims bytes))     ; 32 bytes
 * ```
 *
 * The claims bytes are the COSE payload exactly as signed. A verifier challenge nonce, when the
 * report answers one, is the claim `eat_nonce` (10): it is inside the signed claims, so the quote
 * nonce covers it too ("the challenge combined with the report digest").
 *
 * Minimized by construction: the device is named only by its association handle (the `ueid`
 * claim, RAND type: 0x01 ‖ 16-byte handle) — never a hostname, serial number, user name or
 * address; signals carry a name, a small value, a source name and their age, never free text
 * collected from the machine (a reason is the agent's own wording). Time is given three ways:
 * a sequence number (strictly increasing per agent key, persisted across restarts), the agent's
 * monotonic time since it started (with a random run id) and the wall clock, which a verifier
 * treats as untrusted (it may be wrong).
 *
 * Pure: no I/O, randomness and time come from the caller. Decoding is strict (deterministic CBOR,
 * declared integer keys, bounded sizes); failures are {@link ProtocolError} `MESSAGE_INVALID`,
 * `CBOR_*` or `COSE_*`.
 * @module
 */
import { decode, encode } from '../cbor/index.ts';
import { type CborValue, Tagged } from '../cbor/types.ts';
import { type Sign1, signSign1, verifySign1 } from '../cose/sign1.ts';
import { sha256 } from '../crypto/hash.ts';
import { ProtocolError } from '../errors.ts';
import { defineRecord, type FieldType, field, INVALID, type RecordValue, t } from '../messages/record.ts';

/** Largest encoded posture evidence (report + quote) accepted, bytes. */
export const POSTURE_MAX_EVIDENCE_BYTES = 48 * 1024;
/** Most signals in one report. */
export const POSTURE_MAX_SIGNALS = 64;
/** Length of a report id (random, for de-duplication), bytes. */
export const POSTURE_REPORT_ID_LENGTH = 16;
/** Length of a run id (random per agent start), bytes. */
export const POSTURE_RUN_ID_LENGTH = 16;
/** Domain label of the quote nonce derivation. */
export const POSTURE_QUOTE_DOMAIN = 'enigm-posture-quote-v1';
/** External AAD of the report's COSE_Sign1 (domain separation from every other signed record). */
export const POSTURE_REPORT_AAD = 'enigm-posture-report-v1';
/** `swname` of reports made by the Enigm posture agent. */
export const POSTURE_AGENT_NAME = 'enigm-posture-agent';

/** Claim keys: RFC 9711 keys where EAT defines them, private-use keys (below −65536) otherwise. */
export const POSTURE_CLAIM_KEYS = {
  /** eat_nonce: the verifier's challenge nonce, when the report answers one. */
  nonce: 10,
  /** ueid: RAND type 0x01 ‖ the 16-byte device handle. */
  ueid: 256,
  /** swname: the agent's name. */
  swname: 270,
  /** swversion: [agent version]. */
  swversion: 271,
  /** Private: report id (16 random bytes, the de-duplication id). */
  id: -70100,
  /** Private: sequence number, strictly increasing per agent key. */
  seq: -70101,
  /** Private: agent monotonic time since its start, ms. */
  monoMs: -70102,
  /** Private: random id of this agent run (monotonic times compare only within one run). */
  runId: -70103,
  /** Private: wall clock when the report was made, ms since the Unix epoch (untrusted). */
  wallMs: -70104,
  /** Private: the signals. */
  signals: -70105,
  /** Private: the policy the compliance decision was made under. */
  policy: -70106,
  /** Private: the local compliance decision with its reasons. */
  compliance: -70107,
  /** Private: the TPM binding state. */
  tpm: -70108,
  /** Private: why this report was made. */
  trigger: -70109,
} as const;

/** State of a signal. */
export const SIGNAL_STATUS = { ok: 0, unknown: 1 } as const;
/** A signal's state name. */
export type SignalStatus = keyof typeof SIGNAL_STATUS;

/** Compliance decisions. */
export const COMPLIANCE_DECISIONS = { compliant: 0, noncompliant: 1, unknown: 2, grace: 3, 'no-policy': 4 } as const;
/** A compliance decision's name. */
export type ComplianceDecision = keyof typeof COMPLIANCE_DECISIONS;

/** TPM binding states: a quote follows; no TPM; TPM present but locked out or busy; quoting failed. */
export const TPM_BINDING = { quoted: 0, absent: 1, locked: 2, failed: 3, disabled: 4 } as const;
/** A TPM binding state's name. */
export type TpmBinding = keyof typeof TPM_BINDING;

/** Why a report was made. */
export const REPORT_TRIGGERS = { periodic: 0, change: 1, challenge: 2, start: 3, request: 4 } as const;
/** A trigger's name. */
export type ReportTrigger = keyof typeof REPORT_TRIGGERS;

/**
 * A signal value: null, a boolean, a safe integer, a text ≤ 128, a list (≤ 64 items) or a record
 * with text keys (≤ 16 entries) of those, nested at most 3 deep. Records travel as CBOR maps with
 * text keys (deterministic: sorted by their encoding).
 */
export type SignalValue = null | boolean | number | string | SignalValue[] | { [key: string]: SignalValue };

const SIGNAL_NAME = /^[a-z][A-Za-z0-9._-]{0,63}$/;
const VALUE_DEPTH = 3;

function valueFromCbor(v: CborValue, depth: number): SignalValue | typeof INVALID {
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : INVALID;
  if (typeof v === 'string') return v.length <= 128 ? v : INVALID;
  if (depth >= VALUE_DEPTH) return INVALID;
  if (Array.isArray(v)) {
    if (v.length > 64) return INVALID;
    const out: SignalValue[] = [];
    for (const x of v) {
      const r = valueFromCbor(x as CborValue, depth + 1);
      if (r === INVALID) return INVALID;
      out.push(r);
    }
    return out;
  }
  if (v instanceof Map) {
    if (v.size > 16) return INVALID;
    const out: { [key: string]: SignalValue } = {};
    for (const [k, x] of v) {
      if (typeof k !== 'string' || k.length === 0 || k.length > 32 || k === '__proto__') return INVALID;
      const r = valueFromCbor(x as CborValue, depth + 1);
      if (r === INVALID) return INVALID;
      out[k] = r;
    }
    return out;
  }
  return INVALID;
}

function valueToCbor(v: SignalValue): CborValue {
  if (Array.isArray(v)) return v.map(valueToCbor);
  if (v !== null && typeof v === 'object') return new Map(Object.entries(v).map(([k, x]) => [k, valueToCbor(x)]));
  return v;
}

/** The value type of a signal (see {@link SignalValue}). */
export const SIGNAL_VALUE_TYPE: FieldType<SignalValue> = {
  describe: 'null / bool / int / text ≤ 128 / list ≤ 64 / text-keyed map ≤ 16, depth ≤ 3',
  check: (v) => valueFromCbor(v, 0),
  why: () => 'expected null, bool, safe int, text ≤ 128, a list ≤ 64 or a text-keyed map ≤ 16, at most 3 deep',
  toCbor: valueToCbor,
};

/** A signal name: 1–64 of letters, digits, `.`, `_`, `-`, starting with a lowercase letter. */
const signalName: FieldType<string> = {
  describe: 'signal name',
  check: (v) => (typeof v === 'string' && SIGNAL_NAME.test(v) ? v : INVALID),
  why: () => `expected a signal name matching ${SIGNAL_NAME.source}`,
  toCbor: (v) => v,
};

/** One signal in a report. */
export const ReportSignal = defineRecord('posture.signal', {
  name: field(1, signalName, false, 'signal name, e.g. `secureboot`, `tsc.posture`'),
  status: field(2, t.enumOf('signal status', SIGNAL_STATUS), false, 'ok (value known) or unknown'),
  value: field(3, SIGNAL_VALUE_TYPE, true, 'the value, when known'),
  source: field(4, t.text(64), false, 'where it came from, e.g. `enigm-osd`, `linux:lsm`'),
  ageMs: field(5, t.uint(Number.MAX_SAFE_INTEGER), false, 'age at report time: collection to report, ms (monotonic)'),
  ttlMs: field(6, t.uint(Number.MAX_SAFE_INTEGER), false, 'how long a collected value stays fresh, ms'),
  reason: field(7, t.text(160), true, 'why the value is unknown (the agent’s wording)'),
});
/** A decoded {@link ReportSignal}. */
export type ReportSignalValue = RecordValue<typeof ReportSignal.schema>;

/** One reason of a compliance decision. */
export const ComplianceReason = defineRecord('posture.reason', {
  signal: field(1, t.text(64), false, 'the signal (or `policy`, `tpm`) the reason is about'),
  code: field(2, t.text(32), false, 'stable code, e.g. `mismatch`, `unknown`, `stale`, `grace`'),
  message: field(3, t.text(200), false, 'human reason'),
  graceLeftMs: field(4, t.uint(Number.MAX_SAFE_INTEGER), true, 'for `grace`: time left before noncompliant, ms'),
});
/** A decoded {@link ComplianceReason}. */
export type ComplianceReasonValue = RecordValue<typeof ComplianceReason.schema>;

/** The compliance claim. */
export const ComplianceClaim = defineRecord('posture.compliance', {
  decision: field(1, t.enumOf('compliance decision', COMPLIANCE_DECISIONS), false, 'the local decision'),
  reasons: field(2, t.array(t.record(ComplianceReason), 64), false, 'why'),
});

/** The policy claim: which signed policy the decision was made under. */
export const PolicyClaim = defineRecord('posture.policy', {
  id: field(1, t.text(64), false, 'policy id'),
  version: field(2, t.uint(Number.MAX_SAFE_INTEGER), false, 'policy version'),
});

/** The TPM claim. */
export const TpmClaim = defineRecord('posture.tpm', {
  binding: field(1, t.enumOf('tpm binding', TPM_BINDING), false, 'quoted, absent, locked, failed or disabled'),
  reason: field(2, t.text(160), true, 'why there is no quote'),
});

/** The posture claims set. */
export const PostureClaims = defineRecord('posture.claims', {
  nonce: field(POSTURE_CLAIM_KEYS.nonce, t.bytes(8, 64), true, 'verifier challenge nonce'),
  ueid: field(POSTURE_CLAIM_KEYS.ueid, t.bytes(17, 17), false, 'RAND UEID: 0x01 ‖ device handle'),
  swname: field(POSTURE_CLAIM_KEYS.swname, t.text(64), false, 'agent name'),
  swversion: field(POSTURE_CLAIM_KEYS.swversion, t.array(t.text(32), 1), false, '[agent version]'),
  id: field(POSTURE_CLAIM_KEYS.id, t.bytes(POSTURE_REPORT_ID_LENGTH, POSTURE_REPORT_ID_LENGTH), false, 'report id'),
  seq: field(POSTURE_CLAIM_KEYS.seq, t.uint(Number.MAX_SAFE_INTEGER), false, 'sequence number'),
  monoMs: field(POSTURE_CLAIM_KEYS.monoMs, t.uint(Number.MAX_SAFE_INTEGER), false, 'monotonic ms since agent start'),
  runId: field(POSTURE_CLAIM_KEYS.runId, t.bytes(POSTURE_RUN_ID_LENGTH, POSTURE_RUN_ID_LENGTH), false, 'agent run id'),
  wallMs: field(POSTURE_CLAIM_KEYS.wallMs, t.uint(Number.MAX_SAFE_INTEGER), false, 'wall clock, ms (untrusted)'),
  signals: field(POSTURE_CLAIM_KEYS.signals, t.array(t.record(ReportSignal), POSTURE_MAX_SIGNALS), false, 'signals'),
  policy: field(POSTURE_CLAIM_KEYS.policy, t.record(PolicyClaim), true, 'policy id and version'),
  compliance: field(POSTURE_CLAIM_KEYS.compliance, t.record(ComplianceClaim), false, 'local compliance decision'),
  tpm: field(POSTURE_CLAIM_KEYS.tpm, t.record(TpmClaim), false, 'TPM binding state'),
  trigger: field(POSTURE_CLAIM_KEYS.trigger, t.enumOf('report trigger', REPORT_TRIGGERS), false, 'why it was made'),
});
/** Decoded posture claims. */
export type PostureClaimsValue = RecordValue<typeof PostureClaims.schema>;

/** One quoted PCR value. */
export const PcrRecord = defineRecord('posture.pcr', {
  index: field(1, t.uint(23), false, 'PCR index'),
  value: field(2, t.bytes(20, 64), false, 'PCR value as read after the quote'),
});

/** A TPM quote, raw bytes only (the verifier parses them). */
export const QuoteRecord = defineRecord('posture.quote', {
  akPublic: field(1, t.bytes(1, 1024), false, 'TPMT_PUBLIC of the AK'),
  akParentQualifiedName: field(2, t.bytes(1, 128), true, 'qualified name of the AK parent'),
  attest: field(3, t.bytes(1, 2048), false, 'TPMS_ATTEST'),
  signature: field(4, t.bytes(1, 1024), false, 'TPMT_SIGNATURE over attest'),
  bank: field(5, t.uint(0xffff), false, 'TPM_ALG_ID of the PCR bank'),
  pcrs: field(6, t.array(t.record(PcrRecord), 24), false, 'PCR values'),
});
/** A decoded {@link QuoteRecord}. */
export type QuoteRecordValue = RecordValue<typeof QuoteRecord.schema>;

/** The evidence envelope: the signed report and, when a TPM quoted it, the quote. */
export const PostureEvidenceRecord = defineRecord('posture.evidence', {
  report: field(1, t.bytes(1, POSTURE_MAX_EVIDENCE_BYTES), false, 'COSE_Sign1 of the claims'),
  quote: field(2, t.record(QuoteRecord), true, 'TPM quote bound to the report'),
});
/** A decoded {@link PostureEvidenceRecord}. */
export type PostureEvidenceValue = RecordValue<typeof PostureEvidenceRecord.schema>;

const enc = new TextEncoder();
const QUOTE_DOMAIN = enc.encode(POSTURE_QUOTE_DOMAIN);
const REPORT_AAD = enc.encode(POSTURE_REPORT_AAD);

function invalid(why: string, cause?: unknown): ProtocolError {
  return new ProtocolError('MESSAGE_INVALID', why, cause === undefined ? undefined : { cause });
}

/**
 * Encodes claims deterministically, after checking them against the record (so an agent never
 * signs what a verifier would refuse).
 * @throws {@link ProtocolError} `MESSAGE_INVALID` naming the field
 */
export function encodePostureClaims(claims: PostureClaimsValue): Uint8Array {
  const map = PostureClaims.toMap(claims);
  PostureClaims.fromMap(map);
  checkSignalNames(claims.signals);
  const bytes = encode(map);
  if (bytes.length > POSTURE_MAX_EVIDENCE_BYTES) throw invalid(`posture.claims: ${bytes.length} bytes, over the bound`);
  return bytes;
}

function checkSignalNames(signals: readonly ReportSignalValue[]): void {
  const seen = new Set<string>();
  for (const s of signals) {
    if (seen.has(s.name)) throw invalid(`posture.claims: signal ${s.name} appears twice`);
    seen.add(s.name);
    if (s.status === 'ok' && s.value === undefined) throw invalid(`posture.claims: signal ${s.name} is ok without a value`);
  }
}

/**
 * Decodes claims strictly: deterministic CBOR, declared keys only, bounded, signal names unique.
 * @throws {@link ProtocolError} `CBOR_*` or `MESSAGE_INVALID`
 */
export function decodePostureClaims(bytes: Uint8Array): PostureClaimsValue {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  const claims = PostureClaims.fromMap(decode(bytes, { maxBytes: POSTURE_MAX_EVIDENCE_BYTES }));
  checkSignalNames(claims.signals);
  return claims;
}

/**
 * The TPM quote nonce (qualifying data) of a report: SHA-256 of the domain label and of the
 * SHA-256 of the claims bytes (which include the challenge nonce, if any). 32 bytes.
 * @throws TypeError if `claimsBytes` is not a Uint8Array
 */
export function postureQuoteNonce(claimsBytes: Uint8Array): Uint8Array {
  if (!(claimsBytes instanceof Uint8Array)) throw new TypeError('claimsBytes must be a Uint8Array');
  return sha256(QUOTE_DOMAIN, sha256(claimsBytes));
}

/** The RAND UEID of a device handle: 0x01 ‖ 16 bytes. */
export function ueidOfHandle(handle: Uint8Array): Uint8Array {
  if (!(handle instanceof Uint8Array) || handle.length !== 16) throw new RangeError('handle must be 16 bytes');
  const u = new Uint8Array(17);
  u[0] = 1;
  u.set(handle, 1);
  return u;
}

/** The 16-byte device handle inside a RAND UEID. @throws {@link ProtocolError} `MESSAGE_INVALID` */
export function handleOfUeid(ueid: Uint8Array): Uint8Array {
  if (ueid.length !== 17 || ueid[0] !== 1) throw invalid('ueid is not a RAND UEID of a 16-byte handle');
  return ueid.slice(1);
}

/** A signer: an Ed25519 seed, or an external signer. */
export type PostureSigner = { seed: Uint8Array } | { signer: (toBeSigned: Uint8Array) => Uint8Array };

/**
 * Signs encoded claims as a COSE_Sign1 (EdDSA, tagged, external AAD {@link POSTURE_REPORT_AAD}).
 * @param kid - key id placed in the unprotected header (e.g. the first 8 bytes of SHA-256 of the public key)
 */
export function signPostureClaims(claimsBytes: Uint8Array, by: PostureSigner, kid?: Uint8Array): Uint8Array {
  return signSign1({ payload: claimsBytes, externalAad: REPORT_AAD, ...by, ...(kid ? { kid } : {}) });
}

/**
 * Verifies a report's COSE_Sign1 under the agent's public key and decodes its claims.
 * @returns the claims, their exact bytes (for {@link postureQuoteNonce}) and the COSE message
 * @throws {@link ProtocolError} `COSE_*` / `CRYPTO_BAD_SIGNATURE` for a bad signature,
 *   `MESSAGE_INVALID` / `CBOR_*` for claims that do not decode
 */
export function openPostureReport(
  cose: Uint8Array,
  publicKey: Uint8Array,
): { claims: PostureClaimsValue; claimsBytes: Uint8Array; sign1: Sign1 } {
  const sign1 = verifySign1(cose, publicKey, { externalAad: REPORT_AAD, maxBytes: POSTURE_MAX_EVIDENCE_BYTES });
  if (sign1.payload === null) throw invalid('posture report: detached payload');
  return { claims: decodePostureClaims(sign1.payload), claimsBytes: sign1.payload, sign1 };
}

/**
 * Reads a report's claims without checking the signature (routing, display). Untrusted.
 * @throws {@link ProtocolError} as {@link decodePostureClaims}, `COSE_MALFORMED`
 */
export function peekPostureClaims(cose: Uint8Array): PostureClaimsValue {
  const v = decode(cose, { maxBytes: POSTURE_MAX_EVIDENCE_BYTES, allowedTags: new Set([18]) });
  const arr = v instanceof Tagged ? v.value : v; // tag 18 (COSE_Sign1) or the bare array; anything else is refused below
  if (!Array.isArray(arr) || arr.length !== 4 || !(arr[2] instanceof Uint8Array))
    throw new ProtocolError('COSE_MALFORMED', 'posture report is not a COSE_Sign1 with a payload');
  return decodePostureClaims(arr[2]);
}

/** Encodes the evidence envelope. @throws {@link ProtocolError} `MESSAGE_INVALID` */
export function encodePostureEvidence(evidence: PostureEvidenceValue): Uint8Array {
  const map = PostureEvidenceRecord.toMap(evidence);
  PostureEvidenceRecord.fromMap(map);
  const bytes = encode(map);
  if (bytes.length > POSTURE_MAX_EVIDENCE_BYTES) throw invalid(`posture evidence: ${bytes.length} bytes, over the bound`);
  return bytes;
}

/**
 * Decodes the evidence envelope strictly (the report inside is not verified here).
 * @throws {@link ProtocolError} `CBOR_*`, `MESSAGE_INVALID`
 */
export function decodePostureEvidence(bytes: Uint8Array): PostureEvidenceValue {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  if (bytes.length > POSTURE_MAX_EVIDENCE_BYTES) throw invalid(`posture evidence: ${bytes.length} bytes, over the bound`);
  const ev = PostureEvidenceRecord.fromMap(decode(bytes, { maxBytes: POSTURE_MAX_EVIDENCE_BYTES }));
  if (ev.quote) {
    const seen = new Set<number>();
    for (const p of ev.quote.pcrs) {
      if (seen.has(p.index)) throw invalid(`posture.quote: PCR ${p.index} appears twice`);
      seen.add(p.index);
    }
  }
  return ev;
}
