/**
 * A real power cut for tests: an ext4 file system on a loop device, cut with the ext4
 * shutdown ioctl (EXT4_IOC_SHUTDOWN, EXT4_GOING_FLAGS_NOLOGFLUSH): whatever was not synced
 * is gone, unlike SIGKILL, which leaves the page cache to be written back. Remounting
 * replays the journal as a boot after a power loss would.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

/** EXT4_IOC_SHUTDOWN = _IOR('X', 125, __u32); flag 2 = EXT4_GOING_FLAGS_NOLOGFLUSH. */
const SHUTDOWN_PY = `import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.ioctl(fd, 0x8004587D, struct.pack('I', 2))
`;

function missing(): string | false {
  if (process.getuid?.() !== 0) return 'not root (loop devices, mount, the shutdown ioctl)';
  if (!existsSync('/dev/loop-control')) return 'no /dev/loop-control (no loop devices here)';
  for (const tool of ['losetup', 'mkfs.ext4', 'mount', 'umount', 'python3'])
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  return false;
}

/**
 * Why the power-cut tests cannot run here, or false. On CI (CI=true) as root with loop
 * devices they are required: a setup failure then fails the test instead of skipping it.
 */
export function powerCutSkip(): string | false {
  const reason = missing();
  if (reason === false) return false;
  const required = process.env.CI === 'true' && process.getuid?.() === 0 && existsSync('/dev/loop-control');
  if (required) return false;
  process.stdout.write(`# power-cut test skipped: ${reason}\n`);
  return reason;
}

export interface LoopFs {
  /** Where the file system is mounted. */
  readonly mount: string;
  /** Unmounts (after a cut: the dead mount) and mounts again: journal replay, like a boot. */
  remount(): void;
  remove(): void;
}

export function createLoopFs(sizeMiB = 96): LoopFs {
  const tmp = tempDir('edge-powercut-');
  const image = join(tmp.path, 'fs.img');
  const mount = join(tmp.path, 'mnt');
  mkdirSync(mount);
  chmodSync(tmp.path, 0o755);
  execFileSync('truncate', ['-s', `${sizeMiB}M`, image]);
  execFileSync('mkfs.ext4', ['-q', '-F', image]);
  // Each mount gets a loop device of its own. Mounting the same device again can hand back
  // the cut superblock instead of reading the disk (EIO on the first access) when anything
  // still holds a reference to it after umount, e.g. a mount namespace copied while it was
  // mounted; a new block device always means a new superblock and a real journal replay.
  const devices: string[] = [];
  const mountIt = (): void => {
    const device = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim();
    devices.push(device);
    execFileSync('mount', ['-t', 'ext4', device, mount]);
    chmodSync(mount, 0o755);
  };
  const detach = (device: string): void => {
    spawnSync('losetup', ['-d', device]);
  };
  mountIt();
  return {
    mount,
    remount() {
      execFileSync('umount', [mount]);
      const old = devices.pop();
      if (old !== undefined) detach(old);
      mountIt();
    },
    remove() {
      spawnSync('umount', [mount]);
      for (const device of devices.splice(0)) detach(device);
      rmSync(tmp.path, { recursive: true, force: true });
    },
  };
}

/** Cuts the power under `mount`: nothing unsynced survives, every later write fails. */
export function powerCut(mount: string): void {
  execFileSync('python3', ['-c', SHUTDOWN_PY, mount]);
}
