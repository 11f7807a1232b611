/**
 * Builds a release bundle (format: src/ota/manifest.ts): stage the release tree, make its
 * native addons right for the target, describe and sign every file, pack.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { BundleTarget, Manifest } from '../../src/ota/manifest.js';
import { copyPackages, productionPackages } from './deps.js';
import { ELF_MACHINE, elfMachineOfFile } from './elf.js';
import { buildSignedManifest, describeFiles, listFiles } from './manifest-build.js';
import { assertKnownInstallScripts, prepareNativeAddons } from './native.js';
import { normaliseModes, packBundle } from './pack.js';
import { assertPlainTree, pruneTree } from './prune.js';
import { launcherScript } from './runtime.js';

export const TARGETS: readonly BundleTarget[] = ['linux-x64', 'linux-arm64'];
/** Node 20 (Debian trixie, Raspberry Pi OS): the runtime the device installs with apt. */
export const DEFAULT_NODE_ABI = '115';
const VERSION = /^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/;

export interface BuildOptions {
  readonly projectRoot: string;
  readonly target: BundleTarget;
  readonly version: string;
  readonly minPreviousVersion: string;
  readonly privateKey: KeyObject;
  readonly outDir: string;
  /** manifest.createdAt and every tar mtime: SOURCE_DATE_EPOCH makes two builds byte-identical. */
  readonly createdAt: Date;
  readonly nodeAbi: string;
  readonly nodedir: () => string;
  readonly cacheDir: string;
  readonly log: (line: string) => void;
}

export interface BuildResult {
  readonly file: string;
  readonly bytes: number;
  readonly manifest: Manifest;
}

export function loadPrivateKey(pem: string | Buffer): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519')
    throw new Error(`expected an Ed25519 private key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  return key;
}

export function assertVersion(what: string, version: string): void {
  if (!VERSION.test(version))
    throw new Error(`${what} "${version}" is not a version like 1.2.3 or 1.2.3-rc.1`);
}

export async function buildBundle(options: BuildOptions): Promise<BuildResult> {
  assertVersion('--version', options.version);
  assertVersion('--min-previous', options.minPreviousVersion);
  mkdirSync(options.outDir, { recursive: true });
  const stage = mkdtempSync(join(options.outDir, '.stage-'));
  try {
    const release = join(stage, 'release');
    stageApplication(options.projectRoot, release, options.version);
    stageDependencies(options, release);
    assertPlainTree(release);
    assertNativeMachines(release, options.target);
    const files = listFiles(release);
    normaliseModes(release, files);
    const { bytes, signature, manifest } = buildSignedManifest(
      {
        version: options.version,
        target: options.target,
        nodeAbi: options.nodeAbi,
        minPreviousVersion: options.minPreviousVersion,
        createdAt: options.createdAt,
        files: describeFiles(release),
      },
      options.privateKey,
    );
    writeFileSync(join(stage, 'manifest.json'), bytes, { mode: 0o644 });
    writeFileSync(join(stage, 'manifest.sig'), `${signature}\n`, { mode: 0o644 });
    const file = join(options.outDir, `edge-agent-${options.version}-${options.target}.tar.gz`);
    await packBundle(stage, files, file, options.createdAt);
    return { file, bytes: statSync(file).size, manifest };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** Compiled JS without tests, declarations or maps; deploy files; example configs; the launcher. */
function stageApplication(projectRoot: string, release: string, version: string): void {
  const dist = join(projectRoot, 'dist/src');
  statSync(join(dist, 'cli/main.js')); // a clear ENOENT when tsc has not run
  cpSync(dist, join(release, 'dist/src'), {
    recursive: true,
    filter: (src) => statSync(src).isDirectory() || /\.(js|json)$/.test(src),
  });
  // Compiled JS runs through bin/edge-agent (`node …`), never by itself: an x bit npm put on the
  // build tree's `bin` target must not make the bundle depend on the build machine.
  for (const file of listFiles(join(release, 'dist/src'))) chmodSync(join(release, 'dist/src', file), 0o644);
  cpSync(join(projectRoot, 'deploy'), join(release, 'deploy'), { recursive: true });
  cpSync(join(projectRoot, 'firmware-config'), join(release, 'firmware-config'), { recursive: true });
  writeFileSync(
    join(release, 'package.json'),
    releasePackageJson(readFileSync(join(projectRoot, 'package.json'), 'utf8'), version),
  );
  mkdirSync(join(release, 'bin'));
  writeFileSync(join(release, 'bin/edge-agent'), launcherScript());
  chmodSync(join(release, 'bin/edge-agent'), 0o755);
}

/** The project's package.json reduced to what the runtime reads, with the bundle's version. */
export function releasePackageJson(source: string, version: string): string {
  const pkg = JSON.parse(source) as Record<string, unknown>;
  const keep = [
    'name',
    'description',
    'type',
    'license',
    'private',
    'engines',
    'bin',
    'exports',
    'dependencies',
    'optionalDependencies',
  ];
  const out: Record<string, unknown> = {};
  for (const key of keep) if (pkg[key] !== undefined) out[key] = pkg[key];
  return `${JSON.stringify({ name: out.name, version, ...out }, null, 2)}\n`;
}

function stageDependencies(options: BuildOptions, release: string): void {
  const packages = productionPackages(
    JSON.parse(readFileSync(join(options.projectRoot, 'package-lock.json'), 'utf8')),
  );
  assertKnownInstallScripts(packages);
  copyPackages(options.projectRoot, release, packages);
  pruneTree(join(release, 'node_modules'));
  prepareNativeAddons(release, packages, options);
}

/** Every ELF file in the release must be for the target: one x64 addon in an arm64 bundle bricks the store. */
export function assertNativeMachines(release: string, target: BundleTarget): void {
  const wrong = listFiles(release).filter((file) => {
    const machine = elfMachineOfFile(join(release, file));
    return machine !== undefined && machine !== ELF_MACHINE[target];
  });
  if (wrong.length > 0) throw new Error(`native files not built for ${target}: ${wrong.join(', ')}`);
}
