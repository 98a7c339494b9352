/**
 * The publisher checks its client certificate before every connection attempt (issue 14: "detect
 * a certificate that is not yet valid or about to expire and say so"): not yet valid (a wrong
 * clock) and expiring are reported in the status and as events, the retries go on with capped,
 * jittered backoff, and reports wait durably in the outbox.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatAssociationHandle } from '@enigm/protocols/handle';
import test from 'ava';
import { PosturePublisher, type PublisherEvent } from '../src/publish/publisher.ts';
import { useBroker } from './support/broker.ts';

const fx = useBroker(test);
const dir = mkdtempSync(join(tmpdir(), 'enigm-agent-cert-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const handle = formatAssociationHandle(new Uint8Array(16).fill(0x33));
const DAY = 86_400_000;

async function publisher(name: string, validity: { notBefore?: Date; notAfter?: Date }, events: PublisherEvent[]) {
  const id = await fx.client(handle, validity);
  return PosturePublisher.open({
    link: { url: fx.broker.url, tls: { ca: fx.caPem, cert: id.cert, key: id.key }, connectTimeoutMs: 3000 },
    handle,
    outboxPath: join(dir, `${name}.log`),
    backoff: { baseMs: 20, capMs: 100 },
    onEvent: (e) => events.push(e),
  });
}

async function until(f: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

fx.brokerTest(
  'a certificate not yet valid is reported (a wrong clock), retried with backoff, and the report waits in the outbox',
  async (t) => {
    const events: PublisherEvent[] = [];
    const p = await publisher(
      'future',
      { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 30 * DAY) },
      events,
    );
    t.teardown(() => p.close());
    await p.enqueue(new Uint8Array([1, 2, 3]), new Uint8Array(16).fill(1));
    await until(() => events.filter((e) => e.kind === 'retry').length >= 3);
    t.is(p.status().certificate.status, 'not-yet-valid');
    t.true(events.some((e) => e.kind === 'certificate' && e.state.status === 'not-yet-valid'));
    const retries = events.filter((e): e is Extract<PublisherEvent, { kind: 'retry' }> => e.kind === 'retry');
    t.true(retries.length >= 3);
    t.true(retries.every((r) => r.delayMs >= 0 && r.delayMs < 100 && r.code === 'MQTT_CERT_NOT_YET_VALID'));
    t.is(p.status().pending, 1);
    t.false(p.status().connected);
  },
);

fx.brokerTest('a certificate expiring within certWarnDays connects and is reported as expiring with the days left', async (t) => {
  const events: PublisherEvent[] = [];
  const p = await publisher('soon', { notAfter: new Date(Date.now() + 5 * DAY) }, events);
  t.teardown(() => p.close());
  await until(() => p.status().connected);
  t.true(p.status().connected);
  const cert = p.status().certificate;
  t.is(cert.status, 'expiring');
  t.true((cert.daysLeft ?? 99) <= 5);
});
