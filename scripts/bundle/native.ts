/**
 * Native addons for the target. better-sqlite3 and epoll (onoff) are built from source with
 * node-gyp — for linux-arm64 with Debian's aarch64 cross compiler against the Node headers
 * in `nodedir` (headers are the same on every arch for one Node ABI); for the host's own
 * target the addon npm already built is reused. serialport ships prebuilds: only the
 * target's glibc one is kept. Build inputs (sources, object files, gyp files) are removed so
 * nothing on the device tries to rebuild.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BundleTarget } from '../../src/ota/manifest.js';
import type { LockedPackage } from './deps.js';
import { ELF_MACHINE, elfMachineOfFile } from './elf.js';

type NativeAddon =
  { readonly kind: 'gyp'; readonly binaries: readonly string[] } | { readonly kind: 'prebuilds' };

/** Every production package with an install script must be listed here (checked). */
export const NATIVE_ADDONS: Readonly<Record<string, NativeAddon>> = {
  'node_modules/better-sqlite3': { kind: 'gyp', binaries: ['better_sqlite3.node'] },
  'node_modules/epoll': { kind: 'gyp', binaries: ['epoll.node'] },
  'node_modules/@serialport/bindings-cpp': { kind: 'prebuilds' },
};

const CROSS_TOOLS: Readonly<Record<BundleTarget, string>> = {
  'linux-x64': 'x86_64-linux-gnu',
  'linux-arm64': 'aarch64-linux-gnu',
};

export interface NativeOptions {
  readonly target: BundleTarget;
  readonly nodeAbi: string;
  /** Node headers (`<nodedir>/include/node`); needed only when building. */
  readonly nodedir: () => string;
  /** Built addons are kept here per package version, target and ABI: sqlite takes minutes to cross-compile. */
  readonly cacheDir: string;
  readonly log: (line: string) => void;
}

export function hostTarget(): BundleTarget | undefined {
  if (process.platform !== 'linux') return undefined;
  return process.arch === 'x64' ? 'linux-x64' : process.arch === 'arm64' ? 'linux-arm64' : undefined;
}

export function assertKnownInstallScripts(packages: readonly LockedPackage[]): void {
  const unknown = packages.filter((p) => p.hasInstallScript && !NATIVE_ADDONS[p.path]).map((p) => p.path);
  if (unknown.length > 0)
    throw new Error(
      `production packages with install scripts the bundler does not know how to build for a target: ${unknown.join(', ')}`,
    );
}

export function prepareNativeAddons(
  stageRoot: string,
  packages: readonly LockedPackage[],
  options: NativeOptions,
): void {
  for (const pkg of packages) {
    const addon = NATIVE_ADDONS[pkg.path];
    const dir = join(stageRoot, pkg.path);
    if (addon?.kind === 'gyp') {
      provideGypBinaries(dir, pkg, addon.binaries, options);
      removeBuildInputs(dir, addon.binaries);
    } else if (addon?.kind === 'prebuilds') {
      keepTargetPrebuilds(dir, options.target);
    }
  }
}

function provideGypBinaries(
  dir: string,
  pkg: LockedPackage,
  binaries: readonly string[],
  options: NativeOptions,
): void {
  const release = join(dir, 'build/Release');
  const reusable = hostTarget() === options.target && process.versions.modules === options.nodeAbi;
  if (reusable && binaries.every((b) => elfMachineOfFile(join(release, b)) === ELF_MACHINE[options.target]))
    return;
  const name = pkg.path.replace(/^.*node_modules\//, '').replace('/', '+');
  const cache = join(options.cacheDir, `${name}-${pkg.version}-${options.target}-abi${options.nodeAbi}`);
  if (!binaries.every((b) => existsSync(join(cache, b)))) {
    const started = Date.now();
    options.log(`building ${pkg.path}@${pkg.version} for ${options.target} (node-gyp)…`);
    buildWithGyp(dir, options);
    mkdirSync(cache, { recursive: true });
    for (const b of binaries) {
      cpSync(join(release, b), join(cache, b));
      strip(join(cache, b), options.target);
    }
    options.log(`built ${pkg.path} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  rmSync(join(dir, 'build'), { recursive: true, force: true });
  mkdirSync(release, { recursive: true });
  for (const b of binaries) cpSync(join(cache, b), join(release, b));
}

function buildWithGyp(dir: string, options: NativeOptions): void {
  const nodedir = options.nodedir();
  const headerAbi = abiOfHeaders(nodedir);
  if (headerAbi !== options.nodeAbi)
    throw new Error(
      `Node headers in ${nodedir} are for ABI ${headerAbi}, the bundle targets ${options.nodeAbi}`,
    );
  const arch = options.target === 'linux-arm64' ? 'arm64' : 'x64';
  const env = { ...process.env };
  if (options.target !== hostTarget()) {
    const prefix = CROSS_TOOLS[options.target];
    Object.assign(env, {
      CC: `${prefix}-gcc`,
      CXX: `${prefix}-g++`,
      LINK: `${prefix}-g++`,
      AR: `${prefix}-ar`,
    });
  }
  const args = [
    nodeGypScript(),
    'rebuild',
    '--release',
    `--arch=${arch}`,
    `--nodedir=${nodedir}`,
    '--jobs=2',
  ];
  try {
    execFileSync(process.execPath, args, {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().slice(-4000) ?? '';
    throw new Error(`node-gyp failed in ${dir} for ${options.target}:\n${stderr}`, { cause: error });
  }
}

/** Symbols are dead weight on the device (a third of better-sqlite3); a missing strip is not fatal. */
function strip(file: string, target: BundleTarget): void {
  const tool = target === hostTarget() ? 'strip' : `${CROSS_TOOLS[target]}-strip`;
  try {
    execFileSync(tool, ['--strip-unneeded', file], { stdio: 'ignore' });
  } catch {
    // Unstripped addons work the same.
  }
}

/** NODE_MODULE_VERSION of the headers in `nodedir` (the ABI addons built against them need). */
export function abiOfHeaders(nodedir: string): string {
  const header = join(nodedir, 'include/node/node_version.h');
  if (!existsSync(header))
    throw new Error(`no Node headers at ${header}: pass --nodedir or set nodedir in ~/.npmrc`);
  const match = /#define NODE_MODULE_VERSION (\d+)/.exec(readFileSync(header, 'utf8'));
  if (!match) throw new Error(`${header}: no NODE_MODULE_VERSION`);
  return match[1]!;
}

/** node-gyp as npm bundles it (the same one `npm ci` uses), unless NODE_GYP names another. */
function nodeGypScript(): string {
  const candidates = [
    process.env.NODE_GYP,
    join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  const found = candidates.find((c): c is string => c !== undefined && existsSync(c));
  if (!found) throw new Error('node-gyp not found: set NODE_GYP to node-gyp.js');
  return found;
}

function removeBuildInputs(dir: string, binaries: readonly string[]): void {
  for (const name of ['src', 'deps', 'binding.gyp', 'example', 'examples'])
    rmSync(join(dir, name), { recursive: true, force: true });
  const release = join(dir, 'build/Release');
  for (const entry of readdirSync(release))
    if (!binaries.includes(entry)) rmSync(join(release, entry), { recursive: true, force: true });
}

function keepTargetPrebuilds(dir: string, target: BundleTarget): void {
  for (const name of ['build', 'src', 'binding.gyp'])
    rmSync(join(dir, name), { recursive: true, force: true });
  const prebuilds = join(dir, 'prebuilds');
  if (!existsSync(prebuilds)) throw new Error(`${dir}: no prebuilds folder`);
  for (const platform of readdirSync(prebuilds)) {
    if (platform !== target) rmSync(join(prebuilds, platform), { recursive: true, force: true });
  }
  const mine = join(prebuilds, target);
  if (!existsSync(mine)) throw new Error(`${dir}: no prebuild for ${target}`);
  // Debian and Raspberry Pi OS are glibc: the musl build is dead weight.
  for (const file of readdirSync(mine)) if (file.includes('.musl.')) rmSync(join(mine, file));
}
