/**
 * The device side of one link: bytes from the host go through the frame decoder into the
 * firmware's link context; responses and events go back as frames. Knows nothing about the
 * medium (serial, TCP): it gets a `write` function and is fed chunks.
 * @module
 */
import { encodeFrame, FrameDecoder } from '@enigm/protocols/framing';
import { encodeMessage, PROTOCOL_VERSION } from '@enigm/protocols/messages';
import type { KeyFirmware } from '../firmware/firmware.ts';
import type { LinkContext } from '../firmware/link-context.ts';

/** Counters of one device link. */
export interface DeviceLinkStats {
  framesIn: number;
  framesOut: number;
  badFrames: number;
}

/** Timing of long operations (e.g. erasing flash ahead of an upload). */
export interface LongOperationTiming {
  /** Modelled time of one step (e.g. one page erase), ms. */
  msPerStep: number;
  /** Interval between keepalive events while a long operation runs, ms (default 200). */
  keepaliveMs?: number;
}

/** Glue between a byte stream and the firmware. */
export class DeviceLink {
  readonly #decoder: FrameDecoder;
  readonly #ctx: LinkContext;
  readonly #write: (bytes: Uint8Array) => void;
  readonly #unsubscribe: () => void;
  readonly #firmware: KeyFirmware;
  readonly #timing: LongOperationTiming | undefined;
  /** Frames waiting while a long operation runs (the Key processes requests in order). */
  readonly #queue: Uint8Array[] = [];
  #busy = false;
  #closed = false;
  /** Counters. */
  readonly stats: DeviceLinkStats & { keepalives: number } = { framesIn: 0, framesOut: 0, badFrames: 0, keepalives: 0 };

  /**
   * @param firmware - the Key
   * @param write - sends bytes to the host (must not throw; drop on a dead link)
   * @param transport - transport name bound into session prologues (`serial`, `tcp`, `memory`)
   * @param timing - modelled time of long operations; without it they complete at once
   */
  constructor(firmware: KeyFirmware, write: (bytes: Uint8Array) => void, transport = 'serial', timing?: LongOperationTiming) {
    this.#timing = timing;
    this.#ctx = firmware.connect(transport);
    this.#firmware = firmware;
    this.#write = write;
    this.#decoder = new FrameDecoder({ maxPayload: firmware.config.maxFrame });
    this.#unsubscribe = firmware.onEvent((ev) => this.#send(ev));
  }

  /** Feeds bytes received from the host. */
  receive(chunk: Uint8Array): void {
    for (const ev of this.#decoder.push(chunk)) {
      if (ev.kind === 'error') {
        this.stats.badFrames++;
        continue;
      }
      this.stats.framesIn++;
      this.#queue.push(ev.payload);
    }
    this.#pump();
  }

  /** Handles queued frames in order; a long operation holds the queue, sending keepalives. */
  #pump(): void {
    while (!this.#busy && !this.#closed && this.#queue.length > 0) {
      const res = this.#ctx.handle(this.#queue.shift() as Uint8Array);
      const work = this.#ctx.takeWork();
      if (!work) {
        if (res) this.#send(res);
        continue;
      }
      if (!this.#timing) {
        while (work());
        if (res) this.#send(res);
        continue;
      }
      this.#busy = true;
      void this.#runLong(work, this.#timing).then(() => {
        this.#busy = false;
        if (res && !this.#closed) this.#send(res);
        this.#pump();
      });
    }
  }

  async #runLong(work: () => boolean, t: LongOperationTiming): Promise<void> {
    const keepalive = encodeMessage({ version: PROTOCOL_VERSION, name: 'keepalive', body: {} });
    let lastKeepalive = performance.now();
    this.#send(keepalive);
    this.stats.keepalives++;
    while (!this.#closed && work()) {
      await new Promise((r) => setTimeout(r, t.msPerStep));
      if (performance.now() - lastKeepalive >= (t.keepaliveMs ?? 200)) {
        lastKeepalive = performance.now();
        this.#send(keepalive);
        this.stats.keepalives++;
      }
    }
  }

  /** Drops partial input (e.g. when the host reopens the port). */
  reset(): void {
    this.#decoder.reset();
  }

  /** Detaches from the firmware's events. */
  close(): void {
    this.#closed = true;
    this.#unsubscribe();
    this.#firmware.disconnect(this.#ctx);
  }

  #send(payload: Uint8Array): void {
    this.stats.framesOut++;
    this.#write(encodeFrame(payload));
  }
}
