/**
 * `enigm station provision | report`: the provisioning station. `provision` parses its options,
 * loads the CA (passphrase as `enigm ca`: `--passphrase-file`, `ENIGM_CA_PASSPHRASE` or a prompt,
 * never an argument), calls `provisionKeys` from `@enigm/key-firmware-host` and renders per-port
 * progress (a live table on a TTY, plain lines otherwise, JSON events with `--json`); after each
 * Key it rewrites the manifest (`OUT.json` + `OUT.csv`, atomically, merged with an earlier run's).
 * `report` summarizes a manifest. SIGINT stops the batch (exit 130); running it again resumes.
 * @module
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AuditLog, auditSignerFromSeed, loadIssuingCa, readCaCertificates } from '@enigm/attestation';
import {
  AccountRegistry,
  AssociationError,
  type ManifestEntry,
  mergeManifestEntries,
  provisionKeys,
  readManifest,
  type StationEvent,
  summarizeManifest,
  writeManifest,
} from '@enigm/key-firmware-host';
import { ed25519PrivateKeyFromPem } from '@enigm/protocols/crypto';
import { type SimulatorStateFile, STATE_FILE } from '@enigm/sim';
import { CliError, type Command, EXIT, int, type Output, type ParsedArgs, readTextFile, str, UsageError } from '../cli.ts';
import { caPassphrase } from './ca.ts';
import { EXIT_INTERRUPTED } from './fw-flash.ts';
import { defaultSimDir } from './sim.ts';

/** `*` and `?` of a glob as a regular expression (one path component). */
function globRegex(glob: string): RegExp {
  const esc = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${esc}$`);
}

/**
 * The ports `--ports` names: a comma-separated list, each item a path or a glob over the file
 * names of one folder (e.g. `/dev/ttyACM*`), sorted.
 */
export function expandPorts(spec: string): string[] {
  const out: string[] = [];
  for (const item of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!/[*?]/.test(item)) {
      out.push(item);
      continue;
    }
    const dir = dirname(item);
    const re = globRegex(basename(item));
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      names = [];
    }
    out.push(
      ...names
        .filter((n) => re.test(n))
        .sort()
        .map((n) => join(dir, n)),
    );
  }
  return [...new Set(out)];
}

/** The simulator's serial ports from its state folder. */
function simulatorPorts(dir: string): string[] {
  const file = join(dir, STATE_FILE);
  let s: SimulatorStateFile;
  try {
    s = JSON.parse(readFileSync(file, 'utf8')) as SimulatorStateFile;
  } catch {
    throw new CliError(
      'INPUT_NOT_FOUND',
      `no running simulator in ${dir} (no readable ${STATE_FILE}): start one with 'enigm sim start'`,
    );
  }
  return s.keys.flatMap((k) => (k.serial ? [k.serial] : []));
}

/** The account secret: 64 hex digits on the file's first line, or exactly 32 raw bytes. */
function accountSecret(path: string, out: Output): Uint8Array {
  const raw = readFileSync(path);
  if ((statSync(path).mode & 0o077) !== 0)
    out.warn(`enigm: warning: --account-secret-file ${path} is readable by other users (chmod 600 it)`);
  const text = raw.toString('latin1').split(/\r?\n/)[0]?.trim() ?? '';
  if (/^[0-9a-fA-F]{64}$/.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  if (raw.length === 32) return new Uint8Array(raw);
  throw new CliError('INPUT_INVALID', `--account-secret-file ${path} holds neither 64 hex digits nor 32 bytes`);
}

/**
 * The account whose association handles name the Keys: `--account DIR` (an account folder from
 * `enigm account init --dir DIR`, its secret read as `enigm account` reads it) or
 * `--account-secret-file F`, not both; neither gives device handles.
 * @throws {@link UsageError} both given; {@link AssociationError} `ACCOUNT_NOT_FOUND` (no account
 *   in DIR), `ACCOUNT_CORRUPT`, `ACCOUNT_SECRET_EXPOSED`
 */
function accountOf(args: ParsedArgs, out: Output): { secret: Uint8Array } | undefined {
  const dir = str(args, 'account');
  const secretFile = str(args, 'account-secret-file');
  if (dir !== undefined && secretFile !== undefined) throw new UsageError('give --account or --account-secret-file, not both');
  if (secretFile !== undefined) return { secret: accountSecret(secretFile, out) };
  if (dir === undefined) return undefined;
  try {
    return { secret: AccountRegistry.open(dir).secret };
  } catch (e) {
    if (e instanceof AssociationError) throw new AssociationError(e.code, `--account ${dir}: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * Renders per-port progress: a live table on a terminal that can move its cursor, plain lines
 * otherwise (a pipe, or `TERM=dumb`), JSON events with --json.
 */
function progressView(out: Output, ports: readonly string[]): { onEvent: (e: StationEvent) => void; end: () => void } {
  const tty = !out.json && process.stderr.isTTY === true && process.env.TERM !== 'dumb';
  const state = new Map<string, string>(ports.map((p) => [p, 'waiting']));
  const w = Math.max(4, ...ports.map((p) => p.length));
  let drawn = false;
  const draw = () => {
    if (drawn) process.stderr.write(`\x1b[${ports.length}A`);
    drawn = true;
    for (const p of ports) process.stderr.write(`\x1b[2K  ${p.padEnd(w)}  ${state.get(p)}\n`);
  };
  return {
    onEvent: (e) => {
      if (out.json) {
        out.data(
          e.type === 'step'
            ? { event: 'step', port: e.port, step: e.step, ...(e.handle ? { handle: e.handle } : {}) }
            : { event: 'done', ...publicEntry(e.entry) },
        );
        return;
      }
      const text =
        e.type === 'step'
          ? `${e.step}…`
          : `${e.entry.outcome}${e.entry.error ? ` ${e.entry.error} at ${e.entry.step}` : ''}${e.entry.handle ? `  ${e.entry.handle}` : ''}`;
      state.set(e.port, text);
      if (tty) draw();
      else out.line(`${e.port.padEnd(w)}  ${text}`);
    },
    end: () => {},
  };
}

/** An entry for the event stream: without the certificate PEM (it is in the manifest). */
function publicEntry(e: ManifestEntry): Omit<ManifestEntry, 'certificatePem'> {
  const { certificatePem: _omit, ...rest } = e;
  return rest;
}

/** An AbortSignal that fires on SIGINT while `fn` runs, and whether it fired. */
async function onSigint<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<{ value: T; interrupted: boolean }> {
  const ac = new AbortController();
  const handler = () => ac.abort();
  process.once('SIGINT', handler);
  try {
    const value = await fn(ac.signal);
    return { value, interrupted: ac.signal.aborted };
  } finally {
    process.removeListener('SIGINT', handler);
  }
}

/** The manifest base path (`OUT` without `.json` / `.csv`). */
const manifestBase = (p: string) => p.replace(/\.(json|csv)$/i, '');

function portsOf(args: ParsedArgs): string[] {
  const spec = str(args, 'ports');
  const stateDir = str(args, 'state-dir');
  if (spec !== undefined && stateDir !== undefined) throw new UsageError('give --ports or --state-dir, not both');
  const ports = spec !== undefined ? expandPorts(spec) : simulatorPorts(stateDir ?? defaultSimDir());
  if (ports.length === 0)
    throw new UsageError(spec !== undefined ? `--ports ${spec} names no port` : 'the simulator has no serial ports');
  return ports;
}

const provisionCmd: Command = {
  name: 'station provision',
  summary: 'provision factory Keys in parallel (one per port): CSR, certificate, chain installed and verified',
  help: `Usage: enigm station provision --ca DIR [--state-dir D | --ports GLOB|LIST] --manifest OUT
                               [--account DIR | --account-secret-file F]
                               [--audit FILE --audit-key KEY.pem]
                               [--concurrency N] [--passphrase-file F] [--json]

Provisions every Key on the ports, in parallel (one worker per port, at most --concurrency):
open → pair as 'provisioning' (first contact) → attest (a Key that already carries a chain
valid for its identity is 'already-provisioned') → set the Key's clock → CSR signed by the
Key's identity key → issue (the CA in DIR) → install the chain → reboot → attest again and
check the chain to the root. The Key stays in factory state: the owner activates it when
enrolling. A Key interrupted mid-provision is completed by the next run; a port that
disappears fails only that port (STATION_PORT_LOST).

Options:
  --ca DIR                the CA folder ('enigm ca init'); its passphrase as for 'enigm ca'
  --passphrase-file F     read the CA passphrase from F's first line (else ENIGM_CA_PASSPHRASE,
                          else a prompt on a terminal); never an argument
  --state-dir D           the simulator's state folder: provision its Keys (default
                          $ENIGM_SIM_DIR or .sim-state, when --ports is not given)
  --ports SPEC            ports: a comma-separated list of paths or globs (e.g. '/dev/ttyACM*')
  --manifest OUT          write OUT.json and OUT.csv (atomically after each Key; an existing
                          manifest is merged: entries for the same Key are replaced)
  --account DIR           the account ('enigm account init --dir DIR'): handles in the manifest
                          and the audit log become its association handles (eh1-…), the ones
                          'enigm account enroll' records; no such account: ACCOUNT_NOT_FOUND
  --account-secret-file F or the account's secret itself (64 hex digits or 32 bytes)
  --audit FILE            append a 'key.provision' record per Key to this audit log…
  --audit-key KEY.pem     …signed with this Ed25519 key (role 'station')
  --concurrency N         Keys in flight at once (default: one per port, at most 8)
  --host-key F, --known F this station's host key and known-Keys store (default $ENIGM_HOME)
  --timeout MS            per-request timeout

Exit status: 0 when every Key is provisioned or already was, 1 when one failed, 130 on ^C.
No private key is ever written to the manifest, the audit log or the output.

Examples:
  enigm sim start --keys 8 &
  enigm station provision --ca ca --manifest batch-1 --audit station.audit --audit-key station.key
  enigm station provision --ca ca --account acct --manifest batch-1     # handles of account acct
  enigm station provision --ca ca --ports '/dev/ttyACM*' --manifest batch-2 --json`,
  options: {
    ca: { type: 'string' },
    'passphrase-file': { type: 'string' },
    'state-dir': { type: 'string' },
    ports: { type: 'string' },
    manifest: { type: 'string', short: 'o' },
    account: { type: 'string' },
    'account-secret-file': { type: 'string' },
    audit: { type: 'string' },
    'audit-key': { type: 'string' },
    concurrency: { type: 'string' },
    'host-key': { type: 'string' },
    known: { type: 'string' },
    timeout: { type: 'string' },
  },
  async run(args, out) {
    const caDir = str(args, 'ca');
    if (!caDir) throw new UsageError('--ca DIR is required');
    const manifest = str(args, 'manifest');
    if (!manifest) throw new UsageError('--manifest OUT is required');
    const auditFile = str(args, 'audit');
    const auditKey = str(args, 'audit-key');
    if ((auditFile === undefined) !== (auditKey === undefined)) throw new UsageError('--audit and --audit-key go together');
    const ports = portsOf(args);
    const concurrency = int(args, 'concurrency', Math.min(ports.length, 8), 1, 256);
    const account = accountOf(args, out);
    const hostKey = str(args, 'host-key');
    const known = str(args, 'known');
    const timeout = str(args, 'timeout');

    const passphrase = await caPassphrase(args, out, false);
    const ca = await loadIssuingCa(caDir, passphrase);
    const { intermediatesPem } = readCaCertificates(caDir);
    let audit: AuditLog | undefined;
    if (auditFile !== undefined && auditKey !== undefined) {
      const seed = ed25519PrivateKeyFromPem(readTextFile(auditKey, '--audit-key'));
      const signer = auditSignerFromSeed('station', seed);
      seed.fill(0);
      audit = await AuditLog.open(auditFile, { signer, clock: Date.now });
    }

    const base = manifestBase(manifest);
    const earlier = existsSync(`${base}.json`) ? readManifest(`${base}.json`).entries : [];
    const done: ManifestEntry[] = [];
    const view = progressView(out, ports);
    out.line(
      `provisioning ${ports.length} port${ports.length === 1 ? '' : 's'} (${concurrency} at a time) with the CA in ${caDir}`,
    );
    let run: { value: ManifestEntry[]; interrupted: boolean };
    try {
      run = await onSigint((signal) =>
        provisionKeys({
          ports,
          ca,
          roots: ca.rootPem,
          intermediates: intermediatesPem,
          ...(account ? { account } : {}),
          ...(audit ? { audit } : {}),
          concurrency,
          signal,
          key: {
            ...(hostKey !== undefined ? { hostKey } : {}),
            ...(known !== undefined ? { known } : {}),
            ...(timeout !== undefined ? { timeoutMs: int(args, 'timeout', 2000, 1, 600_000) } : {}),
          },
          onEvent: (e) => {
            view.onEvent(e);
            if (e.type === 'done') {
              done.push(e.entry);
              writeManifest(base, mergeManifestEntries(earlier, done));
            }
          },
        }),
      );
    } finally {
      audit?.close();
      view.end();
    }
    const entries = run.value;
    const paths = writeManifest(base, mergeManifestEntries(earlier, entries));
    const s = summarizeManifest(entries);
    out.data({ event: 'summary', ok: s.byOutcome.failed === 0 && s.byOutcome.aborted === 0, ...s, manifest: paths });
    out.line(
      `${s.byOutcome.provisioned} provisioned, ${s.byOutcome['already-provisioned']} already provisioned, ${s.byOutcome.failed} failed, ${s.byOutcome.aborted} aborted`,
    );
    for (const e of entries)
      if (e.outcome === 'failed' || e.outcome === 'aborted') out.line(`  ${e.port}: ${e.error} at ${e.step}: ${e.message}`);
    out.line(`manifest: ${paths.json}, ${paths.csv}`);
    if (run.interrupted) return EXIT_INTERRUPTED;
    return s.byOutcome.failed === 0 && s.byOutcome.aborted === 0 ? EXIT.ok : EXIT.failure;
  },
};

function counts(r: Record<string, number>): string {
  const e = Object.entries(r);
  return e.length === 0 ? '—' : e.map(([k, n]) => `${k} ${n}`).join(', ');
}

const reportCmd: Command = {
  name: 'station report',
  summary: 'summarize a station manifest: counts by outcome, errors, models, firmware',
  help: `Usage: enigm station report MANIFEST [--json]

Reads MANIFEST (OUT.json from 'enigm station provision'; OUT or OUT.csv name the same
manifest) and prints the counts by outcome, the errors, the models and firmware versions,
and the ports that failed.

Examples:
  enigm station report batch-1.json
  enigm station report batch-1 --json`,
  options: {},
  positionals: true,
  async run(args, out) {
    if (args.positionals.length !== 1) throw new UsageError('give exactly one MANIFEST');
    const path = `${manifestBase(args.positionals[0] as string)}.json`;
    const m = readManifest(path);
    const s = summarizeManifest(m.entries);
    const failed = m.entries.filter((e) => e.outcome === 'failed' || e.outcome === 'aborted');
    out.data({
      ok: true,
      written: m.written,
      ...s,
      failed: failed.map((e) => ({ port: e.port, handle: e.handle, error: e.error, step: e.step })),
    });
    out.line(`manifest ${path} (written ${m.written}): ${s.total} Key${s.total === 1 ? '' : 's'}`);
    out.line(`outcomes  ${counts(s.byOutcome as unknown as Record<string, number>)}`);
    out.line(`errors    ${counts(s.errors)}`);
    out.line(`models    ${counts(s.models)}`);
    out.line(`firmware  ${counts(s.firmware)}`);
    for (const e of failed) out.line(`  ${e.port}${e.handle ? ` (${e.handle})` : ''}: ${e.outcome} ${e.error} at ${e.step}`);
    return EXIT.ok;
  },
};

/** The `enigm station` commands. */
export const stationCommands: Command[] = [provisionCmd, reportCmd];
