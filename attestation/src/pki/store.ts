/**
 * A provisioning CA in a folder:
 *
 * | file | holds | mode |
 * |---|---|---|
 * | `root.pem`, `intermediate.pem` | the root and the current intermediate certificate | 0644 |
 * | `root.key`, `intermediate.key` | their private keys, PKCS#8 encrypted with the passphrase | 0600 |
 * | `retired/intermediate-G<n>.pem` | earlier intermediates (certificates only: their keys are destroyed at rotation) | 0644 |
 * | `ca.json` | metadata: generation, subjects, serials, validity, key ids, fingerprints — no key material | 0644 |
 *
 * Every change (init, rotate) is built in full in a new sibling folder (files written with
 * fsync), which then replaces the CA folder by rename: a crash leaves the old CA or the new one,
 * never a mixture. The root key is decrypted only to create or rotate an intermediate; issuing
 * decrypts the intermediate key alone.
 * @module
 */

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { toHex } from '@enigm/protocols/bytes';
import { AttestationError } from '../errors.ts';
import {
  type CaEnvironment,
  type CaKeyPair,
  caCertificateFrom,
  createCa,
  type IssuingCa,
  type ProvisioningCa,
  rotateIntermediate,
} from './ca.ts';
import { type CertificateSummary, summarizeCertificate } from './certs.ts';
import { checkNewPassphrase, decryptPrivateKey, encryptPrivateKey, KDF_ITERATIONS } from './keyfile.ts';

/** Version of `ca.json`. */
export const CA_METADATA_VERSION = 1;

/** File names in a CA folder. */
export const CA_FILES = {
  metadata: 'ca.json',
  rootCert: 'root.pem',
  rootKey: 'root.key',
  intermediateCert: 'intermediate.pem',
  intermediateKey: 'intermediate.key',
  retired: 'retired',
} as const;

/** A retired intermediate in `ca.json`. */
export interface RetiredIntermediate extends CertificateSummary {
  readonly generation: number;
  /** Path relative to the CA folder. */
  readonly file: string;
}

/** `ca.json`: what a CA folder holds, without key material. */
export interface CaMetadata {
  readonly version: number;
  /** Generation of the current intermediate. */
  readonly generation: number;
  /** ISO time of `ca init`. */
  readonly createdAt: string;
  /** ISO time of the last rotation (absent before the first). */
  readonly rotatedAt?: string;
  readonly root: CertificateSummary;
  readonly intermediate: CertificateSummary;
  readonly retired: readonly RetiredIntermediate[];
  /** How the private keys are stored. */
  readonly keyEncryption: string;
}

/** Where a retired intermediate may be: nothing outside `retired/` is ever read from `ca.json`. */
const RETIRED_FILE = /^retired\/intermediate-G[1-9][0-9]{0,5}\.pem$/;

function caError(code: 'CA_MALFORMED' | 'CA_NOT_FOUND' | 'CA_WRITE_FAILED', message: string, cause?: unknown): AttestationError {
  return new AttestationError(code, message, cause === undefined ? undefined : { cause });
}

function readCaFile(dir: string, name: string): string {
  try {
    return readFileSync(join(dir, name), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw caError('CA_NOT_FOUND', `the CA folder ${JSON.stringify(dir)} has no ${name}`, e);
    throw caError(
      'CA_MALFORMED',
      `cannot read ${name} in ${JSON.stringify(dir)}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`,
      e,
    );
  }
}

/**
 * Reads `ca.json` of a CA folder (no passphrase needed).
 * @throws {@link AttestationError} `CA_NOT_FOUND`, `CA_MALFORMED`
 */
export function readCaMetadata(dir: string): CaMetadata {
  recoverCaFolder(dir);
  const text = readCaFile(dir, CA_FILES.metadata);
  let m: CaMetadata;
  try {
    m = JSON.parse(text) as CaMetadata;
  } catch (e) {
    throw caError('CA_MALFORMED', `${CA_FILES.metadata} in ${JSON.stringify(dir)} is not JSON`, e);
  }
  if (
    typeof m !== 'object' ||
    m === null ||
    m.version !== CA_METADATA_VERSION ||
    !Number.isInteger(m.generation) ||
    typeof m.root?.fingerprint !== 'string' ||
    typeof m.intermediate?.fingerprint !== 'string' ||
    !Array.isArray(m.retired) ||
    !m.retired.every((r) => typeof r?.file === 'string' && RETIRED_FILE.test(r.file))
  )
    throw caError(
      'CA_MALFORMED',
      `${CA_FILES.metadata} in ${JSON.stringify(dir)} is not a version ${CA_METADATA_VERSION} CA description`,
    );
  return m;
}

/** Whether `dir` holds a CA (its `ca.json` exists). */
export function caExists(dir: string): boolean {
  recoverCaFolder(dir);
  return existsSync(join(dir, CA_FILES.metadata));
}

/** Age after which an abandoned staging folder is removed. */
const STAGING_STALE_MS = 60_000;

/**
 * Finishes or cleans up a folder swap that a crash interrupted (see {@link commitFolder}):
 * - `DIR` missing, `.DIR.new-T` and `.DIR.old-T` present: the crash fell between the two
 *   renames; the new folder was complete (fsynced before the first rename), so it becomes `DIR`;
 * - otherwise a `.DIR.new-*` is an unfinished staging folder and a `.DIR.old-*` a replaced CA
 *   whose removal did not finish: both are removed (a staging folder only once it is a minute old).
 * Called by every function that reads a CA folder; a no-op when nothing was interrupted.
 * @throws {@link AttestationError} `CA_WRITE_FAILED` if the repair itself fails
 */
export function recoverCaFolder(dir: string): void {
  const target = resolve(dir);
  const parent = dirname(target);
  const prefix = `.${basename(target)}.`;
  let names: string[];
  try {
    names = readdirSync(parent).filter((n) => n.startsWith(`${prefix}new-`) || n.startsWith(`${prefix}old-`));
  } catch {
    return;
  }
  if (names.length === 0) return;
  try {
    if (!existsSync(target)) {
      const done = names.find(
        (n) => n.startsWith(`${prefix}new-`) && names.includes(`${prefix}old-${n.slice(prefix.length + 4)}`),
      );
      if (done !== undefined) {
        renameSync(join(parent, done), target);
        fsyncDir(parent);
      }
    }
    for (const n of names) {
      const path = join(parent, n);
      // a staging folder younger than a minute may belong to a CA update running right now
      if (n.startsWith(`${prefix}new-`) && existsSync(path) && Date.now() - statSync(path).mtimeMs < STAGING_STALE_MS) continue;
      rmSync(path, { recursive: true, force: true });
    }
  } catch (e) {
    throw caError('CA_WRITE_FAILED', `cannot repair the interrupted CA update next to ${JSON.stringify(dir)}`, e);
  }
}

function writeNew(path: string, data: string, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The files of a CA folder, by relative path, with their modes. */
type CaFileSet = Map<string, { data: string; mode: number }>;

/**
 * Replaces (or creates) `dir` with exactly `files`: written into a new sibling folder with fsync,
 * swapped in by rename, the old folder then removed.
 */
function commitFolder(dir: string, files: CaFileSet): void {
  const target = resolve(dir);
  const parent = dirname(target);
  const tag = toHex(randomBytes(6));
  const staging = join(parent, `.${basename(target)}.new-${tag}`);
  const old = join(parent, `.${basename(target)}.old-${tag}`);
  try {
    mkdirSync(parent, { recursive: true });
    mkdirSync(staging, { mode: 0o700 });
    const subdirs = new Set<string>();
    for (const [name, f] of files) {
      const sub = dirname(name);
      if (sub !== '.' && !subdirs.has(sub)) {
        mkdirSync(join(staging, sub), { recursive: true, mode: 0o700 });
        subdirs.add(sub);
      }
      writeNew(join(staging, name), f.data, f.mode);
    }
    for (const sub of subdirs) fsyncDir(join(staging, sub));
    fsyncDir(staging);
    const present = existsSync(target);
    if (present) {
      if (readdirSync(target).length === 0) rmdirSync(target);
      else renameSync(target, old);
    }
    renameSync(staging, target);
    fsyncDir(parent);
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    if (existsSync(old) && !existsSync(target)) renameSync(old, target);
    throw caError(
      'CA_WRITE_FAILED',
      `cannot write the CA folder ${JSON.stringify(dir)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      e,
    );
  }
  rmSync(old, { recursive: true, force: true });
}

async function metadataOf(
  ca: ProvisioningCa,
  createdAt: string,
  retired: RetiredIntermediate[],
  rotatedAt?: string,
): Promise<CaMetadata> {
  return {
    version: CA_METADATA_VERSION,
    generation: ca.generation,
    createdAt,
    ...(rotatedAt ? { rotatedAt } : {}),
    root: await summarizeCertificate(ca.root.certificate),
    intermediate: await summarizeCertificate(ca.intermediate.certificate),
    retired,
    keyEncryption: `PKCS#8 EncryptedPrivateKeyInfo, PBES2: PBKDF2-HMAC-SHA256 (${KDF_ITERATIONS} iterations) and AES-256-CBC`,
  };
}

function json(m: CaMetadata): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** Options of {@link initCaFolder}. */
export interface CaInitOptions extends CaEnvironment {
  /** Replace an existing CA in the folder. */
  readonly force?: boolean;
}

/**
 * Creates a CA in `dir`: a root and its first intermediate, keys encrypted with `passphrase`.
 * @throws {@link AttestationError} `CA_EXISTS` (a CA is there and `force` is not set, or the
 *   folder holds other files), `CA_PASSPHRASE_WEAK`, `CA_WRITE_FAILED`
 */
export async function initCaFolder(dir: string, passphrase: string, options: CaInitOptions = {}): Promise<CaMetadata> {
  checkNewPassphrase(passphrase);
  if (caExists(dir)) {
    if (!options.force)
      throw new AttestationError('CA_EXISTS', `${JSON.stringify(dir)} already holds a CA (ca.json); --force replaces it`);
  } else if (existsSync(dir)) {
    if (!statSync(dir).isDirectory())
      throw new AttestationError('CA_EXISTS', `${JSON.stringify(dir)} exists and is not a folder: give a new or empty folder`);
    if (readdirSync(dir).length > 0)
      throw new AttestationError('CA_EXISTS', `${JSON.stringify(dir)} is not empty and holds no CA: give a new or empty folder`);
  }
  const ca = await createCa(options);
  const createdAt = (options.now ?? (() => new Date()))().toISOString();
  const meta = await metadataOf(ca, createdAt, []);
  const files: CaFileSet = new Map([
    [CA_FILES.rootCert, { data: ca.root.certificate.pem, mode: 0o644 }],
    [CA_FILES.rootKey, { data: await encryptPrivateKey(ca.root.privateKey, passphrase), mode: 0o600 }],
    [CA_FILES.intermediateCert, { data: ca.intermediate.certificate.pem, mode: 0o644 }],
    [CA_FILES.intermediateKey, { data: await encryptPrivateKey(ca.intermediate.privateKey, passphrase), mode: 0o600 }],
    [CA_FILES.metadata, { data: json(meta), mode: 0o644 }],
  ]);
  commitFolder(dir, files);
  return meta;
}

async function loadPair(dir: string, certFile: string, keyFile: string, passphrase: string): Promise<CaKeyPair> {
  const certificate = await caCertificateFrom(readCaFile(dir, certFile));
  const { X509Certificate } = await import('node:crypto');
  const spki = new X509Certificate(Buffer.from(certificate.der)).publicKey.export({ type: 'spki', format: 'der' });
  const privateKey = await decryptPrivateKey(readCaFile(dir, keyFile), passphrase, keyFile, new Uint8Array(spki));
  return { certificate, privateKey };
}

async function checkAgainstMetadata(
  dir: string,
  meta: CaMetadata,
  pair: CaKeyPair,
  which: 'root' | 'intermediate',
): Promise<void> {
  const s = await summarizeCertificate(pair.certificate);
  if (s.fingerprint !== meta[which].fingerprint)
    throw caError('CA_MALFORMED', `the ${which} certificate in ${JSON.stringify(dir)} is not the one ca.json describes`);
}

/**
 * Loads what issuing needs: the current intermediate certificate and its decrypted key (the
 * root key stays encrypted on disk).
 * @throws {@link AttestationError} `CA_NOT_FOUND`, `CA_MALFORMED`, `CA_PASSPHRASE_WRONG`
 */
export async function loadIssuingCa(
  dir: string,
  passphrase: string,
): Promise<IssuingCa & { readonly root: CertificateSummary; readonly rootPem: string }> {
  const meta = readCaMetadata(dir);
  const intermediate = await loadPair(dir, CA_FILES.intermediateCert, CA_FILES.intermediateKey, passphrase);
  await checkAgainstMetadata(dir, meta, intermediate, 'intermediate');
  return { intermediate, root: meta.root, rootPem: readCaFile(dir, CA_FILES.rootCert) };
}

async function loadRoot(dir: string, passphrase: string): Promise<{ root: CaKeyPair; meta: CaMetadata }> {
  const meta = readCaMetadata(dir);
  const root = await loadPair(dir, CA_FILES.rootCert, CA_FILES.rootKey, passphrase);
  await checkAgainstMetadata(dir, meta, root, 'root');
  return { root, meta };
}

/**
 * Rotates the CA in `dir`: a new intermediate (next generation) signed by the root; the old
 * intermediate's certificate moves to `retired/` (it keeps verifying what it issued until it
 * expires), its key is destroyed. Needs the root key's passphrase; the new intermediate key is
 * encrypted with the same passphrase.
 * @throws {@link AttestationError} `CA_NOT_FOUND`, `CA_MALFORMED`, `CA_PASSPHRASE_WRONG`, `CA_WRITE_FAILED`
 */
export async function rotateCaFolder(dir: string, passphrase: string, options: CaEnvironment = {}): Promise<CaMetadata> {
  const { root, meta } = await loadRoot(dir, passphrase);
  const current = readCaFile(dir, CA_FILES.intermediateCert);
  const next = await rotateIntermediate({ root, generation: meta.generation }, options);
  const retiredFile = `${CA_FILES.retired}/intermediate-G${meta.generation}.pem`;
  const retired: RetiredIntermediate[] = [
    ...meta.retired,
    { ...(await summarizeCertificate(await caCertificateFrom(current))), generation: meta.generation, file: retiredFile },
  ];
  const rotatedAt = (options.now ?? (() => new Date()))().toISOString();
  const newMeta = await metadataOf(next, meta.createdAt, retired, rotatedAt);
  const files: CaFileSet = new Map([
    [CA_FILES.rootCert, { data: readCaFile(dir, CA_FILES.rootCert), mode: 0o644 }],
    [CA_FILES.rootKey, { data: readCaFile(dir, CA_FILES.rootKey), mode: 0o600 }],
    [CA_FILES.intermediateCert, { data: next.intermediate.certificate.pem, mode: 0o644 }],
    [CA_FILES.intermediateKey, { data: await encryptPrivateKey(next.intermediate.privateKey, passphrase), mode: 0o600 }],
    [CA_FILES.metadata, { data: json(newMeta), mode: 0o644 }],
  ]);
  for (const r of meta.retired) files.set(r.file, { data: readCaFile(dir, r.file), mode: 0o644 });
  files.set(retiredFile, { data: current, mode: 0o644 });
  commitFolder(dir, files);
  return newMeta;
}

/**
 * The certificates a verifier of this CA needs: the root, and every intermediate (current and
 * retired) as untrusted helpers for path building.
 * @throws {@link AttestationError} `CA_NOT_FOUND`, `CA_MALFORMED`
 */
export function readCaCertificates(dir: string): { readonly rootPem: string; readonly intermediatesPem: string } {
  const meta = readCaMetadata(dir);
  const intermediates = [readCaFile(dir, CA_FILES.intermediateCert), ...meta.retired.map((r) => readCaFile(dir, r.file))];
  return { rootPem: readCaFile(dir, CA_FILES.rootCert), intermediatesPem: intermediates.join('') };
}
