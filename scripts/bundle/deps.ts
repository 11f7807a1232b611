/**
 * Production node_modules for a release, taken from the already-installed tree instead of a
 * fresh `npm ci`: package-lock.json says which packages are production (every entry not
 * flagged `dev`, optional ones included — onoff is optional but wanted on the device), and
 * each one is copied from node_modules after checking that the installed version is the
 * locked one. This is what `npm ci --omit=dev` would install, without the network and
 * without rebuilding native addons the host already built; native addons are then made
 * right for the target by native.ts.
 */
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LockedPackage {
  /** Path of the package directory relative to the project root (`node_modules/a/node_modules/b`). */
  readonly path: string;
  readonly version: string;
  readonly hasInstallScript: boolean;
}

interface LockEntry {
  version?: string;
  dev?: boolean;
  link?: boolean;
  hasInstallScript?: boolean;
}

/** Production packages of a lockfile (v2/v3 `packages` map), sorted by path. */
export function productionPackages(lock: unknown): LockedPackage[] {
  const packages = (lock as { packages?: Record<string, LockEntry> }).packages;
  if (!packages) throw new Error('package-lock.json has no "packages" map (lockfileVersion 2 or 3 needed)');
  const out: LockedPackage[] = [];
  for (const [path, entry] of Object.entries(packages)) {
    if (path === '' || entry.dev === true) continue;
    if (entry.link === true) throw new Error(`${path}: linked packages cannot be bundled`);
    if (!entry.version) throw new Error(`${path}: no version in package-lock.json`);
    out.push({ path, version: entry.version, hasInstallScript: entry.hasInstallScript === true });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Copies each package directory (without its nested node_modules, which are entries of their own). */
export function copyPackages(
  projectRoot: string,
  stageRoot: string,
  packages: readonly LockedPackage[],
): void {
  for (const pkg of packages) {
    const from = join(projectRoot, pkg.path);
    const manifest = join(from, 'package.json');
    if (!existsSync(manifest)) throw new Error(`${pkg.path} is locked but not installed: run npm ci`);
    const installed = (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version;
    if (installed !== pkg.version)
      throw new Error(`${pkg.path}: installed ${installed}, locked ${pkg.version}: run npm ci`);
    const nested = join(from, 'node_modules');
    cpSync(from, join(stageRoot, pkg.path), {
      recursive: true,
      dereference: false,
      filter: (src) => src !== nested && !src.startsWith(`${nested}/`),
    });
  }
}
