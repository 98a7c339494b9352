/**
 * Disk encryption of the root device: the root mount in `/proc/mounts` → its block device →
 * whether that device, or any device below it (`slaves/`, through LVM or RAID), is a dm-crypt
 * mapping (`/sys/class/block/<dev>/dm/uuid` starting with `CRYPT-`). Reports only yes/no: no device
 * name, UUID or mount point leaves this module. Root file systems with no visible block device
 * (overlay and other container file systems, network file systems, ZFS) are unknown with a reason.
 * @module
 */
import { type Collector, okSignal, type Signal, unknownSignal } from '../../signals.ts';
import { type LinuxSourceOptions, list, readText } from './read.ts';

/** Source label. */
export const DISK_SOURCE = 'linux:/proc/mounts';

/** File-system types that have no block device of their own (container and network roots). */
const NO_BLOCK_DEVICE = new Set([
  'overlay',
  'aufs',
  'tmpfs',
  'ramfs',
  'rootfs',
  '9p',
  'virtiofs',
  'nfs',
  'nfs4',
  'cifs',
  'smb3',
  'fuse',
  'squashfs',
]);
const MAX_DEPTH = 8;

/** Unescapes the octal escapes (`\040`) of a /proc/mounts field. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** The device and file-system type of the root mount (the last `/` entry wins), or null. */
export function rootMount(mounts: string): { device: string; fstype: string } | null {
  let found: { device: string; fstype: string } | null = null;
  for (const line of mounts.split('\n')) {
    const f = line.split(' ');
    if (f.length >= 3 && unescapeMountField(f[1] as string) === '/') {
      found = { device: unescapeMountField(f[0] as string), fstype: f[2] as string };
    }
  }
  return found;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+:-]{0,127}$/;

/** The kernel block-device name (`vda`, `dm-0`, `nvme0n1p2`) of a `/dev/…` path, or null. */
async function blockName(opts: LinuxSourceOptions, device: string): Promise<string | null> {
  const mapper = /^\/dev\/mapper\/(.+)$/.exec(device);
  if (mapper) {
    const want = mapper[1] as string;
    for (const dev of (await list(opts, '/sys/block')) ?? []) {
      if (!dev.startsWith('dm-') || !SAFE_NAME.test(dev)) continue;
      const n = await readText(opts, `/sys/block/${dev}/dm/name`, 256);
      if (n.ok && n.text === want) return dev;
    }
    return null;
  }
  const m = /^\/dev\/([A-Za-z0-9][A-Za-z0-9_.+:-]{0,127})$/.exec(device);
  if (!m || m[1] === 'root') return null;
  return m[1] as string;
}

/** Whether `name` or any device below it is a dm-crypt mapping; null when the device is not visible. */
async function encrypted(opts: LinuxSourceOptions, name: string, depth: number): Promise<boolean | null> {
  if (depth > MAX_DEPTH || !SAFE_NAME.test(name)) return null;
  const base = `/sys/class/block/${name}`;
  const entries = await list(opts, base);
  if (entries === null) return null;
  const uuid = await readText(opts, `${base}/dm/uuid`, 256);
  if (uuid.ok && uuid.text.startsWith('CRYPT-')) return true;
  for (const slave of (await list(opts, `${base}/slaves`)) ?? []) {
    if (await encrypted(opts, slave, depth + 1)) return true;
  }
  return false;
}

/** Reads `disk.encryption.root`. */
export async function readRootEncryption(opts: LinuxSourceOptions, now: number): Promise<Signal> {
  const o = { source: DISK_SOURCE, now };
  const mounts = await readText(opts, '/proc/mounts', 1024 * 1024);
  if (!mounts.ok) return unknownSignal('disk.encryption.root', `mount table ${mounts.reason}`, o);
  const root = rootMount(mounts.text);
  if (!root) return unknownSignal('disk.encryption.root', 'no root mount in the mount table', o);
  if (NO_BLOCK_DEVICE.has(root.fstype) || root.fstype.startsWith('fuse.')) {
    return unknownSignal(
      'disk.encryption.root',
      `root file system is ${root.fstype} (a container or network root): its backing device is not visible`,
      o,
    );
  }
  if (!root.device.startsWith('/dev/')) {
    return unknownSignal(
      'disk.encryption.root',
      `root file system is ${root.fstype} on a non-block source: encryption not determined`,
      o,
    );
  }
  const name = await blockName(opts, root.device);
  if (name === null) return unknownSignal('disk.encryption.root', 'root block device not identifiable', o);
  const enc = await encrypted(opts, name, 0);
  if (enc === null) return unknownSignal('disk.encryption.root', 'root block device not visible in sysfs', o);
  return okSignal('disk.encryption.root', enc ? 'encrypted' : 'unencrypted', o);
}

/** Collector of `disk.encryption.root`. */
export function diskEncryptionCollector(opts: LinuxSourceOptions = {}): Collector {
  return {
    name: 'linux.disk',
    signals: ['disk.encryption.root'],
    collect: async (ctx) => [await readRootEncryption(opts, ctx.now())],
  };
}
