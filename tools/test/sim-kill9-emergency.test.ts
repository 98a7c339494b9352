/**
 * The simulator killed (SIGKILL) mid-event (issue 13, "Bad input and faults": the event resumes
 * or ends cleanly on restart, never silently). As a user runs it: `enigm sim start` (the bundled
 * CLI, a child process) on a state folder, its Key's uplink on a broker that outlives it (an
 * embedded broker in this process, with the contact-side subscriber). The owner pairs, activates
 * and sets a one-contact set over TCP; the emergency starts through the control API (`enigm sim
 * press`, `enigm sim gnss`); once the contact has decrypted a location the simulator is killed with
 * SIGKILL and started again on the same `--state-dir`. The Key is still in the same event, its
 * first record after the restart is a sealed status noted "resumed after a restart", the owner's
 * cancel (the button, through the control API) ends it with a signed end record, and the
 * contact's `EventReader` read every record: no gap it did not report, nothing refused, the end
 * verified.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { MqttLink } from '@enigm/mqtt';
import { type EmbeddedBroker, startEmbeddedBroker } from '@enigm/mqtt/broker';
import { fromHex } from '@enigm/protocols/bytes';
import { contactKeygen, EventReader, type ReaderEvent, signContactSet } from '@enigm/protocols/emergency';
import { parseKeyTopic, peekUplink } from '@enigm/protocols/mqtt';
import { stopChild } from '@enigm/sim/testing';
import test from 'ava';
import { type Bundle, buildBundle } from './bundle.ts';

const exec = promisify(execFile);
const RESUMED = 'resumed after a restart';
const LAT = 59.329323;

let bundle: Bundle | undefined;
let broker: EmbeddedBroker | undefined;
let backend: MqttLink | undefined;
const children: ChildProcess[] = [];
let work = '';

test.after.always(async () => {
  for (const c of children) await stopChild(c).catch(() => undefined);
  await backend?.close().catch(() => undefined);
  await broker?.close();
  bundle?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

async function enigm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, [bundle?.cli as string, ...args], {
      cwd: work,
      env: { ...process.env, ENIGM_HOME: join(work, 'home') },
      timeout: 60_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** `enigm sim start` in a child process; resolves with its ready line. */
async function startSim(stateDir: string, brokerUrl: string): Promise<{ child: ChildProcess; tcp: string }> {
  const child = spawn(
    process.execPath,
    [
      bundle?.cli as string,
      'sim',
      'start',
      '--keys',
      '1',
      '--no-serial',
      '--state-dir',
      stateDir,
      '--broker',
      brokerUrl,
      '--json',
    ],
    { cwd: work, env: { ...process.env, ENIGM_HOME: join(work, 'home') }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const ready = await new Promise<{ keys: { tcp: string }[] }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`simulator not ready within 60 s: ${stderr}`)), 60_000);
    const exited = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`simulator exited (${code}) before it was ready: ${stderr}`));
    };
    child.once('exit', exited);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (l) => {
      clearTimeout(timer);
      child.off('exit', exited);
      resolve(JSON.parse(l));
    });
  });
  return { child, tcp: ready.keys[0]?.tcp as string };
}

test.serial(
  'simulator SIGKILLed mid-event: the event resumes on restart, says so, ends signed; the contact misses nothing unreported',
  async (t) => {
    bundle = await buildBundle('repo');
    work = mkdtempSync(join(tmpdir(), 'enigm-sim-kill9-'));
    broker = await startEmbeddedBroker();
    const stateDir = join(work, 'st');

    // The contact, and the owner's signed set of that one contact.
    const contact = contactKeygen();
    const ownerSeed = new Uint8Array(32).fill(5);
    const set = signContactSet(
      {
        version: 1,
        issuedAt: Date.now() - 60_000,
        contacts: [{ alias: 'alice', hpkeKey: contact.publicKey, signKey: contact.signKey }],
      },
      ownerSeed,
    );
    writeFileSync(join(work, 'contacts.cose'), set);

    const first = await startSim(stateDir, broker.url);
    const paired = await enigm('key', 'pair', '--port', first.tcp, '--json');
    t.is(paired.code, 0, paired.stderr);
    const identity = fromHex((JSON.parse(paired.stdout) as { identity: string }).identity);
    t.is((await enigm('key', 'activate', '--port', first.tcp)).code, 0);
    const setRun = await enigm('key', 'contacts', 'set', join(work, 'contacts.cose'), '--port', first.tcp);
    t.is(setRun.code, 0, setRun.stderr);

    // The contact side: every emergency uplink record, fed in arrival order to one reader.
    const reader = new EventReader({ identityPublicKey: identity, contactIndex: 0, contactPrivateKey: contact.privateKey });
    const events: ReaderEvent[] = [];
    let chain = Promise.resolve();
    backend = await MqttLink.connect({ url: broker.url, username: 'backend-kill9' });
    backend.onMessage((topic, payload) => {
      if (parseKeyTopic(topic)?.channel !== 'up') return;
      const up = peekUplink(payload);
      if (up?.kind !== 'emergency') return;
      chain = chain.then(async () => {
        events.push(...(await reader.feed(up.body)));
      });
    });
    await backend.subscribe('enigm/v1/key/+/up', 1);

    // The emergency, through the control API: the gesture, then a track whose first fix is due at once.
    const press = await enigm('sim', 'press', '--key', '0', '--gesture', 'triple', '--state-dir', stateDir, '--json');
    t.is(press.code, 0, press.stderr);
    writeFileSync(join(work, 'track.json'), JSON.stringify([{ atMs: 0, lat: LAT, lon: 18.068581, accuracyM: 5 }]));
    const gnss = await enigm('sim', 'gnss', '--key', '0', '--track', join(work, 'track.json'), '--state-dir', stateDir);
    t.is(gnss.code, 0, gnss.stderr);
    const located = () => events.some((e) => e.type === 'record' && e.body.kind === 'location');
    await until(located, 30_000, 'the contact decrypting a location');
    const eventIdOf = (e: ReaderEvent | undefined) =>
      e?.type === 'start' ? Buffer.from(e.start.eventId).toString('hex') : undefined;
    const eventId = eventIdOf(events.find((e) => e.type === 'start'));
    t.truthy(eventId);

    // kill -9, mid-event.
    const gone = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await gone;
    const seenBeforeRestart = events.length;

    const second = await startSim(stateDir, broker.url);
    const resumed = () => events.some((e) => e.type === 'record' && e.body.kind === 'status' && e.body.status.note === RESUMED);
    await until(resumed, 30_000, 'the resumed status after the restart');
    t.true(events.length > seenBeforeRestart);
    const after = events.slice(seenBeforeRestart).find((e) => e.type === 'record');
    t.is(after?.type === 'record' ? Buffer.from(after.header.eventId).toString('hex') : undefined, eventId, 'the same event');

    // The owner cancels with the button (control API): a signed end record.
    const hold = await enigm(
      'sim',
      'press',
      '--key',
      '0',
      '--gesture',
      'hold',
      '--seconds',
      '10',
      '--state-dir',
      stateDir,
      '--json',
    );
    t.is(hold.code, 0, hold.stderr);
    await until(() => reader.ended !== undefined, 30_000, 'the end record');
    await chain;
    t.is(reader.ended?.outcome, 'cancelled');
    t.deepEqual(
      events.filter((e) => e.type === 'refused'),
      [],
      'nothing refused',
    );
    // Every seq the contact lacks was reported as a gap when a later record arrived.
    const reported = new Set(events.flatMap((e) => (e.type === 'record' ? e.gaps : [])));
    for (const seq of reader.missing()) t.true(reported.has(seq), `seq ${seq} missing without a report`);
    t.is(events.filter((e) => e.type === 'start').length, 1, 'one event start: resumed, not restarted');
    await stopChild(second.child);
  },
);
