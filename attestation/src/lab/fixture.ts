/**
 * The swtpm test fixture: {@link useSwtpm} starts a private swtpm per test file (TCP data +
 * control ports on random free ports, a fresh state directory), optionally manufactured with EK
 * certificates, connects a {@link TpmClient} and stops it all by pid after the tests. With
 * CI=true a missing swtpm fails the tests; without CI they are skipped with a message. Also the
 * `tpm2_checkquote` inputs the interop test and the benchmark share.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QuoteEvidence } from '../collect/evidence.ts';
import { qualificationArg, toCheckquoteFiles } from '../interop/tpm2-tools.ts';
import { TpmClient } from '../tpm/client.ts';
import { connectSwtpm } from '../tpm/swtpm.ts';
import { createLocalCa, type LocalCa, manufactureSwtpm, type SwtpmProcess, spawnSwtpm } from './swtpm-lab.ts';

export { freePort } from './swtpm-lab.ts';

let available: boolean | undefined;
let warned = false;

/** Whether the swtpm binary runs (asked once per process). */
export function hasSwtpm(): boolean {
  available ??= spawnSync('swtpm', ['--version'], { stdio: 'ignore' }).status === 0;
  return available;
}

/**
 * `'run'` when swtpm is available; `'fail'` under CI without it; `'skip'` otherwise (after
 * printing why, once per process).
 */
export function swtpmMode(): 'run' | 'skip' | 'fail' {
  if (hasSwtpm()) return 'run';
  if (process.env.CI === 'true') return 'fail';
  if (!warned)
    console.warn('swtpm is not installed: skipping the TPM tests (install swtpm, or set CI=true to make this an error)');
  warned = true;
  return 'skip';
}

/** A running swtpm. */
export interface Swtpm {
  readonly host: string;
  readonly port: number;
  readonly ctrlPort: number;
  readonly pid: number;
  /** `swtpm:host=H,port=P`, for `openTpm`, `withTpm`, the CLI and `TPM2TOOLS_TCTI`. */
  readonly spec: string;
  /** Kills the process by pid and removes its state directory. */
  stop(): Promise<void>;
}

/** Starts swtpm (TPM 2.0, not-need-init, startup-clear) on a fresh state dir and waits until it accepts. */
export async function startSwtpm(): Promise<Swtpm> {
  const dir = mkdtempSync(join(tmpdir(), 'enigm-swtpm-'));
  return owning(await spawnSwtpm(dir), dir);
}

/** A {@link Swtpm} for process `p` whose stop() also removes `dir` (its state, and its CA if any). */
function owning(p: SwtpmProcess, dir: string): Swtpm {
  return {
    host: p.host,
    port: p.port,
    ctrlPort: p.ctrlPort,
    pid: p.pid,
    spec: p.spec,
    async stop() {
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A swtpm manufactured by swtpm_setup with EK certificates from a fresh local CA. */
export interface ManufacturedSwtpm extends Swtpm {
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
  return { ...owning(await spawnSwtpm(join(dir, 'state')), dir), ca };
}

/**
 * The parts of a test runner's `test` object the fixture registers on (ava's default export fits).
 * Typed structurally so that this library does not depend on a test runner. `F` is the type of a
 * serial test declaration.
 */
export interface TestRegistrar<F> {
  /** Declares a serial test; `.skip` declares one that is skipped. */
  readonly serial: F & { readonly skip: F };
  /** Registers a hook run once before the tests. */
  before(fn: () => Promise<void> | void): void;
  /** `after.always` registers a hook run once after the tests, whether they passed or not. */
  readonly after: { always(fn: () => Promise<void> | void): void };
}

/** What the fixture hands to `setup`/`teardown`, and what it returns (getters, read when called). */
export interface SwtpmContext<S extends Swtpm = Swtpm> {
  /** The running swtpm. Throws when it is not running (skipped, or before the `before` hook). */
  readonly sw: S;
  /** The current client (the one `connect` made last). Throws when there is none. */
  readonly tpm: TpmClient;
  /**
   * Opens a new client connection to the same swtpm, which becomes {@link SwtpmContext.tpm}
   * (closed by the fixture after the tests). The previous client is not closed: close it first
   * (swtpm serves one connection at a time), e.g. around a power cycle on the control channel.
   */
  connect(): Promise<TpmClient>;
}

/** Options of {@link useSwtpm}. */
export interface SwtpmFixtureOptions<S extends Swtpm = Swtpm> {
  /** Manufacture it with EK certificates from a fresh local CA ({@link startManufacturedSwtpm}). */
  readonly manufactured?: boolean;
  /** Connect a client before the tests (default true); when false, call `connect()` or use `sw.spec`. */
  readonly connect?: boolean;
  /** Runs in the `before` hook once swtpm runs (and the client is connected): create keys, read certificates. */
  setup?(ctx: SwtpmContext<S>): Promise<void> | void;
  /**
   * Runs in the `after.always` hook before the client is closed and swtpm stopped, if swtpm came
   * up (and the client connected), even when `setup` failed part way.
   */
  teardown?(ctx: SwtpmContext<S>): Promise<void> | void;
}

/** A test file's swtpm: {@link SwtpmContext} plus how the TPM tests are declared. */
export interface SwtpmFixture<F, S extends Swtpm = Swtpm> extends SwtpmContext<S> {
  /** `'run'`, `'skip'` (no swtpm, not CI) or `'fail'` (no swtpm under CI=true: the `before` hook throws). */
  readonly mode: 'run' | 'skip' | 'fail';
  /** `test.serial`, or `test.serial.skip` when swtpm is missing outside CI. */
  readonly tpmTest: F;
}

/**
 * Registers on `test` a `before` hook that starts a private swtpm (and connects a client, and runs
 * `setup`) and an `after.always` hook that runs `teardown`, closes the client and stops swtpm.
 * Under CI=true without swtpm the `before` hook throws, so the file's tests fail rather than skip.
 * @example
 * const fx = useSwtpm(test, { manufactured: true });
 * fx.tpmTest('reads the EK certificate', async (t) => t.is((await readEkCertificate(fx.tpm, 'rsa2048'))[0], 0x30));
 */
export function useSwtpm<F>(
  test: TestRegistrar<F>,
  options: SwtpmFixtureOptions<ManufacturedSwtpm> & { readonly manufactured: true },
): SwtpmFixture<F, ManufacturedSwtpm>;
export function useSwtpm<F>(
  test: TestRegistrar<F>,
  options?: SwtpmFixtureOptions<Swtpm> & { readonly manufactured?: false },
): SwtpmFixture<F, Swtpm>;
export function useSwtpm<F>(
  test: TestRegistrar<F>,
  options: SwtpmFixtureOptions<ManufacturedSwtpm> | SwtpmFixtureOptions<Swtpm> = {},
): SwtpmFixture<F, Swtpm> {
  const o = options as SwtpmFixtureOptions<Swtpm>;
  const mode = swtpmMode();
  let sw: Swtpm | undefined;
  let tpm: TpmClient | undefined;
  let ready = false;
  const fixture: SwtpmFixture<F, Swtpm> = {
    mode,
    tpmTest: mode === 'skip' ? test.serial.skip : test.serial,
    get sw() {
      if (!sw) throw new Error(`swtpm is not running (mode ${mode}; read sw in tests or in setup, not at import)`);
      return sw;
    },
    get tpm() {
      if (!tpm) throw new Error('no TPM client: the swtpm fixture has not connected (connect: false, or not started)');
      return tpm;
    },
    async connect() {
      const { host, port } = fixture.sw;
      tpm = new TpmClient(await connectSwtpm({ host, port }));
      return tpm;
    },
  };
  test.before(async () => {
    if (mode === 'fail') throw new Error('CI=true but swtpm is not installed');
    if (mode === 'skip') return;
    sw = o.manufactured ? await startManufacturedSwtpm() : await startSwtpm();
    if (o.connect !== false) await fixture.connect();
    ready = true;
    await o.setup?.(fixture);
  });
  test.after.always(async () => {
    try {
      if (ready) await o.teardown?.(fixture);
    } finally {
      await tpm?.transport.close();
      await sw?.stop();
    }
  });
  return fixture;
}

/**
 * Writes the `tpm2_checkquote` inputs of a quote (AK PEM, message, signature, PCR values) into
 * `dir` (each file name prefixed with `prefix`) and returns the command's arguments, `-q`
 * (the nonce) last.
 * @example execFileSync('tpm2_checkquote', checkquoteArgs(evidence, nonce, dir));
 */
export function checkquoteArgs(evidence: QuoteEvidence, nonce: Uint8Array, dir: string, prefix = ''): string[] {
  const f = toCheckquoteFiles(evidence);
  const p = (n: string) => join(dir, `${prefix}${n}`);
  writeFileSync(p('ak.pem'), f.akPem);
  writeFileSync(p('msg'), f.message);
  writeFileSync(p('sig'), f.signature);
  writeFileSync(p('pcrs'), f.pcrValues);
  const files = ['-u', p('ak.pem'), '-m', p('msg'), '-s', p('sig'), '-f', p('pcrs')];
  return [...files, '-l', f.pcrList, '-g', f.hashAlg, '-q', qualificationArg(nonce)];
}
