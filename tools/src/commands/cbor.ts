/**
 * `enigm cbor decode`: any CBOR (a sequence of items) in RFC 8949 §8 diagnostic notation.
 * @module
 */
import { diagnosticItems, parseHex } from '@enigm/protocols/cbor';
import { CliError, type Command, EXIT, readInputFile, readStdin, showPath, str, UsageError } from '../cli.ts';

/** Where the input came from, for messages. */
type Source = { kind: 'file'; path: string } | { kind: 'stdin' };

function sourceName(s: Source): string {
  return s.kind === 'file' ? `--file ${showPath(s.path)}` : 'stdin';
}

/**
 * Decides whether input bytes are hex text (then parsed) or raw CBOR.
 * @throws {@link CliError} `INPUT_INVALID` for bad hex, `INPUT_EMPTY` for no bytes
 */
function bytesFromInput(raw: Uint8Array, forceHex: boolean, source: Source): Uint8Array {
  if (raw.length === 0) throw new CliError('INPUT_EMPTY', `no CBOR to decode: ${sourceName(source)} is empty`);
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1').trim();
  if (!forceHex && !/^(0x)?[0-9a-fA-F\s]*$/.test(text)) return raw;
  let bytes: Uint8Array;
  try {
    bytes = parseHex(text);
  } catch (e) {
    // parseHex names the character and its offset (escaped), never echoes the input
    throw new CliError('INPUT_INVALID', `${sourceName(source)} is not hex text: ${(e as Error).message.replace(/^hex: /, '')}`, {
      cause: e,
    });
  }
  if (bytes.length === 0) throw new CliError('INPUT_EMPTY', `no CBOR to decode: ${sourceName(source)} has no hex digits`);
  return bytes;
}

/** Strings longer than this many bytes are shown truncated unless --full. */
const SHOWN_STRING_BYTES = 4096;

/** Writes `text` to stdout, waiting for the pipe to drain when it is full (bounded memory). */
async function writeOut(text: string): Promise<void> {
  if (!process.stdout.write(text)) await new Promise<void>((resolve) => process.stdout.once('drain', resolve));
}

const decodeCmd: Command = {
  name: 'cbor decode',
  summary: 'print CBOR in RFC 8949 diagnostic notation, one item per line',
  help: `Usage: enigm cbor decode [HEX | --file F | -] [--hex] [--full] [--json]

Decodes any well-formed CBOR (a sequence of items) and prints each top-level item in
RFC 8949 §8 diagnostic notation, one per line. Accepts indefinite lengths, any tag and
simple value; rejects malformed input with a typed error and its byte offset.

Input: a hex argument (whitespace and 0x allowed), --file F (raw CBOR, or hex text), or
'-' / nothing with stdin piped (raw or hex). --hex forces hex parsing of file/stdin.
An empty file or stdin is an error (INPUT_EMPTY, exit 1).

Byte and text strings longer than ${SHOWN_STRING_BYTES} bytes show their first ${SHOWN_STRING_BYTES} bytes (text:
characters), then "..." and a comment with their size, e.g. h'00…' / 10485760 bytes, 4096
bytes shown /; --full shows every string whole. Items are printed as they are decoded.

Exit status: 0 decoded; 1 malformed CBOR (CBOR_TRUNCATED, CBOR_RESERVED, …) or an input that
cannot be read (INPUT_NOT_FOUND, INPUT_UNREADABLE, INPUT_INVALID, INPUT_EMPTY); 2 usage error
(including a bad HEX argument).

Examples:
  enigm cbor decode 83010203            # [1, 2, 3]
  enigm cbor decode --file msg.cbor
  xxd -p msg.cbor | enigm cbor decode -
  enigm cbor decode a201020304 --json   # {"ok":true,"items":["{1: 2, 3: 4}"]}`,
  options: { file: { type: 'string', short: 'f' }, hex: { type: 'boolean' }, full: { type: 'boolean' } },
  positionals: true,
  async run(args, out) {
    const file = str(args, 'file');
    const pos = args.positionals;
    const forceHex = args.values.hex === true;
    if (pos.length > 1) throw new UsageError('give one HEX argument (quote it if it has spaces)');
    if (file !== undefined && pos.length) throw new UsageError('give either HEX or --file, not both');
    let bytes: Uint8Array;
    if (file !== undefined) bytes = bytesFromInput(readInputFile(file, '--file'), forceHex, { kind: 'file', path: file });
    else if (pos.length === 1 && pos[0] !== '-') {
      try {
        bytes = parseHex(pos[0] as string);
      } catch (e) {
        throw new UsageError(`HEX argument: ${(e as Error).message.replace(/^hex: /, '')}`);
      }
      if (bytes.length === 0) throw new UsageError('the HEX argument has no hex digits');
    } else if (pos[0] === '-' || !process.stdin.isTTY) bytes = bytesFromInput(await readStdin(), forceHex, { kind: 'stdin' });
    else throw new UsageError('no input: give HEX, --file F, or pipe into -');
    const items = diagnosticItems(bytes, args.values.full === true ? {} : { maxStringBytes: SHOWN_STRING_BYTES });
    // --json is one document: rendered whole first, so an error never leaves half of it printed
    if (out.json) out.data({ ok: true, items: [...items] });
    else for (const item of items) await writeOut(`${item}\n`);
    return EXIT.ok;
  },
};

/** Commands under `enigm cbor`. */
export const cborCommands: Command[] = [decodeCmd];
