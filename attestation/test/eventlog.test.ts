/**
 * TCG PC Client Platform Firmware Profile §10 event logs (crypto-agile and legacy SHA-1 formats):
 * parsing, per-bank replay and data-vs-digest rules, on real logs captured by tpm2-tools and
 * go-attestation (`testdata/eventlogs`, copied from the shared test data). The expected PCRs are tpm2_eventlog's `pcrs:`.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toHex } from '@enigm/protocols/bytes';
import test from 'ava';
import { AttestationError } from '../src/errors.ts';
import { checkEventDigests } from '../src/eventlog/digests.ts';
import { encodeEventLog } from '../src/eventlog/encode.ts';
import { EV_EFI_ACTION, EV_NO_ACTION, EV_SEPARATOR } from '../src/eventlog/event-types.ts';
import { parseEventLog, parseSpecIdEvent } from '../src/eventlog/parse.ts';
import { compareReplay, initialPcrValue, replayEventLog } from '../src/eventlog/replay.ts';
import { digest, hashByName } from '../src/hash.ts';
import { readPcrsSection } from './helpers/pcrs-yaml.ts';

/** The repository's copied test vectors, found relative to this file. */
const TESTDATA = fileURLToPath(new URL('../../testdata/', import.meta.url));

const DIR = join(TESTDATA, 'eventlogs');
const TPM2_TOOLS = readdirSync(join(DIR, 'tpm2-tools')).filter((f) => f.endsWith('.bin'));
const GO = [
  'crypto_agile_eventlog',
  'ebs_event_missing_eventlog',
  'option_rom_eventlog',
  'sb_cert_eventlog',
  'short_no_action_eventlog',
];
const read = (...p: string[]) => new Uint8Array(readFileSync(join(DIR, ...p)));
const sha1 = hashByName('sha1')!;
const sha256 = hashByName('sha256')!;

test('there are real tpm2-tools logs to check', (t) => {
  t.true(TPM2_TOOLS.length >= 7);
});

for (const f of TPM2_TOOLS) {
  test(`tpm2-tools ${f}: replays to exactly tpm2_eventlog's pcrs`, (t) => {
    const log = parseEventLog(read('tpm2-tools', f));
    const want = readPcrsSection(readFileSync(join(DIR, 'tpm2-tools', `${f}.yaml`), 'utf8'));
    t.true(want.size > 0);
    const replay = replayEventLog(log);
    for (const [bank, pcrs] of want) {
      const got = replay.banks.get(bank as 'sha1');
      t.truthy(got, bank);
      t.deepEqual(sorted(new Map([...got!.pcrs].map(([i, v]) => [i, toHex(v)]))), sorted(pcrs), `${f} ${bank}`);
    }
    // banks tpm2_eventlog does not print have no computable PCR (their digests are absent)
    for (const [bank, b] of replay.banks) if (!want.has(bank)) t.is(b.pcrs.size, 0, `${f} ${bank}`);
  });
}

test('tpm2-tools event-uefiaction.bin: a declared bank without digests is incomplete, not guessed', (t) => {
  const r = replayEventLog(parseEventLog(read('tpm2-tools', 'event-uefiaction.bin')));
  t.deepEqual(r.banks.get('sha384')?.incomplete, [4]);
  t.deepEqual(r.banks.get('sha512')?.incomplete, [4]);
});

test('tpm2-tools event-uefi-sha1-log.bin is the legacy SHA-1 format', (t) => {
  const log = parseEventLog(read('tpm2-tools', 'event-uefi-sha1-log.bin'));
  t.is(log.format, 'sha1');
  t.is(log.specId, undefined);
  t.is(log.events.length, 17);
});

for (const f of GO) {
  test(`go-attestation ${f}: parses, and every data-bound digest matches its data`, (t) => {
    const log = parseEventLog(read('go-attestation', f));
    t.true(log.events.length > 0);
    t.true(checkEventDigests(log).every((c) => c.ok));
  });
}

test('real logs: every data-bound digest matches (separators, actions, Secure Boot variables)', (t) => {
  let n = 0;
  for (const f of TPM2_TOOLS) {
    const checks = checkEventDigests(parseEventLog(read('tpm2-tools', f)));
    n += checks.length;
    t.deepEqual(
      checks.filter((c) => !c.ok),
      [],
      f,
    );
  }
  t.true(n > 50);
});

test('a separator whose data was edited fails its digest rule', (t) => {
  const bytes = read('tpm2-tools', 'event-arch-linux.bin');
  const log = parseEventLog(bytes);
  const sep = log.events.find((e) => e.type === EV_SEPARATOR)!;
  const copy = bytes.slice();
  copy[sep.data.byteOffset - bytes.byteOffset]! ^= 1; // first byte of the separator's data
  const bad = checkEventDigests(parseEventLog(copy)).find((c) => c.seq === sep.seq)!;
  t.false(bad.ok);
  t.is(bad.rule, 'separator');
  t.deepEqual(bad.mismatchedAlgs, [0x0004, 0x000b]);
});

test('go-attestation short_no_action_eventlog: StartupLocality sets PCR 0 initial value to locality 3', (t) => {
  const log = parseEventLog(read('go-attestation', 'short_no_action_eventlog'));
  const r = replayEventLog(log);
  t.is(r.startupLocality, 3);
  t.is(r.banks.get('sha1')?.pcrs.size, 0, 'EV_NO_ACTION is never extended');
  const pcr0 = initialPcrValue(sha1, 0, 3);
  t.is(toHex(pcr0), `${'00'.repeat(19)}03`);
  t.true(compareReplay(log, 'sha1', new Map([[0, pcr0]])).ok);
  t.false(compareReplay(log, 'sha1', new Map([[0, new Uint8Array(20)]])).ok);
});

test('StartupLocality before the first PCR 0 extend seeds the replay of PCR 0', (t) => {
  const loc = Buffer.concat([Buffer.from('StartupLocality\0', 'latin1'), Buffer.from([3])]);
  const crtm = Buffer.from('crtm');
  const log = parseEventLog(
    encodeEventLog(
      ['sha256'],
      [
        { pcr: 0, type: EV_NO_ACTION, data: loc },
        { pcr: 0, type: 8, data: crtm },
      ],
    ),
  );
  const want = digest(sha256, initialPcrValue(sha256, 0, 3), digest(sha256, crtm));
  t.deepEqual(replayEventLog(log).banks.get('sha256')?.pcrs.get(0), want);
});

test('go-attestation ebs_event_missing_eventlog: PCR 5 matches only through the named EBS workaround', (t) => {
  // PCR 5 value from go-attestation's TestEBSVerifyWorkaround.
  const log = parseEventLog(read('go-attestation', 'ebs_event_missing_eventlog'));
  const pcr5 = Buffer.from('31245808d6d35849bc394f6343f2b3ff908ed5e3', 'hex');
  t.notDeepEqual(replayEventLog(log).banks.get('sha1')?.pcrs.get(5), new Uint8Array(pcr5), 'plain replay does not match');
  const c = compareReplay(log, 'sha1', new Map([[5, pcr5]]));
  t.true(c.ok);
  t.deepEqual(c.matched, [5]);
  t.truthy(c.workaround?.startsWith('ebs-unlogged'));
});

test('compareReplay reports mismatched, unlogged and unverified PCRs', (t) => {
  const log = parseEventLog(read('tpm2-tools', 'event-arch-linux.bin'));
  const pcrs = replayEventLog(log).banks.get('sha256')!.pcrs;
  const quoted = new Map([
    [0, pcrs.get(0)!],
    [7, new Uint8Array(32)],
    [16, new Uint8Array(32)],
    [17, initialPcrValue(sha256, 17)],
  ]);
  const c = compareReplay(log, 'sha256', quoted);
  t.false(c.ok);
  t.deepEqual(c.matched, [0, 16, 17]);
  t.deepEqual(c.mismatched, [7]);
  t.deepEqual(c.unlogged, [16, 17]);
  t.deepEqual(c.unverified, [1, 2, 3, 4, 5, 6, 8]);
});

test('an encoded log round-trips through the parser', (t) => {
  const events = [
    { pcr: 4, type: EV_EFI_ACTION, data: Buffer.from('Calling EFI Application from Boot Option') },
    { pcr: 7, type: EV_SEPARATOR, data: Buffer.alloc(4) },
  ];
  const log = parseEventLog(encodeEventLog(['sha1', 'sha256'], events));
  t.is(log.format, 'crypto-agile');
  t.is(log.events.length, 3);
  t.deepEqual(Buffer.from(log.events[1]!.data), events[0]!.data);
  t.true(checkEventDigests(log).every((c) => c.ok));
});

function code(t: { throws: (fn: () => unknown, e: object) => unknown }, fn: () => unknown, c: string): void {
  t.throws(fn, { instanceOf: AttestationError, code: c } as object);
}

test('bad input: empty, truncated at every length, absurd sizes, unknown algorithms', (t) => {
  code(t, () => parseEventLog(new Uint8Array()), 'EVENTLOG_TRUNCATED');
  t.throws(() => parseEventLog('x' as unknown as Uint8Array), { instanceOf: TypeError });
  const good = read('tpm2-tools', 'event-uefivar.bin');
  const ends = new Set(parseEventLog(good).events.map((e) => e.offset));
  for (let n = 1; n < good.length; n++) {
    if (ends.has(n)) continue; // a whole number of records is a valid (shorter) log
    code(t, () => parseEventLog(good.subarray(0, n)), 'EVENTLOG_TRUNCATED');
  }
  // legacy record announcing a 3.18 GB event (go-attestation TestParseEventLogEventSizeTooLarge)
  const huge = Buffer.alloc(36);
  huge.writeUInt32LE(4, 0);
  huge.writeUInt32LE(0xd, 4);
  huge.writeUInt32LE(0xbdbfef47, 28);
  code(t, () => parseEventLog(huge), 'EVENTLOG_TOO_LARGE');
  code(t, () => parseEventLog(good, { maxBytes: 100 }), 'EVENTLOG_TOO_LARGE');
  // an event whose digest count is larger than the declared algorithms
  const log = parseEventLog(good);
  const e1 = log.events[1]!;
  const many = good.slice();
  new DataView(many.buffer).setUint32(e1.offset + 8, 0xffffffff, true);
  code(t, () => parseEventLog(many), 'EVENTLOG_TOO_LARGE');
  // a digest algorithm not declared by the Spec ID event
  const unknown = good.slice();
  new DataView(unknown.buffer).setUint16(e1.offset + 12, 0x0099, true);
  code(t, () => parseEventLog(unknown), 'EVENTLOG_UNKNOWN_ALGORITHM');
  code(t, () => replayEventLog(log, { banks: ['md5'] }), 'EVENTLOG_UNKNOWN_ALGORITHM');
  code(
    t,
    () => replayEventLog(parseEventLog(read('go-attestation', 'crypto_agile_eventlog')), { banks: ['sha1'] }),
    'EVENTLOG_UNKNOWN_ALGORITHM',
  );
});

test('Spec ID event: malicious algorithm count, wrong version, wrong digest size (go-attestation TestParseSpecIDEvent)', (t) => {
  const head = (minor: number, major: number, n: number) =>
    Buffer.concat([Buffer.from('Spec ID Event03\0', 'latin1'), Buffer.from([0, 0, 0, 0, minor, major, 0, 2]), u32(n)]);
  const alg = (id: number, size: number) => Buffer.from([id & 0xff, id >> 8, size & 0xff, size >> 8]);
  t.deepEqual(parseSpecIdEvent(Buffer.concat([head(0, 2, 2), alg(4, 20), alg(0xb, 32), Buffer.from([2, 0, 0])])).algorithms, [
    { id: 4, size: 20 },
    { id: 0xb, size: 32 },
  ]);
  code(t, () => parseSpecIdEvent(Buffer.concat([head(2, 1, 1), alg(4, 20), Buffer.from([0])])), 'EVENTLOG_MALFORMED');
  code(t, () => parseSpecIdEvent(Buffer.concat([head(0, 2, 0xffffffff), alg(4, 20), Buffer.from([0])])), 'EVENTLOG_TOO_LARGE');
  code(t, () => parseSpecIdEvent(Buffer.concat([head(0, 2, 1), alg(0xb, 20), Buffer.from([0])])), 'EVENTLOG_MALFORMED');
  code(t, () => parseSpecIdEvent(Buffer.concat([head(0, 2, 1), alg(4, 20), Buffer.from([5, 0])])), 'EVENTLOG_TRUNCATED');
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function sorted<V>(m: Map<number, V>): [number, V][] {
  return [...m].sort((a, b) => a[0] - b[0]);
}
