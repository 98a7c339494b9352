/**
 * The agent's state folder: its Ed25519 identity key (`agent-key.pem`, 0600, made on first start),
 * the report sequence counter (`seq.json`, written atomically before a report is signed, so a
 * sequence number is never reused even after `kill -9`), the TPM AK blob (`ak.json`), the policy
 * held (`policy.cose`), the outbox (`outbox.log`) and the local API socket's default place.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '@enigm/attestation';
import { ed25519PrivateKeyFromPem, ed25519PrivateKeyToPem, ed25519PublicKey } from '@enigm/protocols/crypto';
import { AgentError } from './errors.ts';

/** File names inside the state folder. */
export const STATE_FILES = {
  key: 'agent-key.pem',
  seq: 'seq.json',
  ak: 'ak.json',
  policy: 'policy.cose',
  outbox: 'outbox.log',
} as const;

/** The opened state folder. */
export class AgentState {
  /** Ed25519 seed. */
  readonly seed: Uint8Array;
  /** Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** Random id of this run. */
  readonly runId: Uint8Array;
  #seq: number;

  private constructor(
    readonly dir: string,
    seed: Uint8Array,
    seq: number,
    runId: Uint8Array,
  ) {
    this.seed = seed;
    this.publicKey = ed25519PublicKey(seed);
    this.#seq = seq;
    this.runId = runId;
  }

  /**
   * Opens (creating when needed) the state folder.
   * @param random - random bytes (injected for tests)
   * @throws {@link AgentError} `STATE_INVALID` for an unreadable key or counter, `STATE_WRITE_FAILED`
   */
  static open(dir: string, random: (n: number) => Uint8Array = (n) => new Uint8Array(randomBytes(n))): AgentState {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new AgentError('STATE_WRITE_FAILED', `cannot create the state folder (${(e as NodeJS.ErrnoException).code})`, {
        cause: e,
      });
    }
    const keyPath = join(dir, STATE_FILES.key);
    let seed: Uint8Array;
    if (existsSync(keyPath)) {
      try {
        seed = ed25519PrivateKeyFromPem(readFileSync(keyPath, 'utf8'));
      } catch (e) {
        throw new AgentError('STATE_INVALID', 'the agent key file is not an Ed25519 private key PEM', { cause: e });
      }
    } else {
      seed = random(32);
      write(keyPath, ed25519PrivateKeyToPem(seed));
    }
    const seqPath = join(dir, STATE_FILES.seq);
    let seq = 0;
    if (existsSync(seqPath)) {
      let v: unknown;
      try {
        v = JSON.parse(readFileSync(seqPath, 'utf8'));
      } catch (e) {
        throw new AgentError('STATE_INVALID', 'the sequence file is not JSON', { cause: e });
      }
      const n = (v as { seq?: unknown } | null)?.seq;
      if (!Number.isSafeInteger(n) || (n as number) < 0)
        throw new AgentError('STATE_INVALID', 'the sequence file holds no {seq: integer ≥ 0}');
      seq = n as number;
    }
    return new AgentState(dir, seed, seq, random(16));
  }

  /** Path of a state file. */
  path(name: keyof typeof STATE_FILES): string {
    return join(this.dir, STATE_FILES[name]);
  }

  /** The last sequence number used (0: none yet). */
  get seq(): number {
    return this.#seq;
  }

  /**
   * Takes the next sequence number and persists it before returning it.
   * @throws {@link AgentError} `STATE_WRITE_FAILED`
   */
  nextSeq(): number {
    const n = this.#seq + 1;
    write(join(this.dir, STATE_FILES.seq), `${JSON.stringify({ seq: n })}\n`);
    this.#seq = n;
    return n;
  }
}

function write(path: string, data: string): void {
  try {
    writeFileAtomicSync(path, data, { mode: 0o600, syncDir: true });
  } catch (e) {
    throw new AgentError('STATE_WRITE_FAILED', `cannot write a state file (${(e as NodeJS.ErrnoException).code})`, { cause: e });
  }
}
