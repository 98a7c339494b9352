/**
 * Plain-Linux posture collectors, each reading under an injectable root folder (default `/`).
 * @module
 */
import type { Collector } from '../../signals.ts';
import { diskEncryptionCollector } from './disk.ts';
import { lockdownCollector, lsmCollector, secureBootCollector } from './kernel.ts';
import type { LinuxSourceOptions } from './read.ts';
import { firewallCollector, type TpmCollectorOptions, tpmCollector, versionCollector } from './system.ts';

export * from './disk.ts';
export * from './kernel.ts';
export * from './read.ts';
export * from './system.ts';

/** Options of {@link linuxCollectors}. */
export type LinuxCollectorsOptions = LinuxSourceOptions & TpmCollectorOptions;

/**
 * Every plain-Linux collector: Secure Boot, lockdown, LSMs, root-disk encryption, OS and kernel
 * version, firewall, TPM presence and PCR banks.
 */
export function linuxCollectors(opts: LinuxCollectorsOptions = {}): Collector[] {
  return [
    secureBootCollector(opts),
    lockdownCollector(opts),
    lsmCollector(opts),
    diskEncryptionCollector(opts),
    versionCollector(opts),
    firewallCollector(opts),
    tpmCollector(opts),
  ];
}
