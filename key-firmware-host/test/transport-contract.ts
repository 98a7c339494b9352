/**
 * The contract every {@link Transport} passes: the serial (over a real pty), TCP and in-memory
 * transports register this suite from their own test files with a factory for a fresh link.
 *
 * The factory returns the host transport (not yet opened) and a `peer` that stands for the Key on
 * the other end of the link (the simulator's side of a pty, a TCP server socket, the device end of
 * a memory link). `peer.close()` means "the Key went away"; each transport documents what that is.
 *
 * Tests are registered with `test.serial`: pty and TCP links are real OS resources and the order
 * of their setup and teardown is easier to reason about one at a time.
 *
 * @module
 */
import test, { type ExecutionContext } from 'ava';
import { type Transport, TransportError, type TransportSink } from '../src/transport/transport.ts';

/** The other end of the link, driven by the contract tests. */
export interface ContractPeer {
  /** Sends bytes to the host; resolves once written. */
  write(bytes: Uint8Array): Promise<void>;
  /** Registers the callback for bytes the host sends (called once per pair, before any traffic). */
  onData(callback: (bytes: Uint8Array) => void): void;
  /** Makes the peer go away (the Key is unplugged / the connection ends). */
  close(): Promise<void>;
}

/** A fresh link for one test. */
export interface ContractPair {
  /** The transport under test, not yet opened. */
  host: Transport;
  /** The other end. */
  peer: ContractPeer;
  /** Releases everything the pair holds (called after each test, also on failure). */
  cleanup(): Promise<void>;
}

/** Options of {@link transportContract}. */
export interface ContractOptions {
  /** Budget of every wait in the suite; default 15000 ms. */
  timeoutMs?: number;
}

const POLL_MS = 5;

/**
 * Waits until `predicate` holds, polling every 5 ms.
 * @throws Error naming `what` if it does not hold within `timeoutMs`
 */
export async function waitUntil(predicate: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * Concatenates byte arrays into a new one.
 * @throws never
 */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * Deterministic pseudo-random bytes (xorshift32): every byte value appears, control characters
 * and XON/XOFF included, so tty translations would show.
 * @throws RangeError if `length` is negative or not an integer
 */
export function patternBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  return out;
}

/** A sink that records everything, for assertions. */
export class RecordingSink implements TransportSink {
  /** Copies of the chunks received, in order. */
  readonly chunks: Uint8Array[] = [];
  /** The argument of every `closed` call. */
  readonly closedCalls: Array<TransportError | undefined> = [];
  /** Bytes received so far. */
  received = 0;

  /** Records a copy of `chunk`. @throws TypeError if `chunk` is not a Uint8Array */
  data(chunk: Uint8Array): void {
    if (!(chunk instanceof Uint8Array)) throw new TypeError('sink.data got a non-Uint8Array chunk');
    this.chunks.push(chunk.slice());
    this.received += chunk.length;
  }

  /** Records the call. @throws never */
  closed(error?: TransportError): void {
    this.closedCalls.push(error);
  }

  /** Everything received, concatenated. @throws never */
  bytes(): Uint8Array {
    return concat(this.chunks);
  }
}

/** Collects what the peer receives. */
class PeerCollector {
  readonly chunks: Uint8Array[] = [];
  received = 0;
  readonly callback = (bytes: Uint8Array): void => {
    this.chunks.push(Uint8Array.from(bytes));
    this.received += bytes.length;
  };
  bytes(): Uint8Array {
    return concat(this.chunks);
  }
}

function sameBytes(t: ExecutionContext, actual: Uint8Array, expected: Uint8Array, what: string): void {
  t.is(actual.length, expected.length, `${what}: length`);
  const firstDiff = actual.findIndex((byte, i) => byte !== expected[i]);
  t.is(firstDiff, -1, `${what}: first differing byte index`);
}

/**
 * Registers the transport contract tests under `name`.
 * @param name - prefix of every test title, e.g. `serial over pty`
 * @param makePair - creates a fresh link per test
 * @param options - wait budget
 * @throws never (tests report their own failures)
 */
export function transportContract(name: string, makePair: () => Promise<ContractPair>, options: ContractOptions = {}): void {
  const timeoutMs = options.timeoutMs ?? 15000;

  const withPair = (
    title: string,
    body: (t: ExecutionContext, pair: ContractPair, peer: PeerCollector) => Promise<void>,
  ): void => {
    test.serial(`${name}: ${title}`, async (t) => {
      const pair = await makePair();
      const peer = new PeerCollector();
      pair.peer.onData(peer.callback);
      try {
        await body(t, pair, peer);
      } finally {
        await pair.host.close().catch(() => undefined);
        await pair.cleanup();
      }
    });
  };

  const transfer = async (
    t: ExecutionContext,
    pair: ContractPair,
    peer: PeerCollector,
    size: number,
    seed: number,
  ): Promise<void> => {
    const sink = new RecordingSink();
    await pair.host.open(sink);
    t.true(pair.host.isOpen);
    const up = patternBytes(size, seed);
    for (let offset = 0; offset < up.length; offset += pair.host.maxPayload) {
      await pair.host.send(up.subarray(offset, offset + pair.host.maxPayload));
    }
    await waitUntil(() => peer.received >= size, `${size} bytes at the peer (got ${peer.received})`, timeoutMs);
    sameBytes(t, peer.bytes(), up, 'host → peer');
    const down = patternBytes(size, seed + 1000);
    await pair.peer.write(down);
    await waitUntil(() => sink.received >= size, `${size} bytes at the host (got ${sink.received})`, timeoutMs);
    sameBytes(t, sink.bytes(), down, 'peer → host');
    t.deepEqual(sink.closedCalls, [], 'no close while transferring');
  };

  withPair('describes itself and starts closed', async (t, { host }) => {
    t.is(typeof host.description, 'string');
    t.true(host.description.length > 0);
    t.true(Number.isInteger(host.maxPayload) && host.maxPayload > 0);
    t.false(host.isOpen);
  });

  withPair('1 byte in both directions', (t, pair, peer) => transfer(t, pair, peer, 1, 11));
  withPair('4 KiB in both directions, byte-exact', (t, pair, peer) => transfer(t, pair, peer, 4096, 22));
  withPair('256 KiB in both directions, byte-exact and reassembled', (t, pair, peer) => transfer(t, pair, peer, 256 * 1024, 33));

  withPair('preserves order across many concurrent sends and writes', async (t, pair, peer) => {
    const sink = new RecordingSink();
    await pair.host.open(sink);
    const pieces = Array.from({ length: 200 }, (_, i) => patternBytes(1 + ((i * 37) % 97), i + 1));
    await Promise.all(pieces.map((piece) => pair.host.send(piece)));
    const up = concat(pieces);
    await waitUntil(() => peer.received >= up.length, 'all pieces at the peer', timeoutMs);
    sameBytes(t, peer.bytes(), up, 'host → peer order');
    const downPieces = Array.from({ length: 200 }, (_, i) => patternBytes(1 + ((i * 53) % 89), 5000 + i));
    await Promise.all(downPieces.map((piece) => pair.peer.write(piece)));
    const down = concat(downPieces);
    await waitUntil(() => sink.received >= down.length, 'all pieces at the host', timeoutMs);
    sameBytes(t, sink.bytes(), down, 'peer → host order');
  });

  withPair('send before open → TRANSPORT_NOT_OPEN', async (t, { host }) => {
    const error = await t.throwsAsync(host.send(Uint8Array.of(1)), { instanceOf: TransportError });
    t.is(error?.code, 'TRANSPORT_NOT_OPEN');
  });

  withPair('close before open resolves and changes nothing', async (t, { host }) => {
    await host.close();
    t.false(host.isOpen);
  });

  withPair('double open → TRANSPORT_ALREADY_OPEN, first open unaffected', async (t, pair, peer) => {
    const sink = new RecordingSink();
    await pair.host.open(sink);
    const other = new RecordingSink();
    const error = await t.throwsAsync(pair.host.open(other), { instanceOf: TransportError });
    t.is(error?.code, 'TRANSPORT_ALREADY_OPEN');
    t.true(pair.host.isOpen);
    await pair.host.send(Uint8Array.of(7));
    await waitUntil(() => peer.received >= 1, 'the byte at the peer', timeoutMs);
    await pair.peer.write(Uint8Array.of(8));
    await waitUntil(() => sink.received >= 1, 'the byte at the host', timeoutMs);
    t.deepEqual([...sink.bytes()], [8]);
    t.is(other.received, 0);
    t.deepEqual(other.closedCalls, []);
  });

  withPair('send larger than maxPayload → TRANSPORT_PAYLOAD_TOO_LARGE; maxPayload itself passes', async (t, pair, peer) => {
    const sink = new RecordingSink();
    await pair.host.open(sink);
    const max = pair.host.maxPayload;
    const error = await t.throwsAsync(pair.host.send(new Uint8Array(max + 1)), { instanceOf: TransportError });
    t.is(error?.code, 'TRANSPORT_PAYLOAD_TOO_LARGE');
    t.true(pair.host.isOpen);
    const exact = patternBytes(max, 44);
    await pair.host.send(exact);
    await waitUntil(() => peer.received >= max, 'maxPayload bytes at the peer', timeoutMs);
    sameBytes(t, peer.bytes(), exact, 'maxPayload send');
  });

  withPair('close is idempotent and calls sink.closed once, without an error', async (t, { host }) => {
    const sink = new RecordingSink();
    await host.open(sink);
    await Promise.all([host.close(), host.close()]);
    await host.close();
    t.false(host.isOpen);
    t.deepEqual(sink.closedCalls, [undefined]);
  });

  withPair('send after close → TRANSPORT_NOT_OPEN', async (t, { host }) => {
    await host.open(new RecordingSink());
    await host.close();
    const error = await t.throwsAsync(host.send(Uint8Array.of(1)), { instanceOf: TransportError });
    t.is(error?.code, 'TRANSPORT_NOT_OPEN');
  });

  withPair('opens again after close and exchanges bytes', async (t, pair, peer) => {
    for (let round = 0; round < 3; round++) {
      const sink = new RecordingSink();
      await pair.host.open(sink);
      const up = patternBytes(64, 100 + round);
      await pair.host.send(up);
      await waitUntil(() => peer.received >= 64 * (round + 1), `round ${round} bytes at the peer`, timeoutMs);
      sameBytes(t, peer.bytes().subarray(64 * round), up, `round ${round} host → peer`);
      const down = patternBytes(64, 200 + round);
      await pair.peer.write(down);
      await waitUntil(() => sink.received >= 64, `round ${round} bytes at the host`, timeoutMs);
      sameBytes(t, sink.bytes(), down, `round ${round} peer → host`);
      await pair.host.close();
      t.deepEqual(sink.closedCalls, [undefined]);
    }
  });

  withPair('peer going away → sink.closed(TransportError) once, then TRANSPORT_NOT_OPEN', async (t, pair) => {
    const sink = new RecordingSink();
    await pair.host.open(sink);
    await pair.peer.close();
    await waitUntil(() => sink.closedCalls.length > 0, 'sink.closed after the peer went away', timeoutMs);
    const [error] = sink.closedCalls;
    t.true(error instanceof TransportError, 'closed with a TransportError');
    t.true(
      error?.code === 'TRANSPORT_CLOSED' || error?.code === 'TRANSPORT_IO',
      `closed with TRANSPORT_CLOSED or TRANSPORT_IO, got ${String(error?.code)}`,
    );
    t.false(pair.host.isOpen);
    const sendError = await t.throwsAsync(pair.host.send(Uint8Array.of(1)), { instanceOf: TransportError });
    t.is(sendError?.code, 'TRANSPORT_NOT_OPEN');
    await pair.host.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    t.is(sink.closedCalls.length, 1, 'closed exactly once');
  });
}

/** What {@link sendUntilBusy} saw. */
export interface FillResult {
  /** The sends accepted before the refusal, in order (they complete once the peer reads). */
  accepted: Promise<void>[];
  /** The bytes of the accepted sends, in order. */
  bytes: Uint8Array[];
  /** The refusal, if one came within `maxSends`. */
  refusal: unknown;
}

/**
 * Sends `chunkSize`-byte pieces (distinct patterns) to a peer that does not read, one per event
 * loop turn, until a send is refused or `maxSends` were accepted.
 * @throws never (the refusal is returned)
 */
export async function sendUntilBusy(transport: Transport, chunkSize: number, maxSends: number): Promise<FillResult> {
  const accepted: Promise<void>[] = [];
  const bytes: Uint8Array[] = [];
  for (let i = 0; i < maxSends; i++) {
    const piece = patternBytes(chunkSize, i + 1);
    const p = transport.send(piece);
    const outcome = await Promise.race([
      p.then(
        () => 'sent',
        (e: unknown) => ({ e }),
      ),
      new Promise((resolve) => setImmediate(() => resolve('queued'))),
    ]);
    if (typeof outcome === 'object' && outcome !== null) return { accepted, bytes, refusal: (outcome as { e: unknown }).e };
    accepted.push(p);
    bytes.push(piece);
  }
  return { accepted, bytes, refusal: undefined };
}
