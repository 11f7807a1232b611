/** Doctor checks of the storage: free space for the outbox, flash-wear settings. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { EdgeConfig } from '../../config/schema.js';
import { fail, ok, sysPath, warn, type CheckResult, type DoctorEnv } from './env.js';

const MB = 1024 * 1024;

async function existingAncestor(path: string): Promise<string> {
  let dir = path;
  while (
    !(await stat(dir).then(
      () => true,
      () => false,
    ))
  ) {
    const up = dirname(dir);
    if (up === dir) return dir;
    dir = up;
  }
  return dir;
}

async function fileSize(path: string): Promise<number> {
  return (await stat(path).catch(() => undefined))?.size ?? 0;
}

export async function checkDisk(config: EdgeConfig, env: DoctorEnv): Promise<CheckResult[]> {
  const db = resolve(config.store.path);
  const dir = await existingAncestor(dirname(db));
  const { free, total } = await env.diskSpace(dir);
  const used = (await fileSize(db)) + (await fileSize(`${db}-wal`));
  const growth = Math.max(0, config.store.maxBytes + config.store.checkpoint.walMaxBytes - used);
  const results: CheckResult[] = [];
  const fact = `${Math.round(free / MB)} MB free of ${Math.round(total / MB)} MB at ${dir}; outbox ${Math.round(used / MB)} MB of at most ${Math.round(config.store.maxBytes / MB)} MB`;
  if (free < 50 * MB)
    results.push(fail('disk', fact, 'free space on this filesystem, or lower store.maxBytes'));
  else if (free < growth)
    results.push(
      warn(
        'disk',
        `${fact}: the outbox can grow beyond the free space during an outage`,
        `lower store.maxBytes below ${Math.round(free / MB / 1.2)} MB, or free space`,
      ),
    );
  else results.push(ok('disk', fact));
  results.push(await checkMount(db, env));
  results.push(await checkJournald(env));
  return results;
}

/** Mount options of the filesystem holding `path`, from <root>/proc/mounts. */
async function checkMount(path: string, env: DoctorEnv): Promise<CheckResult> {
  const text = await readFile(sysPath(env, '/proc/mounts'), 'utf8').catch(() => '');
  let best: { point: string; options: string[] } | undefined;
  for (const line of text.split('\n')) {
    const [, point, , options] = line.split(' ');
    if (!point || !options) continue;
    const inside = path === point || path.startsWith(point.endsWith('/') ? point : `${point}/`);
    if (inside && (!best || point.length > best.point.length)) best = { point, options: options.split(',') };
  }
  if (!best) return warn('mount', `no mount found for ${path} in /proc/mounts`, 'check /etc/fstab');
  if (best.options.includes('ro'))
    return {
      check: 'mount',
      status: 'fail',
      message: `${best.point} is mounted read-only`,
      fix: 'the outbox needs a writable filesystem (a data partition with noatime)',
    };
  if (!best.options.includes('noatime')) {
    return warn(
      'mount',
      `${best.point} mounted without noatime (${best.options.filter((o) => o.endsWith('atime')).join(',') || 'atime'}): reads cause writes on flash`,
      `add noatime to the options of ${best.point} in /etc/fstab`,
    );
  }
  return ok('mount', `${best.point} mounted with noatime`);
}

/** journald's Storage= and SystemMaxUse= (main file, then drop-ins in order). */
async function checkJournald(env: DoctorEnv): Promise<CheckResult> {
  const base = sysPath(env, '/etc/systemd/journald.conf');
  const dropDir = `${base}.d`;
  const drops = (await readdir(dropDir).catch(() => [] as string[]))
    .filter((f) => f.endsWith('.conf'))
    .sort();
  const settings = new Map<string, string>();
  for (const file of [base, ...drops.map((f) => join(dropDir, f))]) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const m of text.matchAll(/^\s*(Storage|SystemMaxUse)\s*=\s*(\S*)\s*$/gm)) settings.set(m[1]!, m[2]!);
  }
  const storage = settings.get('Storage') ?? 'auto';
  const persistent =
    storage === 'persistent' ||
    (storage === 'auto' &&
      (await stat(sysPath(env, '/var/log/journal')).then(
        () => true,
        () => false,
      )));
  if (!persistent) return ok('journald', `journald Storage=${storage}: logs in RAM, no flash wear`);
  if (!settings.get('SystemMaxUse')) {
    return warn(
      'journald',
      `journald keeps logs on flash (Storage=${storage}) without SystemMaxUse`,
      'set SystemMaxUse=64M (or Storage=volatile) in /etc/systemd/journald.conf.d/edge-agent.conf',
    );
  }
  return ok('journald', `journald Storage=${storage}, SystemMaxUse=${settings.get('SystemMaxUse')}`);
}
