/**
 * The device link's containment and bounds, with a stand-in firmware whose link context and long
 * operation are scripted: a long operation that fails is answered with an INTERNAL wire error
 * (never an unhandled rejection), a superseded one ends quietly with the request's own answer,
 * requests on every link of the Key wait while it runs (and get keepalives), the input queue is
 * bounded, and LinkFlow pauses and drops at its bounds.
 */
import { encodeFrame, FrameDecoder } from '@enigm/protocols/framing';
import { decodeEnvelope, decodeMessage, encodeMessage, PROTOCOL_VERSION } from '@enigm/protocols/messages';
import test from 'ava';
import type { KeyFirmware } from '../src/firmware/firmware.ts';
import { DeviceLink } from '../src/runtime/device-link.ts';
import { KeyScheduler } from '../src/runtime/key-scheduler.ts';
import { DEFAULT_LINK_LIMITS, LinkFlow } from '../src/runtime/link-flow.ts';

type Step = () => boolean;

/** Polls `cond` every 5 ms for up to 20 s (the outcome, not a clock, ends the wait). */
async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 20_000;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
}

/** A firmware whose link context answers `ping` at once and starts `work()` for `info`. */
function fakeFirmware(work: () => Step) {
  const listeners = new Set<(ev: Uint8Array) => void>();
  let handled = 0;
  const fw = {
    config: { maxFrame: 4096 },
    onEvent: (l: (ev: Uint8Array) => void) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    connect: () => {
      let pending: Step | undefined;
      return {
        handle(payload: Uint8Array) {
          handled++;
          const env = decodeEnvelope(payload);
          const msg = decodeMessage(payload);
          if (msg.name === 'info') pending = work();
          return encodeMessage({
            version: PROTOCOL_VERSION,
            name: 'ping.response',
            id: env.id as number,
            body: { data: new Uint8Array(), uptimeMs: 0 },
          });
        },
        takeWork() {
          const w = pending;
          pending = undefined;
          return w;
        },
      };
    },
    disconnect: () => undefined,
  };
  return { fw: fw as unknown as KeyFirmware, handled: () => handled };
}

function request(name: 'ping' | 'info', id: number): Uint8Array {
  const body = name === 'ping' ? { data: new Uint8Array(4) } : {};
  return encodeFrame(encodeMessage({ version: PROTOCOL_VERSION, name, id, body } as never));
}

function sink() {
  const out: { name: string; id?: number; body: unknown }[] = [];
  const decoder = new FrameDecoder({ maxPayload: 4096 });
  const write = (b: Uint8Array) => {
    for (const ev of decoder.push(b)) {
      if (ev.kind !== 'frame') continue;
      const m = decodeMessage(ev.payload);
      out.push({ name: m.name, id: decodeEnvelope(ev.payload).id, body: m.body });
    }
  };
  return { out, write };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Serial: it listens for unhandled rejections process-wide, which must not hear the other tests'.
test.serial('a long operation that throws is answered with an INTERNAL wire error, and the Key goes on', async (t) => {
  let steps = 0;
  const { fw } = fakeFirmware(() => () => {
    if (++steps === 3) throw Object.assign(new Error('worn page at 0x1000 holding secret'), { code: 'FLASH_WORN' });
    return true;
  });
  const s = sink();
  const link = new DeviceLink(fw, s.write, 'memory', { msPerStep: 2, keepaliveMs: 1 });
  const rejections: unknown[] = [];
  const onRejection = (e: unknown) => rejections.push(e);
  process.on('unhandledRejection', onRejection);
  try {
    link.receive(request('info', 7));
    link.receive(request('ping', 8));
    // the operation takes 3 steps of 2 ms: wait for its outcome, not a fixed time (loaded machines)
    await until(() => s.out.at(-1)?.id === 8);
    const err = s.out.find((m) => m.name === 'error');
    t.is(err?.id, 7);
    t.like(err?.body, { name: 'INTERNAL' });
    const reason = (err?.body as { reason?: string } | undefined)?.reason ?? '';
    t.regex(reason, /FLASH_WORN/);
    t.notRegex(reason, /secret/, 'the reason carries the code, not the message');
    t.is(s.out.at(-1)?.id, 8, 'the request queued behind it is answered afterwards');
    t.true(s.out.some((m) => m.name === 'keepalive'));
    t.deepEqual(rejections, []);
  } finally {
    process.off('unhandledRejection', onRejection);
    link.close();
  }
});

test('a superseded long operation (UPDATE_STATE) ends quietly with the request answered', async (t) => {
  const { fw } = fakeFirmware(() => () => {
    throw Object.assign(new Error('no upload in progress'), { code: 'UPDATE_STATE' });
  });
  const s = sink();
  const link = new DeviceLink(fw, s.write, 'memory', { msPerStep: 1 });
  link.receive(request('info', 3));
  await until(() => s.out.some((m) => m.name !== 'keepalive'));
  await wait(20); // anything else it would send comes meanwhile
  t.deepEqual(
    s.out.filter((m) => m.name !== 'keepalive').map((m) => [m.name, m.id]),
    [['ping.response', 3]],
  );
  link.close();
});

test('while one link runs a long operation, the Key’s other links wait (with keepalives), then run in order', async (t) => {
  let left = 10;
  const { fw, handled } = fakeFirmware(() => () => --left > 0);
  const scheduler = new KeyScheduler();
  const a = sink();
  const b = sink();
  const la = new DeviceLink(fw, a.write, 'tcp', { msPerStep: 5, keepaliveMs: 10 }, { scheduler });
  const lb = new DeviceLink(fw, b.write, 'tcp', { msPerStep: 5, keepaliveMs: 10 }, { scheduler });
  la.receive(request('info', 1));
  lb.receive(request('ping', 2));
  t.is(handled(), 1, 'the other link did not run its request during the operation');
  t.true(scheduler.busy);
  await until(() => !scheduler.busy && b.out.some((m) => m.name !== 'keepalive'));
  t.false(scheduler.busy);
  t.is(a.out.filter((m) => m.name !== 'keepalive').at(0)?.id, 1);
  t.is(b.out.filter((m) => m.name !== 'keepalive').at(0)?.id, 2);
  t.true(
    b.out.some((m) => m.name === 'keepalive'),
    'the waiting link got keepalives',
  );
  la.close();
  lb.close();
});

test('the link stops handling requests while the medium cannot send, and bounds its input queue', (t) => {
  const { fw, handled } = fakeFirmware(() => () => false);
  const s = sink();
  let open = false;
  const link = new DeviceLink(fw, s.write, 'tcp', undefined, { canSend: () => open, maxQueuedBytes: 200 });
  for (let i = 1; i <= 20; i++) link.receive(request('ping', i));
  t.is(handled(), 0);
  t.true(link.queuedBytes <= 200, `queued ${link.queuedBytes}`);
  t.true(link.stats.droppedFrames > 0);
  open = true;
  link.resume();
  t.true(handled() > 0 && handled() < 20);
  t.is(link.queuedBytes, 0);
  link.close();
});

test('LinkFlow pauses above the high marks, resumes below, and calls overflow above the hard bound', (t) => {
  let out = 0;
  let input = 0;
  const calls: string[] = [];
  const flow = new LinkFlow(
    {
      outputBytes: () => out,
      inputBytes: () => input,
      pause: () => calls.push('pause'),
      resume: () => calls.push('resume'),
      overflow: (reason) => calls.push(`overflow: ${reason}`),
    },
    DEFAULT_LINK_LIMITS,
    { level: 'silent', error() {}, warn() {}, info() {}, debug() {} },
    'test',
  );
  out = DEFAULT_LINK_LIMITS.outputHigh + 1;
  t.false(flow.canSend());
  t.true(flow.update());
  out = 0;
  t.true(flow.canSend());
  flow.update();
  input = DEFAULT_LINK_LIMITS.inputHigh + 1;
  flow.update();
  input = 0;
  flow.update();
  out = DEFAULT_LINK_LIMITS.outputHard + 1;
  t.false(flow.update());
  t.deepEqual(calls, [
    'pause',
    'resume',
    'pause',
    'resume',
    `overflow: ${DEFAULT_LINK_LIMITS.outputHard + 1} bytes of output unread by the host (bound ${DEFAULT_LINK_LIMITS.outputHard})`,
  ]);
});
