/**
 * Opening a Key from the CLI: the shared `--port/--baud/--timeout` and session options, turned
 * into {@link openKey} options. No protocol here: the facade in `@enigm/key-firmware-host` runs it.
 * @module
 */
import { AttestationError, type RevocationVerifyResult, verifyRevocationList } from '@enigm/attestation';
import {
  KEY_FACADE_ERROR_CODES,
  type Key,
  KeyFacadeError,
  type KeyFacadeErrorCode,
  type OpenKeyOptions,
  openKey,
} from '@enigm/key-firmware-host';
import { toHex } from '@enigm/protocols/bytes';
import { ed25519PublicKeyFromPem } from '@enigm/protocols/crypto';
import { LOG_LEVELS } from '@enigm/sim';
import { MQTT_PORT_HELP, mqttPortOptions, tlsFiles } from '../broker-options.ts';
import { int, type ParsedArgs, readInputFile, readTextFile, str, UsageError } from '../cli.ts';

/** Help text of the port options. */
export const PORT_HELP = `  --port ADDR     serial device path (e.g. /dev/ttyACM0, .sim-state/ttyKEY0), tcp://host:port,
                  or mqtt://broker:port/HANDLE (mqtts:// with --mqtt-ca/--mqtt-cert/--mqtt-key),
                  or ble:NAME / ble:ID over Bluetooth LE (the adapter: ENIGM_BLE_ADAPTER = system
                  (default), sim, sim:D or tcp://127.0.0.1:PORT for the simulator's)
  --baud N        serial baud rate (default 115200)
  --timeout MS    per-request timeout (default: follows the link)
  --verbose       link diagnostics on stderr when the command ends (transport, link rate,
                  frames, retries, keepalives; never content)
${MQTT_PORT_HELP}`;

/**
 * Help line of `--log-level` for the long-running Key commands (`key events --follow`, `fw flash`):
 * their only log is the link diagnostics of `--verbose`.
 */
export const KEY_LOG_HELP = `  --log-level L   ${LOG_LEVELS.join(', ')} (default info): debug is --verbose (link diagnostics when
                  the command ends); these commands log nothing else`;

/** Port options. */
export const portOptions = {
  port: { type: 'string', short: 'p' },
  baud: { type: 'string' },
  timeout: { type: 'string' },
  verbose: { type: 'boolean' },
  ...mqttPortOptions,
} as const;

/** Help text of the session options. */
export const SESSION_HELP = `  --host-key F    this host's static key (PEM; default $ENIGM_HOME/host-key.pem, created if missing;
                  $ENIGM_HOME defaults to ~/.config/enigm)
  --known F       known-Keys file (default $ENIGM_HOME/known-keys.json)
  --identity HEX  the Key you expect (its identity, 64 hex digits): anything else is refused
  --handle HEX    the Key you expect (its handle, 32 hex digits); name the Key when this host
                  has paired with more than one
  --revocation F  a revocation list (enigm revocation …): a Key whose identity is on it is
                  refused (KEY_REVOKED_BY_LIST) except by 'enigm key retire'; a stale, untrusted
                  or tampered list stops the command with its code (REVOCATION_STALE, …)
  --revocation-key PUB.pem
                  the revocation-signing public key the list must be signed with`;

/** Session options. */
export const sessionOptions = {
  ...portOptions,
  'host-key': { type: 'string' },
  known: { type: 'string' },
  identity: { type: 'string' },
  handle: { type: 'string' },
  revocation: { type: 'string' },
  'revocation-key': { type: 'string' },
} as const;

/**
 * `--revocation FILE --revocation-key PUB.pem`: the list verified now (undefined without
 * --revocation). Never throws on a bad list: the result says why.
 * @throws {@link UsageError} for one option without the other
 */
export function revocationOption(args: ParsedArgs, now = Date.now()): RevocationVerifyResult | undefined {
  const file = str(args, 'revocation');
  const keyFile = str(args, 'revocation-key');
  if (file === undefined && keyFile === undefined) return undefined;
  if (file === undefined || keyFile === undefined)
    throw new UsageError('--revocation FILE and --revocation-key PUB.pem go together');
  let trusted: Uint8Array;
  try {
    trusted = ed25519PublicKeyFromPem(readTextFile(keyFile, '--revocation-key'));
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('INPUT_')) throw e;
    throw new UsageError(`--revocation-key must be an Ed25519 public key PEM: ${(e as Error).message}`);
  }
  return verifyRevocationList(readInputFile(file, '--revocation list'), { trustedKeys: [trusted], now });
}

/**
 * The verified list of --revocation for a host decision: a list that does not verify (stale,
 * untrusted, tampered) stops the command (AttestationError with its code, exit 1).
 */
export function hostRevocation(args: ParsedArgs): OpenKeyOptions['revocation'] {
  const r = revocationOption(args);
  if (r === undefined) return undefined;
  if (!r.ok) throw new AttestationError(r.code, `--revocation: ${r.message}`);
  return r.list;
}

/**
 * The facade options the port and session flags ask for.
 * @throws {@link UsageError} for a bad --baud or --timeout
 */
export function keyOptions(args: ParsedArgs, options: { revocation?: boolean } = {}): OpenKeyOptions {
  const timeout = str(args, 'timeout');
  const hostKey = str(args, 'host-key');
  const known = str(args, 'known');
  const identity = str(args, 'identity');
  const handle = str(args, 'handle');
  const revocation = options.revocation === false ? undefined : hostRevocation(args);
  if (identity !== undefined && !/^[0-9a-fA-F]{64}$/.test(identity))
    throw new UsageError('--identity must be the Key identity: 64 hex digits');
  if (handle !== undefined && !/^[0-9a-fA-F]{32}$/.test(handle))
    throw new UsageError('--handle must be the Key handle: 32 hex digits');
  const mqttTls = tlsFiles(args, 'mqtt-');
  const mqttClient = str(args, 'mqtt-client');
  return {
    baudRate: int(args, 'baud', 115200, 50, 12_000_000),
    ...(mqttTls || mqttClient
      ? { mqtt: { ...(mqttTls ? { tls: mqttTls } : {}), ...(mqttClient ? { client: mqttClient } : {}) } }
      : {}),
    ...(timeout !== undefined ? { timeoutMs: int(args, 'timeout', 2000, 1, 600_000) } : {}),
    ...(hostKey !== undefined ? { hostKey } : {}),
    ...(revocation !== undefined ? { revocation } : {}),
    ...(known !== undefined ? { known } : {}),
    ...(identity !== undefined || handle !== undefined
      ? {
          expect: {
            ...(identity ? { identity: identity.toLowerCase() } : {}),
            ...(handle ? { handle: handle.toLowerCase() } : {}),
          },
        }
      : {}),
  };
}

/**
 * Opens the Key at --port.
 * @throws {@link UsageError} without --port; the facade's errors otherwise
 */
export async function connect(args: ParsedArgs, options: { revocation?: boolean } = {}): Promise<Key> {
  const port = str(args, 'port');
  if (!port) throw new UsageError('--port is required');
  return openKey(port, keyOptions(args, options));
}

/** Options of {@link withKey}. */
export interface WithKeyOptions {
  /** false: --revocation is not a host decision for this command (default: it is). */
  revocation?: boolean;
  /**
   * The command changes the Key's state: when this host has pinned more than one Key and the user
   * named none (--identity / --handle), {@link reachedKeyNote} says on stderr which Key was reached.
   */
  changesState?: boolean;
}

/**
 * The stderr line naming the Key a session reached, for a command that changes a Key's state on
 * a host with several pinned Keys when the user named none (undefined otherwise: one pin, or a
 * Key named). The command still runs (compatibility); the line says which Key it ran on.
 * @example reachedKeyNote({ handle, identity }, 2, false) // "note: reached Key 0a1b… (identity 3f2e……); …"
 */
export function reachedKeyNote(
  peer: { handle: Uint8Array; identity: Uint8Array },
  pinnedKeys: number,
  named: boolean,
): string | undefined {
  if (named || pinnedKeys <= 1) return undefined;
  return `note: reached Key ${toHex(peer.handle)} (identity ${toHex(peer.identity).slice(0, 16)}…); this host has ${pinnedKeys} pinned Keys: name the one you mean with --handle or --identity\n`;
}

/**
 * Opens the session and prints {@link reachedKeyNote} when it applies. A session that does not
 * open here prints nothing: the command reports its own error (or, like retire on a listed Key,
 * opens the session it is allowed).
 */
async function noteReachedKey(args: ParsedArgs, key: Key): Promise<void> {
  const named = str(args, 'identity') !== undefined || str(args, 'handle') !== undefined;
  if (named) return;
  let pinned: number;
  try {
    pinned = key.known.all().length;
  } catch {
    return; // an unreadable known-Keys file is the session's error to report
  }
  if (pinned <= 1) return;
  const session = await key.session().catch(() => undefined);
  const note = session && reachedKeyNote(session.peer, pinned, named);
  if (note) process.stderr.write(note);
}

/**
 * Runs `fn` with the Key at --port open, closes it afterwards, and adds to facade errors what to
 * type next (the library says what happened; the CLI names the command that fixes it). With
 * `changesState`, first says which Key was reached when the host has several pins and none was
 * named ({@link reachedKeyNote}).
 */
export async function withKey<T>(args: ParsedArgs, fn: (key: Key) => Promise<T>, options: WithKeyOptions = {}): Promise<T> {
  const key = await connect(args, options);
  const started = performance.now();
  try {
    if (options.changesState) await noteReachedKey(args, key);
    return await fn(key);
  } catch (e) {
    throw withHint(e, str(args, 'port') ?? 'ADDR');
  } finally {
    if (args.values.verbose === true || str(args, 'log-level') === 'debug')
      process.stderr.write(linkDiagnostics(key, performance.now() - started));
    await key.close();
  }
}

/**
 * One line of link diagnostics for `--verbose`: counters only, never content or key material.
 * The counters are summed over every connection of the command (`fw flash` reconnects after the
 * Key's test boot), and their number is given when there was more than one.
 * @example linkDiagnostics(key, 1200) // "link serial:/dev/ttyACM0: 1.2 s, 11520 B/s, …"
 */
export function linkDiagnostics(key: Pick<Key, 'client' | 'linkTotals'>, ms: number): string {
  try {
    const c = key.client;
    const s = key.linkTotals;
    const over = s.connections > 1 ? ` (over ${s.connections} connections)` : '';
    return `link ${c.transportDescription}: ${(ms / 1000).toFixed(1)} s, ${Math.round(c.linkBytesPerSecond)} B/s, frames sent ${s.framesSent}, received ${s.framesReceived}, bad ${s.badFrames}, stray ${s.strayResponses}, retries ${s.retries}, keepalives ${s.keepalives}${over}\n`;
  } catch {
    return `link: closed before it was opened (${(ms / 1000).toFixed(1)} s)\n`;
  }
}

const HINTS: Partial<Record<string, (port: string) => string>> = {
  KEY_NOT_PAIRED: (p) => `run 'enigm key pair --port ${p}' first`,
  KEY_NOT_PAIRABLE: (p) => `open the Key's pairing window, then run 'enigm key pair --port ${p}' again`,
  KEY_HOST_UNKNOWN: (p) =>
    `if the Key was reset or removed this host, open its pairing window and run 'enigm key pair --port ${p}'`,
  KEY_REVOKED_BY_LIST: (p) => `this Key is revoked; its owner can still wipe it: 'enigm key retire --port ${p}'`,
  KEY_IDENTITY_MISMATCH: () => 'check that this is the Key you paired with; do not trust it until you know why',
};

/** An error with the CLI's next step appended (same code); any other error as it is. */
export function withHint(e: unknown, port: string): unknown {
  const code = (e as { code?: unknown } | undefined)?.code;
  const hint = typeof code === 'string' ? HINTS[code]?.(port) : undefined;
  if (!hint || !(e instanceof Error) || !((code as string) in KEY_FACADE_ERROR_CODES)) return e;
  const step = e instanceof KeyFacadeError && e.step ? { step: e.step } : {};
  return new KeyFacadeError(code as KeyFacadeErrorCode, `${e.message}: ${hint}`, { cause: e, ...step });
}
