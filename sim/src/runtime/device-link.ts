/**
 * The device side of one link: bytes from the host go through the frame decoder into the
 * firmware's link context; responses and events go back as frames. Knows nothing about the
 * medium (serial, TCP): it gets a `write` function and is fed chunks.
 * @module
 */
import { encodeFrame, FrameDecoder } from '../../../protocols/src/framing/index.ts';
import type { KeyFirmware } from '../firmware/firmware.ts';
import type { LinkContext } from '../firmware/link-context.ts';

/** Counters of one device link. */
export interface DeviceLinkStats {
  framesIn: number;
  framesOut: number;
  badFrames: number;
}

/** Glue between a byte stream and the firmware. */
export class DeviceLink {
  readonly #decoder: FrameDecoder;
  readonly #ctx: LinkContext;
  readonly #write: (bytes: Uint8Array) => void;
  readonly #unsubscribe: () => void;
  readonly #firmware: KeyFirmware;
  /** Counters. */
  readonly stats: DeviceLinkStats = { framesIn: 0, framesOut: 0, badFrames: 0 };

  /**
   * @param firmware - the Key
   * @param write - sends bytes to the host (must not throw; drop on a dead link)
   * @param transport - transport name bound into session prologues (`serial`, `tcp`, `memory`)
   */
  constructor(firmware: KeyFirmware, write: (bytes: Uint8Array) => void, transport = 'serial') {
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
      const res = this.#ctx.handle(ev.payload);
      if (res) this.#send(res);
    }
  }

  /** Drops partial input (e.g. when the host reopens the port). */
  reset(): void {
    this.#decoder.reset();
  }

  /** Detaches from the firmware's events. */
  close(): void {
    this.#unsubscribe();
    this.#firmware.disconnect(this.#ctx);
  }

  #send(payload: Uint8Array): void {
    this.stats.framesOut++;
    this.#write(encodeFrame(payload));
  }
}
