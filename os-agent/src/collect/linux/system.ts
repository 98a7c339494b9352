/**
 * OS and kernel version (`/etc/os-release` `ID` + `VERSION_ID` only; `/proc/sys/kernel/osrelease`,
 * never `/proc/version`, which names the build host and user), firewall presence (no privileged
 * command is run) and TPM presence and PCR banks.
 * @module
 */
import {
  type Collector,
  type FirewallFramework,
  okSignal,
  type PcrBank,
  SIGNALS,
  type Signal,
  unknownSignal,
} from '../../signals.ts';
import { exists, type LinuxSourceOptions, readText } from './read.ts';

/** Source labels. */
export const SYSTEM_SOURCES = {
  os: 'linux:/etc/os-release',
  kernel: 'linux:/proc/sys/kernel/osrelease',
  firewall: 'linux:/proc/net',
  tpm: 'linux:/sys/class/tpm',
  pcrBanks: 'tpm',
} as const;

/** `KEY=value` pairs of an os-release file (quotes and backslash escapes removed). */
export function parseOsRelease(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2] as string;
    const q = /^(["'])(.*)\1$/.exec(v);
    if (q) v = (q[2] as string).replace(/\\(.)/g, '$1');
    out.set(m[1] as string, v);
  }
  return out;
}

/** Reads `os.version` (os-release at /etc, then /usr/lib). */
export async function readOsVersion(opts: LinuxSourceOptions, now: number): Promise<Signal> {
  const o = { source: SYSTEM_SOURCES.os, now };
  let r = await readText(opts, '/etc/os-release');
  if (!r.ok && r.missing) r = await readText(opts, '/usr/lib/os-release');
  if (!r.ok) return unknownSignal('os.version', `os-release ${r.reason}`, o);
  const kv = parseOsRelease(r.text);
  const id = kv.get('ID');
  const versionId = kv.get('VERSION_ID');
  if (id === undefined) return unknownSignal('os.version', 'os-release has no ID', o);
  if (versionId === undefined) return unknownSignal('os.version', 'os-release has no VERSION_ID (a rolling release?)', o);
  const value = { id, versionId };
  if (!SIGNALS['os.version'].check(value))
    return unknownSignal('os.version', 'os-release ID or VERSION_ID has an unexpected format', o);
  return okSignal('os.version', value, o);
}

/** Reads `kernel.version` from `/proc/sys/kernel/osrelease`. */
export async function readKernelVersion(opts: LinuxSourceOptions, now: number): Promise<Signal> {
  const o = { source: SYSTEM_SOURCES.kernel, now };
  const r = await readText(opts, '/proc/sys/kernel/osrelease', 256);
  if (!r.ok) return unknownSignal('kernel.version', `kernel release ${r.reason}`, o);
  if (!SIGNALS['kernel.version'].check(r.text))
    return unknownSignal('kernel.version', 'kernel release has an unexpected format', o);
  return okSignal('kernel.version', r.text, o);
}

/**
 * Reads `firewall.present`: iptables/ip6tables tables loaded (`/proc/net/ip_tables_names`,
 * `/proc/net/ip6_tables_names`, non-empty) and nftables loaded (`/sys/module/nf_tables`). Reading
 * a table list needs no privilege beyond file access; no `iptables`/`nft` command is run. Unknown
 * when no framework is seen and a source could not be read.
 */
export async function readFirewall(opts: LinuxSourceOptions, now: number): Promise<Signal> {
  const o = { source: SYSTEM_SOURCES.firewall, now };
  const frameworks: FirewallFramework[] = [];
  let unreadable = false;
  for (const [fw, file] of [
    ['iptables', '/proc/net/ip_tables_names'],
    ['ip6tables', '/proc/net/ip6_tables_names'],
  ] as const) {
    const r = await readText(opts, file, 4096);
    if (r.ok) {
      if (r.text !== '') frameworks.push(fw);
    } else if (!r.missing) unreadable = true;
  }
  const nft = await exists(opts, '/sys/module/nf_tables');
  if (nft === true) frameworks.push('nftables');
  if (nft === null) unreadable = true;
  frameworks.sort();
  if (frameworks.length === 0 && unreadable)
    return unknownSignal('firewall.present', 'packet-filter state not readable by the agent', o);
  if (frameworks.length === 0 && (await exists(opts, '/proc/net')) !== true) {
    return unknownSignal('firewall.present', 'network state of the kernel not visible (no proc file system)', o);
  }
  return okSignal('firewall.present', { present: frameworks.length > 0, frameworks }, o);
}

/** Reads `tpm.present`: a TPM device node or sysfs class entry, and its major version. */
export async function readTpmPresence(opts: LinuxSourceOptions, now: number): Promise<Signal> {
  const o = { source: SYSTEM_SOURCES.tpm, now };
  const sys = await exists(opts, '/sys/class/tpm/tpm0');
  const dev = (await exists(opts, '/dev/tpmrm0')) === true || (await exists(opts, '/dev/tpm0')) === true;
  if (sys !== true && !dev) {
    if ((await exists(opts, '/sys/class')) !== true) return unknownSignal('tpm.present', 'sysfs not visible', o);
    return okSignal('tpm.present', 'none', o);
  }
  const major = await readText(opts, '/sys/class/tpm/tpm0/tpm_version_major', 16);
  if (major.ok && major.text === '2') return okSignal('tpm.present', 'tpm2', o);
  if (major.ok && major.text === '1') return okSignal('tpm.present', 'tpm1.2', o);
  // Older kernels have no tpm_version_major; a resource-manager node exists only for TPM 2.0.
  if ((await exists(opts, '/dev/tpmrm0')) === true) return okSignal('tpm.present', 'tpm2', o);
  return unknownSignal('tpm.present', 'a TPM is present but its version is not readable', o);
}

/** Options of {@link tpmCollector}. */
export interface TpmCollectorOptions extends LinuxSourceOptions {
  /**
   * Reads the allocated PCR banks from the TPM (the agent connects its TPM client here). Without
   * it `tpm.pcrBanks` is unknown.
   */
  pcrBanks?: (signal?: AbortSignal) => Promise<PcrBank[]>;
}

const BANK_ORDER: readonly PcrBank[] = ['sha1', 'sha256', 'sha384', 'sha512', 'sm3_256'];

/** Reads `tpm.pcrBanks` through the injected function. */
export async function readPcrBanks(
  read: TpmCollectorOptions['pcrBanks'],
  now: () => number,
  signal?: AbortSignal,
): Promise<Signal> {
  if (!read) return unknownSignal('tpm.pcrBanks', 'no TPM client configured', { source: SYSTEM_SOURCES.pcrBanks, now: now() });
  try {
    const banks = [...new Set(await read(signal))].sort((a, b) => BANK_ORDER.indexOf(a) - BANK_ORDER.indexOf(b));
    const o = { source: SYSTEM_SOURCES.pcrBanks, now: now() };
    if (!SIGNALS['tpm.pcrBanks'].check(banks)) return unknownSignal('tpm.pcrBanks', 'the TPM reported an unknown PCR bank', o);
    return okSignal('tpm.pcrBanks', banks, o);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    return unknownSignal('tpm.pcrBanks', `TPM not usable${typeof code === 'string' ? ` (${code})` : ''}`, {
      source: SYSTEM_SOURCES.pcrBanks,
      now: now(),
    });
  }
}

/** Collector of `os.version` and `kernel.version`. */
export function versionCollector(opts: LinuxSourceOptions = {}): Collector {
  return {
    name: 'linux.version',
    signals: ['os.version', 'kernel.version'],
    collect: async (ctx) => [await readOsVersion(opts, ctx.now()), await readKernelVersion(opts, ctx.now())],
  };
}

/** Collector of `firewall.present`. */
export function firewallCollector(opts: LinuxSourceOptions = {}): Collector {
  return { name: 'linux.firewall', signals: ['firewall.present'], collect: async (ctx) => [await readFirewall(opts, ctx.now())] };
}

/**
 * Collector of `tpm.present` and `tpm.pcrBanks`. With a `pcrBanks` reader the TPM client is asked
 * whatever the device nodes say; when it answers, `tpm.present` is `tpm2` from source `tpm` (a TPM
 * the agent reaches another way, e.g. swtpm in a lab). Without one, the banks are unknown.
 */
export function tpmCollector(opts: TpmCollectorOptions = {}): Collector {
  return {
    name: 'linux.tpm',
    signals: ['tpm.present', 'tpm.pcrBanks'],
    async collect(ctx) {
      const presence = await readTpmPresence(opts, ctx.now());
      if (!opts.pcrBanks && presence.status === 'ok' && presence.value !== 'tpm2') {
        const why = presence.value === 'none' ? 'no TPM' : 'PCR banks are read from TPM 2.0 only';
        return [presence, unknownSignal('tpm.pcrBanks', why, { source: SYSTEM_SOURCES.pcrBanks, now: ctx.now() })];
      }
      const banks = await readPcrBanks(opts.pcrBanks, ctx.now, ctx.signal);
      if (banks.status === 'ok' && presence.value !== 'tpm2') {
        return [okSignal('tpm.present', 'tpm2', { source: SYSTEM_SOURCES.pcrBanks, now: ctx.now() }), banks];
      }
      return [presence, banks];
    },
  };
}
