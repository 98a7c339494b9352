import { Encoder } from 'cbor-x';
import { decode, encode } from '../protocols/src/cbor/index.ts';
const nonce = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
const message = new Map<number, any>([[1, 1],[2, 17],[3, 48213],[4, 'enigm-key/sign-challenge'],[5, nonce],[6, new Map<number, any>([[1, 2],[2, 'p256'],[3, true],[4, 30000]])]]);
const x = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false, useTag259ForMaps: false });
const b = encode(message);
const fs: [string, () => unknown][] = [['ours encode', () => encode(message)], ['cbor-x encode', () => x.encode(message)], ['ours decode', () => decode(b)], ['cbor-x decode', () => x.decode(b)]];
const res = new Map<string, number[]>();
function round(f: () => unknown) { const t = performance.now(); const N = 200_000; for (let i=0;i<N;i++) f(); return N/(performance.now()-t)*1000; }
for (const [, f] of fs) round(f);
for (let r=0;r<9;r++) for (const [n, f] of fs) { const a = res.get(n) ?? []; a.push(round(f)); res.set(n, a); }
for (const [n, a] of res) { a.sort((p,q)=>p-q); console.log(n, Math.round(a[4]!).toLocaleString()); }
