/**
 * `TPM2_GetCapability` readers beyond PCR banks (TPM 2.0 Part 3 §30.2): fixed and variable TPM
 * properties (`TPM_CAP_TPM_PROPERTIES`) and handle lists (`TPM_CAP_HANDLES`), e.g. to check that a
 * run leaked no transient objects or sessions.
 *
 * @module
 */
import { AttestationError } from '../errors.ts';
import { TPM_CAP, TPM_CC } from '../structures/constants.ts';
import { TpmWriter } from '../structures/marshal.ts';
import type { TpmClient } from './client.ts';

/** Handles a TPM lists per `GetCapability(HANDLES)` call at most (bounds the response parse). */
const MAX_HANDLES = 256;

/**
 * Reads one TPM property (`TPM_PT`), or undefined if the TPM does not report it.
 * @throws {@link AttestationError} from the send path, or `TPM_MARSHAL`
 * @example const max = (await getTpmProperty(tpm, TPM_PT.NV_BUFFER_MAX)) ?? 1024;
 */
export async function getTpmProperty(tpm: TpmClient, property: number): Promise<number | undefined> {
  const res = await tpm.run({
    code: TPM_CC.GetCapability,
    params: new TpmWriter().u32(TPM_CAP.TPM_PROPERTIES).u32(property).u32(1).finish(),
  });
  const r = res.params;
  r.u8('moreData');
  const cap = r.u32('capability');
  if (cap !== TPM_CAP.TPM_PROPERTIES) throw new AttestationError('TPM_MARSHAL', `GetCapability answered capability ${cap}`);
  const n = r.count('TPML_TAGGED_TPM_PROPERTY', 1);
  let value: number | undefined;
  for (let i = 0; i < n; i++) {
    const p = r.u32('a TPM_PT');
    const v = r.u32('a property value');
    if (p === property) value = v;
  }
  r.end();
  return value;
}

/**
 * Lists the handles of one type (`TPM_HT`, e.g. `TPM_HT.TRANSIENT`, `TPM_HT.PERSISTENT`,
 * `TPM_HT.NV_INDEX`), looping while the TPM says there is more.
 * @throws RangeError if `handleType` is not a byte
 * @throws {@link AttestationError} from the send path, or `TPM_MARSHAL`
 * @example (await listHandles(tpm, TPM_HT.TRANSIENT)).length === 0 // nothing leaked
 */
export async function listHandles(tpm: TpmClient, handleType: number): Promise<number[]> {
  if (!Number.isInteger(handleType) || handleType < 0 || handleType > 0xff)
    throw new RangeError(`handleType must be a byte, got ${handleType}`);
  const out: number[] = [];
  let next = (handleType << 24) >>> 0;
  for (;;) {
    const res = await tpm.run({
      code: TPM_CC.GetCapability,
      params: new TpmWriter().u32(TPM_CAP.HANDLES).u32(next).u32(MAX_HANDLES).finish(),
    });
    const r = res.params;
    const more = r.u8('moreData');
    const cap = r.u32('capability');
    if (cap !== TPM_CAP.HANDLES) throw new AttestationError('TPM_MARSHAL', `GetCapability answered capability ${cap}`);
    const n = r.count('TPML_HANDLE', MAX_HANDLES);
    let last = -1;
    for (let i = 0; i < n; i++) {
      const h = r.u32('a handle');
      last = h;
      if (h >>> 24 === handleType) out.push(h);
    }
    r.end();
    if (!more || n === 0 || last >>> 24 !== handleType) return out;
    next = last + 1;
  }
}
