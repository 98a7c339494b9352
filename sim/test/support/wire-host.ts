/**
 * Test support: a host that speaks the Key protocol to a firmware link as bytes — encoded
 * envelopes in, encoded envelopes out, Noise XX sessions and sealed inner requests — so sim tests
 * drive the Key over its wire protocol, not through its internals. Synchronous (the firmware
 * link answers each request at once); `settle()` lets a reboot scheduled after an answer happen.
 */

import { bytesEqual } from '@enigm/protocols/bytes';
import { encode } from '@enigm/protocols/cbor';
import { sha256, x25519Generate } from '@enigm/protocols/crypto';
import { signManifest } from '@enigm/protocols/firmware';
import {
  type BodyOf,
  decodeMessage,
  encodeMessage,
  type Message,
  type RequestName,
  type ResponseOf,
} from '@enigm/protocols/messages';
import { HandshakeState, type StaticKey, staticKeyFromPrivate } from '@enigm/protocols/noise';
import { IkHello, SecureChannel, sessionPrologue } from '@enigm/protocols/session';
import type { KeyFirmware, LinkContext } from '../../src/firmware/index.ts';
import { seededRandom } from '../../src/testing.ts';

/** An answer: the response body, or the wire error. */
export type Reply<K extends RequestName> =
  | { ok: true; body: BodyOf<ResponseOf<K>> }
  | { ok: false; name: string; code: number; reason: string };

/** Lets queued microtasks and immediates run (a reboot scheduled after an answer). */
export const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A host on one link of a Key. */
export class WireHost {
  readonly hostKey: StaticKey;
  #fw: KeyFirmware;
  #link: LinkContext;
  #id = 1;
  #session: { id: Uint8Array; channel: SecureChannel } | undefined;
  #lastFrame: Uint8Array | undefined;
  #random: (n: number) => Uint8Array;
  /** IK timestamps: growing across every host and Key of the test process. */
  static #ik = Date.now();

  /** @param seed - makes this host's static key (and handshake randomness) reproducible */
  constructor(fw: KeyFirmware, seed: number) {
    this.#random = seededRandom(seed);
    this.hostKey = staticKeyFromPrivate(x25519Generate(this.#random).privateKey);
    this.#fw = fw;
    this.#link = fw.connect('memory');
  }

  /** Sends a plain request; returns the decoded answer message. */
  raw(name: RequestName, body: object): Message {
    const frame = encodeMessage({ version: 1, name, id: this.#id++, body: body as never });
    this.#lastFrame = frame;
    const out = this.#link.handle(frame);
    if (!out) throw new Error(`no answer to ${name}`);
    return decodeMessage(out);
  }

  /** The encoded envelope this host sent last (e.g. a sealed `secure` request, to replay it). */
  get lastFrame(): Uint8Array {
    if (!this.#lastFrame) throw new Error('nothing sent yet');
    return this.#lastFrame;
  }

  /** Sends encoded bytes as they are (a captured frame) on this host's current link; the decoded answer, if any. */
  replay(frame: Uint8Array): Message | undefined {
    const out = this.#link.handle(frame);
    return out ? decodeMessage(out) : undefined;
  }

  /** Sends a plain request. */
  plain<K extends RequestName>(name: K, body: BodyOf<K>): Reply<K> {
    return reply<K>(this.raw(name, body));
  }

  /** `hello`, then a Noise session: XX as first contact, IK as a paired host (the Key runs XX only while pairable). */
  connect(): this {
    this.#link = this.#fw.connect('memory');
    const req: BodyOf<'hello'> = { versions: [1], maxFrame: 65536 };
    const h = this.plain('hello', req);
    if (!h.ok) throw new Error(`hello refused: ${h.name}`);
    const paired = this.#fw.hosts().some((x) => bytesEqual(x.publicKey, this.hostKey.publicKey));
    const hs = new HandshakeState({
      pattern: paired ? 'IK' : 'XX',
      initiator: true,
      prologue: sessionPrologue({ hello: req, helloResponse: h.body, transport: 'memory' }),
      s: this.hostKey,
      ...(paired ? { rs: this.#fw.secureElement.staticKey.publicKey } : {}),
      random: this.#random,
    });
    const m1 = hs.writeMessage(paired ? encode(IkHello.toMap({ timestamp: WireHost.#ik++ })) : new Uint8Array(0));
    const r1 = this.plain('session.start', { pattern: paired ? 'IK' : 'XX', message: m1 });
    if (!r1.ok) throw new Error(`session.start refused: ${r1.name}`);
    hs.readMessage(r1.body.message);
    if (!paired) {
      const r2 = this.plain('session.finish', { session: r1.body.session, message: hs.writeMessage(new Uint8Array(0)) });
      if (!r2.ok) throw new Error(`session.finish refused: ${r2.name}`);
    }
    const { send, receive } = hs.split();
    this.#session = { id: r1.body.session, channel: new SecureChannel(send, receive, r1.body.session) };
    return this;
  }

  /** A request inside the session (sealed); the answer is opened and decoded. */
  request<K extends RequestName>(name: K, body: BodyOf<K>): Reply<K> {
    const s = this.#session;
    if (!s) throw new Error('no session: connect() first');
    const id = this.#id++;
    const sealed = s.channel.seal(encodeMessage({ version: 1, name, id, body } as Message<K>));
    const outer = this.raw('secure', { session: s.id, counter: sealed.counter, ciphertext: sealed.ciphertext });
    if (outer.name !== 'secure.response') return reply<K>(outer);
    const b = outer.body as BodyOf<'secure.response'>;
    return reply<K>(decodeMessage(s.channel.open(b.counter, b.ciphertext)));
  }

  /**
   * Seals arbitrary inner bytes (e.g. a mutated envelope) in the session and sends them: the
   * Key's answer opened and decoded (`inner`), or its plain outer answer when it did not answer
   * inside the session (`outer`), or nothing.
   */
  sealed(inner: Uint8Array): { inner?: Message; outer?: Message } {
    const s = this.#session;
    if (!s) throw new Error('no session: connect() first');
    const sealed = s.channel.seal(inner);
    const outer = this.raw('secure', { session: s.id, counter: sealed.counter, ciphertext: sealed.ciphertext });
    if (outer.name !== 'secure.response') return { outer };
    const b = outer.body as BodyOf<'secure.response'>;
    return { inner: decodeMessage(s.channel.open(b.counter, b.ciphertext)) };
  }

  /** The next inner request id this host will use. */
  get nextId(): number {
    return this.#id;
  }

  /** Like {@link request}, but throws unless it succeeded. */
  ok<K extends RequestName>(name: K, body: BodyOf<K>): BodyOf<ResponseOf<K>> {
    const r = this.request(name, body);
    if (!r.ok) throw new Error(`${name} refused: ${r.name}: ${r.reason}`);
    return r.body;
  }

  /** Pairs this host with `role`. */
  pair(role: 'owner' | 'provisioning' | 'service'): this {
    this.ok('pair', { role });
    return this;
  }

  /**
   * Uploads and finishes `image` (begin, every chunk, finish).
   * @returns the update id
   */
  upload(image: TestImage, options: { takeover?: boolean; upTo?: number } = {}): Uint8Array {
    const b = this.ok('fw.begin', { manifest: image.manifest, ...(options.takeover ? { takeover: true } : {}) });
    const end = Math.min(options.upTo ?? image.payload.length, image.payload.length);
    for (let off = b.offset; off < end; ) {
      const n = Math.min(b.chunk, end - off);
      off = this.ok('fw.chunk', { offset: off, data: image.payload.subarray(off, off + n), id: b.id }).offset;
    }
    if (end === image.payload.length) this.ok('fw.finish', { id: b.id });
    return b.id;
  }
}

function reply<K extends RequestName>(m: Message): Reply<K> {
  if (m.name === 'error') {
    const e = m.body as BodyOf<'error'>;
    return { ok: false, name: e.name, code: e.code, reason: e.reason };
  }
  return { ok: true, body: m.body as BodyOf<ResponseOf<K>> };
}

/** A signed test image. */
export interface TestImage {
  version: string;
  securityCounter: number;
  manifest: Uint8Array;
  payload: Uint8Array;
}

/** Signs an image of `size` bytes (content derived from the version). */
export function testImage(seed: Uint8Array, version: string, securityCounter: number, size = 6000): TestImage {
  const payload = new Uint8Array(size).map((_, i) => (i * 31 + version.length * 7 + securityCounter) & 0xff);
  const manifest = signManifest(
    { model: 'enigm-key-1', version, securityCounter, payloadSize: size, payloadDigest: sha256(payload) },
    seed,
  );
  return { version, securityCounter, manifest, payload };
}
