/**
 * NV reads (TPM 2.0 Part 3 §31): `TPM2_NV_ReadPublic` and `TPM2_NV_Read` in chunks of at most
 * `TPM_PT_NV_BUFFER_MAX` bytes, and the EK certificate reader on top (TCG EK Credential Profile
 * 2.0 §2.2.1: the certificate, DER, sits in a well-known NV index per EK type). Collector side:
 * the bytes returned are untrusted until `verify/ek-cert.ts` checks them.
 *
 * @module
 */
import { AttestationError } from '../errors.ts';
import { EK_CERT_NV_INDEX, TPM_CC, TPM_PT, TPM_RH } from '../structures/constants.ts';
import { TpmReader, TpmWriter } from '../structures/marshal.ts';
import { getTpmProperty } from './capability.ts';
import type { TpmClient } from './client.ts';
import { decodeResponseCode } from './rc.ts';

/** `TPMS_NV_PUBLIC` of an NV index. */
export interface NvPublic {
  readonly index: number;
  readonly nameAlg: number;
  /** `TPMA_NV` bits. */
  readonly attributes: number;
  readonly authPolicy: Uint8Array;
  /** Size of the data, bytes. */
  readonly dataSize: number;
  /** The index's Name as the TPM reports it. */
  readonly name: Uint8Array;
}

/** NV read chunk used when the TPM does not report `TPM_PT_NV_BUFFER_MAX`. */
export const DEFAULT_NV_CHUNK = 1024;

/**
 * `TPM2_NV_ReadPublic`.
 * @throws {@link AttestationError} `TPM_RESPONSE` (e.g. `TPM_RC_HANDLE` if the index is not defined), `TPM_MARSHAL`
 */
export async function nvReadPublic(tpm: TpmClient, index: number): Promise<NvPublic> {
  const res = await tpm.run({ code: TPM_CC.NV_ReadPublic, handles: [index] });
  const r = res.params;
  const pub = r.tpm2b('nvPublic');
  const name = new Uint8Array(r.tpm2b('nvName'));
  r.end();
  const pr = new TpmReader(pub, 'TPMS_NV_PUBLIC');
  const got = pr.u32('nvIndex');
  const nameAlg = pr.u16('nameAlg');
  const attributes = pr.u32('attributes');
  const authPolicy = new Uint8Array(pr.tpm2b('authPolicy', 64));
  const dataSize = pr.u16('dataSize');
  pr.end();
  if (got !== index)
    throw new AttestationError('TPM_MARSHAL', `NV_ReadPublic of 0x${index.toString(16)} answered 0x${got.toString(16)}`);
  return { index, nameAlg, attributes, authPolicy, dataSize, name };
}

/** Options of {@link nvRead}. */
export interface NvReadOptions {
  /** Authorization handle (default `TPM_RH_OWNER`; the index itself for authread indices). */
  authHandle?: number;
  /** Its password (default empty). */
  auth?: Uint8Array;
  /** Bytes per `NV_Read` (default `TPM_PT_NV_BUFFER_MAX`, else 1024). */
  chunk?: number;
}

/**
 * Reads a whole NV index: `NV_ReadPublic` for its size, then `NV_Read` in chunks.
 * @throws RangeError if `chunk` is not in 1..4096
 * @throws {@link AttestationError} `TPM_RESPONSE`, `TPM_MARSHAL`
 */
export async function nvRead(tpm: TpmClient, index: number, options: NvReadOptions = {}): Promise<Uint8Array> {
  const pub = await nvReadPublic(tpm, index);
  const chunk = options.chunk ?? (await getTpmProperty(tpm, TPM_PT.NV_BUFFER_MAX)) ?? DEFAULT_NV_CHUNK;
  if (!Number.isInteger(chunk) || chunk < 1 || chunk > 4096) throw new RangeError(`chunk must be in 1..4096, got ${chunk}`);
  const out = new Uint8Array(pub.dataSize);
  for (let off = 0; off < pub.dataSize; ) {
    const size = Math.min(chunk, pub.dataSize - off);
    const res = await tpm.run({
      code: TPM_CC.NV_Read,
      handles: [options.authHandle ?? TPM_RH.OWNER, index],
      auth: [options.auth ?? new Uint8Array()],
      params: new TpmWriter().u16(size).u16(off).finish(),
    });
    const data = res.params.tpm2b('NV data', size);
    res.params.end();
    if (data.length !== size)
      throw new AttestationError('TPM_MARSHAL', `NV_Read at ${off} returned ${data.length} of ${size} bytes`);
    out.set(data, off);
    off += size;
  }
  return out;
}

/**
 * Reads the EK certificate (DER) from its NV index. Trailing zero padding some vendors leave after
 * the DER is cut off at the DER's own length.
 * @param kind - `rsa2048` (0x01C00002), `eccP256` (0x01C0000A) or `eccP384` (0x01C00016)
 * @throws {@link AttestationError} `EK_CERT_MISSING` if the index is not defined or holds no DER
 * @example const der = await readEkCertificate(tpm, 'rsa2048');
 */
export async function readEkCertificate(
  tpm: TpmClient,
  kind: keyof typeof EK_CERT_NV_INDEX = 'rsa2048',
  options: NvReadOptions = {},
): Promise<Uint8Array> {
  const index = EK_CERT_NV_INDEX[kind];
  let data: Uint8Array;
  try {
    data = await nvRead(tpm, index, options);
  } catch (e) {
    if (e instanceof AttestationError && e.rc !== undefined && decodeResponseCode(e.rc).name === 'HANDLE')
      throw new AttestationError('EK_CERT_MISSING', `NV index 0x${index.toString(16)} (${kind} EK certificate) is not defined`, {
        cause: e,
        rc: e.rc,
      });
    throw e;
  }
  const len = derLength(data);
  if (len === undefined)
    throw new AttestationError('EK_CERT_MISSING', `NV index 0x${index.toString(16)} does not hold a DER certificate`);
  return data.subarray(0, len);
}

/** Total length of the DER SEQUENCE at the start of `b`, or undefined if it is not one that fits. */
function derLength(b: Uint8Array): number | undefined {
  if (b.length < 2 || b[0] !== 0x30) return undefined;
  const first = b[1]!;
  if (first < 0x80) return 2 + first <= b.length ? 2 + first : undefined;
  const n = first & 0x7f;
  if (n === 0 || n > 3 || b.length < 2 + n) return undefined;
  let len = 0;
  for (let i = 0; i < n; i++) len = (len << 8) | b[2 + i]!;
  const total = 2 + n + len;
  return total <= b.length ? total : undefined;
}
