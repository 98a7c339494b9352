/**
 * `enigm cbor decode`: any CBOR (a sequence of items) in RFC 8949 §8 diagnostic notation.
 * @module
 */
import { readFileSync } from 'node:fs';
import { parseHex, toDiagnosticSequence } from '@enigm/protocols/cbor';
import { type Command, EXIT, str, UsageError } from '../cli.ts';

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Decides whether input bytes are hex text (then parsed) or raw CBOR. */
function bytesFromInput(raw: Uint8Array, forceHex: boolean): Uint8Array {
  const text = Buffer.from(raw).toString('latin1').trim();
  if (forceHex || /^(0x)?[0-9a-fA-F\s]*$/.test(text)) return parseHex(text);
  return raw;
}

const decodeCmd: Command = {
  name: 'cbor decode',
  summary: 'print CBOR in RFC 8949 diagnostic notation, one item per line',
  help: `Usage: enigm cbor decode [HEX | --file F | -] [--hex] [--json]

Decodes any well-formed CBOR (a sequence of items) and prints each top-level item in
RFC 8949 §8 diagnostic notation, one per line. Accepts indefinite lengths, any tag and
simple value; rejects malformed input with a typed error and its byte offset.

Input: a hex argument (whitespace and 0x allowed), --file F (raw CBOR, or hex text), or
'-' / nothing with stdin piped (raw or hex). --hex forces hex parsing of file/stdin.

Examples:
  enigm cbor decode 83010203            # [1, 2, 3]
  enigm cbor decode --file msg.cbor
  xxd -p msg.cbor | enigm cbor decode -
  enigm cbor decode a201020304 --json   # {"items":["{1: 2, 3: 4}"]}`,
  options: { file: { type: 'string', short: 'f' }, hex: { type: 'boolean' } },
  positionals: true,
  async run(args, out) {
    const file = str(args, 'file');
    const pos = args.positionals;
    if (pos.length > 1) throw new UsageError('give one HEX argument (quote it if it has spaces)');
    if (file && pos.length) throw new UsageError('give either HEX or --file, not both');
    let bytes: Uint8Array;
    try {
      if (file) bytes = bytesFromInput(readFileSync(file), args.values.hex === true);
      else if (pos.length === 1 && pos[0] !== '-') bytes = parseHex(pos[0] as string);
      else if (pos[0] === '-' || !process.stdin.isTTY) bytes = bytesFromInput(await readStdin(), args.values.hex === true);
      else throw new UsageError('no input: give HEX, --file F, or pipe into -');
    } catch (e) {
      if (e instanceof TypeError) throw new UsageError(e.message);
      throw e;
    }
    const items = toDiagnosticSequence(bytes);
    out.data({ ok: true, items });
    for (const i of items) out.line(i);
    return EXIT.ok;
  },
};

/** Commands under `enigm cbor`. */
export const cborCommands: Command[] = [decodeCmd];
