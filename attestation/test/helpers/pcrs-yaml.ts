/**
 * A purpose-made reader of the `pcrs:` section that `tpm2_eventlog` appends to its YAML output
 * (the only YAML the tests read, so no YAML dependency):
 *
 *     pcrs:
 *       sha1:
 *         0  : 0xa0487b…
 */
export type PcrsByBank = Map<string, Map<number, string>>;

/** Reads `pcrs:` → bank → PCR index → lowercase hex (no 0x). */
export function readPcrsSection(yaml: string): PcrsByBank {
  const lines = yaml.split('\n');
  const start = lines.indexOf('pcrs:');
  if (start < 0) throw new Error('no pcrs: section');
  const out: PcrsByBank = new Map();
  let bank: Map<number, string> | undefined;
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') continue;
    const b = /^ {2}(\w+):\s*$/.exec(line);
    const p = /^ {4}(\d+)\s*:\s*0x([0-9a-fA-F]+)\s*$/.exec(line);
    if (b) out.set(b[1] as string, (bank = new Map()));
    else if (p && bank) bank.set(Number(p[1]), (p[2] as string).toLowerCase());
    else break;
  }
  return out;
}
