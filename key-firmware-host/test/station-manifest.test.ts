/**
 * The station's manifest without Keys: CSV quoting (RFC 4180, the PEM in one quoted field), the
 * merge rules across runs, the summary counts, atomic writes (no temporary file left) and a file
 * that is not a manifest.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  type ManifestEntry,
  manifestCsv,
  mergeManifestEntries,
  readManifest,
  StationError,
  summarizeManifest,
  writeManifest,
} from '../src/station/index.ts';

const T = '2026-12-01T06:00:00.000Z';
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const ok = (handle: string, port: string, serial = 'aa'): ManifestEntry => ({
  port,
  handle,
  outcome: 'provisioned',
  model: 'enigm-key-1',
  firmware: '1.0.0',
  serial,
  certificatePem: PEM,
  notAfter: T,
  time: T,
});

test('CSV: header, CRLF rows, the PEM and a comma quoted', (t) => {
  const csv = manifestCsv([ok('h1', '/dev/a,b')]);
  const [header, row, end] = csv.split('\r\n');
  t.is(header, 'handle,port,outcome,error,step,model,firmware,serial,not_after,time,certificate_pem');
  t.is(row, `h1,"/dev/a,b",provisioned,,,enigm-key-1,1.0.0,aa,${T},${T},"${PEM}"`);
  t.is(end, '');
});

test('merge: same handle replaced, a later already-provisioned keeps the provisioned entry, port-only failures dropped', (t) => {
  const earlier: ManifestEntry[] = [
    ok('h1', 'p1', '01'),
    { port: 'p2', outcome: 'failed', error: 'STATION_PORT_LOST', step: 'open', time: T },
    { port: 'p3', handle: 'h3', outcome: 'aborted', error: 'STATION_ABORTED', step: 'csr', time: T },
  ];
  const later: ManifestEntry[] = [
    { ...ok('h1', 'p1', '01'), outcome: 'already-provisioned' },
    ok('h2', 'p2', '02'),
    ok('h3', 'p3', '03'),
  ];
  const merged = mergeManifestEntries(earlier, later);
  t.deepEqual(
    merged.map((e) => [e.handle, e.outcome, e.serial]),
    [
      ['h1', 'provisioned', '01'],
      ['h3', 'provisioned', '03'],
      ['h2', 'provisioned', '02'],
    ],
  );
});

test('summary counts outcomes, errors, models and firmware', (t) => {
  const s = summarizeManifest([
    ok('h1', 'p1'),
    { ...ok('h2', 'p2'), outcome: 'already-provisioned', firmware: '1.1.0' },
    { port: 'p3', outcome: 'failed', error: 'STATION_PORT_LOST', step: 'pair', time: T },
  ]);
  t.is(s.total, 3);
  t.deepEqual(s.byOutcome, { provisioned: 1, 'already-provisioned': 1, failed: 1, aborted: 0 });
  t.deepEqual(s.errors, { STATION_PORT_LOST: 1 });
  t.deepEqual(s.models, { 'enigm-key-1': 2 });
  t.deepEqual(s.firmware, { '1.0.0': 1, '1.1.0': 1 });
});

test('writeManifest writes OUT.json and OUT.csv atomically; readManifest refuses other files', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-manifest-'));
  try {
    const paths = writeManifest(join(dir, 'batch.json'), [ok('h1', 'p1')]);
    t.deepEqual(paths, { json: join(dir, 'batch.json'), csv: join(dir, 'batch.csv') });
    t.deepEqual(readdirSync(dir).sort(), ['batch.csv', 'batch.json']);
    const m = readManifest(paths.json);
    t.is(m.format, 'enigm-station-manifest');
    t.deepEqual(m.entries, [ok('h1', 'p1')]);
    t.is(readFileSync(paths.csv, 'utf8').split('\r\n')[0]?.split(',').length, 11);
    writeFileSync(join(dir, 'other.json'), '{"entries":[]}');
    t.is(t.throws(() => readManifest(join(dir, 'other.json')), { instanceOf: StationError })?.code, 'STATION_MANIFEST_INVALID');
    writeFileSync(join(dir, 'bad.json'), '{');
    t.is(t.throws(() => readManifest(join(dir, 'bad.json')), { instanceOf: StationError })?.code, 'STATION_MANIFEST_INVALID');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
