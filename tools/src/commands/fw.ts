/**
 * `enigm fw keygen | sign | verify | inspect`: firmware-signing keys and signed firmware images
 * (docs/firmware.md "Image format", "Signing and verification"). Thin: every check is a call into
 * `protocols/src/firmware`.
 * @module
 */

import { toHex } from '@enigm/protocols/bytes';
import { ed25519PrivateKeyFromPem, ed25519PublicKey, ed25519PublicKeyFromPem, sha256 } from '@enigm/protocols/crypto';
import { ProtocolError } from '@enigm/protocols/errors';
import {
  buildImage,
  encodeManifest,
  type ImageReport,
  inspectImage,
  isValidVersion,
  type ManifestPolicy,
  type ManifestValue,
  manifestId,
  manifestKid,
  signManifest,
  verifyImage,
} from '@enigm/protocols/firmware';
import { type Command, EXIT, int, type ParsedArgs, str, UsageError, writeOutputFile } from '../cli.ts';
import { readInputFile, writeSigningKeyPair } from '../keyfiles.ts';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

const U32_MAX = 0xffff_ffff;

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

/** The single positional argument, named `what` in the error. */
function onePositional(args: ParsedArgs, what: string): string {
  if (args.positionals.length !== 1) throw new UsageError(`give exactly one ${what}`);
  return args.positionals[0] as string;
}

function requiredOption(args: ParsedArgs, name: string): string {
  const v = str(args, name);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

/** Every `--key PUB` as a raw Ed25519 public key. */
function publicKeys(args: ParsedArgs): Uint8Array[] {
  const v = args.values.key;
  const files = Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
  return files.map((f) => ed25519PublicKeyFromPem(text(readInputFile(f, '--key'))));
}

/** A human summary of a manifest, one field per line. */
function manifestLines(m: ManifestValue): string[] {
  const lines = [
    `model        ${m.model}`,
    `version      ${m.version}`,
    `counter      ${m.securityCounter}`,
    `payload      ${m.payloadSize} bytes, sha256 ${toHex(m.payloadDigest)}`,
  ];
  if (m.createdAt !== undefined)
    lines.push(`created      ${new Date(m.createdAt * 1000).toISOString().replace('.000Z', 'Z')} (${m.createdAt})`);
  if (m.description !== undefined) lines.push(`description  ${m.description}`);
  return lines;
}

const keygenCmd: Command = {
  name: 'fw keygen',
  summary: 'make an Ed25519 firmware-signing key pair as PEM files (PREFIX.key, PREFIX.pub)',
  help: `Usage: enigm fw keygen [--out PREFIX] [--force] [--json]

Generates an Ed25519 firmware-signing key pair and writes PREFIX.key (PKCS#8 PEM, mode 0600)
and PREFIX.pub (SubjectPublicKeyInfo PEM), both readable by OpenSSL. Prints the public key and
its kid (first 8 bytes of its SHA-256, as carried in signed manifests). Keep PREFIX.key offline;
Keys trust PREFIX.pub. Refuses to overwrite existing files unless --force.

Options:
  --out PREFIX   file name prefix (default enigm-fw-signing)
  --force        overwrite existing PREFIX.key / PREFIX.pub

Examples:
  enigm fw keygen                              # enigm-fw-signing.key, enigm-fw-signing.pub
  enigm fw keygen --out release-2025 --json    # {"ok":true,"publicKey":"…","kid":"…",…}`,
  options: { out: { type: 'string', short: 'o' }, force: { type: 'boolean' } },
  async run(args, out) {
    const { keyFile, pubFile, publicKey } = writeSigningKeyPair(
      str(args, 'out') ?? 'enigm-fw-signing',
      args.values.force === true,
    );
    const kid = manifestKid(publicKey);
    out.data({ ok: true, publicKey, kid, key: keyFile, pub: pubFile });
    out.line(`public key  ${toHex(publicKey)}`);
    out.line(`kid         ${toHex(kid)}`);
    out.line(`private     ${keyFile} (mode 0600)`);
    out.line(`public      ${pubFile}`);
    return EXIT.ok;
  },
};

/** `--created-at SECONDS|now`. */
function createdAtOption(args: ParsedArgs): number | undefined {
  const v = str(args, 'created-at');
  if (v === 'now') return Math.floor(Date.now() / 1000);
  return v === undefined ? undefined : int(args, 'created-at', 0, 0, U32_MAX);
}

const signCmd: Command = {
  name: 'fw sign',
  summary: 'build a signed firmware image (.ekfw) from a payload',
  help: `Usage: enigm fw sign --key KEY --model M --version V --counter N [--description TEXT]
                    [--created-at SECONDS|now] [--out IMAGE] [--json] PAYLOAD

Builds a signed firmware image from PAYLOAD (or stdin with -): a manifest (model, version,
security counter, payload size and SHA-256) signed with the Ed25519 key in KEY as a COSE_Sign1,
followed by the payload (docs/firmware.md). Writes IMAGE (default PAYLOAD.ekfw) and prints its
size and manifest id (SHA-256 of the signed manifest, which names the update).

Options:
  --key KEY          firmware-signing private key PEM (from enigm fw keygen)
  --model M          model id the image is for, e.g. enigm-key-1
  --version V        semantic version MAJOR.MINOR.PATCH[-pre][+build], e.g. 1.4.0 or 1.5.0-rc.1
  --counter N        security counter (0..4294967295); Keys refuse images below their installed
                     counter, so bump it when the release fixes a vulnerability
  --description T    human description, up to 128 characters
  --created-at S     build time in unix seconds, or "now" (default: omitted, for reproducible builds)
  --out IMAGE        output file (required when PAYLOAD is -)

Examples:
  enigm fw sign --key release.key --model enigm-key-1 --version 1.4.0 --counter 7 firmware.bin
  enigm fw sign --key release.key --model enigm-key-1 --version 1.5.0-rc.1 --counter 7 \\
      --description "FIDO2 PIN retry fix" --created-at now --out rc1.ekfw --json firmware.bin`,
  options: {
    key: { type: 'string', short: 'k' },
    model: { type: 'string' },
    version: { type: 'string' },
    counter: { type: 'string' },
    description: { type: 'string' },
    'created-at': { type: 'string' },
    out: { type: 'string', short: 'o' },
  },
  positionals: true,
  async run(args, out) {
    const file = onePositional(args, 'PAYLOAD file (or - for stdin)');
    const keyFile = requiredOption(args, 'key');
    const model = requiredOption(args, 'model');
    const version = requiredOption(args, 'version');
    if (!isValidVersion(version)) {
      throw new UsageError(
        `--version must be a semantic version MAJOR.MINOR.PATCH[-pre][+build], got ${JSON.stringify(version)}`,
      );
    }
    requiredOption(args, 'counter');
    const securityCounter = int(args, 'counter', 0, 0, U32_MAX);
    const description = str(args, 'description');
    const createdAt = createdAtOption(args);
    const outFile = str(args, 'out') ?? (file === '-' ? undefined : `${file}.ekfw`);
    if (outFile === undefined) throw new UsageError('--out is required when reading stdin');
    const seed = ed25519PrivateKeyFromPem(text(readInputFile(keyFile, '--key')));
    const payload = file === '-' ? await readStdin() : readInputFile(file, 'PAYLOAD');
    if (payload.length > U32_MAX) throw new UsageError(`PAYLOAD is ${payload.length} bytes; the limit is ${U32_MAX}`);

    const manifest: ManifestValue = {
      model,
      version,
      securityCounter,
      payloadSize: payload.length,
      payloadDigest: sha256(payload),
    };
    if (createdAt !== undefined) manifest.createdAt = createdAt;
    if (description !== undefined) manifest.description = description;
    try {
      encodeManifest(manifest);
    } catch (e) {
      if (e instanceof ProtocolError && e.code === 'FIRMWARE_MALFORMED') throw new UsageError(`invalid manifest: ${e.message}`);
      throw e;
    }
    const signed = signManifest(manifest, seed);
    const image = buildImage(signed, payload);
    writeOutputFile(outFile, image, '--out');
    const id = manifestId(signed);
    const kid = manifestKid(ed25519PublicKey(seed));
    out.data({ ok: true, out: outFile, size: image.length, manifestId: id, kid, manifest });
    out.line(`wrote ${outFile} (${image.length} bytes: ${signed.length}-byte signed manifest, ${payload.length}-byte payload)`);
    out.line(`manifest id  ${toHex(id)}`);
    out.line(`kid          ${toHex(kid)}`);
    for (const l of manifestLines(manifest)) out.line(l);
    return EXIT.ok;
  },
};

/** The policy the verify options ask for, or undefined if none. Unasked checks always pass. */
function policyOption(args: ParsedArgs, image: Uint8Array): ManifestPolicy | undefined {
  const model = str(args, 'model');
  const minCounter = str(args, 'min-counter');
  const maxSize = str(args, 'max-size');
  if (model === undefined && minCounter === undefined && maxSize === undefined) return undefined;
  return {
    // Without --model the model check compares the manifest with itself. If the manifest cannot
    // be read, verifyImage fails on it before the policy is looked at.
    model: model ?? inspectImage(image).manifest?.model ?? '',
    installedSecurityCounter: int(args, 'min-counter', 0, 0, U32_MAX),
    maxPayloadSize: int(args, 'max-size', U32_MAX, 0, U32_MAX),
  };
}

const verifyCmd: Command = {
  name: 'fw verify',
  summary: 'verify a signed firmware image; exit 0 valid, 1 invalid',
  help: `Usage: enigm fw verify --key PUB [--key PUB2 ...] [--model M] [--min-counter N]
                      [--max-size BYTES] [--json] IMAGE

Verifies IMAGE as a Key would, in this order: header (magic EKFW, format 1, manifest length);
signed manifest form; signature under one of the trusted PUB keys; the policy given by --model,
--min-counter and --max-size (each only if given); payload size and SHA-256.

Exit status: 0 valid; 1 invalid, with the error code and reason (FIRMWARE_MALFORMED,
FIRMWARE_UNTRUSTED_SIGNER, FIRMWARE_BAD_SIGNATURE, FIRMWARE_WRONG_MODEL, FIRMWARE_DOWNGRADE,
FIRMWARE_TOO_LARGE, FIRMWARE_DIGEST_MISMATCH); 2 usage error.

Options:
  --key PUB          trusted firmware-signing public key PEM; repeat to trust several
  --model M          require this model id
  --min-counter N    installed security counter: refuse images below it (downgrade)
  --max-size BYTES   update slot size: refuse larger payloads

--json prints {ok, valid, manifest, manifestId, signer, kid, size} when valid and
{ok, valid: false, reason: {code, message}} when not ("ok" says the check ran).

Examples:
  enigm fw verify --key release.pub firmware.bin.ekfw && echo good
  enigm fw verify --key release.pub --key backup.pub --model enigm-key-1 --min-counter 7 fw.ekfw
  enigm fw verify --key release.pub --max-size 1048576 --json fw.ekfw`,
  options: {
    key: { type: 'string', short: 'k', multiple: true },
    model: { type: 'string' },
    'min-counter': { type: 'string' },
    'max-size': { type: 'string' },
  },
  positionals: true,
  async run(args, out) {
    const file = onePositional(args, 'IMAGE file');
    if (args.values.key === undefined) throw new UsageError('give at least one --key PUB');
    const keys = publicKeys(args);
    const image = readInputFile(file, 'IMAGE');
    const policy = policyOption(args, image);
    try {
      const v = verifyImage(image, keys, policy);
      const id = manifestId(v.signedManifest);
      const kid = manifestKid(v.signer);
      out.data({ ok: true, valid: true, manifest: v.manifest, manifestId: id, signer: v.signer, kid, size: image.length });
      out.line(
        `valid: ${v.manifest.model} ${v.manifest.version} (counter ${v.manifest.securityCounter}), signed by kid ${toHex(kid)}`,
      );
      out.line(`manifest id  ${toHex(id)}`);
      for (const l of manifestLines(v.manifest)) out.line(l);
      return EXIT.ok;
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      out.data({ ok: true, valid: false, reason: { code: e.code, message: e.message } });
      out.line(`INVALID: ${e.code}: ${e.message}`);
      return EXIT.failure;
    }
  },
};

/** Human lines of an inspect report. */
function reportLines(file: string, r: ImageReport): string[] {
  const lines = [`image        ${file} (${r.size} bytes)`];
  if (r.manifestId) lines.push(`manifest id  ${toHex(r.manifestId)}`);
  if (r.manifest) {
    const trusted = r.signature.checked && r.signature.valid;
    if (!r.signature.checked) lines.push('(signature not checked: the manifest is NOT authenticated; give --key PUB to verify)');
    else if (!trusted) lines.push('(signature INVALID: the manifest is NOT authenticated)');
    lines.push(...manifestLines(r.manifest));
    lines.push(
      r.payloadMatches
        ? 'digest       the payload matches the manifest'
        : `digest       the payload (${r.payloadLength} bytes) DOES NOT match the manifest`,
    );
  }
  if (r.kid) lines.push(`kid          ${toHex(r.kid)}`);
  if (!r.signature.checked) lines.push('signature    not checked');
  else if (r.signature.valid) lines.push(`signature    valid, signer ${toHex(r.signature.signer as Uint8Array)}`);
  else lines.push('signature    INVALID');
  if (r.error) lines.push(`error        ${r.error.code}: ${r.error.message}`);
  return lines;
}

const inspectCmd: Command = {
  name: 'fw inspect',
  summary: 'show the manifest of a firmware image (and verify it with --key)',
  help: `Usage: enigm fw inspect [--key PUB ...] [--json] IMAGE

Prints what IMAGE holds: size, manifest id, the manifest fields (model, version, security
counter, payload size and SHA-256, build time, description), the kid, and whether the payload
matches the manifest. Without --key the signature is not checked and the manifest is shown as
NOT authenticated; with --key the signature is verified as by enigm fw verify.

Exit status: 0 when every check made passed; 1 otherwise (the error code is printed); 2 usage.

--json prints {ok, valid, size, manifestLength, payloadLength, manifestId, manifest, kid,
payloadMatches, signature: {checked, valid, signer, signerKid}, error: {code, message}}.

Examples:
  enigm fw inspect firmware.bin.ekfw
  enigm fw inspect --key release.pub --json firmware.bin.ekfw`,
  options: { key: { type: 'string', short: 'k', multiple: true } },
  positionals: true,
  async run(args, out) {
    const file = onePositional(args, 'IMAGE file');
    const keys = args.values.key === undefined ? undefined : publicKeys(args);
    const image = readInputFile(file, 'IMAGE');
    const r = inspectImage(image, keys);
    const signer = r.signature.checked && r.signature.valid ? r.signature.signer : undefined;
    out.data({
      ok: true,
      valid: r.error === undefined,
      ...r,
      signature: { ...r.signature, ...(signer ? { signerKid: manifestKid(signer) } : {}) },
    });
    for (const l of reportLines(file, r)) out.line(l);
    return r.error === undefined ? EXIT.ok : EXIT.failure;
  },
};

/** Commands under `enigm fw` for images: keygen, sign, verify, inspect. */
export const fwImageCommands: Command[] = [keygenCmd, signCmd, verifyCmd, inspectCmd];
