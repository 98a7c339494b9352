/**
 * `enigm attest eventlog|quote|challenge|verify|enroll|rig`: TCG event-log summaries, TPM quotes
 * from swtpm or `/dev/tpmrm0`, single-use verifier challenges, appraisal of quote evidence against
 * the verifier state, enrollment (EK certificate + credential activation) and the swtpm lab rig.
 * Thin: parse arguments, read and write the files named, call `@enigm/attestation` (and
 * `@enigm/attestation/lab` for the rig), render, set the exit code.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  CHALLENGE_PURPOSES,
  type ChallengePurpose,
  collectQuote,
  defaultVerifierStatePath,
  enrollmentFromJson,
  enrollTpm,
  evidenceDocument,
  evidenceDocumentFromJson,
  hashByName,
  type KeyBlob,
  keyBlobFromJson,
  keyBlobToJson,
  type NonceSource,
  nonceFromHex,
  parseCertificates,
  parseTpmSpec,
  policyFromEnrollments,
  policyFromJson,
  summarizeEventLog,
  VerifierStore,
  withTpm,
} from '@enigm/attestation';
import { formatRigTable, runRig, signRigReport } from '@enigm/attestation/lab';
import { toHex } from '@enigm/protocols/bytes';
import { ed25519PrivateKeyFromPem } from '@enigm/protocols/crypto';
import {
  type Command,
  EXIT,
  int,
  type ParsedArgs,
  readInputFile,
  readJsonFile,
  readTextFile,
  str,
  UsageError,
  writeOutputFile,
} from '../cli.ts';

function pcrList(args: ParsedArgs): number[] {
  const v = str(args, 'pcrs') ?? '0,1,2,3,4,5,6,7';
  const pcrs = v.split(',').map((s) => Number(s.trim()));
  if (pcrs.some((p) => !Number.isInteger(p) || p < 0 || p > 23))
    throw new UsageError(`--pcrs must be PCR indices 0..23, got ${v}`);
  return [...new Set(pcrs)].sort((a, b) => a - b);
}

function nonceArg(args: ParsedArgs): Uint8Array | undefined {
  const v = str(args, 'nonce');
  if (v === undefined) return undefined;
  try {
    return nonceFromHex(v);
  } catch (e) {
    throw new UsageError(`--nonce: ${(e as Error).message}`);
  }
}

function bankArg(args: ParsedArgs): number {
  const name = str(args, 'bank') ?? 'sha256';
  const alg = hashByName(name);
  if (!alg) throw new UsageError(`--bank: unknown bank ${name}`);
  return alg.id;
}

function tpmArg(spec: string | undefined): string {
  if (!spec) throw new UsageError('--tpm is required');
  try {
    parseTpmSpec(spec);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return spec;
}

function akKindArg(args: ParsedArgs): 'ecc' | 'rsa' {
  const akKind = str(args, 'ak') ?? 'ecc';
  if (akKind !== 'ecc' && akKind !== 'rsa') throw new UsageError('--ak must be ecc or rsa');
  return akKind;
}

/** The AK blob kept by --ak-file, or undefined if the file does not exist yet (one is created). */
function readAkFile(path: string | undefined): KeyBlob | undefined {
  if (!path || !existsSync(path)) return undefined;
  return keyBlobFromJson(readJsonFile(path, '--ak-file'));
}

function writeAkFile(path: string, blob: KeyBlob): void {
  writeOutputFile(path, `${JSON.stringify(keyBlobToJson(blob))}\n`, '--ak-file');
}

/** The verifier store of --state F, or of the default file (its folder created if missing). */
function stateArg(args: ParsedArgs): { store: VerifierStore; path: string } {
  const given = str(args, 'state');
  const path = given ?? defaultVerifierStatePath();
  if (!given) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  return { store: VerifierStore.file(path), path };
}

const STATE_HELP = `--state F   verifier state: issued challenges, used nonces, last clock state per AK
            (default $ENIGM_HOME/attest-verifier.json; ENIGM_HOME defaults to ~/.config/enigm)`;

const eventlogCmd: Command = {
  name: 'attest eventlog',
  summary: 'parse a TCG event log: events per type, digest checks, replayed PCRs per bank',
  help: `Usage: enigm attest eventlog FILE [--json]

Parses a TCG PC Client firmware event log (crypto-agile or legacy SHA-1), checks the data of
data-bound events (separators, actions, Secure Boot variables) against their digests, and
replays it into PCR values per bank. The values are what the log CLAIMS: only a verified quote
makes them trustworthy (see enigm attest verify).

Exit: 0 parsed and every data-bound digest matched, 1 unreadable file, parse error or a digest
mismatch, 2 usage error.

Examples:
  enigm attest eventlog /sys/kernel/security/tpm0/binary_bios_measurements
  enigm attest eventlog log.bin --json | jq '.banks.sha256.pcrs["7"]'`,
  options: {},
  positionals: true,
  async run(args, out) {
    if (args.positionals.length !== 1) throw new UsageError('give exactly one event-log FILE');
    const file = args.positionals[0] as string;
    const s = summarizeEventLog(readInputFile(file, 'event log'));
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
the verifier's replay check). --nonce is the verifier's challenge ('enigm attest challenge');
without it a random 32-byte nonce is used, which a verifier only accepts with
--nonce-from-evidence (at best a warning).

SPEC: swtpm:host=H,port=P (swtpm's TCP data port) or device[:/dev/tpmrm0].

Exit: 0 quoted, 1 TPM or file error, 2 usage error.

Examples:
  enigm attest quote --tpm swtpm:host=127.0.0.1,port=2321 --pcrs 0,1,7 --nonce "$(enigm attest challenge)" --json
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
    const spec = tpmArg(str(args, 'tpm'));
    const akKind = akKindArg(args);
    const nonce = nonceArg(args) ?? new Uint8Array(randomBytes(32));
    const pcrs = pcrList(args);
    const bank = bankArg(args);
    const akFile = str(args, 'ak-file');
    const akBlob = readAkFile(akFile);
    const eventLogPath = str(args, 'eventlog');
    const eventLog = eventLogPath ? readInputFile(eventLogPath, '--eventlog') : undefined;
    const q = await withTpm(spec, (tpm) =>
      collectQuote(tpm, { nonce, pcrs, bank, akKind, ...(akBlob ? { akBlob } : {}), ...(eventLog ? { eventLog } : {}) }),
    );
    if (akFile && !akBlob) writeAkFile(akFile, q.akBlob);
    const doc = evidenceDocument(q.evidence, nonce, pcrs);
    const outFile = str(args, 'out');
    if (outFile) writeOutputFile(outFile, `${JSON.stringify(doc, null, 2)}\n`, '--out');
    out.data({ ok: true, ...doc });
    out.line(`quoted ${str(args, 'bank') ?? 'sha256'} PCRs [${pcrs.join(',')}] with nonce ${toHex(nonce)}`);
    for (const [i, v] of Object.entries(doc.evidence.pcrs)) out.line(`  ${i.padStart(2)}: ${v}`);
    if (outFile) out.line(`evidence written to ${outFile}`);
    return EXIT.ok;
  },
};

const challengeCmd: Command = {
  name: 'attest challenge',
  summary: 'issue a single-use nonce (with a time to live) for the next quote or Key evidence',
  help: `Usage: enigm attest challenge [--ttl SECONDS] [--for tpm-quote|key-evidence] [--pcrs 0,1,7]
                             [--bank sha256] [--state F] [--json]

Issues a fresh random 32-byte nonce, remembered in the verifier state as pending for --ttl
seconds (default 300). Give it to the attester ('enigm attest quote --nonce HEX'); 'enigm attest
verify' accepts a quote only if it answers a pending challenge (or --nonce), and consumes it:
a second use of the same nonce is contraindicated, and so is a challenge past its time to live.
--pcrs/--bank are remembered with the challenge: the quote must then cover exactly them,
whatever the evidence file lists. Prints the nonce (hex) on stdout, the expiry on stderr.

${STATE_HELP}

Exit: 0 issued, 1 state file error, 2 usage error.

Examples:
  NONCE=$(enigm attest challenge --state verifier.json --ttl 60 --pcrs 0,1,7)
  enigm attest challenge --json | jq -r .nonce`,
  options: {
    ttl: { type: 'string' },
    for: { type: 'string' },
    pcrs: { type: 'string' },
    bank: { type: 'string' },
    state: { type: 'string' },
  },
  async run(args, out) {
    const ttlMs = int(args, 'ttl', 300, 1, 86_400) * 1000;
    const purpose = (str(args, 'for') ?? 'tpm-quote') as ChallengePurpose;
    if (!CHALLENGE_PURPOSES.includes(purpose)) throw new UsageError(`--for must be one of ${CHALLENGE_PURPOSES.join(', ')}`);
    const selection = {
      ...(str(args, 'pcrs') !== undefined ? { pcrs: pcrList(args) } : {}),
      ...(str(args, 'bank') !== undefined ? { bank: bankArg(args) } : {}),
    };
    if (purpose === 'key-evidence' && Object.keys(selection).length)
      throw new UsageError('--pcrs/--bank apply to --for tpm-quote only');
    const { store, path } = stateArg(args);
    const c = await store.issueChallenge(purpose, { ttlMs, ...selection });
    out.data({ ok: true, ...c, expires: new Date(c.expiresAt).toISOString(), state: path });
    out.line(c.nonce);
    if (!out.json) out.warn(`single use, for ${purpose}, expires ${new Date(c.expiresAt).toISOString()} (state ${path})`);
    return EXIT.ok;
  },
};

const verifyCmd: Command = {
  name: 'attest verify',
  summary: 'appraise quote evidence against the verifier state: EAR-style status and every check',
  help: `Usage: enigm attest verify --evidence F [--nonce HEX | --nonce-from-evidence] [--pcrs 0,1,7]
                          [--bank sha256] [--policy F] [--enrollment F[,F..]] [--state F] [--json]

Appraises evidence written by 'enigm attest quote --out F'. The PCR selection expected is
--pcrs/--bank, else the one given to 'attest challenge', else the evidence file's list. The nonce is the verifier's: by default the quote must answer a pending challenge
issued by 'enigm attest challenge' with the same --state; --nonce HEX names it instead. Either
way the nonce is consumed: a second use is contraindicated. --nonce-from-evidence takes the
nonce from the evidence file itself (proves no freshness: the result is at best a warning).
The clock state of every verified quote is stored per AK; a quote whose clock/resetCount/
restartCount does not strictly advance past it is contraindicated (replay).

Checks, in order: ak-public, ak-identity, signature, magic, attest-type, qualified-signer,
nonce, challenge, pcr-selection, pcr-digest, replay, safe, event-log, event-data,
reference-values (see docs/attestation.md).

--policy F: JSON {"akNames": [hex], "referencePcrs": {"7": hex | [hex]}, "requireEventLog": bool}
--enrollment F: records written by 'enigm attest enroll --out F'; their AK Names are trusted.
${STATE_HELP}

Exit: 0 affirming or warning, 1 contraindicated, none, or an unreadable/malformed input file,
2 usage error.

Examples:
  enigm attest verify --evidence ev.json --enrollment enr.json --state verifier.json
  enigm attest verify --evidence ev.json --nonce 00112233 --json | jq -r .status`,
  options: {
    evidence: { type: 'string' },
    nonce: { type: 'string' },
    'nonce-from-evidence': { type: 'boolean' },
    pcrs: { type: 'string' },
    bank: { type: 'string' },
    policy: { type: 'string' },
    enrollment: { type: 'string' },
    state: { type: 'string' },
  },
  async run(args, out) {
    const file = str(args, 'evidence');
    if (!file) throw new UsageError('--evidence is required');
    const given = nonceArg(args);
    const fromEvidence = args.values['nonce-from-evidence'] === true;
    if (given && fromEvidence) throw new UsageError('give --nonce or --nonce-from-evidence, not both');
    const expect = {
      ...(str(args, 'pcrs') !== undefined ? { pcrs: pcrList(args) } : {}),
      ...(str(args, 'bank') !== undefined ? { bank: bankArg(args) } : {}),
    };
    const { store } = stateArg(args);
    const doc = evidenceDocumentFromJson(readJsonFile(file, 'evidence'));
    const policyFile = str(args, 'policy');
    let policy = policyFile ? policyFromJson(readJsonFile(policyFile, 'policy')) : undefined;
    const enrollments = (str(args, 'enrollment') ?? '').split(',').filter(Boolean);
    if (enrollments.length)
      policy = policyFromEnrollments(
        enrollments.map((f) => enrollmentFromJson(readJsonFile(f, 'enrollment'))),
        policy,
      );
    const nonce: NonceSource = given
      ? { from: 'argument', nonce: given }
      : fromEvidence
        ? { from: 'evidence', ...(doc.nonce ? { nonce: doc.nonce } : {}) }
        : { from: 'challenge' };
    const r = await store.appraiseQuote({
      evidence: doc.evidence,
      expect,
      ...(doc.pcrs ? { evidencePcrs: doc.pcrs } : {}),
      nonce,
      ...(policy ? { policy } : {}),
    });
    const ok = r.status === 'affirming' || r.status === 'warning';
    out.data({ ok, ...r });
    out.line(`status: ${r.status}`);
    out.line(`  PCRs [${r.selection.pcrs.join(',')}] (selection from ${r.selection.from})`);
    for (const c of r.checks) out.line(`  ${c.status.padEnd(15)} ${c.name.padEnd(17)} ${c.reason}`);
    if (nonce.from === 'challenge' && r.nonceStatus === 'unknown')
      out.warn(
        "hint: issue a challenge first ('enigm attest challenge' with the same --state) and quote with its nonce, or name the nonce with --nonce",
      );
    return ok ? EXIT.ok : EXIT.failure;
  },
};

function certsArg(args: ParsedArgs, name: string) {
  return (str(args, name) ?? '')
    .split(',')
    .filter(Boolean)
    .flatMap((f) => parseCertificates(readInputFile(f, `--${name}`), f));
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

Exit: 0 enrolled, 1 refused (EK_CERT_*, EK_KEY_MISMATCH, CREDENTIAL_*) or an unreadable input
file, 2 usage error.

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
    const spec = tpmArg(str(args, 'tpm'));
    if (!str(args, 'roots')) throw new UsageError('--roots is required (PEM files of manufacturer root CAs)');
    const akKind = akKindArg(args);
    const roots = certsArg(args, 'roots');
    const intermediates = certsArg(args, 'intermediates');
    const akFile = str(args, 'ak-file');
    const akBlob = readAkFile(akFile);
    const e = await withTpm(spec, (tpm) =>
      enrollTpm(tpm, { store: { roots, intermediates }, now: new Date(), akKind, ...(akBlob ? { akBlob } : {}) }),
    );
    if (akFile && !akBlob) writeAkFile(akFile, e.akBlob);
    const outFile = str(args, 'out');
    if (outFile) writeOutputFile(outFile, `${JSON.stringify(e.record, null, 2)}\n`, '--out');
    out.data({ ok: true, record: e.record });
    out.line(`enrolled: AK ${e.record.akName}`);
    out.line(`  EK certificate ${e.record.ekCertFingerprint} (${e.record.ekCertIssuer} → ${e.record.ekCertPath.at(-1)})`);
    if (outFile) out.line(`record written to ${outFile}`);
    return EXIT.ok;
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

Exit: 0 every quote affirming or warning, 1 otherwise or an unreadable input file, 2 usage error.

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
    const pcrs = pcrList(args);
    const policyFile = str(args, 'policy');
    const policy = policyFile ? policyFromJson(readJsonFile(policyFile, 'policy')) : undefined;
    const keyFile = str(args, 'sign-key');
    const seed = keyFile ? ed25519PrivateKeyFromPem(readTextFile(keyFile, '--sign-key')) : undefined;
    const report = await runRig({
      swtpm,
      tpms,
      store: { roots: certsArg(args, 'roots'), intermediates: certsArg(args, 'intermediates') },
      ...(policy ? { policy } : {}),
      pcrs,
      handleSignals: true,
    });
    let signed: string | undefined;
    if (seed) {
      signed = str(args, 'cbor-out') ?? 'rig-report.cose';
      writeOutputFile(signed, signRigReport(report, seed), '--cbor-out');
    }
    out.data({ ...report, ...(signed ? { signedReport: signed } : {}) });
    for (const l of formatRigTable(report)) out.line(l);
    if (signed) out.line(`signed report (COSE_Sign1 over CBOR) written to ${signed}`);
    return report.ok ? EXIT.ok : EXIT.failure;
  },
};

/** Commands under `enigm attest`. */
export const attestCommands: Command[] = [eventlogCmd, quoteCmd, challengeCmd, verifyCmd, enrollCmd, rigCmd];
