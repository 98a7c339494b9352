/**
 * Robustness inside a real owner session (issue 16: the red team's 14,000 mutated inner messages).
 * Valid inner requests of every kind are mutated (`@enigm/sim/fuzz`'s mutator), sealed in a real
 * Noise session and sent: the Key never throws out of its link, every answer it seals is a strictly
 * valid typed response or a typed error with code and name, a session it ends is ended cleanly,
 * and afterwards a fresh owner session still works.
 */
import { decodeMessage, encodeMessage, type Message, PROTOCOL_VERSION } from '@enigm/protocols/messages';
import test from 'ava';
import { mutate } from '../src/fuzz.ts';
import { makeTestFlash, makeTestKey } from '../src/testing.ts';
import { testImage, WireHost } from './support/wire-host.ts';

const SEED = Number(process.env.ENIGM_FUZZ_SEED ?? 16_2026);
const MESSAGES = Number(process.env.ENIGM_FUZZ_INNER ?? 14_000);

/**
 * Well-formed requests that move an owner's Key out of factory/dormant/updating by design (the
 * lifecycle table; lifecycle-ops.test.ts checks them). A mutation can turn one request into any
 * other valid one (seeds 2 and 3 made a `suspend` and a `revoke`): such a mutant is not sent, so
 * the check below still catches a lifecycle change that malformed input caused.
 */
const LIFECYCLE_REQUESTS: ReadonlySet<string> = new Set(['suspend', 'resume', 'revoke', 'retire']);

/** Whether `bytes` decode to one of {@link LIFECYCLE_REQUESTS}. */
function isLifecycleRequest(bytes: Uint8Array): boolean {
  try {
    return LIFECYCLE_REQUESTS.has(decodeMessage(bytes).name);
  } catch {
    return false;
  }
}

test(`${MESSAGES} mutated inner messages in an owner session: no crash, only typed answers, the Key stays usable (seed ${SEED})`, (t) => {
  const { deps, signingSeed } = makeTestFlash();
  const key = makeTestKey({ flash: deps, seed: SEED });
  const image = testImage(signingSeed, '1.0.1', 2, 2000);
  let host = new WireHost(key.fw, SEED).connect().pair('owner');
  let x = SEED >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
  const bodies: [Message['name'], object][] = [
    ['ping', { data: new Uint8Array(16).fill(3) }],
    ['info', {}],
    ['activate', {}],
    ['attest', { nonce: new Uint8Array(32).fill(9) }],
    ['hosts.list', {}],
    ['pair', { role: 'owner', label: 'fuzz' }],
    ['fw.status', {}],
    ['fw.begin', { manifest: image.manifest }],
    ['fw.chunk', { offset: 0, data: image.payload.subarray(0, 256) }],
    ['fw.finish', {}],
    ['fw.revert', {}],
    ['fw.confirm', {}],
  ];
  const inner = (i: number, id: number) => {
    const [name, body] = bodies[i % bodies.length] as [Message['name'], object];
    return encodeMessage({ version: PROTOCOL_VERSION, name, id, body } as Message);
  };
  const corpus = bodies.map((_, i) => inner(i, 1));
  const seen: Record<string, number> = {};
  const bad: string[] = [];
  let crashes = 0;
  let sessionsEnded = 0;
  let lifecycleMutants = 0;
  for (let i = 0; i < MESSAGES; i++) {
    if (i % 400 === 0 && i > 0) host = new WireHost(key.fw, SEED).connect(); // fresh ordering, as a host would
    const msg = mutate(inner(rnd() % bodies.length, host.nextId), rnd, corpus, 4096);
    if (isLifecycleRequest(msg)) {
      lifecycleMutants++;
      continue;
    }
    let r: ReturnType<WireHost['sealed']>;
    try {
      r = host.sealed(msg);
    } catch (e) {
      // the host's own side failing to open an answer would be a Key bug too
      crashes++;
      if (bad.length < 10) bad.push(`threw: ${(e as Error).message}`);
      host = new WireHost(key.fw, SEED).connect();
      continue;
    }
    const m = r.inner ?? r.outer;
    if (!m) continue;
    if (m.name === 'error') {
      const e = m.body as { code?: number; name?: string };
      if (!e.code || !e.name) bad.push(`error without code or name: ${JSON.stringify(e)}`);
      seen[e.name ?? '?'] = (seen[e.name ?? '?'] ?? 0) + 1;
      if (r.outer) {
        // the Key answered outside the session: it ended it (or never had it); reconnect
        sessionsEnded++;
        host = new WireHost(key.fw, SEED).connect();
      }
    } else seen[m.name] = (seen[m.name] ?? 0) + 1;
    if (key.fw.state !== 'factory' && key.fw.state !== 'dormant' && key.fw.state !== 'updating')
      bad.push(`unexpected lifecycle state ${key.fw.state}`);
  }
  t.is(crashes, 0, bad.join('\n'));
  t.deepEqual(bad, []);
  const fresh = new WireHost(key.fw, SEED).connect();
  t.true(fresh.request('fw.status', {}).ok, 'a fresh owner session works after the fuzz');
  t.true(Object.keys(seen).length >= 5, JSON.stringify(seen));
  t.log(
    `seed ${SEED}: ${MESSAGES} inner messages; answers ${JSON.stringify(seen)}; sessions ended by the Key: ${sessionsEnded}; well-formed lifecycle requests not sent: ${lifecycleMutants}`,
  );
});
