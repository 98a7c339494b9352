import { Encoder } from 'cbor-x';
import { decode, encode } from '../protocols/src/cbor/index.ts';
const nonce = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
const message = new Map<number, any>([[1, 1],[2, 17],[3, 48213],[4, 'enigm-key/sign-challenge'],[5, nonce],[6, new Map<number, any>([[1, 2],[2, 'p256'],[3, true],[4, 30000]])]]);
const x = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false, useTag259ForMaps: false });
const b = encode(message);
function time(name: string, f: () => unknown) { for (let i=0;i<200000;i++) f(); const t = performance.now(); const N = 1_000_000; for (let i=0;i<N;i++) f(); const ms = performance.now()-t; console.log(name, Math.round(N/ms*1000).toLocaleString()); }
for (let r=0;r<2;r++){
time('ours encode', () => encode(message));
time('cbor-x encode', () => x.encode(message));
time('ours decode', () => decode(b));
time('cbor-x decode', () => x.decode(b));
}
