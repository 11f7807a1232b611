/** Protocol versions (spec §5.1): the gateway picks the highest version both sides support. */
import type { VersionPair } from './fields.js';
import type { Cip22Version } from './tlv.js';

/** Highest first. */
export const SUPPORTED_VERSIONS: readonly Cip22Version[] = ['2.0', '1.2'];

export function versionPair(version: Cip22Version): VersionPair {
  return version === '2.0' ? [2, 0] : [1, 2];
}

/** The Cip22Version of a (major, minor) pair, if it is a supported one. */
export function versionOf([major, minor]: VersionPair): Cip22Version | undefined {
  if (major === 2 && minor === 0) return '2.0';
  if (major === 1 && minor === 2) return '1.2';
  return undefined;
}

/** Highest version that is both offered and supported (and allowed, if `allowed` is given); undefined → AUTH_FAIL no-common-version. */
export function negotiateVersion(
  offered: readonly VersionPair[],
  allowed: readonly Cip22Version[] = SUPPORTED_VERSIONS,
): Cip22Version | undefined {
  const offeredVersions = new Set(offered.map(versionOf));
  return SUPPORTED_VERSIONS.find((v) => allowed.includes(v) && offeredVersions.has(v));
}
