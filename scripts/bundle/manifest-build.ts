/** Builds and signs the manifest of a staged release tree (format: src/ota/manifest.ts). */
import { createHash, type KeyObject, createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  keyIdOf,
  MANIFEST_FORMAT,
  serializeManifest,
  signManifest,
  type BundleTarget,
  type Manifest,
  type ManifestFile,
} from '../../src/ota/manifest.js';

/** Every regular file under `root`, as POSIX paths relative to it, sorted by code unit. */
export function listFiles(root: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...listFiles(root, rel));
    else out.push(rel);
  }
  return prefix === '' ? out.sort(byCodeUnit) : out;
}

export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function describeFiles(root: string): ManifestFile[] {
  return listFiles(root).map((path) => {
    const full = join(root, path);
    const bytes = readFileSync(full);
    return {
      path,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
      mode: statSync(full).mode & 0o777,
    };
  });
}

export interface ManifestInput {
  readonly version: string;
  readonly target: BundleTarget;
  readonly nodeAbi: string;
  readonly minPreviousVersion: string;
  readonly createdAt: Date;
  readonly files: readonly ManifestFile[];
}

export function buildSignedManifest(
  input: ManifestInput,
  privateKey: KeyObject,
): { bytes: Buffer; signature: string; manifest: Manifest } {
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    name: 'edge-agent',
    version: input.version,
    target: input.target,
    nodeAbi: input.nodeAbi,
    minPreviousVersion: input.minPreviousVersion,
    createdAt: input.createdAt.toISOString(),
    keyId: keyIdOf(createPublicKey(privateKey)),
    files: input.files,
  };
  const bytes = serializeManifest(manifest);
  return { bytes, signature: signManifest(bytes, privateKey), manifest };
}
