/**
 * A TPM lab on one machine: a local EK CA made by `swtpm_localca`, swtpm state manufactured by
 * `swtpm_setup` (RSA and ECC EKs, EK and platform certificates in NV, NV locked) and swtpm
 * processes on free TCP ports, stopped by pid. For tests and the lab rig; needs swtpm and
 * swtpm-tools installed. Not a verifier: nothing here decides trust.
 *
 * @module
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { AttestationError } from '../errors.ts';

/** A local EK CA: `swtpm_localca` keeps a root and an intermediate ("swtpm-localca") in `dir`. */
export interface LocalCa {
  readonly dir: string;
  /** The `swtpm_setup --config` file pointing at the CA. */
  readonly setupConfig: string;
  /** Root CA certificate (exists after the first manufacture). */
  readonly rootCert: string;
  /** Intermediate certificate that signs EK certificates (exists after the first manufacture). */
  readonly issuerCert: string;
}

/**
 * Writes the swtpm_setup and swtpm_localca configuration for a CA kept in `dir` (created if
 * missing). `swtpm_localca` makes the root and intermediate keys on the first manufacture.
 * @param banks - PCR banks swtpm_setup activates (default sha1,sha256)
 */
export function createLocalCa(dir: string, banks: readonly string[] = ['sha1', 'sha256']): LocalCa {
  mkdirSync(dir, { recursive: true });
  const localcaConf = join(dir, 'swtpm-localca.conf');
  writeFileSync(
    localcaConf,
    [
      `statedir = ${dir}`,
      `signingkey = ${join(dir, 'signkey.pem')}`,
      `issuercert = ${join(dir, 'issuercert.pem')}`,
      `certserial = ${join(dir, 'certserial')}`,
      '',
    ].join('\n'),
  );
  const setupConfig = join(dir, 'swtpm_setup.conf');
  writeFileSync(
    setupConfig,
    [
      'create_certs_tool = swtpm_localca',
      `create_certs_tool_config = ${localcaConf}`,
      `active_pcr_banks = ${banks.join(',')}`,
      '',
    ].join('\n'),
  );
  return {
    dir,
    setupConfig,
    rootCert: join(dir, 'swtpm-localca-rootca-cert.pem'),
    issuerCert: join(dir, 'issuercert.pem'),
  };
}

/** The CA's root and intermediate certificates (PEM text), once manufactured. */
export function localCaCertificates(ca: LocalCa): { root: string; issuer: string } {
  if (!existsSync(ca.rootCert) || !existsSync(ca.issuerCert))
    throw new AttestationError('EK_CERT_MISSING', `local CA ${ca.dir} has no certificates yet: manufacture a TPM first`);
  return { root: readFileSync(ca.rootCert, 'utf8'), issuer: readFileSync(ca.issuerCert, 'utf8') };
}

function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err)
        reject(
          new AttestationError('TPM_TRANSPORT', `${cmd} failed: ${err.message}\n${String(stderr).slice(-2000)}`, { cause: err }),
        );
      else resolve(String(stdout) + String(stderr));
    });
  });
}

/**
 * Manufactures TPM 2.0 state in `stateDir` with `swtpm_setup --tpm2 --create-ek-cert
 * --create-platform-cert --lock-nvram` against the local CA. Run one at a time per CA.
 * @throws {@link AttestationError} `TPM_TRANSPORT` if swtpm_setup fails
 */
export async function manufactureSwtpm(ca: LocalCa, stateDir: string, options: { timeoutMs?: number } = {}): Promise<void> {
  mkdirSync(stateDir, { recursive: true });
  await run(
    'swtpm_setup',
    [
      '--tpm2',
      '--create-ek-cert',
      '--create-platform-cert',
      '--lock-nvram',
      '--overwrite',
      '--tpmstate',
      stateDir,
      '--config',
      ca.setupConfig,
    ],
    options.timeoutMs ?? 60_000,
  );
}

/** Binds `port` on 127.0.0.1 (0 = any), closes it and returns the port bound, or 0 if taken. */
function probe(port: number): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(0));
    s.listen(port, '127.0.0.1', () => {
      const a = s.address();
      const got = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(got));
    });
  });
}

/** A free TCP port on 127.0.0.1 (bind to port 0, read it, close). */
export function freePort(): Promise<number> {
  return probe(0);
}

/**
 * Two consecutive free ports P, P+1 on 127.0.0.1 (the tpm2-tss swtpm TCTI expects the control
 * port at P+1).
 * @throws {@link AttestationError} `TPM_TRANSPORT` if none is found in 20 tries
 */
export async function freePortPair(): Promise<[number, number]> {
  for (let i = 0; i < 20; i++) {
    const p = await probe(0);
    if (p > 0 && p < 65535 && (await probe(p + 1)) === p + 1) return [p, p + 1];
  }
  throw new AttestationError('TPM_TRANSPORT', 'no two consecutive free ports');
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A running swtpm process. */
export interface SwtpmProcess {
  readonly host: string;
  readonly port: number;
  readonly ctrlPort: number;
  readonly pid: number;
  readonly stateDir: string;
  /** `swtpm:host=H,port=P`, for `openTpm` and the CLI. */
  readonly spec: string;
  /** Sends SIGTERM to this pid (SIGKILL after 3 s) and waits for the exit. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `swtpm socket --tpm2` on a state directory, on two free ports, and waits until it has
 * bound both ports and accepts connections (not-need-init, startup-clear).
 *
 * The ports are free when chosen but swtpm binds them a moment later, when another process may
 * have taken one (an outgoing connection's ephemeral port, another test's server). swtpm then
 * exits with "Address already in use" and is started again on other ports (up to 5 times).
 * Readiness is swtpm's pid file, which it writes only once both sockets are bound: a connection
 * to the data port can never reach another process that happens to listen there.
 * @throws {@link AttestationError} `TPM_TRANSPORT` if swtpm exits or does not come up in 30 s
 */
export async function spawnSwtpm(stateDir: string): Promise<SwtpmProcess> {
  for (let attempt = 1; ; attempt++) {
    const r = await spawnOnce(stateDir);
    if ('process' in r) return r.process;
    if (!r.portTaken || attempt >= 5) throw r.error;
  }
}

async function spawnOnce(stateDir: string): Promise<{ process: SwtpmProcess } | { error: AttestationError; portTaken: boolean }> {
  const [port, ctrlPort] = await freePortPair();
  const pidFile = join(stateDir, 'swtpm.pid');
  rmSync(pidFile, { force: true });
  const child: ChildProcess = spawn(
    'swtpm',
    [
      'socket',
      '--tpm2',
      '--server',
      `type=tcp,port=${port},bindaddr=127.0.0.1`,
      '--ctrl',
      `type=tcp,port=${ctrlPort},bindaddr=127.0.0.1`,
      '--tpmstate',
      `dir=${stateDir}`,
      '--pid',
      `file=${pidFile}`,
      '--flags',
      'not-need-init,startup-clear',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const pid = child.pid;
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const stop = async () => {
    if (exited() || pid === undefined) return;
    const gone = new Promise((r) => child.once('exit', r));
    process.kill(pid, 'SIGTERM');
    const t = setTimeout(() => !exited() && process.kill(pid, 'SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  };
  if (pid === undefined)
    return {
      error: new AttestationError('TPM_TRANSPORT', `swtpm did not start: ${(await spawnError).message}`),
      portTaken: false,
    };
  const bound = () => {
    try {
      return Number(readFileSync(pidFile, 'utf8').trim()) === pid;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 30_000;
  while (exited() || !bound() || !(await canConnect(port))) {
    if (exited() || Date.now() > deadline) {
      await stop();
      // the exit status is read before stderr may have arrived in full: wait for the pipe to close
      if (child.stderr && !child.stderr.closed) await new Promise((r) => child.stderr?.once('close', r));
      return {
        error: new AttestationError('TPM_TRANSPORT', `swtpm did not come up on ports ${port}/${ctrlPort}: ${stderr.trim()}`),
        portTaken: /address already in use/i.test(stderr),
      };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { process: { host: '127.0.0.1', port, ctrlPort, pid, stateDir, spec: `swtpm:host=127.0.0.1,port=${port}`, stop } };
}
