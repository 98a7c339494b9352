/**
 * The provisioning station: turns factory Keys into certified ones in a batch, one worker per
 * serial port (bounded by `concurrency`). Per Key: open → pair as `provisioning` (first contact;
 * a Key this station already paired opens a known-host session instead) → attest (a Key already
 * carrying a valid chain for its identity is `already-provisioned`) → set its clock → CSR (proof
 * of possession, pinned identity) → issue → install the chain → reboot → attest again and check
 * the chain to the root. The Key stays in factory state: activation is the owner's step at
 * enrollment. See `docs/station.md`.
 * @module
 */
import {
  type AuditLog,
  appraiseKeyEvidenceWithRoots,
  associationHandleText,
  type CertificateInput,
  type IssuingCa,
  issueFromCsr,
  toPem,
  verifyKeyChain,
} from '@enigm/attestation';
import { toHex } from '@enigm/protocols/bytes';
import { type Key, type OpenKeyOptions, openKey } from '../key/key.ts';
import { KnownKeys, loadOrCreateHostKey } from '../session/host-store.ts';
import { StationError } from './errors.ts';
import type { ManifestEntry } from './manifest.ts';

/** A step of one Key's provisioning, in order. */
export type StationStep = 'open' | 'pair' | 'check' | 'time' | 'csr' | 'issue' | 'install' | 'reboot' | 'verify';

/** A progress event. */
export type StationEvent =
  | { type: 'step'; port: string; step: StationStep; handle?: string }
  | { type: 'done'; port: string; entry: ManifestEntry };

/** Options of {@link provisionKeys}. */
export interface ProvisionOptions {
  /** Serial ports (or any Key addresses), one Key each. */
  ports: readonly string[];
  /** The loaded issuing CA (`loadIssuingCa`). */
  ca: IssuingCa;
  /** The provisioning roots chains must verify to (PEM or DER). */
  roots: CertificateInput;
  /** Extra untrusted intermediates for path building (e.g. retired ones). */
  intermediates?: CertificateInput;
  /** The account the Keys are destined for: its 32-byte secret (handles become association handles). */
  account?: { secret: Uint8Array };
  /** An open audit log (signer role `station`): one `key.provision` record per Key. */
  audit?: AuditLog;
  /** Keys in flight at once (default: one per port, at most 8). */
  concurrency?: number;
  /** Progress, per port. */
  onEvent?: (event: StationEvent) => void;
  /** Stops the batch: no new Key starts; Keys in flight stop at their next step (`aborted`). */
  signal?: AbortSignal;
  /**
   * Options of each `openKey` (host key and known-Keys store: the station's own, shared by all
   * ports; timeouts, reconnect backoff). `expect` is set per Key.
   */
  key?: Omit<OpenKeyOptions, 'expect'>;
  /** Pairing label (default `station`). */
  label?: string;
  /** The clock (default `Date.now`): certificate validity, the Key's time, entry times. */
  now?: () => number;
}

/** Codes meaning the link went away under a Key. */
const LOST = new Set([
  'KEY_TIMEOUT',
  'KEY_CLOSED',
  'KEY_OUTCOME_UNKNOWN',
  'KEY_RECONNECT_FAILED',
  'TRANSPORT_OPEN_FAILED',
  'TRANSPORT_CLOSED',
  'TRANSPORT_IO',
  'TRANSPORT_NOT_OPEN',
]);

/** The code and message of an error, a lost link named `STATION_PORT_LOST` (the lower code kept in the message). */
function describe(e: unknown, port: string, step: StationStep): { error: string; message: string } {
  const code = (e as { code?: unknown })?.code;
  const msg = e instanceof Error ? e.message : String(e);
  if (typeof code === 'string' && LOST.has(code) && step !== 'open')
    return { error: 'STATION_PORT_LOST', message: `${port} stopped answering during ${step} (${code}: ${msg})` };
  if (typeof code === 'string' && LOST.has(code))
    return { error: 'STATION_PORT_LOST', message: `${port} could not be opened (${code}: ${msg})` };
  return { error: typeof code === 'string' ? code : 'STATION_FAILED', message: msg };
}

/**
 * Provisions the Keys on `ports` in parallel and returns one manifest entry per port (in port
 * order). Never throws for a Key's failure: that port's entry says `failed` with the error code
 * (a port that disappears: `STATION_PORT_LOST`); the other ports go on. Resumable: a Key
 * interrupted mid-provision (paired, no chain yet) is completed by the next run (`resumed`); one
 * whose chain was installed is `already-provisioned`.
 * @throws {@link StationError} `STATION_BAD_ARGUMENT` for bad options; the error of the audit
 *   log's `append` or of `onEvent` (e.g. a manifest that cannot be written): a Key whose record
 *   cannot be kept stops the batch (Keys in flight stop at their next step; a Key finished but
 *   not recorded is found `already-provisioned`, and recorded, by the next run)
 * @example
 * const ca = await loadIssuingCa('ca', passphrase);
 * const entries = await provisionKeys({ ports, ca, roots: ca.rootPem, concurrency: 8, onEvent: console.log });
 */
export async function provisionKeys(options: ProvisionOptions): Promise<ManifestEntry[]> {
  const ports = [...new Set(options.ports)];
  if (ports.length === 0) throw new StationError('STATION_BAD_ARGUMENT', 'no ports to provision');
  const concurrency = options.concurrency ?? Math.min(ports.length, 8);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new StationError('STATION_BAD_ARGUMENT', `concurrency must be a positive integer, got ${concurrency}`);
  if (options.account && options.account.secret.length !== 32)
    throw new StationError('STATION_BAD_ARGUMENT', 'the account secret must be 32 bytes');
  // One host key and one known-Keys store for every worker (pins are written by one process).
  const base = options.key ?? {};
  const shared: OpenKeyOptions = {
    ...base,
    hostKey: typeof base.hostKey === 'object' ? base.hostKey : loadOrCreateHostKey(base.hostKey),
    known: typeof base.known === 'object' ? base.known : new KnownKeys(base.known),
  };
  const results: ManifestEntry[] = new Array(ports.length);
  // The batch stops on the caller's signal, or when a Key's record cannot be kept (audit, onEvent).
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  if (options.signal?.aborted) stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const run: ProvisionOptions = { ...options, signal: stop.signal };
  let fatal: { error: unknown } | undefined;
  let next = 0;
  const worker = async () => {
    while (next < ports.length) {
      const i = next++;
      const port = ports[i] as string;
      const entry = stop.signal.aborted ? abortedEntry(port, 'open', options) : await provisionOne(port, shared, run);
      results[i] = entry;
      if (fatal) continue;
      try {
        recordAudit(options, entry);
        options.onEvent?.({ type: 'done', port, entry });
      } catch (error) {
        fatal = { error };
        stop.abort();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, ports.length) }, worker));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (fatal) throw fatal.error;
  return results;
}

function isoNow(options: ProvisionOptions): string {
  return new Date((options.now ?? Date.now)()).toISOString();
}

function abortedEntry(port: string, step: StationStep, options: ProvisionOptions, handle?: string): ManifestEntry {
  return {
    port,
    ...(handle ? { handle } : {}),
    outcome: 'aborted',
    error: 'STATION_ABORTED',
    message: 'the batch was aborted before this Key was finished; run the station again to complete it',
    step,
    time: isoNow(options),
  };
}

/** Appends the Key's audit record: actor `station`, op `key.provision`, the handle, decision, reason — never keys. */
function recordAudit(options: ProvisionOptions, e: ManifestEntry): void {
  if (!options.audit) return;
  options.audit.append({
    op: 'key.provision',
    ...(e.handle ? { handle: e.handle } : {}),
    decision: e.outcome === 'provisioned' || e.outcome === 'already-provisioned' ? 'allowed' : 'refused',
    reason: e.error ?? e.outcome,
  });
}

class Aborted extends Error {}

async function provisionOne(port: string, shared: OpenKeyOptions, options: ProvisionOptions): Promise<ManifestEntry> {
  const now = options.now ?? Date.now;
  let step: StationStep = 'open';
  let handle: string | undefined;
  let model: string | undefined;
  let firmware: string | undefined;
  let key: Key | undefined;
  const enter = (s: StationStep) => {
    if (options.signal?.aborted) throw new Aborted();
    step = s;
    options.onEvent?.({ type: 'step', port, step: s, ...(handle ? { handle } : {}) });
  };
  try {
    enter('open');
    key = await openKey(port, shared);
    const info = await key.info();
    model = info.model;
    firmware = info.firmware;
    // The cleartext handle only narrows which pin to try; the session checks the signed binding.
    const known = shared.known as KnownKeys;
    // Without a handle in the clear (the Key is not pairable now) every pin is tried.
    const pinned = info.handle ? known.select({ handle: toHex(info.handle) }).length > 0 : known.select().length > 0;
    if (pinned && info.handle) {
      await key.close();
      key = await openKey(port, { ...shared, expect: { handle: toHex(info.handle) } });
    }
    enter('pair');
    let identity: Uint8Array | undefined;
    let resumed = false;
    let deviceHandle = '';
    if (pinned) {
      try {
        const s = await key.session();
        identity = s.peer.identity;
        deviceHandle = toHex(s.peer.handle);
        resumed = true;
      } catch (e) {
        // The Key no longer knows this station (reset) or no pin matched: first contact again.
        const code = (e as { code?: string }).code;
        if (code !== 'KEY_HOST_UNKNOWN' && code !== 'KEY_NOT_PAIRED') throw e;
      }
    }
    if (!identity) {
      const p = await key.pair('provisioning', { label: options.label ?? 'station' });
      identity = new Uint8Array(Buffer.from(p.identity, 'hex'));
      deviceHandle = p.handle;
    }
    const identityKey: Uint8Array = identity;
    handle = options.account ? associationHandleText(options.account.secret, identityKey) : deviceHandle;
    const at = () => new Date(now());
    const done = (outcome: 'provisioned' | 'already-provisioned', leafDer: Uint8Array, serial: string, notAfter: string) => ({
      port,
      handle,
      outcome,
      ...(resumed && outcome === 'provisioned' ? { resumed } : {}),
      model,
      firmware,
      serial,
      certificatePem: toPem(leafDer),
      notAfter,
      time: isoNow(options),
    });

    enter('check');
    const before = await key.attest();
    if (before.chain) {
      const r = await verifyKeyChain(before.chain, {
        roots: options.roots,
        at: at(),
        expectedIdentityKey: identityKey,
        ...(options.intermediates ? { intermediates: options.intermediates } : {}),
      });
      if (!r.valid) throw new StationError('STATION_FOREIGN_CHAIN', `the Key's chain does not verify here: ${r.code}`);
      const leaf = r.path[0];
      return done('already-provisioned', before.chain[0] as Uint8Array, leaf?.serial ?? '', leaf?.notAfter ?? '');
    }
    if (info.state !== 'factory')
      throw new StationError('STATION_NOT_FACTORY', `the Key is ${info.state} without a certificate chain`);

    enter('time');
    // The certificate starts at the instant the Key's clock was set to: the Key sets it when the
    // request arrives, so its clock lags ours by the transit time, and a notBefore taken later
    // (at issue) could lie in the Key's future (CERT_NOT_VALID, seen under load).
    const setAt = now();
    await key.setTime(setAt);
    enter('csr');
    const csr = await key.csr();
    enter('issue');
    const leaf = await issueFromCsr(options.ca, csr, {
      model: info.model,
      expectedIdentityKey: identityKey,
      now: () => new Date(setAt),
    });
    const chain = [leaf.der, options.ca.intermediate.certificate.der];
    enter('install');
    await key.installCertificate(chain);
    enter('reboot');
    await key.reboot();
    enter('verify');
    const after = await key.attest();
    if (!after.chain || toHex(after.chain[0] as Uint8Array) !== toHex(leaf.der))
      throw new StationError('STATION_VERIFY_FAILED', "after the reboot the Key's evidence does not carry the installed chain");
    const appraisal = await appraiseKeyEvidenceWithRoots({
      evidence: after.evidence,
      nonce: after.nonce,
      identity: identityKey,
      issuedAt: after.issuedAt,
      receivedAt: after.receivedAt,
      maxAgeMs: 60_000,
      hostRole: 'provisioning',
      at: at(),
      reference: {
        roots: options.roots,
        ...(options.intermediates ? { intermediates: options.intermediates } : {}),
      },
    });
    const cert = appraisal.checks.find((c) => c.name === 'certificate');
    if (cert?.status !== 'affirming')
      throw new StationError('STATION_VERIFY_FAILED', `the chain in the evidence is not affirmed: ${cert?.reason ?? 'no check'}`);
    return done('provisioned', leaf.der, leaf.serial, leaf.notAfter.toISOString());
  } catch (e) {
    if (e instanceof Aborted) return abortedEntry(port, step, options, handle);
    const d = describe(e, port, step);
    return {
      port,
      ...(handle ? { handle } : {}),
      outcome: 'failed',
      ...d,
      step,
      ...(model ? { model } : {}),
      ...(firmware ? { firmware } : {}),
      time: isoNow(options),
    };
  } finally {
    await key?.close().catch(() => {});
  }
}
