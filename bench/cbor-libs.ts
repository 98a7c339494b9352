/**
 * Benchmark and strictness survey behind the "CBOR codec" section of docs/decisions.md.
 *
 * Run: `npx tsx bench/cbor-libs.ts` (options: `--rounds N` timed rounds per codec, default 7;
 * `--ms N` length of one round in milliseconds, default 400).
 *
 * 1. Throughput on a typical Enigm Key message (a ~100-byte Map: small-int keys holding small ints,
 *    a short text, a 32-byte nonce and a nested small map), one "message" = encode + decode:
 *    - cbor-x raw (no strictness): configured for plain RFC 8949 maps/bytes, and with its defaults;
 *    - cborg: encode with rfc8949EncodeOptions + decode with every strictness option it has;
 *    - cbor-x decode + re-encode-and-compare (strictness by round trip);
 *    - this codec: encode + strict decode (every rule of protocols/src/cbor/decode.ts).
 *    Rounds are interleaved across codecs; the median round is reported.
 * 2. Strictness: which non-deterministic or malformed inputs each decoder rejects.
 *
 * @module
 */

import { toHex } from '@enigm/protocols/bytes';
import type { CborValue } from '@enigm/protocols/cbor';
import { decode, encode } from '@enigm/protocols/cbor';
import { ProtocolError } from '@enigm/protocols/errors';
import { decode as cborxDefaultDecode, encode as cborxDefaultEncode, Encoder } from 'cbor-x';
import * as cborg from 'cborg';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const ROUNDS = arg('--rounds', 7);
const ROUND_MS = arg('--ms', 400);

const nonce = new Uint8Array(32);
for (let i = 0; i < nonce.length; i++) nonce[i] = (i * 37 + 11) & 0xff;

/** A typical Key message. */
const message: Map<number, CborValue> = new Map<number, CborValue>([
  [1, 1], // protocol version
  [2, 17], // message type
  [3, 48213], // sequence number
  [4, 'enigm-key/sign-challenge'], // purpose
  [5, nonce], // challenge nonce
  [
    6,
    new Map<number, CborValue>([
      [1, 2], // key slot
      [2, 'p256'], // algorithm
      [3, true], // user presence required
      [4, 30000], // timeout ms
    ]),
  ],
]);

/** cbor-x writing plain RFC 8949 maps and byte strings (no records, no tag 259 on Map, no tag 64). */
const plainCborXOptions = {
  useRecords: false,
  mapsAsObjects: false,
  tagUint8Array: false,
  useTag259ForMaps: false, // documented option missing from cbor-x's Options type
};
const plainCborX = new Encoder(plainCborXOptions);
const cborgStrict = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  useMaps: true,
  rejectDuplicateMapKeys: true,
} as const;

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

type Codec = { name: string; run: () => number };

const codecs: Codec[] = [
  {
    name: 'cbor-x raw, plain RFC 8949 options (encode + decode)',
    run: () => {
      const b = plainCborX.encode(message);
      const v = plainCborX.decode(b) as Map<number, unknown>;
      return b.length + v.size;
    },
  },
  {
    name: 'cbor-x raw, default options (encode + decode)',
    run: () => {
      const b = cborxDefaultEncode(message);
      const v = cborxDefaultDecode(b) as Map<number, unknown>;
      return b.length + v.size;
    },
  },
  {
    name: 'cborg rfc8949EncodeOptions + strict decode',
    run: () => {
      const b = cborg.encode(message, cborg.rfc8949EncodeOptions);
      const v = cborg.decode(b, cborgStrict) as Map<number, unknown>;
      return b.length + v.size;
    },
  },
  {
    name: 'cbor-x decode + re-encode-and-compare',
    run: () => {
      const b = plainCborX.encode(message);
      const v = plainCborX.decode(b);
      if (!sameBytes(plainCborX.encode(v), b)) throw new Error('not canonical');
      return b.length;
    },
  },
  {
    name: 'ours: encode + strict decode',
    run: () => {
      const b = encode(message);
      const v = decode(b) as Map<number, unknown>;
      return b.length + v.size;
    },
  },
];

function round(c: Codec, ms: number): number {
  let sink = 0;
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 1000; i++) sink += c.run();
    n += 1000;
    now = performance.now();
  }
  if (sink === 0) throw new Error('unreachable');
  return (n * 1000) / (now - start);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function throughput(): void {
  const ours = encode(message);
  console.log(`message: ${ours.length} bytes: ${toHex(ours)}`);
  for (const c of codecs.slice(0, 3)) {
    const b =
      c === codecs[0]
        ? plainCborX.encode(message)
        : c === codecs[1]
          ? cborxDefaultEncode(message)
          : cborg.encode(message, cborg.rfc8949EncodeOptions);
    console.log(`  ${c.name}: ${b.length} bytes, ${sameBytes(b, ours) ? 'identical to ours' : `differs: ${toHex(b)}`}`);
  }
  for (const c of codecs) round(c, 300); // warm-up
  const samples = new Map<Codec, number[]>(codecs.map((c) => [c, []]));
  for (let r = 0; r < ROUNDS; r++) for (const c of codecs) samples.get(c)?.push(round(c, ROUND_MS));
  const base = median(samples.get(codecs[0] as Codec) as number[]);
  console.log(`\nthroughput (median of ${ROUNDS} interleaved rounds of ${ROUND_MS} ms), ${process.version}, ${process.arch}`);
  console.log('| codec | msgs/s | vs cbor-x raw (plain options) |');
  console.log('|---|---:|---:|');
  for (const c of codecs) {
    const m = median(samples.get(c) as number[]);
    console.log(`| ${c.name} | ${Math.round(m).toLocaleString('en-US')} | ${(m / base).toFixed(2)} |`);
  }
  // Target: ours >= 50% of raw cbor-x, checked against the faster of the two raw cbor-x rows.
  const fastest = Math.max(base, median(samples.get(codecs[1] as Codec) as number[]));
  const ratio = median(samples.get(codecs[4] as Codec) as number[]) / fastest;
  console.log(`\ntarget ours >= 0.50 x fastest raw cbor-x: ${ratio.toFixed(2)} ${ratio >= 0.5 ? 'PASS' : 'FAIL'}`);
}

const INPUTS: [string, string][] = [
  ['non-shortest int 1817', '1817'],
  ['non-shortest length 780161', '780161'],
  ['integral float f93c00 (1.0)', 'f93c00'],
  ['non-shortest float fa3fc00000 (1.5)', 'fa3fc00000'],
  ['non-canonical NaN f97e01', 'f97e01'],
  ['indefinite bytes 5f41014102ff', '5f41014102ff'],
  ['indefinite array 9f01ff', '9f01ff'],
  ['stray break ff', 'ff'],
  ['duplicate key a2 0102 0103', 'a201020103'],
  ['unsorted keys a2 0200 0100', 'a202000100'],
  ['undefined f7', 'f7'],
  ['simple f820', 'f820'],
  ['tag 1 c11a514b67b0', 'c11a514b67b0'],
  ['reserved ai 1c', '1c'],
  ['trailing bytes 0100', '0100'],
  ['truncated 1a0000', '1a0000'],
  ['invalid UTF-8 62c328', '62c328'],
  ['byte-string key a1 4101 00', 'a1410100'],
  ['nesting 100 deep', `${'81'.repeat(100)}00`],
  ['array of 2^32 items in 10 bytes', '9b000000010000000000'],
];

type Decoder = { name: string; decode: (b: Uint8Array) => unknown };
const decoders: Decoder[] = [
  { name: 'cbor-x', decode: (b) => plainCborX.decode(b) },
  { name: 'cborg strict', decode: (b) => cborg.decode(b, cborgStrict) },
  {
    name: 'cbor-x + re-encode',
    decode: (b) => {
      const v = plainCborX.decode(b);
      if (!sameBytes(plainCborX.encode(v), b)) throw new Error('re-encoding differs');
      return v;
    },
  },
  { name: 'ours', decode: (b) => decode(b) },
];

function strictness(): void {
  console.log('\nstrictness: "reject" = throws; "ACCEPT" = returns a value; for ours the ProtocolError code');
  console.log(`| input | ${decoders.map((d) => d.name).join(' | ')} |`);
  console.log(`|---|${decoders.map(() => '---').join('|')}|`);
  for (const [label, h] of INPUTS) {
    const cells = decoders.map((d) => {
      try {
        d.decode(new Uint8Array(Buffer.from(h, 'hex')));
        return 'ACCEPT';
      } catch (err) {
        return err instanceof ProtocolError ? err.code : 'reject';
      }
    });
    console.log(`| ${label} | ${cells.join(' | ')} |`);
  }
}

throughput();
strictness();
