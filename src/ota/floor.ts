/**
 * The version floor (issue 12 item 8): `<stateDir>/floor`, root's in the split. A commit
 * raises it to the committed release's `minPreviousVersion`; no update may install a version
 * below it, not even forced. It never falls, and only the privileged step writes it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compareVersions, type Manifest } from './manifest.js';
import type { StateStore } from './store.js';
import type { InstallLayout } from './switch.js';
import { RELEASE_META_DIR, VERSION_PATTERN } from './verify.js';

/** Raises the floor for the committed `version`; returns the change, or null when none. */
export async function raiseFloor(
  store: StateStore,
  layout: InstallLayout,
  version: string,
): Promise<{ floor: string; from: string | null } | null> {
  const text = await readFile(
    join(layout.releaseDir(version), RELEASE_META_DIR, 'manifest.json'),
    'utf8',
  ).catch(() => null);
  if (text === null) return null;
  const min = (JSON.parse(text) as Partial<Manifest>).minPreviousVersion;
  if (typeof min !== 'string' || !VERSION_PATTERN.test(min)) return null;
  const floor = await store.readFloor();
  if (floor !== null && compareVersions(floor, min) >= 0) return null;
  await store.writeFloor(min);
  return { floor: min, from: floor };
}
