/**
 * `enigm ca init | show | rotate | issue | verify`: the provisioning CA in a folder (an offline
 * root and the intermediate "Key provisioning CA", keys in passphrase-encrypted PKCS#8 files).
 * Thin: every step is a call into `@enigm/attestation`'s `pki/`.
 *
 * The passphrase is never a command-line argument (argv is visible to every user of the machine
 * and lands in shell history). It comes, in this order, from `--passphrase-file F` (the file's
 * first line), `ENIGM_CA_PASSPHRASE`, or a prompt on the terminal without echo.
 * @module
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import {
  AttestationError,
  CA_FILES,
  type CaMetadata,
  type CertificateData,
  type CertificateSummary,
  checkModel,
  initCaFolder,
  issueFromCsr,
  issueKeyCertificate,
  loadIssuingCa,
  parseCertificateList,
  readCaCertificates,
  readCaMetadata,
  rotateCaFolder,
  summarizeCertificate,
  verifyKeyChain,
} from '@enigm/attestation';
import { AUDIT_HELP, auditOptions, withAudit } from '../audit-options.ts';
import {
  type Command,
  EXIT,
  type Output,
  type ParsedArgs,
  readInputFile,
  readTextFile,
  showPath,
  str,
  UsageError,
  writeOutputFile,
} from '../cli.ts';

/** The environment variable that may hold the CA passphrase. */
export const CA_PASSPHRASE_ENV = 'ENIGM_CA_PASSPHRASE';

function requiredOption(args: ParsedArgs, name: string): string {
  const v = str(args, name);
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** Reads one line from the terminal without echo; Ctrl-C or Ctrl-D cancels. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') {
          finish();
          resolve(text);
          return;
        }
        if (ch === '\u0003' || ch === '\u0004') {
          finish();
          reject(new AttestationError('CA_PASSPHRASE_MISSING', 'the passphrase prompt was cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') text = [...text].slice(0, -1).join('');
        else text += ch;
      }
    };
    stdin.setRawMode(true); // echo off before the prompt shows, so nothing typed after it is echoed
    stdin.resume();
    stdin.on('data', onData);
    process.stderr.write(question);
  });
}

/**
 * The CA passphrase: `--passphrase-file`, else `ENIGM_CA_PASSPHRASE`, else a terminal prompt
 * (asked twice when `confirm`).
 * @throws {@link AttestationError} `CA_PASSPHRASE_MISSING` when there is no source or it is empty
 */
export async function caPassphrase(args: ParsedArgs, out: Output, confirm: boolean): Promise<string> {
  const file = str(args, 'passphrase-file');
  if (file !== undefined) {
    const text = readTextFile(file, '--passphrase-file');
    const pass = text.split(/\r?\n/)[0] ?? '';
    if (pass === '') throw new AttestationError('CA_PASSPHRASE_MISSING', `--passphrase-file ${showPath(file)} is empty`);
    try {
      if ((statSync(file).mode & 0o077) !== 0)
        out.warn(`enigm: warning: --passphrase-file ${showPath(file)} is readable by other users (chmod 600 it)`);
    } catch {
      // the read above succeeded; a stat failure changes nothing
    }
    return pass;
  }
  const env = process.env[CA_PASSPHRASE_ENV];
  if (env !== undefined && env !== '') return env;
  if (process.stdin.isTTY) {
    const pass = await promptHidden('CA passphrase: ');
    if (pass === '') throw new AttestationError('CA_PASSPHRASE_MISSING', 'an empty passphrase was entered');
    if (confirm && (await promptHidden('CA passphrase again: ')) !== pass)
      throw new AttestationError('CA_PASSPHRASE_MISSING', 'the two passphrases entered differ');
    return pass;
  }
  throw new AttestationError(
    'CA_PASSPHRASE_MISSING',
    `no CA passphrase: give --passphrase-file F or set ${CA_PASSPHRASE_ENV} (stdin is not a terminal to prompt on)`,
  );
}

function certLines(title: string, c: CertificateSummary): string[] {
  return [
    `${title.padEnd(13)} ${c.subject}`,
    `  serial      ${c.serial}`,
    `  valid       ${c.notBefore} .. ${c.notAfter}`,
    `  key id      ${c.subjectKeyId ?? '(none)'}`,
    ...(c.authorityKeyId ? [`  issuer id   ${c.authorityKeyId}`] : []),
    `  sha-256     ${c.fingerprint}`,
  ];
}

/** Key files of the folder with their modes (never their content). */
function keyFiles(dir: string): { file: string; mode: string; private: boolean }[] {
  return [CA_FILES.rootKey, CA_FILES.intermediateKey].map((f) => {
    let mode = 'missing';
    try {
      mode = `0${(statSync(join(dir, f)).mode & 0o777).toString(8)}`;
    } catch {
      // reported as missing
    }
    return { file: f, mode, private: mode === '0600' };
  });
}

function render(out: Output, dir: string, meta: CaMetadata, verb: string): void {
  const keys = keyFiles(dir);
  out.data({ ok: true, dir, ...meta, keyFiles: keys });
  out.line(`${verb.padEnd(13)} ${dir}`);
  out.line(`generation    ${meta.generation}${meta.rotatedAt ? ` (rotated ${meta.rotatedAt})` : ''}, created ${meta.createdAt}`);
  for (const l of certLines('root', meta.root)) out.line(l);
  for (const l of certLines('intermediate', meta.intermediate)) out.line(l);
  for (const r of meta.retired)
    out.line(`retired       G${r.generation} ${r.subject}, serial ${r.serial}, valid until ${r.notAfter} (${r.file})`);
  out.line(`keys          ${keys.map((k) => `${k.file} (${k.mode})`).join(', ')}: PKCS#8 encrypted with the CA passphrase`);
  for (const k of keys) if (!k.private) out.warn(`enigm: warning: ${k.file} has mode ${k.mode}, not 0600`);
}

const DIR_HELP = '  --dir DIR               the CA folder';
const PASS_HELP = `  --passphrase-file F     read the CA passphrase from F's first line (else ${CA_PASSPHRASE_ENV},
                          else a prompt on the terminal); never give it as an argument`;

const initCmd: Command = {
  name: 'ca init',
  summary: 'create an offline root and a Key provisioning CA in a folder (keys encrypted with a passphrase)',
  help: `Usage: enigm ca init --dir DIR [--force] [--passphrase-file F] [--json]

Creates the provisioning CA: a root (Ed25519, 20 years, pathLen 1) and an intermediate "Key
provisioning CA" (5 years, pathLen 0). Writes DIR/root.pem, root.key, intermediate.pem,
intermediate.key (PKCS#8 encrypted with the passphrase, AES-256-CBC, mode 0600) and ca.json.
The whole folder is written at once: an interrupted init leaves nothing half-written.
A new passphrase must have at least 12 characters; on a terminal it is asked twice.

Options:
${DIR_HELP}
  --force                 replace a CA already in DIR (its keys are destroyed)
${PASS_HELP}
${AUDIT_HELP}

Examples:
  enigm ca init --dir ca                                  # prompts for the passphrase
  ENIGM_CA_PASSPHRASE="$(pass show enigm/ca)" enigm ca init --dir ca --json
  enigm ca init --dir ca --passphrase-file /run/secrets/ca-pass`,
  options: {
    dir: { type: 'string', short: 'd' },
    force: { type: 'boolean' },
    'passphrase-file': { type: 'string' },
    ...auditOptions,
  },
  async run(args, out) {
    const dir = requiredOption(args, 'dir');
    return withAudit(args, { role: 'ca-operator', op: 'ca.init' }, async () => {
      const passphrase = await caPassphrase(args, out, true);
      const meta = await initCaFolder(dir, passphrase, { force: args.values.force === true });
      render(out, dir, meta, 'created CA');
      return EXIT.ok;
    });
  },
};

const showCmd: Command = {
  name: 'ca show',
  summary: 'show a CA folder: subjects, serials, validity, key ids, fingerprints (never key material)',
  help: `Usage: enigm ca show --dir DIR [--json]

Prints the root, the current intermediate and every retired intermediate: subject, serial,
validity, subject and authority key ids, SHA-256 fingerprint; and the key files' modes. Reads
the certificates themselves and checks them against ca.json. Needs no passphrase.

Options:
${DIR_HELP}

Example:
  enigm ca show --dir ca --json | jq .intermediate.notAfter`,
  options: { dir: { type: 'string', short: 'd' } },
  async run(args, out) {
    const dir = requiredOption(args, 'dir');
    const meta = readCaMetadata(dir);
    const { rootPem, intermediatesPem } = readCaCertificates(dir);
    const r = await summarizeCertificate(parseCertificateList(rootPem, 'root.pem')[0] as CertificateData);
    const i = await summarizeCertificate(parseCertificateList(intermediatesPem, 'intermediate.pem')[0] as CertificateData);
    if (r.fingerprint !== meta.root.fingerprint || i.fingerprint !== meta.intermediate.fingerprint)
      throw new AttestationError('CA_MALFORMED', `the certificates in ${showPath(dir)} are not the ones ca.json describes`);
    render(out, dir, { ...meta, root: r, intermediate: i }, 'CA');
    return EXIT.ok;
  },
};

const rotateCmd: Command = {
  name: 'ca rotate',
  summary: 'make a new Key provisioning CA signed by the root; the old one keeps verifying what it issued',
  help: `Usage: enigm ca rotate --dir DIR [--passphrase-file F] [--json]

Decrypts the root key, makes a new intermediate (the next generation, 5 years, capped at the
root's validity), encrypts its key with the same passphrase. The old intermediate certificate
moves to DIR/retired/intermediate-G<n>.pem and its key is destroyed: Key certificates it issued
keep verifying (their chain holds it) until it expires. The folder is replaced at once.

Options:
${DIR_HELP}
${PASS_HELP}
${AUDIT_HELP}

Example:
  enigm ca rotate --dir ca --passphrase-file ca-pass.txt`,
  options: { dir: { type: 'string', short: 'd' }, 'passphrase-file': { type: 'string' }, ...auditOptions },
  async run(args, out) {
    const dir = requiredOption(args, 'dir');
    return withAudit(args, { role: 'ca-operator', op: 'ca.rotate' }, async () => {
      readCaMetadata(dir);
      const passphrase = await caPassphrase(args, out, false);
      const meta = await rotateCaFolder(dir, passphrase);
      render(out, dir, meta, 'rotated CA');
      return EXIT.ok;
    });
  },
};

function identityOption(args: ParsedArgs): Uint8Array {
  const hex = requiredOption(args, 'identity');
  if (!/^[0-9a-fA-F]{64}$/.test(hex))
    throw new UsageError('--identity must be a 32-byte Ed25519 public key in hex (64 hex digits)');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function dateOption(args: ParsedArgs, name: string): Date | undefined {
  const v = str(args, name);
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(d.getTime()))
    throw new UsageError(`--${name} must be an ISO 8601 date, got ${JSON.stringify(v)}`);
  return d;
}

const issueCmd: Command = {
  name: 'ca issue',
  summary: 'issue a Key certificate for an Ed25519 identity key (model, key-derived id; no owner)',
  help: `Usage: enigm ca issue --dir DIR (--identity HEX | --csr F [--identity HEX]) --model M --out F
                     [--chain F2] [--not-after ISO] [--passphrase-file F] [--json]

Issues a Key certificate with the current intermediate: subject CN=K-<id from the key>,
OU=<model>, O=Enigm; the identity key; not a CA; keyUsage digitalSignature; valid from now for
20 years, capped at the intermediate's notAfter (or until --not-after). Writes the certificate
to F and, with --chain, the certificate followed by the intermediate to F2 (what a Key stores).
Only the intermediate key is decrypted. With --csr, the key comes from a PKCS#10 request (PEM
or DER) whose Ed25519 signature must verify under it (proof of possession; PKI_CSR_INVALID
otherwise); --identity then names the key it must be (PKI_KEY_MISMATCH otherwise). The CSR's
subject and extensions are ignored.

Options:
${DIR_HELP}
  --identity HEX          the Key's Ed25519 identity public key, 64 hex digits
  --csr F                 a PKCS#10 request signed by the identity key (PEM or DER)
  --model M               the Key's model: 1-64 characters of A-Z a-z 0-9 space . _ -
  --out F                 the Key certificate (PEM)
  --chain F2              the certificate and its intermediate (PEM)
  --not-after ISO         end of validity (not past the intermediate's)
${PASS_HELP}
${AUDIT_HELP}

Example:
  enigm ca issue --dir ca --identity 3b6a…e1 --model EK1 --out key.pem --chain key-chain.pem
  openssl verify -CAfile ca/root.pem -untrusted ca/intermediate.pem key.pem
  enigm ca issue --dir ca --csr key.csr --identity 3b6a…e1 --model EK1 --out key.pem`,
  options: {
    dir: { type: 'string', short: 'd' },
    identity: { type: 'string' },
    csr: { type: 'string' },
    model: { type: 'string', short: 'm' },
    out: { type: 'string', short: 'o' },
    chain: { type: 'string' },
    'not-after': { type: 'string' },
    'passphrase-file': { type: 'string' },
    ...auditOptions,
  },
  async run(args, out) {
    const dir = requiredOption(args, 'dir');
    const csrFile = str(args, 'csr');
    const identity = csrFile === undefined || str(args, 'identity') !== undefined ? identityOption(args) : undefined;
    const model = requiredOption(args, 'model');
    try {
      checkModel(model);
    } catch (e) {
      throw new UsageError(`--model: ${(e as Error).message}`);
    }
    const outFile = requiredOption(args, 'out');
    const chainFile = str(args, 'chain');
    const notAfter = dateOption(args, 'not-after');
    return withAudit(args, { role: 'ca-operator', op: 'ca.issue' }, async () => {
      readCaMetadata(dir);
      const passphrase = await caPassphrase(args, out, false);
      const ca = await loadIssuingCa(dir, passphrase);
      const validity = notAfter ? { notAfter } : {};
      const cert =
        csrFile === undefined
          ? await issueKeyCertificate(ca, { identityPublicKey: identity as Uint8Array, model, ...validity })
          : await issueFromCsr(ca, readInputFile(csrFile, '--csr'), {
              model,
              ...validity,
              ...(identity ? { expectedIdentityKey: identity } : {}),
            });
      writeOutputFile(outFile, cert.pem, '--out');
      if (chainFile !== undefined) writeOutputFile(chainFile, cert.chainPem, '--chain');
      const summary = await summarizeCertificate(cert.der);
      out.data({ ok: true, out: outFile, ...(chainFile ? { chain: chainFile } : {}), model, ...summary });
      out.line(`issued        ${summary.subject}`);
      out.line(`  serial      ${summary.serial}`);
      out.line(`  valid       ${summary.notBefore} .. ${summary.notAfter}`);
      out.line(`  issuer      ${summary.issuer}`);
      out.line(`  sha-256     ${summary.fingerprint}`);
      out.line(`wrote         ${outFile}${chainFile ? `, ${chainFile}` : ''}`);
      return EXIT.ok;
    });
  },
};

const verifyCmd: Command = {
  name: 'ca verify',
  summary: 'verify a Key certificate (chain) to the CA root; exit 0 valid, 1 invalid',
  help: `Usage: enigm ca verify --dir DIR [--identity HEX] [--at ISO] [--json] FILE

Verifies the Key certificate in FILE (PEM; the leaf first, optionally followed by its
intermediate) to DIR/root.pem, with the current and retired intermediates of DIR as helpers:
signatures, CA flags, key usage, path length, validity at --at (default now) and, with
--identity, that the certificate is for that identity key. Needs no passphrase.

Options:
${DIR_HELP}
  --identity HEX          the expected Ed25519 identity key (64 hex digits)
  --at ISO                verification time (default now)

Example:
  enigm ca verify --dir ca --identity 3b6a…e1 key-chain.pem`,
  options: { dir: { type: 'string', short: 'd' }, identity: { type: 'string' }, at: { type: 'string' } },
  positionals: true,
  async run(args, out) {
    const dir = requiredOption(args, 'dir');
    if (args.positionals.length !== 1) throw new UsageError('give exactly one FILE');
    const file = args.positionals[0] as string;
    const expected = str(args, 'identity') === undefined ? undefined : identityOption(args);
    const at = dateOption(args, 'at') ?? new Date();
    const { rootPem, intermediatesPem } = readCaCertificates(dir);
    const chain = readTextFile(file, 'FILE');
    const r = await verifyKeyChain(chain, {
      roots: rootPem,
      intermediates: intermediatesPem,
      at,
      ...(expected ? { expectedIdentityKey: expected } : {}),
    });
    if (!r.valid) {
      out.data({ ok: false, valid: false, error: { name: 'AttestationError', code: r.code, message: r.reason } });
      process.stderr.write(`enigm ca verify: ${r.code}: ${r.reason}\n`);
      return EXIT.failure;
    }
    out.data({
      ok: true,
      valid: true,
      model: r.model,
      keyId: r.keyId,
      identityKey: r.identityKey,
      path: r.path,
      at: at.toISOString(),
    });
    out.line(`valid         ${r.keyId} (model ${r.model}) at ${at.toISOString()}`);
    for (const l of r.path) out.line(`  ${l.subject}  serial ${l.serial}  until ${l.notAfter}`);
    return EXIT.ok;
  },
};

/** The `ca` command group. */
export const caCommands: Command[] = [initCmd, showCmd, rotateCmd, issueCmd, verifyCmd];
