/**
 * A seeded mutation fuzzer for the simulated Key's wire: takes valid request envelopes, mutates
 * them (bit flips, interesting bytes, inserts, deletes, truncation, duplication, splicing, random
 * bytes), frames each with a valid CRC so it reaches the message layer, and feeds it to a Key
 * through a {@link DeviceLink}. It records what a robust Key must never do: throw out of the link,
 * write bytes that are not a valid frame holding a strictly valid envelope, answer with anything
 * but a typed response or a typed error, or stop answering a valid `ping`.
 *
 * Used by `sim/test/fuzz-frames.test.ts` (a bounded run in CI) and `bench/fuzz.ts` (long runs).
 * @module
 */
import { toHex } from '@enigm/protocols/bytes';
import { encodeFrame, FrameDecoder } from '@enigm/protocols/framing';
import { decodeEnvelope, decodeMessage, encodeMessage, type Message, PROTOCOL_VERSION } from '@enigm/protocols/messages';
import { DeviceLink } from './runtime/device-link.ts';
import { makeTestKey } from './testing.ts';

/** Options of a fuzz run. */
export interface FuzzOptions {
  /** How many mutated frames to send. */
  readonly iterations: number;
  /** PRNG seed (the same seed replays the same run). */
  readonly seed: number;
  /** Send a valid `ping` every this many frames and require its echo (default 250). */
  readonly probeEvery?: number;
}

/** What a fuzz run saw. */
export interface FuzzReport {
  /** Mutated frames sent. */
  readonly frames: number;
  /** Frames the Key wrote back. */
  readonly responses: number;
  /** Typed wire errors returned, by error name. */
  readonly errorsByName: Readonly<Record<string, number>>;
  /** Exceptions thrown out of the link (must be empty). */
  readonly crashes: readonly string[];
  /** Output that was not a valid frame + strictly valid message (must be empty). */
  readonly badOutputs: readonly string[];
  /** Liveness probes sent, and how many got their echo (must be equal). */
  readonly probes: number;
  readonly probesAnswered: number;
}

/** xorshift32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const INTERESTING = [
  0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x3f, 0x5f, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xd8, 0xf4, 0xf7, 0xf9, 0xfb,
  0xff,
];

/** Valid request envelopes to start from: every request name with a plausible body. */
export function seedCorpus(): Uint8Array[] {
  const b = (n: number, fill = 7) => new Uint8Array(n).fill(fill);
  const session = b(8, 1);
  const msgs: Message[] = [
    { version: PROTOCOL_VERSION, name: 'hello', id: 1, body: { versions: [PROTOCOL_VERSION], maxFrame: 4096 } },
    { version: PROTOCOL_VERSION, name: 'ping', id: 2, body: { data: b(40) } },
    { version: PROTOCOL_VERSION, name: 'info', id: 3, body: {} },
    { version: PROTOCOL_VERSION, name: 'activate', id: 4, body: {} },
    { version: PROTOCOL_VERSION, name: 'session.start', id: 5, body: { pattern: 'XX', message: b(32) } },
    { version: PROTOCOL_VERSION, name: 'session.finish', id: 6, body: { session, message: b(64) } },
    { version: PROTOCOL_VERSION, name: 'secure', id: 7, body: { session, counter: 1, ciphertext: b(48) } },
    { version: PROTOCOL_VERSION, name: 'session.close', id: 8, body: { session } },
    { version: PROTOCOL_VERSION, name: 'pair', id: 9, body: { role: 'owner', label: 'fuzz' } },
    { version: PROTOCOL_VERSION, name: 'attest', id: 10, body: { nonce: b(32) } },
    { version: PROTOCOL_VERSION, name: 'fw.status', id: 11, body: {} },
    { version: PROTOCOL_VERSION, name: 'fw.revert', id: 12, body: {} },
  ] as Message[];
  const out: Uint8Array[] = [];
  for (const m of msgs) {
    try {
      out.push(encodeMessage(m));
    } catch {
      // a body this corpus guessed wrong for the current catalogue: leave it out
    }
  }
  return out;
}

/** One random mutation of `input` (never longer than `max` bytes). */
export function mutate(input: Uint8Array, rnd: () => number, corpus: readonly Uint8Array[], max = 8192): Uint8Array {
  const a = Array.from(input);
  const pick = (n: number) => rnd() % Math.max(1, n);
  const rounds = 1 + pick(4);
  for (let r = 0; r < rounds; r++) {
    switch (pick(9)) {
      case 0: // bit flip
        if (a.length) {
          const i = pick(a.length);
          a[i] = (a[i] as number) ^ (1 << pick(8));
        }
        break;
      case 1: // interesting byte
        if (a.length) a[pick(a.length)] = INTERESTING[pick(INTERESTING.length)] as number;
        break;
      case 2: // insert random bytes
        a.splice(pick(a.length + 1), 0, ...Array.from({ length: 1 + pick(8) }, () => pick(256)));
        break;
      case 3: // delete a range
        a.splice(pick(a.length), 1 + pick(8));
        break;
      case 4: // truncate
        a.length = pick(a.length + 1);
        break;
      case 5: {
        // duplicate a range
        const s = pick(a.length);
        a.splice(s, 0, ...a.slice(s, s + 1 + pick(16)));
        break;
      }
      case 6: {
        // splice with another corpus item
        const other = corpus[pick(corpus.length)] as Uint8Array;
        a.splice(pick(a.length), pick(a.length), ...other.subarray(pick(other.length)));
        break;
      }
      case 7: // random byte
        if (a.length) a[pick(a.length)] = pick(256);
        break;
      default: // all random
        a.length = 0;
        for (let i = pick(64); i > 0; i--) a.push(pick(256));
    }
  }
  if (a.length > max) a.length = max;
  return Uint8Array.from(a);
}

/**
 * Runs the fuzzer against a fresh in-memory test Key (seeded, factory state).
 * @example fuzzKeyFrames({ iterations: 1000, seed: 1 }).crashes.length === 0
 */
export function fuzzKeyFrames(options: FuzzOptions): FuzzReport {
  const rnd = prng(options.seed);
  const corpus = seedCorpus();
  const key = makeTestKey({ seed: options.seed });
  const decoder = new FrameDecoder({ maxPayload: 1 << 20 });
  const crashes: string[] = [];
  const badOutputs: string[] = [];
  const errorsByName: Record<string, number> = {};
  let responses = 0;
  const echoes: Uint8Array[] = [];
  const link = new DeviceLink(key.fw, (bytes) => {
    for (const ev of decoder.push(bytes)) {
      if (ev.kind === 'error') {
        badOutputs.push(`not a valid frame: ${ev.error.message}`);
        continue;
      }
      responses++;
      try {
        decodeEnvelope(ev.payload);
        const m = decodeMessage(ev.payload);
        if (m.name === 'error') {
          const name = String((m.body as { name?: unknown }).name ?? 'unnamed');
          if (!(m.body as { code?: unknown }).code || name === 'unnamed') badOutputs.push('error without code or name');
          errorsByName[name] = (errorsByName[name] ?? 0) + 1;
        } else if (m.name === 'ping.response') {
          echoes.push((m.body as { data?: Uint8Array }).data ?? new Uint8Array());
        }
      } catch (e) {
        badOutputs.push(`invalid message from the Key: ${(e as Error).message}`);
      }
    }
  });
  const probeEvery = options.probeEvery ?? 250;
  let probes = 0;
  let probesAnswered = 0;
  const probe = () => {
    probes++;
    const data = Uint8Array.of(0xee, probes & 0xff, (probes >> 8) & 0xff);
    echoes.length = 0;
    link.receive(
      encodeFrame(encodeMessage({ version: PROTOCOL_VERSION, name: 'ping', id: 0xf0000000 + probes, body: { data } })),
    );
    if (echoes.some((e) => e.length === 3 && e[0] === 0xee && e[1] === data[1] && e[2] === data[2])) probesAnswered++;
  };
  for (let i = 0; i < options.iterations; i++) {
    const input = mutate(corpus[rnd() % corpus.length] as Uint8Array, rnd, corpus);
    try {
      link.receive(encodeFrame(input));
    } catch (e) {
      if (crashes.length < 20) crashes.push(`${(e as Error).stack ?? e} (frame ${toHex(input).slice(0, 200)})`);
    }
    if ((i + 1) % probeEvery === 0) probe();
  }
  probe();
  link.close();
  return {
    frames: options.iterations,
    responses,
    errorsByName,
    crashes,
    badOutputs: badOutputs.slice(0, 20),
    probes,
    probesAnswered,
  };
}
