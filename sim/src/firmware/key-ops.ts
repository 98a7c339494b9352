/**
 * The {@link KeyOps} view of a {@link KeyFirmware}: what the dispatch table (`commands.ts`) runs
 * its handlers against — the Key's configuration, live state read through getters, and its
 * operations — built once at boot from the firmware's public members and the few private parts
 * it hands over ({@link FirmwareOwnParts}).
 * @module
 */
import type { HostRole } from '@enigm/protocols/messages';
import { identityCsr } from './certificate.ts';
import type { KeyOps } from './commands.ts';
import { buildEvidence } from './evidence.ts';
import type { KeyFirmware } from './firmware.ts';
import type { KeyFlash } from './key-flash.ts';
import type { WireError } from './result.ts';
import type { SecureElement } from './secure-element.ts';

/** The private parts of a {@link KeyFirmware} its {@link KeyOps} need. */
export interface FirmwareOwnParts {
  /** The updatable flash, if the Key has one. */
  readonly flash: KeyFlash | undefined;
  /** The current secure element (a wipe replaces it: read at each use). */
  secureElement(): SecureElement;
  /** Pairs `hostKey` (or finds it paired): the granted role, or the refusal. */
  pair(hostKey: Uint8Array, role: HostRole, label: string | undefined): HostRole | WireError;
}

/**
 * The {@link KeyOps} of `fw`: its configuration copied, its state read live, its operations
 * delegated (`rebootSoon` reboots after the current answer has gone out).
 */
export function keyOpsOf(fw: KeyFirmware, own: FirmwareOwnParts): KeyOps {
  const c = fw.config;
  return {
    model: c.model,
    hardware: c.hardware,
    maxFrame: c.maxFrame,
    window: c.window,
    get batteryPct() {
      return Math.round(fw.battery.level);
    },
    get batteryCritical() {
      return fw.battery.critical && !fw.battery.charging;
    },
    get state() {
      return fw.state;
    },
    get handle() {
      return fw.handle;
    },
    get bootCount() {
      return fw.bootCount;
    },
    get firmwareVersion() {
      return fw.firmwareVersion;
    },
    get pairable() {
      return fw.pairable;
    },
    flash: own.flash,
    uptimeMs: () => fw.uptimeMs(),
    hosts: () => fw.hosts(),
    transition: (e) => fw.transition(e),
    pair: (hostKey, role, label) => own.pair(hostKey, role, label),
    evidence: (nonce, role) => buildEvidence(fw, nonce, role),
    rebootSoon: () => queueMicrotask(() => fw.reboot()), // after the answer has gone out
    csr: () => identityCsr(own.secureElement()),
    installChain: (chain) => fw.installChain(chain),
    setTime: (ms) => fw.setTime(ms),
    hostByKeyId: (id) => fw.hostByKeyId(id),
    removeHost: (hostKey) => fw.removeHost(hostKey),
    retire: () => fw.retire(),
    emergency: fw.emergency,
  };
}
