/**
 * The Key's updatable flash as the firmware sees it: boots through the bootloader, and runs the
 * `fw.*` commands on the update engine. Errors of the flash layer become wire errors: a refused
 * image is `FIRMWARE_REJECTED` with the precise code in the reason (e.g. `FIRMWARE_DOWNGRADE: …`),
 * a command out of sequence is `INVALID_STATE`.
 * @module
 */
import type { BodyOf } from '@enigm/protocols/messages';
import type { WireError } from './firmware.ts';
import { type BootResult, boot } from './flash/bootloader.ts';
import type { Flash } from './flash/flash.ts';
import { codeOf, type ImageInfo, type ImageVerifier } from './flash/image.ts';
import type { FlashLayout } from './flash/layout.ts';
import { UpdateEngine } from './flash/update.ts';

/** What the firmware needs to run updates. */
export interface FlashDeps {
  flash: Flash;
  layout: FlashLayout;
  verifier: ImageVerifier;
  /** Called after commands that may have changed the flash (the simulator persists it). */
  onChange?: () => void;
  /**
   * Erase the pages an upload needs up front at `fw.begin` (a long operation the runtime drives
   * page by page, sending keepalives) instead of lazily page by page as chunks arrive.
   */
  eraseAhead?: boolean;
}

/**
 * Result of an `fw.*` command: a response body (and, for a long operation, `work`: one step per
 * call, `true` while steps remain — the runtime runs it before sending the response) or a wire error.
 */
export type FwResult = { body: unknown; work?: () => boolean } | WireError;

/** Bytes of a frame an `fw.chunk` may not use for payload (envelopes, session, AEAD tag, framing). */
export const CHUNK_OVERHEAD = 128;

const slot = (i: ImageInfo, state: string, offset?: number): BodyOf<'fw.status.response'>['running'] => ({
  version: i.version,
  securityCounter: i.securityCounter,
  id: i.manifestId,
  state,
  size: i.payloadSize,
  ...(offset !== undefined ? { offset } : {}),
});

/** The flash of one Key. */
export class KeyFlash {
  readonly #deps: FlashDeps;
  readonly #model: string;
  readonly #counter: () => number;
  #engine!: UpdateEngine;
  #boot!: BootResult;

  /** Boots the flash (runs the bootloader). */
  constructor(deps: FlashDeps, model: string, installedCounter: () => number) {
    this.#deps = deps;
    this.#model = model;
    this.#counter = installedCounter;
    this.boot();
  }

  /** Runs the bootloader (at power-on and after `fw.test`/reboot). */
  boot(): BootResult {
    const { flash, layout, verifier } = this.#deps;
    this.#boot = boot(flash, layout, verifier);
    this.#engine = new UpdateEngine(flash, layout, verifier, { model: this.#model, installedSecurityCounter: this.#counter });
    this.#deps.onChange?.();
    return this.#boot;
  }

  /** The running image. */
  get running(): ImageInfo {
    return this.#boot.running;
  }

  /** Installed security counter (never decreases; advanced only by confirm). */
  get securityCounter(): number {
    return this.#engine.status().installedSecurityCounter;
  }

  /** Runs one `fw.*` command. `chunkMax` is the largest chunk payload the link allows. */
  command(name: string, body: unknown, chunkMax: number): FwResult {
    try {
      return this.#run(name, body, chunkMax);
    } catch (e) {
      const code = codeOf(e);
      const reason = `${code}: ${(e as Error).message}`.slice(0, 256);
      if (/^(FIRMWARE_|CRYPTO_|COSE_|CBOR_)/.test(code)) return { error: 'FIRMWARE_REJECTED', reason };
      if (code === 'UPDATE_STATE' || code === 'UPDATE_INCOMPLETE') return { error: 'INVALID_STATE', reason };
      if (code === 'CHUNK_MISMATCH') return { error: 'INVALID_ARGUMENT', reason };
      return { error: 'INTERNAL', reason };
    } finally {
      if (name !== 'fw.status') this.#deps.onChange?.(); // status only reads: nothing to persist
    }
  }

  #step(f: () => boolean): boolean {
    try {
      return f();
    } finally {
      this.#deps.onChange?.();
    }
  }

  #run(name: string, body: unknown, chunkMax: number): FwResult {
    const e = this.#engine;
    switch (name) {
      case 'fw.begin': {
        const r = e.begin((body as BodyOf<'fw.begin'>).manifest);
        const res = { body: { offset: r.offset, chunk: chunkMax, id: r.id } satisfies BodyOf<'fw.begin.response'> };
        return this.#deps.eraseAhead ? { ...res, work: () => this.#step(() => e.eraseStep()) } : res;
      }
      case 'fw.chunk': {
        const { offset, data } = body as BodyOf<'fw.chunk'>;
        if (data.length > chunkMax) return { error: 'TOO_LARGE', reason: `chunk of ${data.length} bytes exceeds ${chunkMax}` };
        try {
          return { body: { offset: e.write(offset, data).offset, accepted: true } };
        } catch (err) {
          if (codeOf(err) !== 'OUT_OF_ORDER') throw err;
          return { body: { offset: e.status().secondary?.offset ?? 0, accepted: false } };
        }
      }
      case 'fw.finish':
        e.finish();
        return { body: {} };
      case 'fw.test':
        e.markTest();
        return { body: {} };
      case 'fw.confirm':
        return { body: e.confirm() };
      case 'fw.revert':
        e.revert();
        return { body: {} };
      case 'fw.status': {
        const st = e.status();
        const res: BodyOf<'fw.status.response'> = {
          running: slot(st.running, st.testing ? 'testing' : 'running'),
          securityCounter: st.installedSecurityCounter,
          testing: st.testing,
          ...(st.secondary ? { secondary: slot(st.secondary, st.secondary.state, st.secondary.offset) } : {}),
        };
        return { body: res };
      }
      default:
        return { error: 'UNKNOWN_TYPE', reason: `${name} is not a firmware command` };
    }
  }
}
