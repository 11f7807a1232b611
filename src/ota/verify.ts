/**
 * Everything decided about a bundle before a byte of it is unpacked: the manifest parses,
 * its signature verifies against a pinned key, it is for this machine and this Node ABI,
 * and it is not a downgrade. File hashes are checked while unpacking (src/ota/unpack.ts).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { EdgeError } from '../core/errors.js';
import {
  compareVersions,
  keyIdOf,
  loadPublicKey,
  MANIFEST_FORMAT,
  verifyManifestSignature,
  type Manifest,
} from './manifest.js';

/** Version strings become directory names: keep them boring. */
export const VERSION_PATTERN = /^[0-9]+(\.[0-9]+)*(-[0-9A-Za-z.]+)?$/;
/** Where the verified manifest is kept inside an installed release. */
export const RELEASE_META_DIR = '.edge-ota';

const safePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => isSafeRelativePath(p), 'must be a relative POSIX path without "..", "." or empty segments')
  .refine((p) => p.split('/')[0] !== RELEASE_META_DIR, `must not be under ${RELEASE_META_DIR}/`);

const manifestSchema = z.strictObject({
  format: z.literal(MANIFEST_FORMAT),
  name: z.literal('edge-agent'),
  version: z.string().regex(VERSION_PATTERN, 'must be a dotted numeric version'),
  target: z.enum(['linux-arm64', 'linux-x64']),
  nodeAbi: z.string().regex(/^[0-9]+$/),
  minPreviousVersion: z.string().regex(VERSION_PATTERN),
  createdAt: z.string(),
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  files: z.array(
    z.strictObject({
      path: safePath,
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      size: z.number().int().min(0),
      mode: z.number().int().min(0).max(0o7777),
    }),
  ),
});

export function isSafeRelativePath(path: string): boolean {
  if (path.startsWith('/') || path.includes('\\') || path.includes('\0')) return false;
  return path.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

function parseManifest(bytes: Buffer): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new EdgeError('EDGE_ERR_OTA_BUNDLE', `manifest.json is not JSON: ${(error as Error).message}`);
  }
  const result = manifestSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new EdgeError(
      'EDGE_ERR_OTA_BUNDLE',
      `manifest.json: ${issue.path.join('.') || '(root)'}: ${issue.message}`,
      { context: { field: issue.path.join('.') } },
    );
  }
  const seen = new Set<string>();
  for (const file of result.data.files) {
    if (seen.has(file.path))
      throw new EdgeError('EDGE_ERR_OTA_BUNDLE', `manifest.json lists ${file.path} twice`);
    seen.add(file.path);
  }
  return result.data;
}

/** Pinned public keys by key id. */
export type Keyring = ReadonlyMap<string, KeyObject>;

/**
 * Loads pinned keys from PEM files and directories (every `*.pem` in it: deploy/install.sh
 * pins keys as /etc/edge-agent/ota-keys/<keyId>.pem). A missing directory pins nothing;
 * a named file that cannot be read is an error.
 */
export function loadKeyring(paths: readonly string[]): Keyring {
  const keys = new Map<string, KeyObject>();
  for (const file of paths.flatMap(expandKeyPath)) {
    let key: KeyObject;
    try {
      key = loadPublicKey(readFileSync(file));
    } catch (error) {
      throw new EdgeError(
        'EDGE_ERR_OTA_STATE',
        `ota.publicKeys: cannot load ${file}: ${(error as Error).message}`,
        { context: { file } },
      );
    }
    keys.set(keyIdOf(key), key);
  }
  return keys;
}

function expandKeyPath(path: string): string[] {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return path.endsWith('/') || !path.endsWith('.pem') ? [] : [path];
  }
  if (!stat.isDirectory()) return [path];
  return readdirSync(path)
    .filter((name) => name.endsWith('.pem'))
    .sort()
    .map((name) => join(path, name));
}

/** Parses and authenticates the manifest: unknown key and bad signature are both refusals. */
export function verifyManifest(manifestBytes: Buffer, signatureB64: string, keyring: Keyring): Manifest {
  const manifest = parseManifest(manifestBytes);
  const key = keyring.get(manifest.keyId);
  if (!key) {
    throw new EdgeError(
      'EDGE_ERR_OTA_UNKNOWN_KEY',
      `manifest is signed by key ${manifest.keyId}, which is not pinned (pinned: ${[...keyring.keys()].join(', ') || 'none'})`,
      {
        context: { keyId: manifest.keyId },
      },
    );
  }
  if (!verifyManifestSignature(manifestBytes, signatureB64, key)) {
    throw new EdgeError(
      'EDGE_ERR_OTA_SIGNATURE',
      `manifest signature does not verify with key ${manifest.keyId}`,
      { context: { keyId: manifest.keyId } },
    );
  }
  return manifest;
}

export interface CompatibilityContext {
  /** `linux-${process.arch}` of this machine. */
  readonly target: string;
  /** `process.versions.modules` of this Node. */
  readonly nodeAbi: string;
  /** Version `current` points at; null on a fresh install. */
  readonly installed: string | null;
  /** --force / ota.allowDowngrade: accept older bundles and ignore minPreviousVersion. */
  readonly allowDowngrade: boolean;
  /** The persisted floor (root-owned, raised by commits): nothing older, even forced. */
  readonly floor?: string | null;
}

export function checkCompatibility(manifest: Manifest, ctx: CompatibilityContext): void {
  const context = { version: manifest.version, target: manifest.target, nodeAbi: manifest.nodeAbi };
  if (manifest.target !== ctx.target) {
    throw new EdgeError(
      'EDGE_ERR_OTA_INCOMPATIBLE',
      `bundle is for ${manifest.target}, this machine is ${ctx.target}`,
      { context },
    );
  }
  if (manifest.nodeAbi !== ctx.nodeAbi) {
    throw new EdgeError(
      'EDGE_ERR_OTA_INCOMPATIBLE',
      `bundle's native addons are for Node ABI ${manifest.nodeAbi}, this Node is ABI ${ctx.nodeAbi}`,
      { context },
    );
  }
  if (ctx.floor != null && compareVersions(manifest.version, ctx.floor) < 0) {
    throw new EdgeError(
      'EDGE_ERR_OTA_DOWNGRADE',
      `bundle ${manifest.version} is below the version floor ${ctx.floor} (raised by a committed release; force does not lift it)`,
      { context: { ...context, floor: ctx.floor } },
    );
  }
  if (ctx.installed === null || ctx.allowDowngrade) return;
  if (compareVersions(manifest.version, ctx.installed) < 0) {
    throw new EdgeError(
      'EDGE_ERR_OTA_DOWNGRADE',
      `bundle ${manifest.version} is older than installed ${ctx.installed} (use --force to downgrade)`,
      {
        context: { ...context, installed: ctx.installed },
      },
    );
  }
  if (compareVersions(ctx.installed, manifest.minPreviousVersion) < 0) {
    throw new EdgeError(
      'EDGE_ERR_OTA_DOWNGRADE',
      `bundle ${manifest.version} updates only from ${manifest.minPreviousVersion} or later; installed is ${ctx.installed}`,
      { context: { ...context, installed: ctx.installed, minPreviousVersion: manifest.minPreviousVersion } },
    );
  }
}
