/**
 * The lab rig on real swtpm processes: two manufactured swtpms (EK certificates from one local
 * CA) enroll and quote as affirming; a plain swtpm without an EK certificate fails at the EK
 * step (EK_CERT_MISSING) and makes the run not ok; every started swtpm is gone afterwards; the
 * signed report verifies as COSE_Sign1 over its CBOR form.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { decode } from '@enigm/protocols/cbor';
import { verifySign1 } from '@enigm/protocols/cose';
import { ed25519Generate } from '@enigm/protocols/crypto';
import test from 'ava';
import { useSwtpm } from '../src/lab/fixture.ts';
import { formatRigTable, type RigReport, runRig, signRigReport } from '../src/rig.ts';

const fx = useSwtpm(test, { connect: false });
const { tpmTest } = fx;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

tpmTest('rig --swtpm 2 plus a TPM without EK certificate: two affirming, one EK_CERT_MISSING, all stopped', async (t) => {
  const plain = fx.sw;
  const report: RigReport = await runRig({ swtpm: 2, tpms: [plain.spec], pcrs: [0, 7] });
  t.is(report.tpms.length, 3);
  const made = report.tpms.filter((x) => x.manufactured);
  t.is(made.length, 2);
  for (const m of made) {
    t.true(m.ekCert.ok, m.ekCert.reason);
    t.is(m.ekCert.model, 'swtpm');
    t.true(m.enrolled.ok, m.enrolled.reason);
    t.is(m.quote.status, 'affirming', JSON.stringify(m.checks));
    t.is(m.checks?.find((c) => c.name === 'ak-identity')?.status, 'affirming');
  }
  t.not(made[0]!.ekCert.fingerprint, made[1]!.ekCert.fingerprint);
  const ext = report.tpms.find((x) => !x.manufactured)!;
  t.is(ext.ekCert.code, 'EK_CERT_MISSING');
  t.is(ext.quote.status, 'error');
  t.false(report.ok);
  const table = formatRigTable(report);
  t.regex(table[0]!, /TPM\s+EK cert\s+enrolled\s+quote\s+worst check/);
  t.regex(table.join('\n'), /EK_CERT_MISSING/);
  // every swtpm the rig started is gone (by process, not by port: a freed port may already be
  // another process's); the one the rig did not start is left running
  t.deepEqual(swtpmChildren(), [plain.pid]);
  t.true(alive(plain.pid), 'the swtpm the rig did not start is left running');

  const { seed, publicKey } = ed25519Generate();
  const signed = signRigReport(report, seed);
  const s = verifySign1(signed, publicKey);
  const payload = decode(s.payload!) as Map<string, unknown>;
  t.is(payload.get('version'), 1);
  t.is(payload.get('ok'), false);
});

/** The pids of this process's swtpm children (from /proc: `pid (comm) state ppid ...`), zombies included. */
function swtpmChildren(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const m = /^(\d+) \((.*)\) \S+ (\d+)/.exec(stat);
    if (m && m[2] === 'swtpm' && Number(m[3]) === process.pid) pids.push(Number(m[1]));
  }
  return pids.sort((a, b) => a - b);
}

test('rig arguments: swtpm out of range or nothing to do is a RangeError', async (t) => {
  await t.throwsAsync(runRig({ swtpm: 17 }), { instanceOf: RangeError });
  await t.throwsAsync(runRig({}), { instanceOf: RangeError });
});
