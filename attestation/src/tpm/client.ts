/**
 * A small TPM 2.0 client over any {@link TpmTransport}: the commands attestation needs
 * (TPM 2.0 Part 3), each a typed method that marshals parameters, runs through the one send path
 * of `command.ts` and unmarshals the response. Authorization is by password sessions (empty
 * passwords by default). Callers must flush every handle they load: swtpm has 3 transient slots.
 *
 * @module
 */
import { AttestationError } from '../errors.ts';
import { TPM_CAP, TPM_CC, TPM_RH, TPM_SU } from '../structures/constants.ts';
import type { TpmReader } from '../structures/marshal.ts';
import { TpmWriter } from '../structures/marshal.ts';
import { type PcrSelection, readPcrSelections, writePcrSelections } from '../structures/pcr-selection.ts';
import { marshalPublic, objectName, parsePublic, type TpmPublic } from '../structures/public.ts';
import { type RetryPolicy, runCommand, type TpmCommand, type TpmResponse } from './command.ts';
import type { TpmTransport } from './transport.ts';

/** A loaded object: its transient handle, public area and Name. */
export interface LoadedObject {
  readonly handle: number;
  readonly public: TpmPublic;
  /** The exact `TPMT_PUBLIC` bytes the TPM returned. */
  readonly publicArea: Uint8Array;
  readonly name: Uint8Array;
}

/** A key blob from `Create`: `TPM2B_PRIVATE` content (wrapped by the parent) and `TPMT_PUBLIC`. */
export interface KeyBlob {
  readonly private: Uint8Array;
  readonly publicArea: Uint8Array;
}

/** A quote as the TPM returns it: `TPMS_ATTEST` bytes and `TPMT_SIGNATURE` bytes. */
export interface RawQuote {
  readonly attest: Uint8Array;
  readonly signature: Uint8Array;
}

const EMPTY = new Uint8Array();
/** Digests `PCR_Read` returns per call at most (TPM 2.0 Part 3 §22.4: 8). */
export const PCR_READ_MAX = 8;

/** TPM 2.0 client. Pure command plumbing: no policy about which keys to make. */
export class TpmClient {
  /**
   * @param transport - where commands go
   * @param retry - backoff for RETRY/YIELDED/TESTING
   */
  constructor(
    readonly transport: TpmTransport,
    private readonly retry: RetryPolicy = {},
  ) {}

  /** Runs a raw command through the send path. */
  run(cmd: TpmCommand): Promise<TpmResponse> {
    return runCommand(this.transport, cmd, this.retry);
  }

  private async params(cmd: TpmCommand, read: (r: TpmReader) => void = () => {}): Promise<TpmResponse> {
    const res = await this.run(cmd);
    read(res.params);
    res.params.end();
    return res;
  }

  /** `TPM2_Startup(CLEAR|STATE)`. */
  async startup(type: 'clear' | 'state' = 'clear'): Promise<void> {
    await this.params({
      code: TPM_CC.Startup,
      params: new TpmWriter().u16(type === 'clear' ? TPM_SU.CLEAR : TPM_SU.STATE).finish(),
    });
  }

  /** `TPM2_Shutdown(STATE|CLEAR)`: STATE keeps `resetCount` across the next power cycle. */
  async shutdown(type: 'clear' | 'state' = 'state'): Promise<void> {
    await this.params({
      code: TPM_CC.Shutdown,
      params: new TpmWriter().u16(type === 'clear' ? TPM_SU.CLEAR : TPM_SU.STATE).finish(),
    });
  }

  /**
   * `TPM2_GetRandom`, looped until `n` bytes are collected.
   * @throws RangeError if `n` is not an integer in 0..4096
   */
  async getRandom(n: number): Promise<Uint8Array> {
    if (!Number.isInteger(n) || n < 0 || n > 4096) throw new RangeError(`n must be an integer in 0..4096, got ${n}`);
    const parts: Uint8Array[] = [];
    let got = 0;
    while (got < n) {
      let chunk = EMPTY;
      await this.params({ code: TPM_CC.GetRandom, params: new TpmWriter().u16(Math.min(32, n - got)).finish() }, (r) => {
        chunk = new Uint8Array(r.tpm2b('randomBytes', 64));
      });
      if (chunk.length === 0) throw new AttestationError('TPM_MARSHAL', 'GetRandom returned no bytes');
      parts.push(chunk);
      got += chunk.length;
    }
    return new Uint8Array(Buffer.concat(parts).subarray(0, n));
  }

  /** `TPM2_GetCapability(TPM_CAP_PCRS)`: the allocated PCR banks and their PCRs. */
  async getPcrBanks(): Promise<PcrSelection[]> {
    let sels: PcrSelection[] = [];
    await this.params({ code: TPM_CC.GetCapability, params: new TpmWriter().u32(TPM_CAP.PCRS).u32(0).u32(1).finish() }, (r) => {
      r.u8('moreData');
      const cap = r.u32('capability');
      if (cap !== TPM_CAP.PCRS) throw new AttestationError('TPM_MARSHAL', `GetCapability answered capability ${cap}`);
      sels = readPcrSelections(r);
    });
    return sels;
  }

  /**
   * `TPM2_PCR_Read` of one bank, looped over calls of at most 8 digests.
   * @returns PCR index → value, and the `pcrUpdateCounter` of the last call
   */
  async pcrRead(sel: PcrSelection): Promise<{ values: Map<number, Uint8Array>; updateCounter: number }> {
    const values = new Map<number, Uint8Array>();
    let left = [...sel.pcrs];
    let updateCounter = 0;
    while (left.length > 0) {
      let returned: PcrSelection[] = [];
      const digests: Uint8Array[] = [];
      const w = new TpmWriter();
      writePcrSelections(w, [{ hash: sel.hash, pcrs: left }]);
      await this.params({ code: TPM_CC.PCR_Read, params: w.finish() }, (r) => {
        updateCounter = r.u32('pcrUpdateCounter');
        returned = readPcrSelections(r);
        const n = r.count('TPML_DIGEST', PCR_READ_MAX);
        for (let i = 0; i < n; i++) digests.push(new Uint8Array(r.tpm2b('a PCR value', 64)));
      });
      const pcrs = returned.find((s) => s.hash === sel.hash)?.pcrs ?? [];
      if (pcrs.length === 0 || pcrs.length !== digests.length || pcrs.some((p) => !left.includes(p)))
        throw new AttestationError(
          'TPM_MARSHAL',
          `PCR_Read returned ${digests.length} digests for selection [${pcrs.join(',')}]`,
        );
      for (const [i, p] of pcrs.entries()) values.set(p, digests[i]!);
      left = left.filter((p) => !values.has(p));
    }
    return { values, updateCounter };
  }

  /** `TPM2_PCR_Extend` with one digest per bank. */
  async pcrExtend(pcr: number, digests: readonly { alg: number; digest: Uint8Array }[], auth = EMPTY): Promise<void> {
    const w = new TpmWriter().u32(digests.length);
    for (const d of digests) w.u16(d.alg).bytes(d.digest);
    await this.params({ code: TPM_CC.PCR_Extend, handles: [pcr], auth: [auth], params: w.finish() });
  }

  private createParams(template: TpmPublic, auth: Uint8Array): Uint8Array {
    const w = new TpmWriter();
    w.sized((s) => s.tpm2b(auth).tpm2b(EMPTY)); // TPM2B_SENSITIVE_CREATE
    w.tpm2b(marshalPublic(template)); // TPM2B_PUBLIC
    w.tpm2b(EMPTY); // outsideInfo
    w.u32(0); // creationPCR: empty TPML_PCR_SELECTION
    return w.finish();
  }

  /** `TPM2_CreatePrimary` in a hierarchy (default: owner). Flush the handle when done. */
  async createPrimary(
    template: TpmPublic,
    options: { hierarchy?: number; hierarchyAuth?: Uint8Array; keyAuth?: Uint8Array } = {},
  ): Promise<LoadedObject> {
    let publicArea = EMPTY;
    let name = EMPTY;
    const res = await this.params(
      {
        code: TPM_CC.CreatePrimary,
        handles: [options.hierarchy ?? TPM_RH.OWNER],
        auth: [options.hierarchyAuth ?? EMPTY],
        params: this.createParams(template, options.keyAuth ?? EMPTY),
        responseHandles: 1,
      },
      (r) => {
        publicArea = new Uint8Array(r.tpm2b('outPublic'));
        r.tpm2b('creationData');
        r.tpm2b('creationHash');
        r.u16('creationTicket.tag');
        r.u32('creationTicket.hierarchy');
        r.tpm2b('creationTicket.digest');
        name = new Uint8Array(r.tpm2b('name'));
      },
    );
    return this.loaded(res.handles[0]!, publicArea, name);
  }

  /** `TPM2_Create` under a loaded parent: returns the wrapped key blob (not loaded). */
  async create(
    parent: number,
    template: TpmPublic,
    options: { parentAuth?: Uint8Array; keyAuth?: Uint8Array } = {},
  ): Promise<KeyBlob> {
    let priv = EMPTY;
    let publicArea = EMPTY;
    await this.params(
      {
        code: TPM_CC.Create,
        handles: [parent],
        auth: [options.parentAuth ?? EMPTY],
        params: this.createParams(template, options.keyAuth ?? EMPTY),
      },
      (r) => {
        priv = new Uint8Array(r.tpm2b('outPrivate'));
        publicArea = new Uint8Array(r.tpm2b('outPublic'));
        r.tpm2b('creationData');
        r.tpm2b('creationHash');
        r.u16('creationTicket.tag');
        r.u32('creationTicket.hierarchy');
        r.tpm2b('creationTicket.digest');
      },
    );
    return { private: priv, publicArea };
  }

  /** `TPM2_Load` of a key blob under its parent. Flush the handle when done. */
  async load(parent: number, blob: KeyBlob, parentAuth = EMPTY): Promise<LoadedObject> {
    let name = EMPTY;
    const params = new TpmWriter().tpm2b(blob.private).tpm2b(blob.publicArea).finish();
    const res = await this.params(
      { code: TPM_CC.Load, handles: [parent], auth: [parentAuth], params, responseHandles: 1 },
      (r) => {
        name = new Uint8Array(r.tpm2b('name'));
      },
    );
    return this.loaded(res.handles[0]!, blob.publicArea, name);
  }

  /** `TPM2_ReadPublic` of a loaded or persistent object. */
  async readPublic(handle: number): Promise<LoadedObject> {
    let publicArea = EMPTY;
    let name = EMPTY;
    await this.params({ code: TPM_CC.ReadPublic, handles: [handle] }, (r) => {
      publicArea = new Uint8Array(r.tpm2b('outPublic'));
      name = new Uint8Array(r.tpm2b('name'));
      r.tpm2b('qualifiedName');
    });
    return this.loaded(handle, publicArea, name);
  }

  /** `TPM2_Quote` with the key's own scheme over `selections`, `qualifyingData` = `nonce`. */
  async quote(signHandle: number, nonce: Uint8Array, selections: readonly PcrSelection[], auth = EMPTY): Promise<RawQuote> {
    const w = new TpmWriter().tpm2b(nonce).u16(0x0010); // inScheme TPM_ALG_NULL: use the key's scheme
    writePcrSelections(w, selections);
    let attest = EMPTY;
    let signature = EMPTY;
    await this.params({ code: TPM_CC.Quote, handles: [signHandle], auth: [auth], params: w.finish() }, (r) => {
      attest = new Uint8Array(r.tpm2b('quoted'));
      signature = new Uint8Array(r.take(r.left, 'signature'));
    });
    return { attest, signature };
  }

  /** `TPM2_FlushContext` of a transient object or session. */
  async flushContext(handle: number): Promise<void> {
    await this.params({ code: TPM_CC.FlushContext, params: new TpmWriter().u32(handle).finish() });
  }

  private loaded(handle: number, publicArea: Uint8Array, name: Uint8Array): LoadedObject {
    const computed = objectName(publicArea);
    if (Buffer.compare(computed, name) !== 0)
      throw new AttestationError('TPM_MARSHAL', 'the TPM returned a Name that does not match the public area');
    return { handle, public: parsePublic(publicArea), publicArea, name };
  }
}
