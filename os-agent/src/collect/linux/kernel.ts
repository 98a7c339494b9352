/**
 * Boot and kernel hardening collectors: UEFI Secure Boot (efivars), kernel lockdown and the active
 * LSMs (securityfs). Each reads only the few bytes it reports and degrades to unknown with a reason
 * where the source is absent (no EFI, securityfs not mounted, containers).
 * @module
 */
import { type Collector, okSignal, type Signal, type SignalName, unknownSignal } from '../../signals.ts';
import { exists, type LinuxSourceOptions, readBounded, readText } from './read.ts';

/** EFI global variable GUID (UEFI spec, EFI_GLOBAL_VARIABLE). */
export const EFI_GLOBAL_GUID = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
const EFIVARS = '/sys/firmware/efi/efivars';

/** Source labels. */
export const KERNEL_SOURCES = {
  secureboot: 'linux:/sys/firmware/efi',
  lockdown: 'linux:/sys/kernel/security/lockdown',
  lsm: 'linux:lsm',
} as const;

/** Reads a 1-byte EFI boolean variable (4 attribute bytes, then the value). */
async function efiBool(
  opts: LinuxSourceOptions,
  name: string,
): Promise<{ ok: true; on: boolean } | { ok: false; reason: string }> {
  const r = await readBounded(opts, `${EFIVARS}/${name}-${EFI_GLOBAL_GUID}`, 64);
  if (!r.ok) return { ok: false, reason: `EFI variable ${name} ${r.reason}` };
  if (r.bytes.length !== 5 || (r.bytes[4] as number) > 1) return { ok: false, reason: `EFI variable ${name} is malformed` };
  return { ok: true, on: r.bytes[4] === 1 };
}

/** Secure Boot state from the SecureBoot and SetupMode EFI variables. */
export async function readSecureBoot(opts: LinuxSourceOptions, now: number): Promise<Signal> {
  const o = { source: KERNEL_SOURCES.secureboot, now };
  const efi = await exists(opts, '/sys/firmware/efi');
  if (efi === false) return unknownSignal('secureboot', 'no EFI firmware interface (legacy boot, or a container without it)', o);
  if (efi === null) return unknownSignal('secureboot', 'EFI firmware interface not readable by the agent', o);
  const setup = await efiBool(opts, 'SetupMode');
  if (setup.ok && setup.on) return okSignal('secureboot', 'setup-mode', o);
  const sb = await efiBool(opts, 'SecureBoot');
  if (!sb.ok) return unknownSignal('secureboot', sb.reason, o);
  return okSignal('secureboot', sb.on ? 'enabled' : 'disabled', o);
}

/** Kernel lockdown mode: the bracketed entry of `/sys/kernel/security/lockdown`. */
export async function readLockdown(opts: LinuxSourceOptions, now: number): Promise<Signal> {
  const o = { source: KERNEL_SOURCES.lockdown, now };
  const r = await readText(opts, '/sys/kernel/security/lockdown', 256);
  if (!r.ok) {
    return unknownSignal(
      'kernel.lockdown',
      r.missing
        ? 'lockdown interface not present (securityfs not mounted, or kernel without lockdown)'
        : `lockdown interface ${r.reason}`,
      o,
    );
  }
  const m = /\[(none|integrity|confidentiality)\]/.exec(r.text);
  if (!m) return unknownSignal('kernel.lockdown', 'lockdown interface has an unexpected format', o);
  return okSignal('kernel.lockdown', m[1] as 'none' | 'integrity' | 'confidentiality', o);
}

/** Active LSMs: the comma list of `/sys/kernel/security/lsm`. */
export async function readLsm(opts: LinuxSourceOptions, now: number): Promise<Signal> {
  const o = { source: KERNEL_SOURCES.lsm, now };
  const r = await readText(opts, '/sys/kernel/security/lsm', 1024);
  if (!r.ok) {
    return unknownSignal('lsm.active', r.missing ? 'LSM list not present (securityfs not mounted)' : `LSM list ${r.reason}`, o);
  }
  const names = r.text === '' ? [] : r.text.split(',');
  if (names.length > 32 || !names.every((n) => /^[a-z0-9_]{1,32}$/.test(n))) {
    return unknownSignal('lsm.active', 'LSM list has an unexpected format', o);
  }
  return okSignal('lsm.active', names, o);
}

function single(name: string, signal: SignalName, read: (opts: LinuxSourceOptions, now: number) => Promise<Signal>) {
  return (opts: LinuxSourceOptions = {}): Collector => ({
    name,
    signals: [signal],
    collect: async (ctx) => [await read(opts, ctx.now())],
  });
}

/** Collector of `secureboot`. */
export const secureBootCollector: (opts?: LinuxSourceOptions) => Collector = single(
  'linux.secureboot',
  'secureboot',
  readSecureBoot,
);
/** Collector of `kernel.lockdown`. */
export const lockdownCollector: (opts?: LinuxSourceOptions) => Collector = single(
  'linux.lockdown',
  'kernel.lockdown',
  readLockdown,
);
/** Collector of `lsm.active`. */
export const lsmCollector: (opts?: LinuxSourceOptions) => Collector = single('linux.lsm', 'lsm.active', readLsm);
