/**
 * The release bundle's manifest: the one format both the bundle builder (scripts/bundle)
 * and the updater (src/ota) speak. The signature is Ed25519 over the exact bytes of
 * `manifest.json`; the manifest lists every file of the release with its sha256, so a
 * verified manifest vouches for every byte that will be switched to.
 *
 * Bundle file (`edge-agent-<version>-<target>.tar.gz`), top level:
 *   manifest.json      this format, UTF-8 JSON
 *   manifest.sig       base64 of the 64-byte Ed25519 signature over manifest.json's bytes
 *   release/…          the release tree (dist/, node_modules/, package.json, …)
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export const MANIFEST_FORMAT = 1;

export type BundleTarget = 'linux-arm64' | 'linux-x64';

export interface ManifestFile {
  /** POSIX path relative to `release/`, no `..`, no leading `/`. */
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  /** Unix permission bits (e.g. 0o755 for the CLI entry). */
  readonly mode: number;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly name: 'edge-agent';
  readonly version: string;
  readonly target: BundleTarget;
  /** `process.versions.modules` of the Node the native addons were built for. */
  readonly nodeAbi: string;
  /** Oldest installed version this bundle may update (older must install fresh). */
  readonly minPreviousVersion: string;
  readonly createdAt: string;
  /** Which pinned key signed it: the first 16 hex chars of sha256(raw public key). */
  readonly keyId: string;
  readonly files: readonly ManifestFile[];
}

/** Key id of an Ed25519 public key: sha256 of its 32 raw bytes, first 16 hex chars. */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return createHash('sha256')
    .update(der.subarray(der.length - 32))
    .digest('hex')
    .slice(0, 16);
}

export function serializeManifest(manifest: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
}

export function signManifest(manifestBytes: Buffer, privateKey: KeyObject): string {
  return sign(null, manifestBytes, privateKey).toString('base64');
}

/** True when `signatureB64` is a valid Ed25519 signature of the bytes by `publicKey`. */
export function verifyManifestSignature(
  manifestBytes: Buffer,
  signatureB64: string,
  publicKey: KeyObject,
): boolean {
  const sig = Buffer.from(signatureB64.trim(), 'base64');
  if (sig.length !== 64) return false;
  return verify(null, manifestBytes, publicKey, sig);
}

export function loadPublicKey(pem: string | Buffer): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519')
    throw new Error(`expected an Ed25519 public key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  return key;
}

/** Compares dotted numeric versions (`1.10.0` > `1.9.3`); a pre-release suffix sorts first. */
export function compareVersions(a: string, b: string): number {
  const [ca, pa = ''] = a.split('-', 2);
  const [cb, pb = ''] = b.split('-', 2);
  const na = (ca ?? '').split('.').map(Number);
  const nb = (cb ?? '').split('.').map(Number);
  for (let i = 0; i < Math.max(na.length, nb.length); i++) {
    const d = (na[i] ?? 0) - (nb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (pa === pb) return 0;
  if (pa === '') return 1;
  if (pb === '') return -1;
  return pa < pb ? -1 : 1;
}
