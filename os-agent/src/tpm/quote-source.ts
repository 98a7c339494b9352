/**
 * The agent's TPM: quotes a report digest with a persistent AK, and turns every failure into a
 * reason instead of an exception — a missing TPM (no device, nothing listening), a locked one
 * (dictionary-attack lockout, or the device held by another process) and any other failure each
 * yield a report without a quote that says why, and the agent keeps running.
 *
 * The TPM is opened for each quote and closed after it (reports are minutes apart; the device
 * stays free for others). `collectQuote` flushes every object it loads (swtpm has three transient
 * slots). The AK blob is kept in the state folder, so every quote is by the same AK and a
 * verifier can pin its Name.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import {
  AttestationError,
  collectQuote,
  hashById,
  type KeyBlob,
  keyBlobFromJson,
  keyBlobToJson,
  openTpm,
  type QuoteEvidence,
  TpmClient,
  type TpmTransport,
  writeFileAtomicSync,
} from '@enigm/attestation';

/** A quote, or why there is none. */
export type QuoteOutcome =
  | { readonly binding: 'quoted'; readonly evidence: QuoteEvidence }
  | { readonly binding: 'absent' | 'locked' | 'failed'; readonly reason: string };

/** Anything that can quote a nonce (the TPM, or a test double). */
export interface QuoteSource {
  /** Quotes `nonce` (32 bytes). Never throws: failures are outcomes. */
  quote(nonce: Uint8Array): Promise<QuoteOutcome>;
}

/** Options of {@link TpmQuoteSource}. */
export interface TpmQuoteSourceOptions {
  /** `device` (`/dev/tpmrm0`), `device:/dev/tpm0`, or `swtpm:host=H,port=P`. */
  readonly spec: string;
  /** Where the AK blob is kept (JSON; created on the first quote). */
  readonly akBlobPath: string;
  /** PCRs quoted (default 0..7). */
  readonly pcrs?: readonly number[];
  /** Opens the transport (default `openTpm`). */
  readonly open?: (spec: string) => Promise<TpmTransport>;
  /** Bound of one quote, ms (default 10,000). */
  readonly timeoutMs?: number;
}

const LOCKOUT_RC = 0x921;

function classify(e: unknown): { binding: 'absent' | 'locked' | 'failed'; reason: string } {
  const code = (e as { code?: unknown }).code;
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof AttestationError && e.code === 'TPM_RESPONSE' && ((e.rc ?? 0) & 0xfff) === LOCKOUT_RC)
    return { binding: 'locked', reason: 'the TPM is in dictionary-attack lockout' };
  if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ENODEV' || code === 'ENXIO')
    return { binding: 'absent', reason: 'no TPM: the device is missing or nothing answers' };
  if (code === 'EBUSY' || code === 'EACCES' || code === 'EPERM')
    return { binding: 'locked', reason: `the TPM device is not available to the agent (${code})` };
  if (e instanceof AttestationError && e.code === 'TPM_TRANSPORT') {
    if (/ENOENT|ECONNREFUSED|not found|no such/i.test(msg))
      return { binding: 'absent', reason: 'no TPM: the device is missing or nothing answers' };
    if (/EBUSY|EACCES|EPERM/.test(msg)) return { binding: 'locked', reason: 'the TPM device is busy or not permitted' };
  }
  return { binding: 'failed', reason: `quoting failed (${typeof code === 'string' ? code : 'error'})` };
}

/** The TPM as a {@link QuoteSource}; see the module documentation. */
export class TpmQuoteSource implements QuoteSource {
  readonly #o: TpmQuoteSourceOptions;

  constructor(options: TpmQuoteSourceOptions) {
    if (typeof options.spec !== 'string' || options.spec === '') throw new TypeError('spec must be a TPM spec');
    this.#o = options;
  }

  #akBlob(): KeyBlob | undefined {
    if (!existsSync(this.#o.akBlobPath)) return undefined;
    try {
      return keyBlobFromJson(JSON.parse(readFileSync(this.#o.akBlobPath, 'utf8')));
    } catch {
      return undefined; // a damaged blob: a new AK is made (the verifier sees a new AK Name)
    }
  }

  /**
   * The allocated PCR banks that have PCRs selected (for the `tpm.pcrBanks` signal), sorted by
   * name. Throws when the TPM cannot be reached (the collector turns that into unknown).
   */
  async pcrBanks(): Promise<string[]> {
    const transport = await (this.#o.open ?? openTpm)(this.#o.spec);
    try {
      const sels = await new TpmClient(transport).getPcrBanks();
      const names = sels.filter((s) => s.pcrs.length > 0).map((s) => hashById(s.hash)?.name);
      return [...new Set(names.filter((n): n is NonNullable<typeof n> => n !== undefined))].sort();
    } finally {
      await transport.close().catch(() => undefined);
    }
  }

  async quote(nonce: Uint8Array): Promise<QuoteOutcome> {
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = this.#o.timeoutMs ?? 10_000;
    const work = (async (): Promise<QuoteOutcome> => {
      const transport = await (this.#o.open ?? openTpm)(this.#o.spec);
      try {
        const tpm = new TpmClient(transport);
        const held = this.#akBlob();
        const { evidence, akBlob } = await collectQuote(tpm, {
          nonce,
          pcrs: this.#o.pcrs ?? [0, 1, 2, 3, 4, 5, 6, 7],
          ...(held ? { akBlob: held } : {}),
        });
        if (!held) writeFileAtomicSync(this.#o.akBlobPath, `${JSON.stringify(keyBlobToJson(akBlob))}\n`, { mode: 0o600 });
        return { binding: 'quoted', evidence };
      } finally {
        await transport.close().catch(() => undefined);
      }
    })();
    const late = new Promise<QuoteOutcome>((resolve) => {
      timer = setTimeout(
        () => resolve({ binding: 'failed', reason: `the TPM did not answer within ${timeoutMs} ms` }),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([work.catch((e: unknown) => classify(e)), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
