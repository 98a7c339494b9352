/**
 * Enroll (associate) and replace, over an owner session with a Key (the facade). The association
 * lives here, on the host/backend side: the Key holds no account data.
 *
 * Both first check the Key's state against their rows of the ONE lifecycle table
 * (`LIFECYCLE_OPERATION_STATES.enroll` / `.replace`, rendered in docs/lifecycle.md).
 *
 * - {@link enroll}: the Key attests (optionally to a provisioning root), a factory Key is
 *   activated (factory → dormant), the association is recorded under the Key's handle in this
 *   account. A Key already enrolled here, or revoked, is refused.
 * - {@link replace}: enrolls the new Key, marks the old association `replaced`, adds the old Key's
 *   identity to the revocation list (when a list and its signing key are given) and revokes the
 *   old Key on the Key itself when it is reachable. Nothing carries over: the new Key has its own
 *   pins and sessions.
 * @module
 */
import { X509Certificate } from 'node:crypto';
import {
  addRevocationEntry,
  appraiseKeyEvidenceWithRoots,
  associationHandleText,
  type CertificateInput,
  isAssociationHandle,
  isRevoked,
  type RevocationList,
  type RevocationSigner,
  signRevocationList,
} from '@enigm/attestation';
import { fromHex, toHex } from '@enigm/protocols/bytes';
import { sha256 } from '@enigm/protocols/crypto';
import { LIFECYCLE_OPERATION_STATES, lifecycleRefusal } from '@enigm/protocols/messages';
import type { Key } from '../key/key.ts';
import { AssociationError } from './errors.ts';
import type { AccountRegistry, DeviceRecord } from './registry.ts';

/** Options of {@link enroll}. */
export interface EnrollOptions {
  /** Provisioning roots: the Key's evidence must carry a chain that verifies to one of them. */
  roots?: CertificateInput;
  /** A verified revocation list: a Key listed in it is refused. */
  revocationList?: RevocationList;
  /** Pair as owner when this host has not paired with the Key yet (default true). */
  pair?: boolean;
  /** Label this host gives itself when it pairs. */
  label?: string;
  /** Clock, ms (default Date.now). */
  now?: () => number;
}

/** What {@link enroll} did. */
export interface EnrollResult {
  device: DeviceRecord;
  /** Whether the Key was activated (it was in factory state). */
  activated: boolean;
  /** Whether this host paired with the Key now. */
  paired: boolean;
}

function errCode(e: unknown): string | undefined {
  return (e as { code?: string })?.code;
}

/** The owner session with the Key (pairing first if allowed and needed); the identity. */
async function ownerIdentity(key: Key, options: EnrollOptions): Promise<{ identity: Uint8Array; paired: boolean }> {
  let paired = false;
  const pair = async () => {
    await key.pair('owner', options.label ? { label: options.label } : {});
    paired = true;
  };
  // A pairable Key shows its device handle: no pin for it here means first contact (pair as owner).
  const { handle } = await key.info();
  if (handle && options.pair !== false && key.known.select({ handle: toHex(handle) }).length === 0) await pair();
  else {
    try {
      await key.session();
    } catch (e) {
      if (errCode(e) !== 'KEY_NOT_PAIRED' || options.pair === false) throw e;
      await pair();
    }
  }
  const s = await key.session();
  if (key.role !== 'owner')
    throw new AssociationError('ACCOUNT_NOT_OWNER', `this host is paired with the Key as ${key.role ?? 'nothing'}, not owner`);
  const identity = s.peer.identity;
  if (!identity) throw new AssociationError('ACCOUNT_NOT_ATTESTED', 'no identity is pinned for the Key');
  return { identity, paired };
}

function serialOf(chain: Uint8Array[] | undefined): string | undefined {
  const leaf = chain?.[0];
  if (!leaf) return undefined;
  try {
    return new X509Certificate(Buffer.from(leaf)).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
  } catch {
    return undefined;
  }
}

/**
 * Enrolls the Key in the account.
 * @throws {@link AssociationError} `ACCOUNT_ALREADY_ENROLLED`, `ACCOUNT_KEY_REVOKED`,
 *   `ACCOUNT_NOT_OWNER`, `ACCOUNT_NOT_ATTESTED`, `ACCOUNT_BAD_STATE`, the registry's errors; the
 *   facade's (`KEY_NOT_PAIRABLE`, `KEY_EVIDENCE_INVALID`, …)
 * @example
 * const { device } = await enroll(AccountRegistry.open('acct'), key, { roots: rootPem });
 */
export async function enroll(account: AccountRegistry, key: Key, options: EnrollOptions = {}): Promise<EnrollResult> {
  return enrollWith(account, key, options, undefined);
}

async function enrollWith(
  account: AccountRegistry,
  key: Key,
  options: EnrollOptions,
  replaces: string | undefined,
): Promise<EnrollResult> {
  const now = options.now ?? Date.now;
  const info = await key.info();
  // The ONE lifecycle table decides, before anything is sent to the Key (no pairing, no attest).
  const op = replaces ? 'replace' : 'enroll';
  const refusal = lifecycleRefusal(op, info.state);
  if (refusal === 'KEY_REVOKED')
    throw new AssociationError('ACCOUNT_KEY_REVOKED', `the Key is revoked: it cannot be enrolled (${op})`);
  if (refusal)
    throw new AssociationError(
      'ACCOUNT_BAD_STATE',
      `the Key is ${info.state}: ${op} takes a Key in ${LIFECYCLE_OPERATION_STATES[op].join(', ')} (docs/lifecycle.md)`,
    );
  const { identity, paired } = await ownerIdentity(key, options);
  const handle = associationHandleText(account.secret, identity);
  const identityHash = toHex(sha256(identity));
  const existing = account.find(handle);
  if (existing?.state === 'revoked' || existing?.state === 'replaced')
    throw new AssociationError(
      'ACCOUNT_KEY_REVOKED',
      `the Key was ${existing.state} in this account (${handle}): it cannot be enrolled again`,
    );
  if (existing)
    throw new AssociationError('ACCOUNT_ALREADY_ENROLLED', `the Key is already enrolled in this account as ${handle}`);

  const ev = await key.attest();
  const serial = serialOf(ev.chain);
  if (
    options.revocationList &&
    isRevoked(options.revocationList, {
      identityKey: identity,
      ...(serial ? { serial: fromHex(serial.length % 2 ? `0${serial}` : serial, 'serial') } : {}),
    })
  )
    throw new AssociationError('ACCOUNT_KEY_REVOKED', `the Key (${handle}) is listed in the revocation list`);
  if (options.roots !== undefined) {
    const appraisal = await appraiseKeyEvidenceWithRoots({
      evidence: ev.evidence,
      nonce: ev.nonce,
      identity,
      issuedAt: ev.issuedAt,
      receivedAt: ev.receivedAt,
      maxAgeMs: 60_000,
      hostRole: 'owner',
      at: new Date(now()),
      reference: { roots: options.roots },
    });
    const cert = appraisal.checks.find((c) => c.name === 'certificate');
    if (cert?.status !== 'affirming')
      throw new AssociationError('ACCOUNT_NOT_ATTESTED', `the Key's certificate is not affirmed: ${cert?.reason ?? 'no chain'}`);
  }
  let activated = false;
  if (info.state === 'factory') {
    await key.activate();
    activated = true;
  }
  const device: DeviceRecord = {
    handle,
    identityKeyId: identityHash.slice(0, 16),
    identityHash,
    ...(serial ? { serial } : {}),
    state: 'active',
    enrolled: new Date(now()).toISOString(),
    ...(replaces ? { replaces } : {}),
    model: info.model,
    firmware: info.firmware,
  };
  account.update((doc) => {
    if (doc.devices.some((d) => d.handle === handle))
      throw new AssociationError('ACCOUNT_ALREADY_ENROLLED', `the Key is already enrolled in this account as ${handle}`);
    doc.devices.push(device);
  });
  return { device, activated, paired };
}

/** The revocation list to extend on {@link replace}. */
export interface ReplaceRevocation {
  /** The current list (verified by the caller). */
  list: RevocationList;
  /** The revocation-signing key. */
  signer: RevocationSigner;
  /** The new list's validity, ms (default 7 days). */
  validityMs?: number;
  /** Called with the signed new list: write it (atomically). */
  write: (bytes: Uint8Array, list: RevocationList) => void | Promise<void>;
}

/** Options of {@link replace}. */
export interface ReplaceOptions extends EnrollOptions {
  /** Add the old Key to this revocation list (reason `replaced`). */
  revocation?: ReplaceRevocation;
  /** The old Key, if reachable: it is revoked on the Key (`key.revoke()`, owner session). */
  oldKey?: Key;
}

/** What {@link replace} did. */
export interface ReplaceResult {
  /** The new association. */
  device: DeviceRecord;
  /** The old association, now `replaced`. */
  old: DeviceRecord;
  activated: boolean;
  paired: boolean;
  /** The version of the revocation list written, when one was given. */
  revocationVersion?: number;
  /** Whether the old Key was revoked on the Key; why not otherwise. */
  oldKeyRevoked: boolean;
  oldKeyError?: string;
}

/**
 * A new Key takes over the association `oldHandle`.
 * @throws {@link AssociationError} `ASSOCIATION_BAD_ARGUMENT`, `ASSOCIATION_NOT_FOUND`,
 *   `ASSOCIATION_NOT_ACTIVE`, `ASSOCIATION_SAME_KEY`, `ASSOCIATION_OLD_KEY_MISMATCH`, and those of {@link enroll}
 * @example
 * await replace(account, 'eh1-…', newKey, { oldKey, revocation: { list, signer, write } });
 */
export async function replace(
  account: AccountRegistry,
  oldHandle: string,
  newKey: Key,
  options: ReplaceOptions = {},
): Promise<ReplaceResult> {
  const now = options.now ?? Date.now;
  if (!isAssociationHandle(oldHandle))
    throw new AssociationError('ASSOCIATION_BAD_ARGUMENT', 'the old handle is not an eh1- association handle');
  const old = account.find(oldHandle);
  if (!old) throw new AssociationError('ASSOCIATION_NOT_FOUND', `no association ${oldHandle} in this account`);
  if (old.state !== 'active') throw new AssociationError('ASSOCIATION_NOT_ACTIVE', `${oldHandle} is ${old.state}`);
  // Check the old Key, when given, is the one enrolled (before anything changes).
  if (options.oldKey) {
    const s = await options.oldKey.session();
    const id = s.peer.identity;
    if (!id || associationHandleText(account.secret, id) !== oldHandle)
      throw new AssociationError('ASSOCIATION_OLD_KEY_MISMATCH', `the Key given as the old Key is not ${oldHandle}`);
  }
  const newIdentity = (await newKey.session().catch(() => undefined))?.peer.identity;
  if (newIdentity && associationHandleText(account.secret, newIdentity) === oldHandle)
    throw new AssociationError('ASSOCIATION_SAME_KEY', 'the replacement is the Key it would replace');

  const { device, activated, paired } = await enrollWith(account, newKey, options, oldHandle);
  const changed = new Date(now()).toISOString();
  const updated = account.update((doc) => {
    const d = doc.devices.find((x) => x.handle === oldHandle) as DeviceRecord;
    d.state = 'replaced';
    d.changed = changed;
    d.replacedBy = device.handle;
    return { ...d };
  });
  let revocationVersion: number | undefined;
  if (options.revocation) {
    const r = options.revocation;
    const t = now();
    const next = addRevocationEntry(r.list, {
      subject: { identityHash: fromHex(old.identityHash, 'identity hash') },
      reason: 'replaced',
      issuedAt: Math.max(t, r.list.issuedAt),
      nextUpdate: Math.max(t, r.list.issuedAt) + (r.validityMs ?? 7 * 86_400_000),
    });
    await r.write(signRevocationList(next, r.signer), next);
    revocationVersion = next.version;
  }
  let oldKeyRevoked = false;
  let oldKeyError: string | undefined;
  if (options.oldKey) {
    try {
      await options.oldKey.revoke();
      oldKeyRevoked = true;
    } catch (e) {
      oldKeyError = `${errCode(e) ?? 'ERROR'}: ${(e as Error).message}`;
    }
  }
  return {
    device,
    old: updated,
    activated,
    paired,
    ...(revocationVersion !== undefined ? { revocationVersion } : {}),
    oldKeyRevoked,
    ...(oldKeyError ? { oldKeyError } : {}),
  };
}
