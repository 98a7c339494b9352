/**
 * The agent configuration file: JSON, parsed strictly — unknown fields, wrong types and values out
 * of range are refused with `CONFIG_INVALID` naming the field (never echoing its value). See
 * `os-agent/packaging/posture-agent.example.json` and docs/posture.md "Configuration".
 * @module
 */
import { readFileSync } from 'node:fs';
import { isAssociationHandle } from '@enigm/attestation';
import { fromHex } from '@enigm/protocols/bytes';
import { AgentError } from './errors.ts';

/** The parsed configuration. Paths are as written (absolute in production). */
export interface AgentConfig {
  /** Device handle (`eh1-…`): the report's `ueid` and the MQTT topics. */
  readonly handle: string;
  /** State folder: key, sequence, AK blob, policy, outbox. */
  readonly stateDir: string;
  /** Periodic report interval, s (default 300; a policy may set it). */
  readonly reportIntervalS: number;
  /** Jitter added to each period, uniform in [0, jitterS], s (default 30). */
  readonly jitterS: number;
  /** How often signals are collected to detect a change, s (default 60). */
  readonly changeCheckS: number;
  /** Time bound of each collector, ms (default 2000). */
  readonly collectTimeoutMs: number;
  /** Enigm OS posture daemon socket (default `/run/enigm/osd.sock`); `null` disables the daemon collector. */
  readonly daemonSocket: string | null;
  /** Root folder the plain-Linux collectors read under (default `/`; a fixture tree in tests). */
  readonly linuxRoot: string;
  /** Active Defense findings file (absent: the optional findings signal is not collected). */
  readonly activeDefenseFile?: string;
  /** TPM: `device`, `device:/dev/tpmX`, `swtpm:host=H,port=P`, or `off`. */
  readonly tpm: string;
  /** PCRs quoted (default 0..7). */
  readonly pcrs: readonly number[];
  /** Broker; absent: reports are kept and served locally only. */
  readonly mqtt?: {
    readonly url: string;
    readonly ca?: string;
    readonly cert?: string;
    readonly key?: string;
    readonly certWarnDays: number;
  };
  readonly outbox: { readonly maxRecords: number; readonly maxBytes: number; readonly maxAgeMs: number };
  /** Local API socket path. */
  readonly apiSocket: string;
  /** Ed25519 public keys (hex) of Enigm Command trusted to sign policies. */
  readonly policyKeys: readonly Uint8Array[];
  /** Log verbosity. */
  readonly log: 'info' | 'quiet';
}

type Obj = Record<string, unknown>;
const bad = (field: string, why: string) => new AgentError('CONFIG_INVALID', `config: ${field} ${why}`);

function only(o: Obj, where: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw bad(`${where}${k}`, 'is not a known field');
}
function obj(v: unknown, field: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(field, 'must be an object');
  return v as Obj;
}
function str(v: unknown, field: string, max = 4096): string {
  if (typeof v !== 'string' || v === '' || v.length > max || v.includes('\0'))
    throw bad(field, `must be a non-empty string ≤ ${max}`);
  return v;
}
function int(v: unknown, field: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max)
    throw bad(field, `must be an integer in [${min}, ${max}]`);
  return v as number;
}

const TOP = [
  'handle',
  'stateDir',
  'reportIntervalS',
  'jitterS',
  'changeCheckS',
  'collectTimeoutMs',
  'daemonSocket',
  'linuxRoot',
  'activeDefenseFile',
  'tpm',
  'pcrs',
  'mqtt',
  'outbox',
  'apiSocket',
  'policyKeys',
  'log',
] as const;

/**
 * Parses a configuration value (already JSON-decoded).
 * @throws {@link AgentError} `CONFIG_INVALID` naming the field
 */
export function parseAgentConfig(value: unknown): AgentConfig {
  const o = obj(value, 'the configuration');
  only(o, '', TOP);
  if (!isAssociationHandle(o.handle)) throw bad('handle', 'must be a device handle eh1-… (26 base32 characters)');
  const stateDir = str(o.stateDir, 'stateDir');
  const tpm = o.tpm === undefined ? 'device' : str(o.tpm, 'tpm', 256);
  if (!/^(off|device(:\/.+)?|swtpm:.*)$/.test(tpm)) throw bad('tpm', 'must be off, device, device:/PATH or swtpm:host=H,port=P');
  let pcrs: number[] = [0, 1, 2, 3, 4, 5, 6, 7];
  if (o.pcrs !== undefined) {
    if (!Array.isArray(o.pcrs) || o.pcrs.length === 0 || o.pcrs.length > 24)
      throw bad('pcrs', 'must be a list of 1..24 PCR indices');
    pcrs = o.pcrs.map((p, i) => int(p, `pcrs[${i}]`, 0, 0, 23));
  }
  let mqtt: AgentConfig['mqtt'];
  if (o.mqtt !== undefined) {
    const m = obj(o.mqtt, 'mqtt');
    only(m, 'mqtt.', ['url', 'ca', 'cert', 'key', 'certWarnDays']);
    const url = str(m.url, 'mqtt.url', 512);
    if (!/^mqtts?:\/\//.test(url)) throw bad('mqtt.url', 'must be mqtt:// or mqtts://');
    if ((m.cert === undefined) !== (m.key === undefined)) throw bad('mqtt.cert', 'and mqtt.key must be given together');
    mqtt = {
      url,
      ...(m.ca !== undefined ? { ca: str(m.ca, 'mqtt.ca') } : {}),
      ...(m.cert !== undefined ? { cert: str(m.cert, 'mqtt.cert') } : {}),
      ...(m.key !== undefined ? { key: str(m.key, 'mqtt.key') } : {}),
      certWarnDays: int(m.certWarnDays, 'mqtt.certWarnDays', 30, 0, 3650),
    };
  }
  const ob = o.outbox === undefined ? {} : obj(o.outbox, 'outbox');
  only(ob, 'outbox.', ['maxRecords', 'maxBytes', 'maxAgeMs']);
  let policyKeys: Uint8Array[] = [];
  if (o.policyKeys !== undefined) {
    if (!Array.isArray(o.policyKeys) || o.policyKeys.length > 16)
      throw bad('policyKeys', 'must be a list of at most 16 hex keys');
    policyKeys = o.policyKeys.map((k, i) => {
      if (typeof k !== 'string' || !/^[0-9a-f]{64}$/.test(k)) throw bad(`policyKeys[${i}]`, 'must be 64 lowercase hex digits');
      return fromHex(k);
    });
  }
  const log = o.log === undefined ? 'info' : o.log;
  if (log !== 'info' && log !== 'quiet') throw bad('log', 'must be info or quiet');
  return {
    handle: o.handle,
    stateDir,
    reportIntervalS: int(o.reportIntervalS, 'reportIntervalS', 300, 1, 86_400),
    jitterS: int(o.jitterS, 'jitterS', 30, 0, 3600),
    changeCheckS: int(o.changeCheckS, 'changeCheckS', 60, 1, 86_400),
    collectTimeoutMs: int(o.collectTimeoutMs, 'collectTimeoutMs', 2000, 10, 60_000),
    daemonSocket:
      o.daemonSocket === null ? null : o.daemonSocket === undefined ? '/run/enigm/osd.sock' : str(o.daemonSocket, 'daemonSocket'),
    linuxRoot: o.linuxRoot === undefined ? '/' : str(o.linuxRoot, 'linuxRoot'),
    ...(o.activeDefenseFile !== undefined ? { activeDefenseFile: str(o.activeDefenseFile, 'activeDefenseFile') } : {}),
    tpm,
    pcrs,
    ...(mqtt ? { mqtt } : {}),
    outbox: {
      maxRecords: int(ob.maxRecords, 'outbox.maxRecords', 2000, 1, 1_000_000),
      maxBytes: int(ob.maxBytes, 'outbox.maxBytes', 8 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
      maxAgeMs: int(ob.maxAgeMs, 'outbox.maxAgeMs', 7 * 86_400_000, 1000, 365 * 86_400_000),
    },
    apiSocket: o.apiSocket === undefined ? `${stateDir}/api.sock` : str(o.apiSocket, 'apiSocket', 100),
    policyKeys,
    log,
  };
}

/**
 * Reads and parses a configuration file.
 * @throws {@link AgentError} `CONFIG_INVALID` (unreadable, not JSON, or a bad field)
 */
export function readAgentConfig(path: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new AgentError('CONFIG_INVALID', `config: cannot read the file (${(e as NodeJS.ErrnoException).code})`, { cause: e });
  }
  if (text.length > 64 * 1024) throw new AgentError('CONFIG_INVALID', 'config: the file is over 64 KiB');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new AgentError('CONFIG_INVALID', 'config: the file is not JSON', { cause: e });
  }
  return parseAgentConfig(value);
}
