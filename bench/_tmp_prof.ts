import { encode } from '../protocols/src/cbor/index.ts';
const nonce = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
const message = new Map<number, any>([[1, 1],[2, 17],[3, 48213],[4, 'enigm-key/sign-challenge'],[5, nonce],[6, new Map<number, any>([[1, 2],[2, 'p256'],[3, true],[4, 30000]])]]);
let s = 0; for (let i=0;i<3_000_000;i++) s += encode(message).length; console.log(s);
