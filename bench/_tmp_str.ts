const data = new TextEncoder().encode('xx enigm-key/sign-challenge p256');
function a(p: number, n: number) { let s=''; for (let i=0;i<n;i++){const c=data[p+i]!; if(c>=0x80) return null; s+=String.fromCharCode(c);} return s; }
function b(p: number, n: number) { for (let i=0;i<n;i++){ if(data[p+i]!>=0x80) return null;} return String.fromCharCode.apply(null, data.subarray(p,p+n) as unknown as number[]); }
const td = new TextDecoder('utf-8', {fatal:true, ignoreBOM:true});
function c(p: number, n: number) { return td.decode(data.subarray(p,p+n)); }
function d(p: number, n: number) { for (let i=0;i<n;i++){ if(data[p+i]!>=0x80) return null;} return Buffer.prototype.latin1Slice.call(data, p, p+n); }
function e(p: number, n: number) {
  const codes = new Array(n); for (let i=0;i<n;i++){const c=data[p+i]!; if(c>=0x80) return null; codes[i]=c;} return String.fromCharCode.apply(null, codes); }
let sink = 0;
for (const [name, f] of [['concat', a], ['apply-sub', b], ['textdec', c], ['latin1', d], ['apply-arr', e]] as const) {
  for (let r=0;r<2;r++){ const t=performance.now(); for (let i=0;i<2_000_000;i++){ sink += (f(3,24) as string).length + (f(28,4) as string).length; } console.log(name, (performance.now()-t).toFixed(0)); }
}
console.log(sink);
