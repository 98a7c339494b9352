/**
 * The policy the agent holds: a verified policy document kept in the state folder. A new document
 * replaces it only if it verifies under a trusted Enigm Command key and is newer (same id: a higher
 * version; another id: a later `issuedAt`); anything else is refused with a reason and the
 * previous policy stays in force.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '@enigm/attestation';
import { AgentError } from '../errors.ts';
import { type Policy, verifyPolicy } from './document.ts';

/** The outcome of {@link PolicyStore.offer}. */
export type PolicyOffer =
  | { readonly accepted: true; readonly policy: Policy }
  | { readonly accepted: false; readonly reason: string };

/** The held policy; see the module documentation. */
export class PolicyStore {
  #policy: Policy | undefined;
  #path: string;
  #trusted: readonly Uint8Array[];

  /**
   * @param path - where the held document is kept
   * @param trustedKeys - Ed25519 public keys of Enigm Command
   */
  constructor(path: string, trustedKeys: readonly Uint8Array[]) {
    this.#path = path;
    this.#trusted = trustedKeys;
  }

  /** Loads the held document, if any; a document that no longer verifies is set aside (reason returned). */
  load(): string | undefined {
    if (!existsSync(this.#path)) return undefined;
    try {
      this.#policy = verifyPolicy(new Uint8Array(readFileSync(this.#path)), this.#trusted);
      return undefined;
    } catch (e) {
      this.#policy = undefined;
      return `the stored policy is not used: ${(e as Error).message}`;
    }
  }

  /** The policy in force, if any. */
  get policy(): Policy | undefined {
    return this.#policy;
  }

  /**
   * Offers a new policy document. Never throws for a bad document: a refusal says why.
   * @throws {@link AgentError} `STATE_WRITE_FAILED` when an accepted policy cannot be stored
   */
  offer(bytes: Uint8Array): PolicyOffer {
    let p: Policy;
    try {
      p = verifyPolicy(bytes, this.#trusted);
    } catch (e) {
      return { accepted: false, reason: (e as Error).message };
    }
    const held = this.#policy;
    if (held) {
      const newer = p.id === held.id ? p.version > held.version : p.issuedAt > held.issuedAt;
      if (!newer)
        return { accepted: false, reason: `policy ${p.id} v${p.version} is not newer than the held ${held.id} v${held.version}` };
    }
    try {
      writeFileAtomicSync(this.#path, bytes, { mode: 0o600 });
    } catch (e) {
      throw new AgentError('STATE_WRITE_FAILED', `cannot store the policy (${(e as NodeJS.ErrnoException).code})`, { cause: e });
    }
    this.#policy = p;
    return { accepted: true, policy: p };
  }
}
