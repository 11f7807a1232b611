/**
 * Packs the bundle as tar.gz, reproducibly: a fixed entry order (manifest first, so a reader
 * can verify before it unpacks anything, then the release files sorted), one fixed mtime,
 * no owner names or ids (`portable`), modes normalised to 0644/0755 beforehand.
 */
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { create } from 'tar';

/** Files keep only "executable or not": the build machine's umask must not leak into the bundle. */
export function normaliseModes(root: string, files: readonly string[]): void {
  for (const file of files) {
    const full = join(root, file);
    chmodSync(full, statSync(full).mode & 0o111 ? 0o755 : 0o644);
  }
}

export async function packBundle(
  stageDir: string,
  releaseFiles: readonly string[],
  outFile: string,
  mtime: Date,
): Promise<void> {
  const entries = ['manifest.json', 'manifest.sig', ...releaseFiles.map((f) => `release/${f}`)];
  await create(
    { cwd: stageDir, file: outFile, gzip: { level: 9 }, portable: true, mtime, noDirRecurse: true },
    entries,
  );
}
