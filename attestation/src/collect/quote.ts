/**
 * The quote collector: makes (or reloads) a restricted signing AK under the storage primary,
 * quotes the requested PCRs with the verifier's nonce, reads the PCR values and returns raw
 * evidence. It flushes every object it loads, even on failure. No checking happens here.
 *
 * @module
 */
import { ALG_SHA256 } from '../hash.ts';
import { TPM_RH } from '../structures/constants.ts';
import { hierarchyQualifiedName, qualifiedName } from '../structures/public.ts';
import type { KeyBlob, LoadedObject, TpmClient } from '../tpm/client.ts';
import { akTemplate, type KeyKind, srkTemplate } from '../tpm/templates.ts';
import type { QuoteEvidence } from './evidence.ts';

/** What to quote. */
export interface CollectQuoteOptions {
  /** Verifier nonce, ≤ 64 bytes (the qualifyingData). */
  nonce: Uint8Array;
  /** PCR indices (default 0..7). */
  pcrs?: readonly number[];
  /** Bank `TPM_ALG_ID` (default SHA-256). */
  bank?: number;
  /** AK algorithm when creating one (default ECC P-256). */
  akKind?: KeyKind;
  /** An AK blob from a previous run, reloaded instead of creating a new AK. */
  akBlob?: KeyBlob;
  /** The firmware event log to attach, if the caller has one. */
  eventLog?: Uint8Array;
}

/** Evidence plus the AK blob to reuse next time (so the verifier sees one AK). */
export interface CollectedQuote {
  readonly evidence: QuoteEvidence;
  readonly akBlob: KeyBlob;
}

/**
 * Collects a quote.
 * @throws RangeError if the nonce is longer than 64 bytes
 * @throws {@link AttestationError} from the TPM client
 * @example const { evidence } = await collectQuote(new TpmClient(await connectSwtpm(addr)), { nonce });
 */
export async function collectQuote(tpm: TpmClient, options: CollectQuoteOptions): Promise<CollectedQuote> {
  if (options.nonce.length > 64) throw new RangeError(`nonce: ${options.nonce.length} bytes, over 64`);
  const bank = options.bank ?? ALG_SHA256;
  const pcrs = [...(options.pcrs ?? [0, 1, 2, 3, 4, 5, 6, 7])].sort((a, b) => a - b);
  let srk: LoadedObject | undefined;
  let ak: LoadedObject | undefined;
  try {
    srk = await tpm.createPrimary(srkTemplate('ecc'));
    const akBlob = options.akBlob ?? (await tpm.create(srk.handle, akTemplate(options.akKind ?? 'ecc')));
    ak = await tpm.load(srk.handle, akBlob);
    const akParentQualifiedName = qualifiedName(hierarchyQualifiedName(TPM_RH.OWNER), srk.name);
    await tpm.flushContext(srk.handle);
    srk = undefined;
    const q = await tpm.quote(ak.handle, options.nonce, [{ hash: bank, pcrs }]);
    const { values } = await tpm.pcrRead({ hash: bank, pcrs });
    const evidence: QuoteEvidence = {
      akPublic: ak.publicArea,
      akParentQualifiedName,
      attest: q.attest,
      signature: q.signature,
      pcrBank: bank,
      pcrs: values,
      ...(options.eventLog ? { eventLog: options.eventLog } : {}),
    };
    return { evidence, akBlob };
  } finally {
    if (ak) await tpm.flushContext(ak.handle).catch(() => undefined);
    if (srk) await tpm.flushContext(srk.handle).catch(() => undefined);
  }
}
