/**
 * The Key side of provisioning, end to end over a real pseudo-terminal with the real host
 * library: a simulated Key, a provisioning CA (`createCa`), a host paired as `provisioning` gets
 * the Key's CSR, has it issued, sets the Key's clock and installs the chain; the Key keeps it
 * across a reboot and a simulator restart (its storage file), and its evidence then verifies to
 * the root. Refusals: a chain for another key (`CERT_KEY_MISMATCH`), a chain before the clock is
 * set (`TIME_NOT_SET`), another Key's CSR at the CA (`PKI_KEY_MISMATCH`), a bad chain at the
 * appraisal; and `openssl verify` accepts the issued certificate.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  appraiseKeyEvidenceWithRoots,
  createCa,
  issueFromCsr,
  issueKeyCertificate,
  type KeyAppraisalInput,
  type ProvisioningCa,
  toPem,
} from '@enigm/attestation';
import { toHex } from '@enigm/protocols/bytes';
import { ed25519Generate, ed25519Sign } from '@enigm/protocols/crypto';
import { buildEd25519Csr, parseEd25519Csr } from '@enigm/protocols/x509';
import { hasSocat, Simulator } from '@enigm/sim';
import test from 'ava';
import { KeyError } from '../src/client/errors.ts';
import type { KeyEvidence } from '../src/key/evidence.ts';
import { type Key, type OpenKeyOptions, openKey } from '../src/key/key.ts';

const realTest = hasSocat() || process.env.CI === 'true' ? test.serial : test.serial.skip;
const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const MODEL = 'enigm-key-1';

async function rejected(t: import('ava').ExecutionContext, p: Promise<unknown>, name: string): Promise<string> {
  const e = await t.throwsAsync(p, { instanceOf: KeyError });
  t.is(e?.code, 'KEY_REJECTED');
  t.is(e?.remote?.name, name);
  return e?.remote?.reason ?? '';
}

/** The appraisal of `ev` with every reference value given, so only the chain can fall short of affirming. */
function appraisalInput(ev: KeyEvidence, ca: ProvisioningCa): KeyAppraisalInput {
  return {
    evidence: ev.evidence,
    nonce: ev.nonce,
    issuedAt: ev.issuedAt,
    receivedAt: ev.receivedAt,
    maxAgeMs: 60_000,
    hostRole: 'provisioning',
    reference: {
      allowedFirmwareDigests: [toHex(ev.claims.firmwareDigest)],
      minSecurityCounter: 1,
      expectedStates: ['factory'],
      roots: ca.root.certificate.pem,
    },
  };
}

realTest('provisioning over a pty: CSR → issue → time.set → cert.install → reboot → evidence verifies to the root', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-provision-'));
  dirs.push(dir);
  const options: OpenKeyOptions = {
    hostKey: join(dir, 'home', 'host-key.pem'),
    known: join(dir, 'home', 'known-keys.json'),
    random: () => 0.5,
    sleep: async () => {
      await new Promise((r) => setTimeout(r, 5));
    },
  };
  const ca = await createCa();
  let sim = await Simulator.start({ keys: 1, stateDir: dir, serial: true, tcp: false });
  let key: Key | undefined;
  try {
    key = await openKey(sim.keys()[0]?.serial as string, options);
    const paired = await key.pair('provisioning', { label: 'station-1' });
    t.is(paired.role, 'provisioning');
    const identity = Buffer.from(paired.identity, 'hex');

    // Before provisioning: no chain; with roots the appraisal warns (identity self-asserted at best).
    const before = await key.attest();
    t.is(before.chain, undefined);
    const b = await appraiseKeyEvidenceWithRoots(appraisalInput(before, ca));
    t.is(b.checks.find((c) => c.name === 'certificate')?.status, 'warning');

    // The CSR: signed by the identity key inside the Key (proof of possession), for the pinned identity.
    const csr = await key.csr();
    t.deepEqual(parseEd25519Csr(csr).publicKey, new Uint8Array(identity));
    const leaf = await issueFromCsr(ca, csr, { model: MODEL, expectedIdentityKey: identity });
    // Another Key's (or a replayed foreign) CSR is refused by the CA for this Key.
    const stranger = ed25519Generate();
    const foreign = buildEd25519Csr(stranger.publicKey, (m) => ed25519Sign(stranger.seed, m));
    const mismatch = await t.throwsAsync(issueFromCsr(ca, foreign, { model: MODEL, expectedIdentityKey: identity }));
    t.is((mismatch as { code?: string }).code, 'PKI_KEY_MISMATCH');

    // openssl accepts the issued certificate.
    writeFileSync(join(dir, 'root.pem'), ca.root.certificate.pem);
    writeFileSync(join(dir, 'intermediate.pem'), ca.intermediate.certificate.pem);
    writeFileSync(join(dir, 'leaf.pem'), toPem(leaf.der));
    const out = execFileSync(
      'openssl',
      ['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'intermediate.pem'), join(dir, 'leaf.pem')],
      { encoding: 'utf8', stdio: 'pipe' },
    );
    t.regex(out, /leaf\.pem: OK/);

    const chain = [leaf.der, ca.intermediate.certificate.der];
    // The clock first: without it the Key refuses (it keeps no trusted time across boots).
    await rejected(t, key.installCertificate(chain), 'TIME_NOT_SET');
    await key.setTime();
    // A chain for another key is refused by the Key.
    const other = await issueKeyCertificate(ca, { identityPublicKey: stranger.publicKey, model: MODEL });
    await rejected(t, key.installCertificate([other.der, ca.intermediate.certificate.der]), 'CERT_KEY_MISMATCH');
    // A chain whose second certificate did not sign the leaf (the root in its place).
    await rejected(t, key.installCertificate([leaf.der, ca.root.certificate.der]), 'CERT_INVALID');
    const installed = await key.installCertificate(chain);
    t.is(installed.notAfter.getTime(), leaf.notAfter.getTime());

    // A reboot keeps the chain; the evidence carries it and verifies to the root.
    await key.reboot();
    const after = await key.attest();
    t.deepEqual(after.chain, chain);
    const a = await appraiseKeyEvidenceWithRoots(appraisalInput(after, ca));
    t.is(a.status, 'affirming', JSON.stringify(a.checks));
    t.is(a.checks.find((c) => c.name === 'certificate')?.status, 'affirming');
    t.regex(a.checks.find((c) => c.name === 'identity')?.reason ?? '', /certified/);
    // Another CA's root does not accept it.
    const otherCa = await createCa();
    const wrongRoot = await appraiseKeyEvidenceWithRoots({
      ...appraisalInput(after, ca),
      reference: { ...appraisalInput(after, ca).reference, roots: otherCa.root.certificate.pem },
    });
    t.is(wrongRoot.status, 'contraindicated');
    t.regex(wrongRoot.checks.find((c) => c.name === 'certificate')?.reason ?? '', /PKI_CHAIN_UNTRUSTED/);
    // After the reboot the clock is unset again.
    await rejected(t, key.installCertificate(chain), 'TIME_NOT_SET');

    // A simulator restart (the Key's storage file read back) keeps the chain too.
    await key.close();
    key = undefined;
    await sim.stop();
    sim = await Simulator.start({ keys: 1, stateDir: dir, serial: true, tcp: false });
    key = await openKey(sim.keys()[0]?.serial as string, options);
    const restarted = await key.attest();
    t.deepEqual(restarted.chain, chain);
    t.is((await appraiseKeyEvidenceWithRoots(appraisalInput(restarted, ca))).status, 'affirming');

    // After activation a station can no longer ask for a CSR or install a chain.
    t.is(await key.activate(), 'dormant');
    await rejected(t, key.csr(), 'FORBIDDEN');
    await rejected(t, key.installCertificate(chain), 'FORBIDDEN');
  } finally {
    await key?.close();
    await sim.stop();
  }
});
