/**
 * `enigm key contacts set | get`, `enigm key emergency ack | cancel | resolve`, `enigm key events`,
 * `enigm contact ack` and `enigm events watch --contact-key` against the simulator (TCP, embedded
 * broker): the owner's contact set (made by `contact set-make`) pushed and read back, a stale one
 * refused (exit 1, KEY_CONTACTS_STALE); an emergency started by the gesture streams to
 * `key events` (a child process: phases and records as seq/kind/size, no location) and to
 * `events watch`, which with the contact's key and the Key's identity decrypts the location the
 * broker carried (without the key: kinds, seqs and ciphertext sizes only); the contact's ack is
 * relayed, the event cancelled, and cancel/resolve without an event refused (exit 1).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmergencyTimeline, type EmergencyTimelineEntry, MqttLink } from '@enigm/mqtt';
import { ed25519Generate } from '@enigm/protocols/crypto';
import { type ContactSet, contactKeygen, createEventStart, sealEventRecord } from '@enigm/protocols/emergency';
import { parseKeyTopic, peekUplink } from '@enigm/protocols/mqtt';
import { Simulator } from '@enigm/sim';
import test from 'ava';
import { contactCommands } from '../src/commands/contact.ts';
import { coseCommands } from '../src/commands/cose.ts';
import { describeEmergency, eventsCommands } from '../src/commands/events.ts';
import { keyEmergencyCommands } from '../src/commands/key-emergency.ts';
import { keySessionCommands } from '../src/commands/key-session.ts';
import { makeContactSet } from './cli-steps.ts';
import { type CommandRun, runCommand, runCommandProcess } from './run-command.ts';

const LAT = 51.500729;
const LON = -0.124625;
const dir = mkdtempSync(join(tmpdir(), 'enigm-cli-emergency-'));
let sim: Simulator | undefined;
const links: MqttLink[] = [];

test.after.always(async () => {
  for (const l of links) await l.close().catch(() => undefined);
  await sim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms);
    }),
  ]);
}

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const COMMANDS = [...keySessionCommands, ...keyEmergencyCommands, ...contactCommands, ...coseCommands, ...eventsCommands];

/**
 * Runs a command in-process and taps its output while it runs (runCommand replaces the process
 * streams synchronously; the tap wraps its replacement), so the test can wait for a line.
 */
function tapped(commands: typeof COMMANDS, argv: string[]): { done: Promise<CommandRun>; waitFor(re: RegExp): Promise<void> } {
  const done = runCommand(commands, argv);
  let seen = '';
  for (const stream of [process.stdout, process.stderr]) {
    const inner = stream.write;
    stream.write = ((chunk: string | Uint8Array) => {
      seen += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return (inner as (c: string | Uint8Array) => boolean)(chunk);
    }) as typeof stream.write;
  }
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  return {
    done,
    async waitFor(re) {
      const until = Date.now() + 15_000;
      while (!re.test(seen)) {
        if (finished) throw new Error(`ended before ${re}: ${seen}`);
        if (Date.now() > until) throw new Error(`timed out waiting for ${re}: ${seen}`);
        await sleep(20);
      }
    },
  };
}

test.serial('contacts set/get, key events, events watch --contact-key decrypts, ack, cancel', async (t) => {
  sim = await Simulator.start({ keys: 1, serial: false, mqtt: true, stateDir: join(dir, 'sim') });
  const s = sim;
  const port = s.keys()[0]?.tcp as string;
  const handle = (s.keys()[0]?.mqtt ?? '').split('/').pop() as string;
  const host = ['--port', port, '--host-key', join(dir, 'home', 'host-key.pem'), '--known', join(dir, 'home', 'known.json')];
  const f = (name: string) => join(dir, name);
  const run = (...argv: string[]) => runCommand(COMMANDS, argv);
  const key = (...argv: string[]) => run('key', ...argv, ...host);

  // The owner's signing key, a contact, the signed set.
  await makeContactSet(t, run, dir);

  t.is((await key('pair', '--label', 'phone')).code, 0);
  t.is((await key('activate')).code, 0);

  const none = await key('contacts', 'get', '--json');
  t.is(none.code, 0, none.stderr);
  t.like(JSON.parse(none.stdout), { ok: true, version: null, count: 0 });
  const set = await key('contacts', 'set', f('contacts.cose'), '--json');
  t.is(set.code, 0, set.stderr);
  t.like(JSON.parse(set.stdout), { ok: true, version: 1, count: 1 });
  const stale = await key('contacts', 'set', f('contacts.cose'));
  t.is(stale.code, 1);
  t.regex(stale.stderr, /KEY_CONTACTS_STALE/);
  const got = await key('contacts', 'get');
  t.is(got.code, 0);
  t.regex(got.stdout, /contact set v1: 1 contact\n {2}0 {2}alice\n/);
  t.is((await key('contacts', 'set')).code, 2, 'FILE is required');
  const idle = await key('emergency', 'cancel');
  t.is(idle.code, 1);
  t.regex(idle.stderr, /KEY_INVALID_STATE/);

  // Without a key the timeline shows only what the broker sees: capture the raw uplink too.
  const consumer = await MqttLink.connect({ url: s.broker?.url as string, username: 'backend-2' });
  links.push(consumer);
  const raw: Uint8Array[] = [];
  consumer.onMessage((topic, payload) => {
    const r = parseKeyTopic(topic)?.channel === 'up' ? peekUplink(payload) : undefined;
    if (r?.kind === 'emergency') raw.push(r.body);
  });
  await consumer.subscribe(`enigm/v1/key/${handle}/up`, 1);

  // `key events` in a child process (its own stdout), following the Key before the event starts:
  // it says "watching the Key at …" once its event stream is open (a fixed pause after its hello
  // was a guess that a loaded machine could outlast).
  let childErr = '';
  const keyEvents = runCommandProcess(
    new URL('../src/commands/key-emergency.ts', import.meta.url),
    'keyEmergencyCommands',
    ['key', 'events', '--follow', '--count', '6', '--for', '40', '--json', ...host],
    {
      timeoutMs: 60_000,
      onStderr: (text) => {
        childErr += text;
      },
    },
  );
  let childEnded = false;
  void keyEvents.then(() => {
    childEnded = true;
  });
  const childUp = Date.now() + 30_000;
  while (!/watching the Key at /.test(childErr) && !childEnded && Date.now() < childUp) await sleep(20);
  t.regex(childErr, /watching the Key at /, 'key events follows the Key');

  // `events watch` in-process, with the contact's key and the Key's identity.
  const identity = Buffer.from(s.firmware(0).secureElement.identityPublicKey).toString('hex');
  const watch = tapped(COMMANDS, [
    'events',
    'watch',
    '--broker',
    s.broker?.url as string,
    '--channel',
    'up',
    '--handle',
    handle,
    '--identity',
    `${handle}=${identity}`,
    '--contact-key',
    f('alice.key'),
    '--count',
    '4',
    '--json',
  ]);
  await watch.waitFor(/watching mqtt:/);

  t.like(s.controls(0).gesture({ kind: 'triple' }), { action: 'emergency-start', done: true });
  s.controls(0).setTrack([{ atMs: 0, lat: LAT, lon: LON, accuracyM: 6 }]);
  let watched: CommandRun | undefined;
  let childRun: CommandRun | undefined;
  void watch.done.then((r) => {
    watched = r;
  });
  void keyEvents.then((r) => {
    childRun = r;
  });
  const end = Date.now() + 40_000;
  while ((!watched || !childRun) && Date.now() < end) {
    s.clock.advance(2_000);
    await sleep(50);
  }
  const w = await bounded(watch.done, 5_000, 'events watch');
  t.is(w.code, 0, w.stderr);
  const lines = jsonLines(w.stdout).filter((l) => l.type === 'emergency');
  const start = lines.find((l) => l.kind === 'start');
  t.like(start, { status: 'verified', seq: 0, handle, verified: true });
  const loc = lines.find((l) => l.kind === 'location');
  t.like(loc, { status: 'decrypted', body: { lat: LAT, lon: LON, accuracyM: 6 } });
  t.true(((loc?.ciphertext as number[]) ?? []).length === 1, 'one envelope: alice');
  t.regex(w.stderr, /emergency eh1-[a-z2-7]+ event [0-9a-f]{32}: \d+ records?, none missing, running \(decrypted as contact 0\)/);

  const k = await bounded(keyEvents, 30_000, 'key events');
  t.is(k.code, 0, k.stderr);
  const evs = jsonLines(k.stdout);
  t.true(evs.some((e) => e.type === 'emergency.changed' && e.phase === 'triggered'));
  t.true(evs.some((e) => e.type === 'emergency.record' && e.kind === 'start' && e.seq === 0));
  t.like(evs.at(-1), { ok: true, events: 6 });
  t.false(k.stdout.includes(String(LAT)), 'key events never decrypts');

  // Without the contact key: kinds, seqs and ciphertext sizes, no location.
  const blind = new EmergencyTimeline();
  const seen = [];
  for (const b of raw) seen.push(...(await blind.feed(handle, b)));
  t.true(seen.some((e) => e.kind === 'location' && e.status === 'seen' && e.ciphertext.length === 1 && e.body === undefined));

  // The contact acknowledges; the owner's host relays it; cancel.
  const eventId = start?.event as string;
  const ack = await run(
    'contact',
    'ack',
    '--key',
    f('alice.key'),
    '--event',
    eventId,
    '--seq',
    '1',
    '--out',
    f('ack.cose'),
    '--json',
  );
  t.is(ack.code, 0, ack.stderr);
  const relayed = await key('emergency', 'ack', f('ack.cose'), '--json');
  t.is(relayed.code, 0, relayed.stderr);
  t.like(JSON.parse(relayed.stdout), { ok: true, alias: 'alice' });
  const replay = await key('emergency', 'ack', f('ack.cose'));
  t.is(replay.code, 1);
  t.regex(replay.stderr, /KEY_ACK_INVALID/);
  const cancelled = await key('emergency', 'cancel', '--json');
  t.is(cancelled.code, 0, cancelled.stderr);
  t.like(JSON.parse(cancelled.stdout), { ok: true, phase: 'cancelled', event: eventId, state: 'dormant' });
  t.is(s.firmware(0).state, 'dormant');
  const resolve = await key('emergency', 'resolve');
  t.is(resolve.code, 1);
  t.regex(resolve.stderr, /KEY_INVALID_STATE: emergency.resolve is not allowed in state dormant/);
  const wrongKey = await key('events', '--follow', '--for', '1', '--identity', 'ab'.repeat(32));
  t.is(wrongKey.code, 1, 'with --identity the Key is authenticated first');
  const rightKey = await key('events', '--follow', '--for', '1', '--identity', identity, '--json');
  t.is(rightKey.code, 0, rightKey.stderr);
  t.like(jsonLines(rightKey.stdout).at(-1), { ok: true });
  const badAck = await run('contact', 'ack', '--key', f('alice.key'), '--event', 'xyz', '--seq', '1', '--out', f('x'));
  t.is(badAck.code, 2);

  const drained = Date.now() + 5_000;
  while ((s.linkStats()[0]?.mqtt?.queued ?? 0) > 0 && Date.now() < drained) await sleep(20);
});

test.serial(
  'the emergency timeline: held until the start, gaps, late records, replays, forgeries, another contact',
  async (t) => {
    const identity = ed25519Generate();
    const alice = contactKeygen();
    const bob = contactKeygen();
    const contactSet: ContactSet = {
      version: 3,
      issuedAt: 1,
      contacts: [
        { alias: 'alice', hpkeKey: alice.publicKey, signKey: alice.signKey },
        { alias: 'bob', hpkeKey: bob.publicKey, signKey: bob.signKey },
      ],
    };
    const T0 = Date.UTC(2026, 0, 1);
    const started = createEventStart({ contactSetVersion: 3, time: T0 }, { seed: identity.seed });
    const eventId = started.start.eventId;
    const loc = (seq: number, lat: number) =>
      sealEventRecord(
        {
          eventId,
          seq,
          time: T0 + seq * 10_000,
          body: { kind: 'location', location: { lat, lon: 1, accuracyM: 5, fixTime: T0 } },
        },
        contactSet,
        { seed: started.eventSeed },
      );
    const r1 = await loc(1, 10);
    const r2 = await loc(2, 20);
    const r3 = await loc(3, 30);
    const forged = await sealEventRecord(
      { eventId, seq: 4, time: T0, body: { kind: 'location', location: { lat: 66, lon: 1, accuracyM: 5, fixTime: T0 } } },
      contactSet,
      { seed: new Uint8Array(32).fill(3) },
    );
    const h = 'eh1-aaaaaaaaaaaaaaaaaaaaaaaaaa';
    const tl = new EmergencyTimeline({ identities: new Map([[h, identity.publicKey]]), contactPrivateKey: bob.privateKey });
    t.like((await tl.feed(h, forged))[0], { seq: 4, status: 'held' }, 'a forgery before the start is held, then refused');
    const held = await tl.feed(h, r1);
    t.like(held[0], { seq: 1, kind: 'location', status: 'held' });
    const onStart = await tl.feed(h, started.bytes);
    t.deepEqual(
      onStart.map((e) => [e.seq, e.status]),
      [
        [0, 'verified'],
        [4, 'refused'],
        [1, 'decrypted'],
      ],
    );
    t.like(onStart[2]?.body, { kind: 'location', location: { lat: 10 } });
    const gap = await tl.feed(h, r3);
    t.like(gap[0], { seq: 3, status: 'decrypted', gaps: [2], sinceStartMs: 30_000 });
    t.deepEqual(tl.events()[0]?.missing, [2]);
    const late = await tl.feed(h, r2);
    t.like(late[0], { seq: 2, status: 'decrypted', late: true });
    t.like((await tl.feed(h, r3))[0], { seq: 3, status: 'duplicate', identical: true });
    t.like((await tl.feed(h, r2))[0], { seq: 2, status: 'duplicate', identical: true });
    t.like((await tl.feed(h, forged))[0], { seq: 4, status: 'refused', error: { code: 'EMERGENCY_RECORD_INVALID' } });
    t.like(tl.events()[0], { received: 3, missing: [], contactIndex: 1 }, 'the forgeries are not counted as received');
    const line = describeEmergency(late[0] as EmergencyTimelineEntry);
    t.regex(
      line,
      /EMERGENCY {2}event [0-9a-f]{12} {2}seq 2 {2}location {2}\+20\.0 s {2}\d+ B {2}ct \d+,\d+ B {2}lat 20 lon 1 ±5 m .*\[late\]/,
    );

    // A stranger's key opens nothing; without a key nothing is opened at all.
    const stranger = new EmergencyTimeline({
      identities: new Map([[h, identity.publicKey]]),
      contactPrivateKey: contactKeygen().privateKey,
    });
    await stranger.feed(h, started.bytes);
    t.like((await stranger.feed(h, r1))[0], { status: 'not-for-you', error: { code: 'EMERGENCY_NOT_FOR_YOU' } });
    const blind = new EmergencyTimeline();
    await blind.feed(h, started.bytes);
    const seen = (await blind.feed(h, r1))[0] as EmergencyTimelineEntry;
    t.like(seen, { status: 'seen', seq: 1, sinceStartMs: 10_000 });
    t.is(seen.body, undefined);
    t.notRegex(describeEmergency(seen), /lat/);
    t.like((await blind.feed(h, new Uint8Array([1, 2, 3])))[0], { kind: 'unreadable', status: 'refused' });
  },
);
