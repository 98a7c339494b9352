/**
 * The publisher's documented drop policy (docs/posture.md "Publishing"): with the broker out of
 * reach for long, the outbox holds at most `maxRecords` reports; the oldest are dropped first (a
 * newer report describes the device better), counted and reported as an event; what is kept
 * survives a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '@enigm/mqtt/outbox';
import { formatAssociationHandle } from '@enigm/protocols/handle';
import test from 'ava';
import { PosturePublisher, type PublisherEvent } from '../src/publish/publisher.ts';
import { closedPort } from './support/closed-port.ts';

const dir = mkdtempSync(join(tmpdir(), 'enigm-agent-bounds-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test('a full outbox drops the oldest reports, counts and reports them, and keeps the newest across a restart', async (t) => {
  const { port, release } = await closedPort(); // the broker stays out of reach: nothing can listen there
  t.teardown(release);
  const events: PublisherEvent[] = [];
  const path = join(dir, 'outbox.log');
  const p = await PosturePublisher.open({
    link: { url: `mqtt://127.0.0.1:${port}` },
    handle: formatAssociationHandle(new Uint8Array(16).fill(0x44)),
    outboxPath: path,
    maxRecords: 3,
    backoff: { baseMs: 50, capMs: 200 },
    onEvent: (e) => events.push(e),
  });
  const id = (i: number) => new Uint8Array(16).fill(i);
  for (let i = 1; i <= 5; i++) await p.enqueue(new Uint8Array([i]), id(i));
  t.is(p.status().pending, 3);
  t.is(p.status().dropped, 2);
  t.deepEqual(
    events.filter((e) => e.kind === 'dropped').map((e) => (e as { reason: string }).reason),
    ['count', 'count'],
  );
  await p.close();
  const reopened = await Outbox.open(path);
  t.deepEqual(
    reopened.pending().map((e) => e.id[0]),
    [3, 4, 5],
  );
  await reopened.close();
});
