/**
 * `enigm cose keygen | sign | verify`: Ed25519 signing keys as PEM files and COSE_Sign1
 * (RFC 9052, EdDSA) signatures over files. Thin: every step is a call into
 * `protocols/src/crypto` or `protocols/src/cose`.
 * @module
 */

import { toHex } from '@enigm/protocols/bytes';
import type { CborValue } from '@enigm/protocols/cbor';
import { parseHex, Tagged } from '@enigm/protocols/cbor';
import { type CoseHeaderMap, decodeSign1, type Sign1, signSign1, verifySign1 } from '@enigm/protocols/cose';
import { ed25519PrivateKeyFromPem, ed25519PublicKeyFromPem } from '@enigm/protocols/crypto';
import { ProtocolError } from '@enigm/protocols/errors';
import {
  type Command,
  EXIT,
  type ParsedArgs,
  readInput,
  readInputFile,
  readTextFile,
  str,
  UsageError,
  writeOutputFile,
} from '../cli.ts';
import { writeSigningKeyPair } from '../keyfiles.ts';

/** Names of the RFC 9052 §3.1 header labels, for human output. */
const LABEL_NAMES = new Map<unknown, string>([
  [1, 'alg'],
  [2, 'crit'],
  [3, 'content type'],
  [4, 'kid'],
  [5, 'IV'],
  [6, 'Partial IV'],
]);

/** The single positional FILE argument. */
function oneFile(args: ParsedArgs): string {
  if (args.positionals.length !== 1) throw new UsageError('give exactly one FILE (or - for stdin)');
  return args.positionals[0] as string;
}

/** `--aad HEX` as bytes (default empty). */
function aadOption(args: ParsedArgs): Uint8Array {
  const v = str(args, 'aad');
  if (v === undefined) return new Uint8Array(0);
  try {
    return parseHex(v);
  } catch (e) {
    throw new UsageError(`--aad: ${(e as Error).message}`);
  }
}

function requiredOption(args: ParsedArgs, name: string): string {
  const v = str(args, name);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

/** A CBOR header value as JSON: bytes as hex, maps as objects, tags as {tag, value}. */
function toJson(v: CborValue): unknown {
  if (v instanceof Uint8Array) return toHex(v);
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(toJson);
  if (v instanceof Map) return headersJson(v);
  if (v instanceof Tagged) return { tag: v.tag, value: toJson(v.value) };
  return v;
}

/** A header bucket as a JSON object keyed by label. */
function headersJson(h: CoseHeaderMap): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of h) o[String(k)] = toJson(v);
  return o;
}

/** UTF-8 text of `b` if it decodes and has no control characters other than tab and newlines. */
function printableText(b: Uint8Array): string | undefined {
  try {
    const s = new TextDecoder('utf-8', { fatal: true }).decode(b);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: detecting control characters is the point
    return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s) ? undefined : s;
  } catch {
    return undefined;
  }
}

/** A header value for humans: bytes as `h'…'` (with their text when printable), text quoted. */
function showValue(v: CborValue): string {
  if (v instanceof Uint8Array) {
    const text = v.length > 0 ? printableText(v) : undefined;
    return `h'${toHex(v)}'${text === undefined ? '' : ` = ${JSON.stringify(text)}`}`;
  }
  return JSON.stringify(toJson(v));
}

function headerLines(title: string, h: CoseHeaderMap): string[] {
  if (h.size === 0) return [`${title}: (none)`];
  return [
    `${title}:`,
    ...[...h].map(([k, v]) => {
      const name = LABEL_NAMES.get(k);
      const shown = showValue(v);
      const note = k === 1 && v === -8 ? ' (EdDSA)' : '';
      return `  ${name ? `${name} (${String(k)})` : String(k)}: ${shown}${note}`;
    }),
  ];
}

const keygenCmd: Command = {
  name: 'cose keygen',
  summary: 'make an Ed25519 signing key pair as PEM files (PREFIX.key, PREFIX.pub)',
  help: `Usage: enigm cose keygen [--out PREFIX] [--force] [--json]

Generates an Ed25519 key pair and writes PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub
(SubjectPublicKeyInfo PEM), both readable by OpenSSL. Prints the public key in hex.
Refuses to overwrite existing files unless --force.

Options:
  --out PREFIX   file name prefix (default enigm-signing)
  --force        overwrite existing PREFIX.key / PREFIX.pub

Examples:
  enigm cose keygen                          # enigm-signing.key, enigm-signing.pub
  enigm cose keygen --out release --json     # {"ok":true,"publicKey":"…","key":"release.key",…}
  openssl pkey -in release.key -pubout       # same as release.pub`,
  options: { out: { type: 'string', short: 'o' }, force: { type: 'boolean' } },
  async run(args, out) {
    const { keyFile, pubFile, publicKey } = writeSigningKeyPair(str(args, 'out') ?? 'enigm-signing', args.values.force === true);
    out.data({ ok: true, publicKey, key: keyFile, pub: pubFile });
    out.line(`public key  ${toHex(publicKey)}`);
    out.line(`private     ${keyFile} (mode 0600)`);
    out.line(`public      ${pubFile}`);
    return EXIT.ok;
  },
};

const signCmd: Command = {
  name: 'cose sign',
  summary: 'sign a file as a COSE_Sign1 (EdDSA/Ed25519)',
  help: `Usage: enigm cose sign --key KEY [--aad HEX] [--kid TEXT] [--detached] [--untagged]
                       [--out F] [--json] FILE

Signs FILE (or stdin with -) with the Ed25519 private key in KEY (PKCS#8 PEM) and writes a
COSE_Sign1 (RFC 9052; protected {alg: EdDSA}, tag 18) to --out (default FILE.cose).

Options:
  --key KEY      private key PEM (e.g. from enigm cose keygen or openssl genpkey -algorithm ed25519)
  --aad HEX      external additional authenticated data (the verifier must give the same)
  --kid TEXT     key identifier, put in the unprotected header (label 4) as UTF-8 bytes
  --detached     leave the payload out (nil); verify with --payload FILE
  --untagged     omit the COSE_Sign1 tag 18
  --out F        output file (required when FILE is -)

Examples:
  enigm cose sign --key enigm-signing.key firmware.bin         # firmware.bin.cose
  enigm cose sign --key k.key --aad 0011 --kid release-2 notes.txt --json
  cat report.json | enigm cose sign --key k.key --out report.cose -`,
  options: {
    key: { type: 'string', short: 'k' },
    aad: { type: 'string' },
    kid: { type: 'string' },
    detached: { type: 'boolean' },
    untagged: { type: 'boolean' },
    out: { type: 'string', short: 'o' },
  },
  positionals: true,
  async run(args, out) {
    const file = oneFile(args);
    const keyFile = requiredOption(args, 'key');
    const outFile = str(args, 'out') ?? (file === '-' ? undefined : `${file}.cose`);
    if (outFile === undefined) throw new UsageError('--out is required when reading stdin');
    const externalAad = aadOption(args);
    const kid = str(args, 'kid');
    const seed = ed25519PrivateKeyFromPem(readTextFile(keyFile, '--key'));
    const payload = await readInput(file, 'FILE', { allowEmpty: true });
    const cose = signSign1({
      payload,
      seed,
      externalAad,
      kid: kid === undefined ? undefined : new TextEncoder().encode(kid),
      detached: args.values.detached === true,
      tagged: args.values.untagged !== true,
    });
    writeOutputFile(outFile, cose, '--out');
    out.data({ ok: true, out: outFile, size: cose.length, hex: cose });
    out.line(`wrote ${outFile} (${cose.length} bytes)`);
    return EXIT.ok;
  },
};

const verifyCmd: Command = {
  name: 'cose verify',
  summary: 'verify a COSE_Sign1 (EdDSA/Ed25519); exit 0 valid, 1 invalid',
  help: `Usage: enigm cose verify --key PUB [--aad HEX] [--payload F] [--json] FILE

Verifies the COSE_Sign1 in FILE (or stdin with -) against the Ed25519 public key in PUB (a
PUBLIC KEY PEM; a private key PEM also works). Checks the structure, that alg is EdDSA (-8)
in the protected header, critical headers, and the signature (strict: small-order keys and
malleable signatures are refused). Tagged (18) and untagged messages are accepted.

Invalid messages print their reason code, e.g. CRYPTO_BAD_SIGNATURE, COSE_UNSUPPORTED_ALG,
COSE_MALFORMED, CBOR_TRUNCATED.

Options:
  --key PUB      public key PEM
  --aad HEX      external additional authenticated data used when signing
  --payload F    the payload of a detached signature

--json prints {ok, valid, headers: {protected, unprotected}, payload (hex), payloadText
(when printable UTF-8), kidText (the kid as text, when printable UTF-8), reason ({code,
message}, when invalid)}. "ok" is true when the check ran; "valid" is its verdict. Header maps
are keyed by label; byte strings are hex, text strings are text. Human output shows byte
strings as h'…' followed by their text when printable. Unprotected headers are not covered by
the signature.

Exit status: 0 valid; 1 invalid, or an input that cannot be read (INPUT_NOT_FOUND,
INPUT_UNREADABLE) or a key that is not an Ed25519 PEM (CRYPTO_INVALID_KEY); 2 usage error.

Examples:
  enigm cose verify --key enigm-signing.pub firmware.bin.cose && echo good
  enigm cose verify --key k.pub --aad 0011 --json notes.txt.cose
  enigm cose verify --key k.pub --payload big.iso big.iso.cose`,
  options: {
    key: { type: 'string', short: 'k' },
    aad: { type: 'string' },
    payload: { type: 'string' },
  },
  positionals: true,
  async run(args, out) {
    const file = oneFile(args);
    const keyFile = requiredOption(args, 'key');
    const externalAad = aadOption(args);
    const payloadFile = str(args, 'payload');
    const publicKey = ed25519PublicKeyFromPem(readTextFile(keyFile, '--key'));
    const detachedPayload = payloadFile === undefined ? undefined : readInputFile(payloadFile, '--payload');
    const bytes = await readInput(file, 'FILE', { allowEmpty: true });

    let s: Sign1 | undefined;
    let reason: { code: string; message: string } | undefined;
    try {
      s = verifySign1(bytes, publicKey, { externalAad, detachedPayload });
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      reason = { code: e.code, message: e.message };
      try {
        s = decodeSign1(bytes); // show what was there, untrusted
      } catch {
        s = undefined;
      }
    }
    const valid = reason === undefined;
    const payload = s?.payload ?? detachedPayload;
    const text = payload ? printableText(payload) : undefined;
    const kid = s?.unprotectedHeaders.get(4) ?? s?.protectedHeaders.get(4);
    const kidText = kid instanceof Uint8Array && kid.length > 0 ? printableText(kid) : typeof kid === 'string' ? kid : undefined;
    out.data({
      ok: true,
      valid,
      ...(s ? { headers: { protected: headersJson(s.protectedHeaders), unprotected: headersJson(s.unprotectedHeaders) } } : {}),
      ...(payload ? { payload: toHex(payload) } : {}),
      ...(text !== undefined ? { payloadText: text } : {}),
      ...(kidText !== undefined ? { kidText } : {}),
      ...(s ? { detached: s.payload === null, tagged: s.tagged } : {}),
      ...(reason ? { reason } : {}),
    });
    out.line(valid ? `valid: signature verifies (${file})` : `INVALID: ${reason?.code}: ${reason?.message}`);
    if (!valid && s) out.line('(what follows is NOT authenticated)');
    if (s) {
      for (const l of headerLines('protected', s.protectedHeaders)) out.line(l);
      for (const l of headerLines('unprotected (not signed)', s.unprotectedHeaders)) out.line(l);
    }
    if (payload) {
      out.line(`payload: ${payload.length} bytes${s?.payload === null ? ' (detached)' : ''}`);
      if (text !== undefined && text.length <= 200) out.line(`  ${JSON.stringify(text)}`);
    }
    return valid ? EXIT.ok : EXIT.failure;
  },
};

/** Commands under `enigm cose`. */
export const coseCommands: Command[] = [keygenCmd, signCmd, verifyCmd];
