/**
 * `enigm attest eventlog|quote|verify`: TCG event-log summaries, TPM quotes from swtpm or
 * `/dev/tpmrm0`, and appraisal of quote evidence. Thin: parse arguments, call `attestation/`.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { evidenceFromJson, evidenceToJson } from '../../../attestation/src/collect/evidence.ts';
import { collectQuote } from '../../../attestation/src/collect/quote.ts';
import { summarizeEventLog } from '../../../attestation/src/eventlog/summary.ts';
import { hashByName } from '../../../attestation/src/hash.ts';
import { TpmClient } from '../../../attestation/src/tpm/client.ts';
import { openTpm, parseTpmSpec } from '../../../attestation/src/tpm/open.ts';
import { type AppraisalPolicy, appraise } from '../../../attestation/src/verify/appraise.ts';
import type { ClockState } from '../../../attestation/src/verify/result.ts';
import { type Command, EXIT, type ParsedArgs, str, UsageError } from '../cli.ts';

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
    let akBlob: { private: Uint8Array; publicArea: Uint8Array } | undefined;
    if (akFile) {
      try {
        const j = JSON.parse(readFileSync(akFile, 'utf8')) as { private: string; publicArea: string };
        akBlob = { private: Buffer.from(j.private, 'hex'), publicArea: Buffer.from(j.publicArea, 'hex') };
      } catch {
        akBlob = undefined; // no AK yet: create one and save it below
      }
    }
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
      if (akFile && !akBlob)
        writeFileSync(
          akFile,
          JSON.stringify({
            private: Buffer.from(q.akBlob.private).toString('hex'),
            publicArea: Buffer.from(q.akBlob.publicArea).toString('hex'),
          }),
        );
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
                          [--policy F] [--state F] [--json]

Appraises evidence written by 'enigm attest quote --out F' (its nonce and PCR list are used
unless --nonce/--pcrs are given). Checks, in order: ak-public, ak-identity, signature, magic,
attest-type, qualified-signer, nonce, pcr-selection, pcr-digest, clock, safe, event-log,
event-data, reference-values (see docs/attestation.md).

--policy F: JSON {"akNames": [hex], "referencePcrs": {"7": hex | [hex]}, "requireEventLog": bool}
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
    const policy = policyFile ? (readJson(policyFile, 'policy') as AppraisalPolicy) : undefined;
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

/** Commands under `enigm attest`. */
export const attestCommands: Command[] = [eventlogCmd, quoteCmd, verifyCmd];
