/**
 * The closed posture signal table: every signal name with its value type, sources, default
 * freshness bound and privacy rationale, and a strict runtime check of each value. Re-exported by
 * `signals.ts` (import from there).
 * @module
 */

/** Trust Security Center overall posture level, as Enigm OS reports it. */
export type TscLevel = 'secure' | 'attention' | 'at-risk';
/** Device-management (MDM) enrolment state. */
export type MdmState = 'unmanaged' | 'enrolling' | 'enrolled' | 'enrolled-noncompliant';
/** Privacy-mode state. */
export type PrivacyMode = 'standard' | 'private' | 'strict';
/** VPN policy state. */
export type VpnState = 'off' | 'on' | 'always-on';
/** Which kind of eSIM profile is in use (never its identifiers). */
export type EsimProfile = 'none' | 'personal' | 'enterprise' | 'travel';
/** Network-service policy state: what is in use, never traffic, addresses or endpoints. */
export interface NetworkPolicy {
  /** VPN state. */
  vpn: VpnState;
  /** A proxy is configured for the device. */
  proxy: boolean;
  /** Traffic is routed through the Tor gateway. */
  torGateway: boolean;
  /** Kind of eSIM profile in use. */
  esimProfile: EsimProfile;
}
/** OTA update verification state of the running system image. */
export type OtaState = 'verified' | 'pending' | 'failed';
/** Outcome of the last remote attestation Enigm OS ran. */
export type AttestationOutcome = 'pass' | 'fail' | 'pending' | 'never';
/** UEFI Secure Boot state. */
export type SecureBootState = 'enabled' | 'disabled' | 'setup-mode';
/** Kernel lockdown mode. */
export type LockdownMode = 'none' | 'integrity' | 'confidentiality';
/** Root-device encryption state. */
export type DiskEncryption = 'encrypted' | 'unencrypted';
/** OS identity from os-release: `ID` and `VERSION_ID` only. */
export interface OsVersion {
  /** os-release `ID`, e.g. `debian`. */
  id: string;
  /** os-release `VERSION_ID`, e.g. `12`. */
  versionId: string;
}
/** A packet-filter framework. */
export type FirewallFramework = 'iptables' | 'ip6tables' | 'nftables';
/** Firewall presence: whether a packet filter is present and which frameworks were seen. */
export interface FirewallState {
  /** At least one framework has tables loaded (iptables) or is loaded and usable (nftables). */
  present: boolean;
  /** Frameworks seen, sorted. */
  frameworks: FirewallFramework[];
}
/** TPM presence and family. */
export type TpmPresence = 'tpm2' | 'tpm1.2' | 'none';
/** A TPM PCR bank (hash algorithm) name. */
export type PcrBank = 'sha1' | 'sha256' | 'sha384' | 'sha512' | 'sm3_256';
/** Severities of Active Defense findings, most severe first (the order aggregated findings come in). */
export const FINDING_SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
/** Severity of an Active Defense finding. */
export type FindingSeverity = (typeof FINDING_SEVERITIES)[number];
/** Categories of Active Defense findings (the order aggregated findings come in within a severity). */
export const FINDING_CATEGORIES = [
  'malware',
  'spyware',
  'phishing',
  'exploit',
  'network',
  'configuration',
  'permission',
  'other',
] as const;
/** Category of an Active Defense finding. */
export type FindingCategory = (typeof FINDING_CATEGORIES)[number];
/** One aggregated Active Defense finding: severity, category and how many — never content. */
export interface Finding {
  /** Severity. */
  severity: FindingSeverity;
  /** Category. */
  category: FindingCategory;
  /** Number of assessments with this severity and category (1..1,000,000). */
  count: number;
}

/** Value type of every signal, by name. */
export interface SignalValues {
  'tsc.posture': TscLevel;
  'mdm.state': MdmState;
  'privacy.mode': PrivacyMode;
  'network.policy': NetworkPolicy;
  'ota.verified': OtaState;
  'attestation.outcome': AttestationOutcome;
  secureboot: SecureBootState;
  'kernel.lockdown': LockdownMode;
  'lsm.active': string[];
  'disk.encryption.root': DiskEncryption;
  'os.version': OsVersion;
  'kernel.version': string;
  'firewall.present': FirewallState;
  'tpm.present': TpmPresence;
  'tpm.pcrBanks': PcrBank[];
  'activedefense.findings': Finding[];
}

/** A signal name: one of the closed list in {@link SIGNALS}. */
export type SignalName = keyof SignalValues;

/** The value type of signal `N`. */
export type SignalValue<N extends SignalName> = SignalValues[N];

/** One row of the signal table. */
export interface SignalSpec<N extends SignalName = SignalName> {
  /** What the value is, in one line (rendered into docs/posture.md). */
  readonly value: string;
  /**
   * Source labels that may produce the signal (rendered into docs/posture.md). An unknown signal
   * made by {@link collectAll} for a collector that timed out or failed has source `collector:<name>`.
   */
  readonly sources: readonly string[];
  /** Why collecting it is acceptable, and what it never contains (rendered into docs/posture.md). */
  readonly privacy: string;
  /** Default freshness bound in milliseconds. */
  readonly maxAgeMs: number;
  /** Whether the signal is optional (absent unless a collector for it is configured). */
  readonly optional: boolean;
  /** Strict runtime check of a value (e.g. after decoding a report). */
  readonly check: (value: unknown) => value is SignalValues[N];
}

const MINUTE = 60_000;
const oneOf =
  <T extends string>(...values: T[]) =>
  (v: unknown): v is T =>
    typeof v === 'string' && (values as string[]).includes(v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const exactKeys = (v: Record<string, unknown>, keys: string[]): boolean =>
  Object.keys(v).length === keys.length && keys.every((k) => k in v);
/** A short token: letters, digits, `_ . + ~ -`, 1..64 characters, starting with a letter or digit. */
const TOKEN = /^[A-Za-z0-9][A-Za-z0-9_.+~-]{0,63}$/;
const isToken = (v: unknown): v is string => typeof v === 'string' && TOKEN.test(v);
const isSortedUnique = (xs: readonly string[]): boolean => xs.every((x, i) => i === 0 || (xs[i - 1] as string) < x);
const listOf =
  <T>(item: (v: unknown) => v is T, max: number, sorted = false) =>
  (v: unknown): v is T[] =>
    Array.isArray(v) && v.length <= max && v.every(item) && (!sorted || isSortedUnique(v as string[]));

const isVpn = oneOf<VpnState>('off', 'on', 'always-on');
const isEsim = oneOf<EsimProfile>('none', 'personal', 'enterprise', 'travel');
const isFramework = oneOf<FirewallFramework>('iptables', 'ip6tables', 'nftables');
const isBank = oneOf<PcrBank>('sha1', 'sha256', 'sha384', 'sha512', 'sm3_256');
const isSeverity = oneOf<FindingSeverity>(...FINDING_SEVERITIES);
const isCategory = oneOf<FindingCategory>(...FINDING_CATEGORIES);
const isFinding = (v: unknown): v is Finding =>
  isObj(v) &&
  exactKeys(v, ['severity', 'category', 'count']) &&
  isSeverity(v.severity) &&
  isCategory(v.category) &&
  Number.isInteger(v.count) &&
  (v.count as number) >= 1 &&
  (v.count as number) <= 1_000_000;

const DAEMON = ['enigm-osd'];
const DAEMON_PRIVACY = 'state enum from the Enigm OS posture daemon;';

/**
 * The closed signal table: every signal name with its value type, sources, freshness bound and
 * privacy rationale. docs/posture.md "Signals" is generated from it (and a test checks they match).
 */
export const SIGNALS: { readonly [N in SignalName]: SignalSpec<N> } = {
  'tsc.posture': {
    value: '`secure` | `attention` | `at-risk`: Trust Security Center overall level',
    sources: DAEMON,
    privacy: `${DAEMON_PRIVACY} an aggregate level, no list of apps, files or issues`,
    maxAgeMs: 15 * MINUTE,
    optional: false,
    check: oneOf('secure', 'attention', 'at-risk'),
  },
  'mdm.state': {
    value: '`unmanaged` | `enrolling` | `enrolled` | `enrolled-noncompliant`',
    sources: DAEMON,
    privacy: `${DAEMON_PRIVACY} no MDM server name, tenant or account`,
    maxAgeMs: 60 * MINUTE,
    optional: false,
    check: oneOf('unmanaged', 'enrolling', 'enrolled', 'enrolled-noncompliant'),
  },
  'privacy.mode': {
    value: '`standard` | `private` | `strict`',
    sources: DAEMON,
    privacy: `${DAEMON_PRIVACY} the mode only, not what it hides`,
    maxAgeMs: 15 * MINUTE,
    optional: false,
    check: oneOf('standard', 'private', 'strict'),
  },
  'network.policy': {
    value: '`{ vpn: off|on|always-on, proxy: bool, torGateway: bool, esimProfile: none|personal|enterprise|travel }`',
    sources: DAEMON,
    privacy: `${DAEMON_PRIVACY} which network services are in use as policy state — never traffic, addresses, endpoints, carrier, ICCID or IMSI`,
    maxAgeMs: 15 * MINUTE,
    optional: false,
    check: (v): v is NetworkPolicy =>
      isObj(v) &&
      exactKeys(v, ['vpn', 'proxy', 'torGateway', 'esimProfile']) &&
      isVpn(v.vpn) &&
      typeof v.proxy === 'boolean' &&
      typeof v.torGateway === 'boolean' &&
      isEsim(v.esimProfile),
  },
  'ota.verified': {
    value: '`verified` | `pending` | `failed`: verification of the running system image',
    sources: DAEMON,
    privacy: `${DAEMON_PRIVACY} no update server or download history`,
    maxAgeMs: 6 * 60 * MINUTE,
    optional: false,
    check: oneOf('verified', 'pending', 'failed'),
  },
  'attestation.outcome': {
    value: '`pass` | `fail` | `pending` | `never`: last remote attestation run by Enigm OS',
    sources: DAEMON,
    privacy: `${DAEMON_PRIVACY} the outcome only, not the evidence or the verifier`,
    maxAgeMs: 6 * 60 * MINUTE,
    optional: false,
    check: oneOf('pass', 'fail', 'pending', 'never'),
  },
  secureboot: {
    value: '`enabled` | `disabled` | `setup-mode`',
    sources: ['linux:/sys/firmware/efi'],
    privacy: 'two bytes of UEFI variables (SecureBoot, SetupMode); no key databases or certificates',
    maxAgeMs: 24 * 60 * MINUTE,
    optional: false,
    check: oneOf('enabled', 'disabled', 'setup-mode'),
  },
  'kernel.lockdown': {
    value: '`none` | `integrity` | `confidentiality`',
    sources: ['linux:/sys/kernel/security/lockdown'],
    privacy: 'the selected lockdown mode only',
    maxAgeMs: 24 * 60 * MINUTE,
    optional: false,
    check: oneOf('none', 'integrity', 'confidentiality'),
  },
  'lsm.active': {
    value: 'list of active LSM names (e.g. `capability`, `landlock`, `apparmor`), at most 32',
    sources: ['linux:lsm'],
    privacy: 'module names only; no policies, profiles or labels',
    maxAgeMs: 24 * 60 * MINUTE,
    optional: false,
    check: listOf(isToken, 32),
  },
  'disk.encryption.root': {
    value: '`encrypted` | `unencrypted`: whether the root file system sits on dm-crypt',
    sources: ['linux:/proc/mounts'],
    privacy: 'a yes/no; no device names, UUIDs, mount points or key slots',
    maxAgeMs: 24 * 60 * MINUTE,
    optional: false,
    check: oneOf('encrypted', 'unencrypted'),
  },
  'os.version': {
    value: '`{ id, versionId }` from os-release `ID` and `VERSION_ID`',
    sources: ['linux:/etc/os-release'],
    privacy: 'distribution id and version only; no PRETTY_NAME, build id, variant or hostname',
    maxAgeMs: 24 * 60 * MINUTE,
    optional: false,
    check: (v): v is OsVersion => isObj(v) && exactKeys(v, ['id', 'versionId']) && isToken(v.id) && isToken(v.versionId),
  },
  'kernel.version': {
    value: 'kernel release string (e.g. `6.8.0-45-generic`)',
    sources: ['linux:/proc/sys/kernel/osrelease'],
    privacy: 'the release only; no build host, build user or build date (`/proc/version` is not read)',
    maxAgeMs: 24 * 60 * MINUTE,
    optional: false,
    check: isToken,
  },
  'firewall.present': {
    value: '`{ present: bool, frameworks: (iptables|ip6tables|nftables)[] }`',
    sources: ['linux:/proc/net'],
    privacy: 'which packet-filter frameworks are present; no rules, ports or addresses (no privileged command is run)',
    maxAgeMs: 60 * MINUTE,
    optional: false,
    check: (v): v is FirewallState =>
      isObj(v) &&
      exactKeys(v, ['present', 'frameworks']) &&
      typeof v.present === 'boolean' &&
      listOf(isFramework, 3, true)(v.frameworks),
  },
  'tpm.present': {
    value: '`tpm2` | `tpm1.2` | `none`',
    sources: ['linux:/sys/class/tpm', 'tpm'],
    privacy: 'TPM family only; no EK, serial or manufacturer',
    maxAgeMs: 24 * 60 * MINUTE,
    optional: false,
    check: oneOf('tpm2', 'tpm1.2', 'none'),
  },
  'tpm.pcrBanks': {
    value: 'allocated PCR banks, sorted (`sha1`, `sha256`, `sha384`, `sha512`, `sm3_256`)',
    sources: ['tpm'],
    privacy: 'algorithm names only; PCR values travel in the quote, not here',
    maxAgeMs: 24 * 60 * MINUTE,
    optional: false,
    check: listOf(isBank, 5, true),
  },
  'activedefense.findings': {
    value: 'list of `{ severity, category, count }` (at most 64), aggregated',
    sources: ['activedefense'],
    privacy:
      'device-risk assessment findings only: severity, category and count — never message, call, media or document content, app names, senders, URLs or file names',
    maxAgeMs: 60 * MINUTE,
    optional: true,
    check: listOf(isFinding, 64),
  },
};

/** Every signal name, in table order. */
export const SIGNAL_NAMES: readonly SignalName[] = Object.keys(SIGNALS) as SignalName[];

/** Whether `name` is a signal name of the table. */
export function isSignalName(name: unknown): name is SignalName {
  return typeof name === 'string' && Object.hasOwn(SIGNALS, name);
}
