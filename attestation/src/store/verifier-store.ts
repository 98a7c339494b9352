/**
 * The verifier state kept in a JSON file (or in memory), for `enigm attest challenge|verify` and
 * `enigm key attest`. Every change is read → pure update (`verify/stateful.ts`) → atomic write,
 * under an exclusive lock file, so two verifiers on one state can never both consume the same
 * challenge. The clock and the randomness are injected.
 *
 * - atomic write: a temporary file in the same folder, fsync, then rename over the state;
 * - lock: `<state>.lock` created exclusively (`wx`) holding the PID; a lock whose PID is dead is
 *   stale and removed (so is a lock still without a PID after 2 s); a live lock is waited for up
 *   to `lockTimeoutMs`, then `STATE_LOCKED`.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { AttestationError } from '../errors.ts';
import { writeFileAtomicSync } from '../files.ts';
import { addCertificateCheck, type KeyAppraisal } from '../key/appraise.ts';
import { acquirePidLock } from '../lock.ts';
import {
  appraiseKeyEvidenceWithState,
  appraiseQuoteWithState,
  type StatefulAppraisal,
  type StatefulAppraisalInput,
  type StatefulKeyAppraisalInput,
} from '../verify/stateful.ts';
import {
  type Challenge,
  type ChallengePurpose,
  emptyVerifierState,
  type IssueChallengeOptions,
  issueChallenge,
  type VerifierState,
  verifierStateFromJson,
} from '../verify/verifier-state.ts';

/** Default state file: `$ENIGM_HOME/attest-verifier.json` (`~/.config/enigm` when unset). */
export function defaultVerifierStatePath(): string {
  return join(process.env.ENIGM_HOME ?? join(homedir(), '.config', 'enigm'), 'attest-verifier.json');
}

/** Options of a {@link VerifierStore}. */
export interface VerifierStoreOptions {
  /** The verifier's clock, milliseconds (default `Date.now`). */
  readonly now?: () => number;
  /** Random bytes for nonces (default `crypto.randomBytes`). */
  readonly random?: (n: number) => Uint8Array;
  /** How long to wait for another verifier's lock (default 5000 ms). */
  readonly lockTimeoutMs?: number;
}

/** Where a {@link VerifierStore} keeps its state. */
interface Backend {
  transaction<T>(fn: (state: VerifierState) => { state: VerifierState; value: T }): Promise<T>;
}

const _sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const text = err.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
  return err.code && !text.includes(err.code) ? `${text} (${err.code})` : text;
}

class FileBackend implements Backend {
  constructor(
    private readonly path: string,
    private readonly lockTimeoutMs: number,
  ) {}

  private lock(): Promise<() => void> {
    return acquirePidLock(`${this.path}.lock`, this.lockTimeoutMs, {
      createFailed: (e) =>
        e.code === 'ENOENT'
          ? new AttestationError('STATE_WRITE_FAILED', `verifier state folder ${dirname(this.path)} does not exist`)
          : new AttestationError('STATE_WRITE_FAILED', `cannot lock ${this.path}.lock: ${errnoText(e)}`, { cause: e }),
      held: (holder) =>
        new AttestationError('STATE_LOCKED', `${this.path}.lock is held by process ${holder}; is another verifier running?`),
    });
  }

  private read(): VerifierState {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyVerifierState();
      throw new AttestationError('INPUT_UNREADABLE', `cannot read verifier state ${this.path}: ${errnoText(e)}`, { cause: e });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new AttestationError(
        'STATE_INVALID',
        `verifier state ${this.path} is not JSON (${(e as Error).message}); the verifier refuses to run on it — restore it, or move it away to start over (every AK's replay history is then lost)`,
      );
    }
    return verifierStateFromJson(json);
  }

  private write(state: VerifierState): void {
    try {
      writeFileAtomicSync(this.path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    } catch (e) {
      throw new AttestationError('STATE_WRITE_FAILED', `cannot write verifier state ${this.path}: ${errnoText(e)}`, { cause: e });
    }
  }

  async transaction<T>(fn: (state: VerifierState) => { state: VerifierState; value: T }): Promise<T> {
    const unlock = await this.lock();
    try {
      const { state, value } = fn(this.read());
      this.write(state);
      return value;
    } finally {
      unlock();
    }
  }
}

class MemoryBackend implements Backend {
  private state = emptyVerifierState();
  async transaction<T>(fn: (state: VerifierState) => { state: VerifierState; value: T }): Promise<T> {
    const { state, value } = fn(this.state);
    this.state = state;
    return value;
  }
}

/**
 * The verifier's challenge store and stateful appraiser, over a file or memory.
 * @example
 * const store = VerifierStore.file('verifier.json');
 * const { nonce } = await store.issueChallenge('tpm-quote', { ttlMs: 60_000, pcrs: [0, 7] }); // to the attester
 * const r = await store.appraiseQuote({ evidence, nonce: { from: 'challenge' } });
 */
export class VerifierStore {
  private readonly now: () => number;
  private readonly random: (n: number) => Uint8Array;

  private constructor(
    private readonly backend: Backend,
    options: VerifierStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? ((n) => new Uint8Array(randomBytes(n)));
  }

  /** A store kept in the JSON file `path` (created on first write; its folder must exist). */
  static file(path: string, options: VerifierStoreOptions = {}): VerifierStore {
    return new VerifierStore(new FileBackend(path, options.lockTimeoutMs ?? 5000), options);
  }

  /** A store kept in memory (one process, e.g. a `key attest` run or a service). */
  static memory(options: VerifierStoreOptions = {}): VerifierStore {
    return new VerifierStore(new MemoryBackend(), options);
  }

  /** The current state (read under the lock, unchanged). */
  async read(): Promise<VerifierState> {
    return this.backend.transaction((state) => ({ state, value: state }));
  }

  /**
   * Issues a single-use challenge: a fresh random 32-byte nonce valid for `options.ttlMs`
   * (default 5 minutes); for TPM quotes optionally with the PCR selection asked for.
   * @throws {@link AttestationError} `STATE_*` when the state cannot be read, locked or written
   * @example const { nonce } = await store.issueChallenge('key-evidence', { ttlMs: 10_000 });
   */
  async issueChallenge(
    purpose: ChallengePurpose,
    options: Pick<IssueChallengeOptions, 'ttlMs' | 'pcrs' | 'bank'> = {},
  ): Promise<Challenge> {
    const nonce = this.random(32);
    const now = this.now();
    return this.backend.transaction((state) => {
      const r = issueChallenge(state, { ...options, nonce, purpose, now });
      return { state: r.state, value: r.challenge };
    });
  }

  /**
   * Runs a pure update of the state under the lock, with the store's clock, and persists the new
   * state (for appraisers kept outside this module, e.g. `appraisePostureWithState`).
   * @throws {@link AttestationError} `STATE_*` when the state cannot be read, locked or written
   */
  async update<T>(fn: (state: VerifierState, now: number) => { state: VerifierState; value: T }): Promise<T> {
    const now = this.now();
    return this.backend.transaction((state) => fn(state, now));
  }

  /**
   * Appraises a quote against the stored state and persists the consumed nonce and the AK's
   * new clock state (see `appraiseQuoteWithState`).
   */
  async appraiseQuote(input: Omit<StatefulAppraisalInput, 'now'>): Promise<StatefulAppraisal> {
    const now = this.now();
    return this.backend.transaction((state) => {
      const r = appraiseQuoteWithState(state, { ...input, now });
      return { state: r.state, value: r.result };
    });
  }

  /**
   * Appraises Key evidence whose `nonce` must be a pending `key-evidence` challenge of this store;
   * consumes it (see `appraiseKeyEvidenceWithState`). With `reference.roots`, the evidence's certificate
   * chain is checked too (`certificate`, as in `appraiseKeyEvidenceWithRoots`).
   */
  async appraiseKeyEvidence(input: Omit<StatefulKeyAppraisalInput, 'now'>): Promise<KeyAppraisal> {
    const now = this.now();
    // Roots need an asynchronous chain check: the nonce is consumed first (under the lock), then
    // the `certificate` check is added (see addCertificateCheck).
    const { roots, ...reference } = input.reference ?? {};
    const stateless = input.reference ? { ...input, reference } : input;
    const base = await this.backend.transaction((state) => {
      const r = appraiseKeyEvidenceWithState(state, { ...stateless, now });
      return { state: r.state, value: r.result };
    });
    return roots === undefined ? base : addCertificateCheck(base, { ...reference, roots }, new Date(now));
  }
}
