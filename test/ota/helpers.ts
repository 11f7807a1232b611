/**
 * Test bundles in the src/ota/manifest.ts format, signed with a throwaway Ed25519 key:
 * tiny fake releases whose dist/src/cli/main.js prints their version. The tar is written
 * by hand (tar's Header for the 512-byte blocks) so tests can also craft what a real
 * builder never would: links, paths with `..`, unlisted files.
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import {
  keyIdOf,
  serializeManifest,
  signManifest,
  type Manifest,
  type ManifestFile,
} from '../../src/ota/manifest.js';
import { otaSchema, type OtaConfig } from '../../src/config/sections/ota.js';

export interface TestKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly keyId: string;
  readonly pemFile: string;
}

export function makeKey(dir: string, name = 'ota'): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pemFile = join(dir, `${name}.pub.pem`);
  writeFileSync(pemFile, publicKey.export({ format: 'pem', type: 'spki' }));
  return { privateKey, publicKey, keyId: keyIdOf(publicKey), pemFile };
}

export interface TarEntry {
  readonly path: string;
  readonly type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link';
  readonly body?: Buffer;
  readonly mode?: number;
  readonly linkpath?: string;
}

export function tarGz(entries: readonly TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = e.body ?? Buffer.alloc(0);
    const type = e.type ?? 'File';
    const header = new Header({
      path: e.path,
      type,
      size: type === 'File' ? body.length : 0,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      linkpath: e.linkpath,
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block);
    if (type === 'File' && body.length > 0)
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

/** A fake release: package.json, a CLI that prints its version, a "native" module. */
export function releaseFiles(version: string, extraBytes = 0): Map<string, { body: Buffer; mode: number }> {
  const files = new Map<string, { body: Buffer; mode: number }>();
  files.set('package.json', {
    body: Buffer.from(JSON.stringify({ name: 'edge-agent', version, type: 'module' })),
    mode: 0o644,
  });
  files.set('dist/src/cli/main.js', {
    body: Buffer.from(`#!/usr/bin/env node\nprocess.stdout.write(${JSON.stringify(`${version}\n`)});\n`),
    mode: 0o755,
  });
  files.set('node_modules/fake-addon/index.js', {
    body: Buffer.from(`export const abi = ${JSON.stringify(process.versions.modules)};\n`),
    mode: 0o644,
  });
  if (extraBytes > 0) files.set('dist/blob.bin', { body: filler(extraBytes, version), mode: 0o644 });
  return files;
}

/** Incompressible, deterministic bytes (gzip must not shrink the test bundle). */
function filler(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < size; i += block.length) {
    block.copy(out, i);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export interface BundleOptions {
  readonly version: string;
  readonly key: TestKey;
  readonly target?: string;
  readonly nodeAbi?: string;
  readonly minPreviousVersion?: string;
  /** Bytes of filler, to make downloads take several chunks. */
  readonly extraBytes?: number;
  /** Changes entries after the manifest is made (tampering, extra files). */
  readonly mutate?: (entries: TarEntry[]) => TarEntry[];
  /** Changes the manifest bytes after signing (a forged manifest). */
  readonly mutateManifest?: (bytes: Buffer) => Buffer;
  /** Signs with this key instead while naming `key` (bad signature). */
  readonly signWith?: KeyObject;
}

let bundleCount = 0;

export function buildBundle(dir: string, options: BundleOptions): string {
  const files = releaseFiles(options.version, options.extraBytes);
  const list: ManifestFile[] = [...files].map(([path, f]) => ({
    path,
    sha256: createHash('sha256').update(f.body).digest('hex'),
    size: f.body.length,
    mode: f.mode,
  }));
  const manifest: Manifest = {
    format: 1,
    name: 'edge-agent',
    version: options.version,
    target: (options.target ?? `linux-${process.arch}`) as Manifest['target'],
    nodeAbi: options.nodeAbi ?? process.versions.modules,
    minPreviousVersion: options.minPreviousVersion ?? '0.0.0',
    createdAt: '2026-01-01T00:00:00.000Z',
    keyId: options.key.keyId,
    files: list,
  };
  const manifestBytes = serializeManifest(manifest);
  const sig = signManifest(manifestBytes, options.signWith ?? options.key.privateKey);
  let entries: TarEntry[] = [
    {
      path: 'manifest.json',
      body: options.mutateManifest ? options.mutateManifest(manifestBytes) : manifestBytes,
    },
    { path: 'manifest.sig', body: Buffer.from(`${sig}\n`) },
    { path: 'release/', type: 'Directory' },
    ...[...files].map(([path, f]) => ({ path: `release/${path}`, body: f.body, mode: f.mode })),
  ];
  if (options.mutate) entries = options.mutate(entries);
  const file = join(dir, `edge-agent-${options.version}-${manifest.target}-${++bundleCount}.tar.gz`);
  writeFileSync(file, tarGz(entries));
  return file;
}

export function testOtaConfig(root: string, key: TestKey, overrides: Partial<OtaConfig> = {}): OtaConfig {
  return otaSchema.parse({
    root: join(root, 'opt'),
    dataDir: join(root, 'data'),
    stateDir: join(root, 'state'),
    mode: 'inline',
    publicKeys: [key.pemFile],
    ...overrides,
  });
}

/** Installs `version` by hand as the factory install would: releases/<v>, current. */
export function factoryInstall(config: OtaConfig, version: string): void {
  const dir = join(config.root, 'releases', version);
  mkdirSync(join(dir, '.edge-ota'), { recursive: true });
  const list: ManifestFile[] = [];
  for (const [path, f] of releaseFiles(version)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), f.body, { mode: f.mode });
    list.push({
      path,
      sha256: createHash('sha256').update(f.body).digest('hex'),
      size: f.body.length,
      mode: f.mode,
    });
  }
  writeFileSync(join(dir, '.edge-ota', 'manifest.json'), JSON.stringify({ version, files: list }));
  execFileSync('ln', ['-sfn', `releases/${version}`, join(config.root, 'current')]);
}

/** What `current` runs, after checking that every file matches the release's manifest. */
export function bootableVersion(config: OtaConfig): string {
  const current = join(config.root, 'current');
  if (!existsSync(current)) throw new Error(`${current} does not resolve (target ${readlinkSync(current)})`);
  const manifest = JSON.parse(readFileSync(join(current, '.edge-ota', 'manifest.json'), 'utf8')) as Pick<
    Manifest,
    'version' | 'files'
  >;
  for (const f of manifest.files) {
    const body = readFileSync(join(current, f.path));
    const digest = createHash('sha256').update(body).digest('hex');
    if (digest !== f.sha256 || body.length !== f.size)
      throw new Error(`current (${manifest.version}): ${f.path} does not match its manifest`);
  }
  return execFileSync(process.execPath, [join(current, 'dist/src/cli/main.js')], { encoding: 'utf8' }).trim();
}

/** The engine's crash points of an apply, in order (crash.test.ts, powercut.test.ts). */
export const APPLY_POINTS = [
  'state:staging',
  'apply:started',
  'download:chunk',
  'download:done',
  'verify:done',
  'unpack:file',
  'unpack:done',
  'unpack:installed',
  'state:switching',
  'switch:previous',
  'switch:current',
  'state:trial',
];
