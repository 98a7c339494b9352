/**
 * `enigm attest eventlog|quote|verify|enroll|rig`: TCG event-log summaries, TPM quotes from swtpm
 * or `/dev/tpmrm0`, appraisal of quote evidence, enrollment (EK certificate + credential
 * activation) and the swtpm lab rig. Thin: parse arguments, call `attestation/`.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { ClockState } from '@enigm/attestation';
import {
  type AppraisalPolicy,
  appraise,
  collectQuote,
  enrollmentFromJson,
  enrollTpm,
  evidenceFromJson,
  evidenceToJson,
  hashByName,
  type KeyBlob,
  openTpm,
  parseCertificates,
  parseTpmSpec,
  policyFromEnrollments,
  summarizeEventLog,
  TpmClient,
} from '@enigm/attestation';
import { formatRigTable, runRig, signRigReport } from '@enigm/attestation/lab';
import { toHex } from '@enigm/protocols/bytes';
import { ed25519PrivateKeyFromPem } from '@enigm/protocols/crypto';
import { type Command, EXIT, int, type ParsedArgs, str, UsageError } from '../cli.ts';

function pcrList(args: ParsedArgs): number[] {
  const v = str(args, 'pcrs') ?? '0,1,2,3,4,5,6,7';
  const pcrs = v.split(',').map((s) => Number(s.trim()));
  if (pcrs.some((p) => !Number.isInteger(p) || p < 0 || p > 23))
    throw new UsageError(`--pcrs must be PCR indices 0..23, got ${v}`);
  return [...new Set(pcrs)].sort((a, b) => a - b);
}

function hexArg(args: ParsedArgs, name: string): Uint8Array | undefined {
  const v = str(args, name);
  if (v === undefined) return undefined;
  const h = v.replace(/^0x/, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(h) || h.length > 128) throw new UsageError(`--${name} must be hex of at most 64 bytes`);
  return new Uint8Array(Buffer.from(h, 'hex'));
}

function bankArg(args: ParsedArgs): number {
  const name = str(args, 'bank') ?? 'sha256';
  const alg = hashByName(name);
  if (!alg) throw new UsageError(`--bank: unknown bank ${name}`);
  return alg.id;
}

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

/** The AK blob kept by --ak-file (hex JSON), or undefined if there is none yet. */
function readAkFile(path: string | undefined): KeyBlob | undefined {
  if (!path) return undefined;
  try {
    const j = JSON.parse(readFileSync(path, 'utf8')) as { private: string; publicArea: string };
    return { private: Buffer.from(j.private, 'hex'), publicArea: Buffer.from(j.publicArea, 'hex') };
  } catch {
    return undefined; // no AK yet: one is created and saved
  }
}

function writeAkFile(path: string, blob: KeyBlob): void {
  writeFileSync(path, JSON.stringify({ private: toHex(blob.private), publicArea: toHex(blob.publicArea) }));
}

const eventlogCmd: Command = {
  name: 'attest eventlog',
  summary: 'parse a TCG event log: events per type, digest checks, replayed PCRs per bank',
  help: `Usage: enigm attest eventlog FILE [--json]

Parses a TCG PC Client firmware event log (crypto-agile or legacy SHA-1), checks the data of
data-bound events (separators, actions, Secure Boot variables) against their digests, and
replays it into PCR values per bank. The values are what the log CLAIMS: only a verified quote
makes them trustworthy (see enigm attest verify).

Exit: 0 parsed and every data-bound digest matched, 1 parse error or a digest mismatch.

Examples:
  enigm attest eventlog /sys/kernel/security/tpm0/binary_bios_measurements
  enigm attest eventlog log.bin --json | jq '.banks.sha256.pcrs["7"]'`,
  options: {},
  positionals: true,
  async run(args, out) {
    if (args.positionals.length !== 1) throw new UsageError('give exactly one event-log FILE');
    const file = args.positionals[0] as string;
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
    }
    const s = summarizeEventLog(bytes);
    const ok = s.digestChecks.failed.length === 0;
    out.data({ ok, ...s });
    out.line(
      `${file}: ${s.format} log, ${s.events} events${s.startupLocality !== undefined ? `, startup locality ${s.startupLocality}` : ''}`,
    );
    for (const [t, n] of Object.entries(s.eventTypes)) out.line(`  ${String(n).padStart(4)}  ${t}`);
    out.line(`digest checks: ${s.digestChecks.checked} checked, ${s.digestChecks.failed.length} failed`);
    for (const f of s.digestChecks.failed) out.line(`  event ${f.seq} (${f.type}, PCR ${f.pcr}): data does not match its digest`);
    for (const [bank, b] of Object.entries(s.banks)) {
      out.line(`${bank}:`);
      for (const [i, v] of Object.entries(b.pcrs)) out.line(`  ${i.padStart(2)}: ${v}`);
      if (b.incomplete.length) out.line(`  incomplete (missing ${bank} digests): ${b.incomplete.join(',')}`);
    }
    return ok ? EXIT.ok : EXIT.failure;
  },
};

const quoteCmd: Command = {
  name: 'attest quote',
  summary: 'collect a TPM quote (evidence JSON) from swtpm or /dev/tpmrm0',
  help: `Usage: enigm attest quote --tpm SPEC [--pcrs 0,1,7] [--nonce HEX] [--bank sha256]
                         [--ak ecc|rsa] [--ak-file F] [--eventlog FILE] [--out F] [--json]

Creates (or, with --ak-file, reloads) a restricted signing AK under the storage primary, quotes
the PCRs with the nonce, reads their values and prints the evidence (hex fields). Every loaded
object is flushed. --ak-file keeps the AK blob so later quotes come from the same AK (needed for
the verifier's clock check). Without --nonce a random 32-byte nonce is used and printed.

SPEC: swtpm:host=H,port=P (swtpm's TCP data port) or device[:/dev/tpmrm0].

Examples:
  enigm attest quote --tpm swtpm:host=127.0.0.1,port=2321 --pcrs 0,1,7 --nonce 00112233 --json
  enigm attest quote --tpm device --ak-file ak.json --eventlog /sys/kernel/security/tpm0/binary_bios_measurements --out ev.json`,
  options: {
    tpm: { type: 'string' },
    pcrs: { type: 'string' },
    nonce: { type: 'string' },
    bank: { type: 'string' },
    ak: { type: 'string' },
    'ak-file': { type: 'string' },
    eventlog: { type: 'string' },
    out: { type: 'string' },
  },
  async run(args, out) {
    const spec = str(args, 'tpm');
    if (!spec) throw new UsageError('--tpm is required');
    try {
      parseTpmSpec(spec);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const akKind = str(args, 'ak') ?? 'ecc';
    if (akKind !== 'ecc' && akKind !== 'rsa') throw new UsageError('--ak must be ecc or rsa');
    const nonce = hexArg(args, 'nonce') ?? new Uint8Array(randomBytes(32));
    const pcrs = pcrList(args);
    const bank = bankArg(args);
    const akFile = str(args, 'ak-file');
    const akBlob = readAkFile(akFile);
    const eventLogPath = str(args, 'eventlog');
    const eventLog = eventLogPath ? readFileSync(eventLogPath) : undefined;
    const tpm = new TpmClient(await openTpm(spec));
    try {
      const q = await collectQuote(tpm, {
        nonce,
        pcrs,
        bank,
        akKind,
        ...(akBlob ? { akBlob } : {}),
        ...(eventLog ? { eventLog } : {}),
      });
      if (akFile && !akBlob) writeAkFile(akFile, q.akBlob);
      const evidence = evidenceToJson(q.evidence);
      const outFile = str(args, 'out');
      if (outFile)
        writeFileSync(outFile, `${JSON.stringify({ nonce: Buffer.from(nonce).toString('hex'), pcrs, evidence }, null, 2)}\n`);
      out.data({ ok: true, nonce, pcrs, evidence });
      out.line(
        `quoted ${str(args, 'bank') ?? 'sha256'} PCRs [${pcrs.join(',')}] with nonce ${Buffer.from(nonce).toString('hex')}`,
      );
      for (const [i, v] of Object.entries(evidence.pcrs)) out.line(`  ${i.padStart(2)}: ${v}`);
      if (outFile) out.line(`evidence written to ${outFile}`);
      return EXIT.ok;
    } finally {
      await tpm.transport.close();
    }
  },
};

const verifyCmd: Command = {
  name: 'attest verify',
  summary: 'appraise quote evidence: EAR-style status and every check',
  help: `Usage: enigm attest verify --evidence F [--nonce HEX] [--pcrs 0,1,7] [--bank sha256]
                          [--policy F] [--enrollment F[,F..]] [--state F] [--json]

Appraises evidence written by 'enigm attest quote --out F' (its nonce and PCR list are used
unless --nonce/--pcrs are given). Checks, in order: ak-public, ak-identity, signature, magic,
attest-type, qualified-signer, nonce, pcr-selection, pcr-digest, clock, safe, event-log,
event-data, reference-values (see docs/attestation.md).

--policy F: JSON {"akNames": [hex], "referencePcrs": {"7": hex | [hex]}, "requireEventLog": bool}
--enrollment F: records written by 'enigm attest enroll --out F'; their AK Names are trusted.
--state F:  JSON file of the last clock state per AK Name; read, then updated on success.

Exit: 0 affirming or warning, 1 contraindicated or none.

Examples:
  enigm attest verify --evidence ev.json --policy policy.json --state clocks.json
  enigm attest verify --evidence ev.json --json | jq -r .status`,
  options: {
    evidence: { type: 'string' },
    nonce: { type: 'string' },
    pcrs: { type: 'string' },
    bank: { type: 'string' },
    policy: { type: 'string' },
    enrollment: { type: 'string' },
    state: { type: 'string' },
  },
  async run(args, out) {
    const file = str(args, 'evidence');
    if (!file) throw new UsageError('--evidence is required');
    const doc = readJson(file, 'evidence') as { nonce?: string; pcrs?: number[]; evidence?: unknown };
    const evidence = evidenceFromJson(doc.evidence ?? doc);
    const nonce = hexArg(args, 'nonce') ?? (doc.nonce ? new Uint8Array(Buffer.from(doc.nonce, 'hex')) : undefined);
    if (!nonce) throw new UsageError('--nonce is required when the evidence file does not carry one');
    const pcrs = str(args, 'pcrs') !== undefined || !doc.pcrs ? pcrList(args) : doc.pcrs;
    const policyFile = str(args, 'policy');
    let policy = policyFile ? (readJson(policyFile, 'policy') as AppraisalPolicy) : undefined;
    const enrollments = (str(args, 'enrollment') ?? '').split(',').filter(Boolean);
    if (enrollments.length)
      policy = policyFromEnrollments(
        enrollments.map((f) => enrollmentFromJson(readJson(f, 'enrollment'))),
        policy,
      );
    const stateFile = str(args, 'state');
    let states: Record<string, ClockState> = {};
    if (stateFile) {
      try {
        states = JSON.parse(readFileSync(stateFile, 'utf8'));
      } catch {
        states = {};
      }
    }
    const first = appraise({ evidence, expect: { nonce, bank: bankArg(args), pcrs }, ...(policy ? { policy } : {}) });
    const previous = first.akName ? states[first.akName] : undefined;
    const r = previous
      ? appraise({ evidence, expect: { nonce, bank: bankArg(args), pcrs, previous }, ...(policy ? { policy } : {}) })
      : first;
    if (stateFile && r.akName && r.clockState && r.status !== 'contraindicated') {
      states[r.akName] = r.clockState;
      writeFileSync(stateFile, `${JSON.stringify(states, null, 2)}\n`);
    }
    const ok = r.status === 'affirming' || r.status === 'warning';
    out.data({ ok, ...r });
    out.line(`status: ${r.status}`);
    for (const c of r.checks) out.line(`  ${c.status.padEnd(15)} ${c.name.padEnd(17)} ${c.reason}`);
    return ok ? EXIT.ok : EXIT.failure;
  },
};

function certsArg(args: ParsedArgs, name: string) {
  return (str(args, name) ?? '')
    .split(',')
    .filter(Boolean)
    .flatMap((f) => {
      let text: Buffer;
      try {
        text = readFileSync(f);
      } catch (e) {
        throw new UsageError(`--${name}: cannot read ${f}: ${(e as Error).message}`);
      }
      return parseCertificates(text, f);
    });
}

function tpmArg(spec: string): string {
  try {
    parseTpmSpec(spec);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return spec;
}

const enrollCmd: Command = {
  name: 'attest enroll',
  summary: 'enroll a TPM: verify its EK certificate chain, activate a credential for a new AK',
  help: `Usage: enigm attest enroll --tpm SPEC --roots CA.pem[,..] [--intermediates CA.pem[,..]]
                          [--ak ecc|rsa] [--ak-file F] [--out ENROLLMENT.json] [--json]

Creates the RSA EK (TCG template L-1), reads its certificate from NV 0x01C00002, checks the
chain to the --roots (manufacturer roots; --intermediates may complete the path), validity and
that the EK is the certified key; creates a restricted signing AK (or reloads --ak-file's),
refuses it unless fixedTPM/fixedParent/sensitiveDataOrigin/restricted/sign/noDA, makes a
credential for it and has the TPM activate it. The record (AK Name and public, EK certificate
fingerprint) is what a verifier trusts afterwards: 'enigm attest verify --enrollment F'.
--ak-file keeps the AK blob for 'enigm attest quote --ak-file F'.

Exit: 0 enrolled, 1 refused (EK_CERT_*, EK_KEY_MISMATCH, CREDENTIAL_*), 2 usage error.

Examples:
  enigm attest enroll --tpm swtpm:host=127.0.0.1,port=2321 --roots root.pem --intermediates ca.pem --ak-file ak.json --out enr.json
  enigm attest enroll --tpm device --roots /etc/tpm-roots/infineon.pem --json | jq -r .record.akName`,
  options: {
    tpm: { type: 'string' },
    roots: { type: 'string' },
    intermediates: { type: 'string' },
    ak: { type: 'string' },
    'ak-file': { type: 'string' },
    out: { type: 'string' },
  },
  async run(args, out) {
    const spec = tpmArg(str(args, 'tpm') ?? '');
    const roots = certsArg(args, 'roots');
    if (roots.length === 0) throw new UsageError('--roots is required (PEM files of manufacturer root CAs)');
    const intermediates = certsArg(args, 'intermediates');
    const akKind = str(args, 'ak') ?? 'ecc';
    if (akKind !== 'ecc' && akKind !== 'rsa') throw new UsageError('--ak must be ecc or rsa');
    const akFile = str(args, 'ak-file');
    const akBlob = readAkFile(akFile);
    const tpm = new TpmClient(await openTpm(spec));
    try {
      const e = await enrollTpm(tpm, { store: { roots, intermediates }, now: new Date(), akKind, ...(akBlob ? { akBlob } : {}) });
      if (akFile && !akBlob) writeAkFile(akFile, e.akBlob);
      const outFile = str(args, 'out');
      if (outFile) writeFileSync(outFile, `${JSON.stringify(e.record, null, 2)}\n`);
      out.data({ ok: true, record: e.record });
      out.line(`enrolled: AK ${e.record.akName}`);
      out.line(`  EK certificate ${e.record.ekCertFingerprint} (${e.record.ekCertIssuer} → ${e.record.ekCertPath.at(-1)})`);
      if (outFile) out.line(`record written to ${outFile}`);
      return EXIT.ok;
    } finally {
      await tpm.transport.close();
    }
  },
};

const rigCmd: Command = {
  name: 'attest rig',
  summary: 'lab rig: manufacture N swtpms with EK certificates, enroll, quote and appraise each',
  help: `Usage: enigm attest rig [--swtpm N] [--tpms SPEC[;SPEC..]] [--roots CA.pem[,..]] [--intermediates CA.pem[,..]]
                       [--policy FILE] [--pcrs 0,1,7] [--sign-key K.pem] [--cbor-out F] [--json]

Manufactures N swtpm instances (temp state dirs, EK certificates from one local CA made with
swtpm_localca, free ports) and/or takes existing TPMs (--tpms, ';'-separated
swtpm:host=H,port=P or device specs, or --tpms repeated; their roots via --roots). Per TPM: EK certificate chain,
enrollment by credential activation, a quote with a fresh nonce by the enrolled AK, appraisal
with --policy plus the enrolled AK. Prints a table (TPM, EK cert, enrolled, quote status, worst
check) or the JSON report. Every swtpm started is stopped, also on Ctrl-C or failure.
--sign-key K.pem (Ed25519 PKCS#8) signs the report: COSE_Sign1 over its CBOR, written to
--cbor-out F (default rig-report.cose) .

Exit: 0 every quote affirming or warning, 1 otherwise, 2 usage error.

Examples:
  enigm attest rig --swtpm 3
  enigm attest rig --swtpm 2 --policy policy.json --sign-key rig.pem --cbor-out report.cose --json`,
  options: {
    swtpm: { type: 'string' },
    tpms: { type: 'string', multiple: true },
    roots: { type: 'string' },
    intermediates: { type: 'string' },
    policy: { type: 'string' },
    pcrs: { type: 'string' },
    'sign-key': { type: 'string' },
    'cbor-out': { type: 'string' },
  },
  async run(args, out) {
    const swtpm = int(args, 'swtpm', 0, 0, 16);
    const tpms = ((args.values.tpms as string[] | undefined) ?? [])
      .flatMap((v) => v.split(';'))
      .filter(Boolean)
      .map(tpmArg);
    if (swtpm === 0 && tpms.length === 0) throw new UsageError('give --swtpm N or --tpms');
    const policyFile = str(args, 'policy');
    const policy = policyFile ? (readJson(policyFile, 'policy') as AppraisalPolicy) : undefined;
    const keyFile = str(args, 'sign-key');
    let seed: Uint8Array | undefined;
    if (keyFile) {
      try {
        seed = ed25519PrivateKeyFromPem(readFileSync(keyFile, 'utf8'));
      } catch (e) {
        throw new UsageError(`--sign-key: ${(e as Error).message}`);
      }
    }
    const report = await runRig({
      swtpm,
      tpms,
      store: { roots: certsArg(args, 'roots'), intermediates: certsArg(args, 'intermediates') },
      ...(policy ? { policy } : {}),
      pcrs: pcrList(args),
      handleSignals: true,
    });
    let signed: string | undefined;
    if (seed) {
      signed = str(args, 'cbor-out') ?? 'rig-report.cose';
      writeFileSync(signed, signRigReport(report, seed));
    }
    out.data({ ...report, ...(signed ? { signedReport: signed } : {}) });
    for (const l of formatRigTable(report)) out.line(l);
    if (signed) out.line(`signed report (COSE_Sign1 over CBOR) written to ${signed}`);
    return report.ok ? EXIT.ok : EXIT.failure;
  },
};

/** Commands under `enigm attest`. */
export const attestCommands: Command[] = [eventlogCmd, quoteCmd, verifyCmd, enrollCmd, rigCmd];
