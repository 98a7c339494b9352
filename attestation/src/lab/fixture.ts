/**
 * Starts a private swtpm per test file (TCP data + control ports on random free ports, a fresh
 * state directory) and stops it by pid. With CI=true a missing swtpm fails the tests; without CI
 * they are skipped with a message.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalCa, type LocalCa, manufactureSwtpm, spawnSwtpm } from './swtpm-lab.ts';

export { freePort } from './swtpm-lab.ts';

/** Whether the swtpm binary runs. */
export function hasSwtpm(): boolean {
  return spawnSync('swtpm', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * `'run'` when swtpm is available; `'fail'` under CI without it; `'skip'` otherwise (after
 * printing why).
 */
export function swtpmMode(): 'run' | 'skip' | 'fail' {
  if (hasSwtpm()) return 'run';
  if (process.env.CI === 'true') return 'fail';
  console.warn('swtpm is not installed: skipping the TPM tests (install swtpm, or set CI=true to make this an error)');
  return 'skip';
}

/** A running swtpm. */
export interface Swtpm {
  readonly host: string;
  readonly port: number;
  readonly ctrlPort: number;
  readonly pid: number;
  /** Kills the process by pid and removes its state directory. */
  stop(): Promise<void>;
}

/** Starts swtpm (TPM 2.0, not-need-init, startup-clear) on a fresh state dir and waits until it accepts. */
export async function startSwtpm(): Promise<Swtpm> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-swtpm-'));
  const p = await spawnSwtpm(dir);
  return {
    host: p.host,
    port: p.port,
    ctrlPort: p.ctrlPort,
    pid: p.pid,
    async stop() {
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A swtpm manufactured by swtpm_setup with EK certificates from a fresh local CA. */
export interface ManufacturedSwtpm extends Swtpm {
  /** `swtpm:host=H,port=P`. */
  readonly spec: string;
  /** The local CA's directory, root and intermediate certificate paths (PEM). */
  readonly ca: LocalCa;
}

/**
 * Creates a local CA in a temp dir, manufactures one swtpm state with it (RSA + ECC EKs, EK and
 * platform certificates, NV locked) and starts swtpm on free ports. stop() kills it and removes
 * the temp dir.
 */
export async function startManufacturedSwtpm(): Promise<ManufacturedSwtpm> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-swtpm-ek-'));
  const ca = createLocalCa(join(dir, 'ca'));
  await manufactureSwtpm(ca, join(dir, 'state'));
  const p = await spawnSwtpm(join(dir, 'state'));
  return {
    host: p.host,
    port: p.port,
    ctrlPort: p.ctrlPort,
    pid: p.pid,
    spec: p.spec,
    ca,
    async stop() {
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
