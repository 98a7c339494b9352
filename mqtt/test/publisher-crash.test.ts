/**
 * At-least-once through kill -9 (docs/mqtt.md, issue "the Key ↔ backend link over MQTT": "an
 * agent killed with kill -9 mid-publish: no loss; duplicates removed by id"): a child process
 * appends records to a durable outbox and publishes them with the OutboxPublisher while the test
 * SIGKILLs it at random moments; a restarted child drains what is left. Every record the child
 * reported durable reaches the consumer; duplicates are only re-sends of the same id, which the
 * Deduplicator drops; nothing arrives that was never appended. Against the embedded broker and
 * against mosquitto with mutual TLS and the generated ACL (the child is the Key: its certificate
 * CN is the handle it publishes under).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { startEmbeddedBroker } from '../src/broker/index.ts';
import { Deduplicator, MqttLink, type MqttTls } from '../src/index.ts';
import type { TlsIdentity } from './support/certs.ts';
import { useMosquitto } from './support/mosquitto.ts';

const fixture = fileURLToPath(new URL('./fixtures/publisher-child.ts', import.meta.url));
const HANDLE = `eh1-${'k'.repeat(26)}`;

/** Where the children publish: the broker URL and, for mutual TLS, the PEM files (CA, the Key's certificate and key). */
interface Target {
  url: string;
  tlsFiles?: readonly [ca: string, cert: string, key: string];
}

function run(
  target: Target,
  path: string,
  round: string,
  count: number,
  onLine: (l: string) => void,
): { child: ChildProcess; exited: Promise<void> } {
  const args = [fixture, target.url, path, HANDLE, round, String(count), ...(target.tlsFiles ?? [])];
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const guard = setTimeout(() => child.kill('SIGKILL'), 40_000);
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', onLine);
  child.stderr?.resume();
  // 'close', not 'exit': 'exit' can come before the last lines (e.g. 'drained') are read from stdout.
  const exited = new Promise<void>((r) =>
    child.once('close', () => {
      clearTimeout(guard);
      r();
    }),
  );
  return { child, exited };
}

/**
 * Six rounds of a child killed with SIGKILL mid-stream, then a drain; `consumer` is subscribed
 * by the caller's broker set-up and closed by the caller.
 */
async function killRounds(t: ExecutionContext, target: Target, consumer: MqttLink): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-publisher-crash-'));
  try {
    // Every arrival, in order, and what the Deduplicator kept (what a consumer appends).
    const dedup = new Deduplicator();
    const arrivals: { id: string; name: string }[] = [];
    const appendedRecords: { id: string; name: string }[] = [];
    const received = new Set<string>();
    consumer.onMessage((_topic, payload) => {
      const a = JSON.parse(new TextDecoder().decode(payload)) as { id: string; name: string };
      arrivals.push(a);
      if (dedup.fresh(Buffer.from(a.id, 'hex'))) {
        appendedRecords.push(a);
        received.add(a.name);
      }
    });

    await consumer.subscribe(`enigm/v1/key/${HANDLE}/up`, 1);
    const path = join(dir, 'agent.outbox');
    const durable = new Set<string>();
    /** name → id of every record a child started to append (it may have died before the bytes were synced). */
    const announced = new Map<string, string>();
    const started = Date.now();
    for (let round = 0; round < 6; round++) {
      const { child, exited } = run(target, path, `r${round}`, 400, (l) => {
        if (l.startsWith('durable ')) durable.add(l.slice(8));
        const m = /^appending (\S+) ([0-9a-f]{32})$/.exec(l);
        if (m) announced.set(m[1] as string, m[2] as string);
      });
      // Kill after some records are durable, at a random moment mid-stream.
      const killAt = durable.size + 5 + Math.floor(Math.random() * 60);
      const end = Date.now() + 30_000; // a bound for a loaded machine (a child starts in about a second)
      while (durable.size < killAt && child.exitCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGKILL');
      await exited;
      t.log(`round ${round}: ${durable.size} durable at ${Date.now() - started} ms`);
    }
    // A last run appends nothing and drains the rest.
    let drained = false;
    const last = run(target, path, 'final', 0, (l) => {
      if (l === 'drained') drained = true;
    });
    await last.exited;
    t.log(`final drain done at ${Date.now() - started} ms`);
    t.true(drained, 'the last run drained the outbox');
    const end = Date.now() + 10_000;
    while ([...durable].some((n) => !received.has(n)) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const missing = [...durable].filter((n) => !received.has(n));
    t.deepEqual(missing, [], 'every durable record arrived');
    t.true(durable.size >= 30, `${durable.size} durable records over 6 kills`);
    // Nothing arrived that was never appended, and each arrival carries the id its record was appended with.
    const strays = arrivals.filter((a) => announced.get(a.name) !== a.id);
    t.deepEqual(strays, [], 'every arrival is an appended record under its own id');
    // Duplicates are re-sends of the same record under the same id, and the Deduplicator removes
    // every one of them: the consumer appended each record exactly once.
    const idsByName = new Map<string, Set<string>>();
    for (const a of arrivals) idsByName.set(a.name, (idsByName.get(a.name) ?? new Set()).add(a.id));
    t.deepEqual(
      [...idsByName].filter(([, ids]) => ids.size > 1).map(([name]) => name),
      [],
      'a record that arrived more than once arrived under one id',
    );
    const uniqueIds = new Set(arrivals.map((a) => a.id));
    t.is(appendedRecords.length, uniqueIds.size, 'unique ids = records the consumer appended');
    t.is(new Set(appendedRecords.map((r) => r.name)).size, appendedRecords.length, 'no record appended twice');
    const duplicates = arrivals.length - appendedRecords.length;
    t.log(
      `${durable.size} durable, ${appendedRecords.length} appended, ${arrivals.length} arrivals, ${duplicates} duplicates dropped by id`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('kill -9 mid-publish (embedded broker): every durable record arrives, duplicates are re-sends removed by id', async (t) => {
  const broker = await startEmbeddedBroker();
  const consumer = await MqttLink.connect({ url: broker.url, username: 'backend-1' });
  try {
    await killRounds(t, { url: broker.url }, consumer);
  } finally {
    await consumer.close();
    await broker.close();
  }
});

const ids: Record<string, TlsIdentity> = {};
const fx = useMosquitto(test, {
  async setup(f) {
    for (const cn of [HANDLE, 'backend-1']) ids[cn] = await f.pki.client(cn);
  },
});

fx.brokerTest(
  'kill -9 mid-publish (mosquitto, mutual TLS, the generated ACL): every durable record arrives, duplicates are re-sends removed by id',
  async (t) => {
    const key = ids[HANDLE] as TlsIdentity;
    const consumer = await MqttLink.connect({
      url: fx.broker.url,
      tls: fx.tlsOptions(ids['backend-1'] as TlsIdentity) as MqttTls,
    });
    try {
      await killRounds(t, { url: fx.broker.url, tlsFiles: [fx.pki.caFile, key.certFile, key.keyFile] }, consumer);
    } finally {
      await consumer.close();
    }
  },
);
