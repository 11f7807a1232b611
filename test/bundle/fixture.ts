/** Builds real bundles for the tests through scripts/bundle.sh (dist/ is already compiled). */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { list } from 'tar';

const run = promisify(execFile);
export const BUNDLE_SH = join(process.cwd(), 'scripts/bundle.sh');
/** A fixed build time: the same inputs must give the same bytes. */
export const SOURCE_DATE_EPOCH = '1700000000';

export async function keygen(
  dir: string,
): Promise<{ privateFile: string; publicFile: string; keyId: string }> {
  const { stdout } = await run(BUNDLE_SH, ['keygen', dir], {
    env: { ...process.env, EDGE_BUNDLE_SKIP_TSC: '1' },
  });
  const keyId = /^keyId ([0-9a-f]{16})$/m.exec(stdout)?.[1];
  if (!keyId) throw new Error(`keygen printed no key id: ${stdout}`);
  return {
    privateFile: join(dir, 'ed25519-private.pem'),
    publicFile: join(dir, 'ed25519-public.pem'),
    keyId,
  };
}

export async function buildBundle(args: {
  target: string;
  version: string;
  key: string;
  out: string;
  minPrevious?: string;
}): Promise<string> {
  const argv = ['--target', args.target, '--version', args.version, '--key', args.key, '--out', args.out];
  if (args.minPrevious) argv.push('--min-previous', args.minPrevious);
  const { stdout } = await run(BUNDLE_SH, argv, {
    env: { ...process.env, EDGE_BUNDLE_SKIP_TSC: '1', SOURCE_DATE_EPOCH },
    maxBuffer: 16 * 1024 * 1024,
    timeout: 15 * 60_000,
  });
  return stdout.trim().split('\n').at(-1) ?? '';
}

export interface TarEntry {
  readonly path: string;
  readonly type: string;
  readonly mode: number;
  readonly mtime: number;
}

export async function tarEntries(file: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  await list({
    file,
    onReadEntry: (e) =>
      void entries.push({ path: e.path, type: e.type, mode: e.mode ?? 0, mtime: e.mtime?.getTime() ?? 0 }),
  });
  return entries;
}

export function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
